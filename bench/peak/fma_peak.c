/* The fp32 FMA peak of one core, measured: 12 independent accumulator
 * chains of 16-lane (AVX-512) or 8-lane (AVX2) fused multiply-adds, enough
 * to cover the FMA latency on two pipes. Prints GFLOP/s (2 flops per lane
 * per FMA), best of several runs. bench/peer.py compiles it at run time
 * (clang-22, else cc, -O2 -march=native) and runs it on CPU 0, so that the
 * benchmarks against PyTorch report % of this peak. (It is in its own folder
 * because LLVM's CMake rejects a source file in bench/ that no target lists.) */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define SUM(v) _mm512_reduce_add_ps(v)
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float SUM(__m256 v) {
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  float total = 0;
  for (int i = 0; i < 8; ++i)
    total += lanes[i];
  return total;
}
#endif

static double seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

int main(void) {
  const long iterations = 20000000;
  double best = 0;
  float sink = 0;
  for (int run = 0; run < 5; ++run) {
    vec a = SET1(1.0000001f), b = SET1(0.9999999f);
    vec c0 = SET1(0), c1 = SET1(1), c2 = SET1(2), c3 = SET1(3), c4 = SET1(4), c5 = SET1(5);
    vec c6 = SET1(6), c7 = SET1(7), c8 = SET1(8), c9 = SET1(9), c10 = SET1(10), c11 = SET1(11);
    double start = seconds();
    for (long i = 0; i < iterations; ++i) {
      c0 = FMA(a, c0, b);
      c1 = FMA(a, c1, b);
      c2 = FMA(a, c2, b);
      c3 = FMA(a, c3, b);
      c4 = FMA(a, c4, b);
      c5 = FMA(a, c5, b);
      c6 = FMA(a, c6, b);
      c7 = FMA(a, c7, b);
      c8 = FMA(a, c8, b);
      c9 = FMA(a, c9, b);
      c10 = FMA(a, c10, b);
      c11 = FMA(a, c11, b);
    }
    double elapsed = seconds() - start;
    vec total = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));
    total = ADD(total, ADD(ADD(c8, c9), ADD(c10, c11)));
    sink += SUM(total);
    double gflops = 12.0 * LANES * 2.0 * (double)iterations / elapsed * 1e-9;
    if (gflops > best)
      best = gflops;
  }
  printf("%.1f\n", best);
  return sink == 12345.0f; /* keeps the chains live */
}
