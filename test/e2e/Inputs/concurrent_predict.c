/* End-to-end test program: the compiled predict function is safe to call
 * from several threads at once (the server's batcher, or a host program's
 * own threads). Each of THREADS threads calls FashionCnn's predict ROUNDS
 * times on its own inputs, with a different batch size per thread, while
 * the others run; every result must equal, bit for bit, what one thread
 * computes alone beforehand. Shared state that the compiled code keeps
 * (its buffer cache, OpenMP's thread pool) would show up as a mismatch or
 * a crash. Prints OK or the first mismatch. */
#include "cnn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define ROUNDS 20
#define MAX_N 24

static float *params[FASHIONCNN_NUM_PARAMS];
static float images[THREADS][MAX_N * 28 * 28];
static float expected[THREADS][MAX_N * 10];
static int mismatches[THREADS];

static int batchOf(int thread) { return 1 + thread * 7; } /* 1, 8, 15, 22 */

static float uniform(unsigned *state) {
  *state = *state * 1664525u + 1013904223u;
  return (float)(*state >> 8) / 16777216.0f;
}

static void *worker(void *arg) {
  int thread = (int)(size_t)arg;
  float probs[MAX_N * 10];
  for (int round = 0; round < ROUNDS; ++round) {
    if (FashionCnn_predict(batchOf(thread), (const float *const *)params, images[thread], probs) != 0 ||
        memcmp(probs, expected[thread], sizeof(float) * 10 * (size_t)batchOf(thread)) != 0)
      ++mismatches[thread];
  }
  return NULL;
}

int main(void) {
  unsigned seed = 7;
  for (int p = 0; p < FASHIONCNN_NUM_PARAMS; ++p) {
    params[p] = malloc(sizeof(float) * (size_t)FASHIONCNN_PARAM_SIZES[p]);
    for (int64_t i = 0; i < FASHIONCNN_PARAM_SIZES[p]; ++i)
      params[p][i] = 0.1f * (uniform(&seed) - 0.5f);
  }
  for (int t = 0; t < THREADS; ++t) {
    for (int i = 0; i < MAX_N * 28 * 28; ++i)
      images[t][i] = uniform(&seed);
    /* The reference: one call at a time. */
    if (FashionCnn_predict(batchOf(t), (const float *const *)params, images[t], expected[t]) != 0) {
      printf("FAIL: predict returned an error\n");
      return 1;
    }
  }
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; ++t)
    pthread_create(&threads[t], NULL, worker, (void *)(size_t)t);
  int total = 0;
  for (int t = 0; t < THREADS; ++t) {
    pthread_join(threads[t], NULL);
    total += mismatches[t];
    if (mismatches[t])
      printf("FAIL: thread %d (batch %d): %d of %d concurrent results differ from the serial one\n", t, batchOf(t),
             mismatches[t], ROUNDS);
  }
  if (!total)
    printf("OK: %d threads x %d concurrent predict calls equal the serial results\n", THREADS, ROUNDS);
  return total ? 1 : 0;
}
