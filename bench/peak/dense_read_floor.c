/* The time one core needs to read FashionCnn's dense_0 kernel (18432 x 64
 * floats, 4.7 MB) once, the floor of a batch-1 predict's dense layer: after
 * the first call the kernel stays in L3 (L2 is 1 MB), and at batch 1 each
 * of its values is used once. Four independent AVX-512 (or AVX2) load-add
 * chains per 64 floats, best of 2000 passes; prints microseconds and GB/s.
 *   clang-22 -O2 -march=native bench/peak/dense_read_floor.c -o /tmp/floor && /tmp/floor
 * (docs/performance.md, "Why batch 1 on one core stays near 100 us".) */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define LOAD _mm512_load_ps
#define ADD _mm512_add_ps
#define ZERO _mm512_setzero_ps
#define SUM(v) _mm512_reduce_add_ps(v)
#else
typedef __m256 vec;
#define LANES 8
#define LOAD _mm256_load_ps
#define ADD _mm256_add_ps
#define ZERO _mm256_setzero_ps
static float SUM(__m256 v) {
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  float s = 0;
  for (int i = 0; i < 8; ++i)
    s += lanes[i];
  return s;
}
#endif

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
  const size_t count = 18432 * 64;
  float *kernel = aligned_alloc(64, count * sizeof(float));
  for (size_t i = 0; i < count; ++i)
    kernel[i] = (float)i * 1e-7f;
  vec a = ZERO(), b = ZERO(), c = ZERO(), d = ZERO();
  double best = 1e9;
  for (int pass = 0; pass < 2000; ++pass) {
    double start = now();
    for (size_t i = 0; i < count; i += 4 * LANES) {
      a = ADD(a, LOAD(kernel + i));
      b = ADD(b, LOAD(kernel + i + LANES));
      c = ADD(c, LOAD(kernel + i + 2 * LANES));
      d = ADD(d, LOAD(kernel + i + 3 * LANES));
    }
    double elapsed = now() - start;
    if (elapsed < best)
      best = elapsed;
  }
  /* The sum is printed so that the loads are not optimized away. */
  printf("%.1f us, %.1f GB/s (checksum %g)\n", best * 1e6, count * sizeof(float) / best / 1e9,
         SUM(ADD(ADD(a, b), ADD(c, d))));
  free(kernel);
  return 0;
}
