/* A dense layer's input gradient, dX[128][18432] = dY[128][64] x W^T with
 * W [18432][64] (FashionCnn's dense_0 at batch 128), two ways, one core,
 * the same 4-row x 64-column AVX-512 register blocks:
 *   whole:  W transposed beforehand (not timed), then the matmul, whose
 *           blocks read their 64 rows of W^T 73 KB apart;
 *   panels: per 64 columns, the panel's 64 contiguous rows of W transposed
 *           into 16 KB (L1), then the whole batch by the panel (what
 *           kiln-pack-transposed-weights generates).
 * Best of 15 per round, 3 rounds; prints ms and GFLOP/s.
 *   clang-22 -O2 -march=native bench/peak/transposed_weights.c -o /tmp/tw && /tmp/tw
 * (docs/performance.md, "A dense layer's input gradient by panels".) */
#include <stdio.h>

#if !defined(__AVX512F__)
int main(void) {
  puts("transposed_weights: needs AVX-512 (-march=native on an AVX-512 machine)");
  return 0;
}
#else
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { N = 128, K = 64, C = 18432, PANEL = 64 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* c[4][64] = a[4][K] x b[K][64], b's rows `ldb` floats apart. */
static void block(const float *a, const float *b, long ldb, float *c) {
  __m512 acc[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++)
      acc[i][j] = _mm512_setzero_ps();
  for (int k = 0; k < K; k++) {
    __m512 b0 = _mm512_loadu_ps(b + k * ldb), b1 = _mm512_loadu_ps(b + k * ldb + 16);
    __m512 b2 = _mm512_loadu_ps(b + k * ldb + 32), b3 = _mm512_loadu_ps(b + k * ldb + 48);
    for (int i = 0; i < 4; i++) {
      __m512 x = _mm512_set1_ps(a[i * K + k]);
      acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(x, b2, acc[i][2]);
      acc[i][3] = _mm512_fmadd_ps(x, b3, acc[i][3]);
    }
  }
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++)
      _mm512_storeu_ps(c + (long)i * C + 16 * j, acc[i][j]);
}

static float *w, *wt, *dy, *dx, *panel;

static void whole(void) {
  for (int r = 0; r < N; r += 4)
    for (int col = 0; col < C; col += PANEL)
      block(dy + r * K, wt + col, C, dx + (long)r * C + col);
}

static void panels(void) {
  for (int col = 0; col < C; col += PANEL) {
    for (int c = 0; c < PANEL; c++)
      for (int k = 0; k < K; k++)
        panel[k * PANEL + c] = w[(long)(col + c) * K + k];
    for (int r = 0; r < N; r += 4)
      block(dy + r * K, panel, PANEL, dx + (long)r * C + col);
  }
}

int main(void) {
  w = aligned_alloc(64, 4L * C * K);
  wt = aligned_alloc(64, 4L * C * K);
  dy = aligned_alloc(64, 4L * N * K);
  dx = aligned_alloc(64, 4L * N * C);
  panel = aligned_alloc(64, 4L * K * PANEL);
  for (long i = 0; i < (long)C * K; i++)
    w[i] = (float)(i % 7) * 0.1f;
  for (long i = 0; i < (long)N * K; i++)
    dy[i] = (float)(i % 5) * 0.2f;
  for (long c = 0; c < C; c++)
    for (int k = 0; k < K; k++)
      wt[(long)k * C + c] = w[c * K + k];
  memset(dx, 0, 4L * N * C);
  void (*variants[])(void) = {whole, panels};
  const char *names[] = {"whole W^T, then matmul", "panels of 64 columns"};
  float check[2] = {0, 0};
  for (int round = 0; round < 3; round++)
    for (int v = 0; v < 2; v++) {
      double best = 1e9;
      for (int it = 0; it < 15; it++) {
        double t = now();
        variants[v]();
        t = now() - t;
        if (t < best)
          best = t;
      }
      check[v] = dx[(long)77 * C + 12345];
      printf("%-24s %.3f ms  %.0f GFLOP/s\n", names[v], best * 1e3, 2.0 * N * K * C / best / 1e9);
    }
  if (check[0] != check[1]) {
    printf("the two ways differ: %g against %g\n", check[0], check[1]);
    return 1;
  }
  return 0;
}
#endif
