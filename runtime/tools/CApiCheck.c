/*===- CApiCheck.c - The runtime header compiles as plain C ---------------===//
 *
 * Part of Kiln, an ML model language compiled via MLIR.
 *
 *===----------------------------------------------------------------------===//
 *
 * Built into kiln-runtime-tool as C99 with -Wpedantic: proves that
 * kiln/runtime.h is a pure C header (no C++ leaks into the ABI) and that a C
 * program can create, fill and free a tensor through it.
 *
 *===----------------------------------------------------------------------===*/

#include "kiln/runtime.h"

/* Returns 0 when a 2x3 f32 tensor can be created and initialized from C. */
int kiln_c_api_check(void) {
  int64_t shape[2] = {2, 3};
  kiln_tensor_t *tensor = NULL;
  kiln_status_t status = kiln_tensor_create(KILN_F32, 2, shape, &tensor);
  if (status) {
    kiln_status_free(status);
    return 1;
  }
  status = kiln_init_param(tensor, KILN_INIT_ONES, 0.0, 0, "c");
  int failed = status != NULL || ((const float *)kiln_tensor_const_data(tensor))[5] != 1.0f;
  kiln_status_free(status);
  kiln_tensor_free(tensor);
  return failed;
}
