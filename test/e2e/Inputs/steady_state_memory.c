/* End-to-end test program: after a warm-up call, FashionCnn's train_step
 * and predict, called through the generated C header, must not map fresh
 * memory on every call. glibc maps large blocks with mmap and unmaps them on
 * free, so a step that allocates its multi-MB activations takes thousands
 * of minor page faults (counted by getrusage); with the buffer cache that
 * compiled code carries, the steady state takes none beyond noise.
 * Prints the faults per call and OK or FAIL for each function. */
#include "cnn.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define N 32
#define WARMUP 2
#define CALLS 6
/* A step at N = 32 allocates ~20 MB (~5000 pages) when it maps afresh. */
#define MAX_FAULTS_PER_CALL 64

static long minorFaults(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

static float uniform(unsigned *state) {
  *state = *state * 1664525u + 1013904223u;
  return (float)(*state >> 8) / 16777216.0f - 0.5f;
}

static int report(const char *what, long faults) {
  double perCall = (double)faults / CALLS;
  int ok = perCall <= MAX_FAULTS_PER_CALL;
  printf("%s: %.1f minor page faults per call after warm-up %s\n", what, perCall, ok ? "OK" : "FAIL");
  return ok;
}

int main(void) {
  unsigned seed = 1;
  float *params[FASHIONCNN_NUM_PARAMS];
  for (int p = 0; p < FASHIONCNN_NUM_PARAMS; ++p) {
    params[p] = malloc(sizeof(float) * (size_t)FASHIONCNN_PARAM_SIZES[p]);
    for (int64_t i = 0; i < FASHIONCNN_PARAM_SIZES[p]; ++i)
      params[p][i] = 0.1f * uniform(&seed);
  }
  /* Each state slot ("<param>/<slot>") has its parameter's size. */
  float *state[FASHIONCNN_NUM_STATE];
  for (int s = 0; s < FASHIONCNN_NUM_STATE; ++s) {
    int64_t size = 0;
    for (int p = 0; p < FASHIONCNN_NUM_PARAMS; ++p) {
      size_t length = strlen(FASHIONCNN_PARAM_NAMES[p]);
      if (!strncmp(FASHIONCNN_STATE_NAMES[s], FASHIONCNN_PARAM_NAMES[p], length) &&
          FASHIONCNN_STATE_NAMES[s][length] == '/')
        size = FASHIONCNN_PARAM_SIZES[p];
    }
    state[s] = calloc((size_t)size, sizeof(float));
  }
  static float image[N * 28 * 28], probs[N * 10];
  static int32_t label[N];
  for (int i = 0; i < N * 28 * 28; ++i)
    image[i] = uniform(&seed) + 0.5f;
  for (int i = 0; i < N; ++i)
    label[i] = i % 10;

  float loss = 0, accuracy = 0;
  int step = 0, ok = 1;
  for (int i = 0; i < WARMUP; ++i)
    ok &= FashionCnn_train_step(N, params, state, 0.001f, (float)++step, image, label, &loss, &accuracy) == 0;
  long before = minorFaults();
  for (int i = 0; i < CALLS; ++i)
    ok &= FashionCnn_train_step(N, params, state, 0.001f, (float)++step, image, label, &loss, &accuracy) == 0;
  ok &= report("train_step", minorFaults() - before);

  for (int i = 0; i < WARMUP; ++i)
    ok &= FashionCnn_predict(N, (const float *const *)params, image, probs) == 0;
  before = minorFaults();
  for (int i = 0; i < CALLS; ++i)
    ok &= FashionCnn_predict(N, (const float *const *)params, image, probs) == 0;
  ok &= report("predict", minorFaults() - before);
  printf("loss %g\n", loss);
  return ok ? 0 : 1;
}
