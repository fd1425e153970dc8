/* End-to-end test program: a C host trains Inputs/linear_regression_adam.kiln
 * (Adam with non-default betas and epsilon) through the generated header
 * alone: it allocates the optimizer state from ADAMREGRESSION_STATE_SIZES,
 * fills it from ADAMREGRESSION_STATE_INIT, takes the learning rate from
 * ADAMREGRESSION_LEARNING_RATE and passes the 1-based step count, as
 * docs/artifacts.md says. The same steps are repeated here in double
 * precision: the gradient of mean((x.w + b - y)^2) and Keras's Adam
 * (docs/language.md, Optimizers) written out by hand. Prints the worst
 * relative difference of the weights and of the state. */
#include "adam.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 8
#define STEPS 20

int main(void) {
  float w[10] = {0}, b = 0, x[N * 10], y[N], loss;
  double rw[11] = {0}, m[11] = {0}, v[11] = {0}; /* w then b */
  for (int i = 0; i < N * 10; ++i)
    x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
  for (int i = 0; i < N; ++i)
    y[i] = (float)i / 3.0f - 1.0f;
  float *params[ADAMREGRESSION_NUM_PARAMS] = {w, &b};
  /* The state slots, from the header's tables: w/m, w/v, b/m, b/v. */
  float *state[ADAMREGRESSION_NUM_STATE];
  for (int s = 0; s < ADAMREGRESSION_NUM_STATE; ++s) {
    state[s] = malloc(sizeof(float) * (size_t)ADAMREGRESSION_STATE_SIZES[s]);
    for (int64_t i = 0; i < ADAMREGRESSION_STATE_SIZES[s]; ++i)
      state[s][i] = ADAMREGRESSION_STATE_INIT[s];
  }
  const double lr = ADAMREGRESSION_LEARNING_RATE, b1 = 0.8, b2 = 0.95, eps = 1e-4;
  double worst = 0, worstState = 0, firstLoss = 0, lastLoss = 0;
  for (int step = 1; step <= STEPS; ++step) {
    double g[11] = {0};
    for (int n = 0; n < N; ++n) {
      double pred = rw[10];
      for (int i = 0; i < 10; ++i)
        pred += (double)x[n * 10 + i] * rw[i];
      double r = pred - y[n];
      for (int i = 0; i < 10; ++i)
        g[i] += 2.0 * r * x[n * 10 + i] / N;
      g[10] += 2.0 * r / N;
    }
    if (AdamRegression_train_step(N, params, state, ADAMREGRESSION_LEARNING_RATE, (float)step, x, y, &loss) != 0) {
      printf("train_step failed\n");
      return 1;
    }
    double alpha = lr * sqrt(1 - pow(b2, step)) / (1 - pow(b1, step));
    for (int i = 0; i < 11; ++i) {
      m[i] += (g[i] - m[i]) * (1 - b1);
      v[i] += (g[i] * g[i] - v[i]) * (1 - b2);
      rw[i] -= alpha * m[i] / (sqrt(v[i]) + eps);
    }
    for (int i = 0; i < 10; ++i) {
      worst = fmax(worst, fabs(w[i] - rw[i]) / fmax(fabs(rw[i]), 1e-2));
      worstState = fmax(worstState, fabs(state[0][i] - m[i]) / fmax(fabs(m[i]), 1e-3));
      worstState = fmax(worstState, fabs(state[1][i] - v[i]) / fmax(fabs(v[i]), 1e-4));
    }
    worst = fmax(worst, fabs(b - rw[10]) / fmax(fabs(rw[10]), 1e-2));
    worstState = fmax(worstState, fabs(state[2][0] - m[10]) / fmax(fabs(m[10]), 1e-3));
    worstState = fmax(worstState, fabs(state[3][0] - v[10]) / fmax(fabs(v[10]), 1e-4));
    if (step == 1)
      firstLoss = loss;
    lastLoss = loss;
  }
  printf("state slots: %d (%s, %s, %s, %s)\n", ADAMREGRESSION_NUM_STATE, ADAMREGRESSION_STATE_NAMES[0],
         ADAMREGRESSION_STATE_NAMES[1], ADAMREGRESSION_STATE_NAMES[2], ADAMREGRESSION_STATE_NAMES[3]);
  printf("adam weights: worst relative difference from plain C %.2e %s\n", worst, worst < 1e-4 ? "OK" : "MISMATCH");
  printf("adam state: worst relative difference from plain C %.2e %s\n", worstState,
         worstState < 1e-4 ? "OK" : "MISMATCH");
  printf("loss went from %.4f to %.4f %s\n", firstLoss, lastLoss, lastLoss < firstLoss ? "OK" : "NOT DECREASING");
  for (int s = 0; s < ADAMREGRESSION_NUM_STATE; ++s)
    free(state[s]);
  return 0;
}
