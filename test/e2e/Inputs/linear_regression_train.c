/* End-to-end test program: trains examples/linear_regression.kiln (sgd,
 * lr 0.1 from the model) for a few steps through the generated header's
 * LinearRegression_train_step, and repeats the same steps in plain C
 * (double precision): the gradient of mean((x.w + b - y)^2) written out by
 * hand and w -= lr * g. Prints the worst relative difference. */
#include "lr.h"

#include <math.h>
#include <stdio.h>

#define N 6
#define STEPS 5

int main(void) {
  float w[10], b = 0.5f, x[N * 10], y[N], loss, mse;
  double rw[10], rb = 0.5;
  for (int i = 0; i < 10; ++i)
    rw[i] = w[i] = 0.05f * (float)i - 0.2f;
  for (int i = 0; i < N * 10; ++i)
    x[i] = (float)((i * 29) % 13) / 6.0f - 1.0f;
  for (int i = 0; i < N; ++i)
    y[i] = (float)i / 2.0f - 1.0f;
  float *params[LINEARREGRESSION_NUM_PARAMS] = {w, &b};
  double worst = 0, firstLoss = 0, lastLoss = 0;
  for (int step = 1; step <= STEPS; ++step) {
    /* The reference: loss and gradient at the current weights, then SGD. */
    double gw[10] = {0}, gb = 0, refLoss = 0;
    for (int n = 0; n < N; ++n) {
      double pred = rb;
      for (int i = 0; i < 10; ++i)
        pred += (double)x[n * 10 + i] * rw[i];
      double r = pred - y[n];
      refLoss += r * r / N;
      for (int i = 0; i < 10; ++i)
        gw[i] += 2.0 * r * x[n * 10 + i] / N;
      gb += 2.0 * r / N;
    }
    if (LinearRegression_train_step(N, params, NULL, 0.1f, (float)step, x, y, &loss, &mse) != 0) {
      printf("train_step failed\n");
      return 1;
    }
    worst = fmax(worst, fabs(loss - refLoss) / refLoss);
    for (int i = 0; i < 10; ++i)
      rw[i] -= 0.1 * gw[i];
    rb -= 0.1 * gb;
    for (int i = 0; i < 10; ++i)
      worst = fmax(worst, fabs(w[i] - rw[i]) / fmax(fabs(rw[i]), 1e-3));
    worst = fmax(worst, fabs(b - rb) / fmax(fabs(rb), 1e-3));
    if (step == 1)
      firstLoss = loss;
    lastLoss = loss;
  }
  printf("optimizer state slots: %d\n", LINEARREGRESSION_NUM_STATE);
  printf("train_step: worst relative difference from plain C %.2e %s\n", worst, worst < 1e-5 ? "OK" : "MISMATCH");
  printf("loss went from %.4f to %.4f %s\n", firstLoss, lastLoss, lastLoss < firstLoss ? "OK" : "NOT DECREASING");
  return 0;
}
