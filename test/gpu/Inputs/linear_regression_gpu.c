/* A C program using a model compiled with kilnc --target=cuda --emit=obj:
 * the parameters go to the GPU once, predict runs through
 * kiln_invoke_device, and the result is compared with plain C. Without a
 * GPU it says why and exits with status 1. */
#include "kiln/runtime.h"
#include "lr.h"

#include <math.h>
#include <stdio.h>

static int fail(kiln_status_t status) {
  fprintf(stderr, "error: %s\n", kiln_status_message(status));
  kiln_status_free(status);
  return 1;
}

int main(void) {
  kiln_status_t status = kiln_cuda_init();
  if (status)
    return fail(status);
  printf("GPU: %s\n", kiln_cuda_device_name());

  enum { N = 5, F = 10 };
  int64_t wShape[1] = {F}, xShape[2] = {N, F};
  kiln_tensor_t *w = NULL, *b = NULL, *x = NULL, *pred = NULL;
  if ((status = kiln_tensor_create(KILN_F32, 1, wShape, &w)) || (status = kiln_tensor_create(KILN_F32, 0, NULL, &b)) ||
      (status = kiln_tensor_create(KILN_F32, 2, xShape, &x)))
    return fail(status);
  float *wd = kiln_tensor_data(w), *bd = kiln_tensor_data(b), *xd = kiln_tensor_data(x);
  for (int i = 0; i < F; ++i)
    wd[i] = 0.1f * (float)(i + 1);
  *bd = 0.5f;
  for (int i = 0; i < N * F; ++i)
    xd[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
  if ((status = kiln_tensor_to_device(w)) || (status = kiln_tensor_to_device(b)))
    return fail(status);

  kiln_tensor_t *args[3] = {w, b, x};
  kiln_dtype_t dtype = KILN_F32;
  int32_t rank = 1;
  if ((status = kiln_invoke_device(LinearRegression_predict_packed, 3, args, 1, &dtype, &rank, &pred)))
    return fail(status);
  const float *got = kiln_tensor_const_data(pred);
  double worst = 0;
  for (int n = 0; n < N; ++n) {
    double want = 0.5;
    for (int i = 0; i < F; ++i)
      want += (double)xd[n * F + i] * (0.1 * (i + 1));
    double error = fabs(got[n] - want) / fmax(fabs(want), 1e-6);
    worst = error > worst ? error : worst;
  }
  printf("predict: worst relative error %.2e %s\n", worst, worst < 1e-5 ? "OK" : "WRONG");
  kiln_tensor_free(pred);
  kiln_tensor_free(x);
  kiln_tensor_free(b);
  kiln_tensor_free(w);
  return worst < 1e-5 ? 0 : 1;
}
