/* End-to-end test program: calls the functions kilnc declared in the
 * generated C header for examples/linear_regression.kiln and compares them
 * with the same model computed here in plain C (double precision). */
#include "lr.h"

#include <math.h>
#include <stdio.h>

#define N 7

int main(void) {
  float w[10], b = 0.25f, x[N * 10], y[N], pred[N], loss, mse;
  for (int i = 0; i < 10; ++i)
    w[i] = 0.1f * (float)i - 0.3f;
  for (int i = 0; i < N * 10; ++i)
    x[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
  for (int i = 0; i < N; ++i)
    y[i] = (float)i / 3.0f;
  const float *params[LINEARREGRESSION_NUM_PARAMS] = {w, &b};
  if (LinearRegression_predict(N, params, x, pred) != 0 || LinearRegression_loss(N, params, x, y, &loss, &mse) != 0) {
    printf("call failed\n");
    return 1;
  }
  if (LinearRegression_predict(0, params, x, pred) != -1) {
    printf("n = 0 was accepted\n");
    return 1;
  }
  double worst = 0, sumSq = 0;
  for (int n = 0; n < N; ++n) {
    double ref = b;
    for (int i = 0; i < 10; ++i)
      ref += (double)x[n * 10 + i] * w[i];
    worst = fmax(worst, fabs(ref - pred[n]) / fmax(fabs(ref), 1e-3));
    sumSq += (ref - y[n]) * (ref - y[n]);
  }
  double refLoss = sumSq / N;
  printf("predict: worst relative error %.2e %s\n", worst, worst < 1e-5 ? "OK" : "MISMATCH");
  double lossError = fabs(refLoss - loss) / refLoss, mseError = fabs(refLoss - mse) / refLoss;
  printf("loss: relative error %.2e %s\n", lossError, lossError < 1e-5 ? "OK" : "MISMATCH");
  printf("mse: relative error %.2e %s\n", mseError, mseError < 1e-5 ? "OK" : "MISMATCH");
  printf("params: %d named %s and %s\n", LINEARREGRESSION_NUM_PARAMS, LINEARREGRESSION_PARAM_NAMES[0],
         LINEARREGRESSION_PARAM_NAMES[1]);
  return 0;
}
