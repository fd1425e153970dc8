//===- RuntimeCudaTest.cpp - The CUDA runtime without a GPU ---------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// GoogleTest cases for runtime/cuda/Cuda.cpp on machines where the CUDA driver
// cannot be loaded (CI, most machines): every entry point reports that
// clearly and leaves the tensors intact; what compiled GPU code calls
// (mgpu*) does nothing harmful. Where a driver loads, these cases are
// skipped: scripts/gpu-check.sh checks the GPU path on a GPU.
//
//===----------------------------------------------------------------------===//

#include "kiln/runtime.h"

#include "gtest/gtest.h"

#include <dlfcn.h>

#include <string>

#include "RuntimeTestUtils.h"

extern "C" {
void *mgpuStreamCreate();
void *mgpuMemAlloc(uint64_t bytes, void *stream, bool isHostShared);
void *mgpuModuleLoad(void *image, size_t size);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuModuleUnload(void *module);
}

namespace {
using namespace kiln_test;

bool driverLoads() {
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library)
    dlclose(library);
  return library != nullptr;
}

#define SKIP_WITH_DRIVER()                                                                                             \
  if (driverLoads())                                                                                                   \
  GTEST_SKIP() << "a CUDA driver is present: the GPU path is checked by scripts/gpu-check.sh"

TEST(RuntimeCuda, InitSaysWhyThereIsNoGpu) {
  SKIP_WITH_DRIVER();
  kiln_status_t status = kiln_cuda_init();
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_FAILED_PRECONDITION);
  EXPECT_NE(std::string(kiln_status_message(status)).find("cannot load libcuda.so.1"), std::string::npos)
      << kiln_status_message(status);
  kiln_status_free(status);
  EXPECT_EQ(kiln_cuda_device_name(), nullptr);
  // Asking again gives the same answer.
  status = kiln_cuda_init();
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_FAILED_PRECONDITION);
  kiln_status_free(status);
}

TEST(RuntimeCuda, TensorsStayOnTheHost) {
  SKIP_WITH_DRIVER();
  int64_t shape[] = {2, 3};
  kiln_tensor_t *tensor = nullptr;
  ASSERT_EQ(kiln_tensor_create(KILN_F32, 2, shape, &tensor), nullptr);
  static_cast<float *>(kiln_tensor_data(tensor))[4] = 7.0f;
  kiln_status_t status = kiln_tensor_to_device(tensor);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_FAILED_PRECONDITION);
  kiln_status_free(status);
  // Nothing moved: the host data is current and intact.
  ASSERT_EQ(kiln_tensor_to_host(tensor), nullptr);
  EXPECT_EQ(static_cast<const float *>(kiln_tensor_const_data(tensor))[4], 7.0f);
  kiln_tensor_free(tensor);
}

TEST(RuntimeCuda, InvokeDeviceFailsCleanly) {
  SKIP_WITH_DRIVER();
  int64_t shape[] = {4};
  kiln_tensor_t *tensor = nullptr;
  ASSERT_EQ(kiln_tensor_create(KILN_F32, 1, shape, &tensor), nullptr);
  bool called = false;
  static bool *calledFlag;
  calledFlag = &called;
  kiln_packed_fn_t fn = [](void **) { *calledFlag = true; };
  kiln_dtype_t dtype = KILN_F32;
  int32_t rank = 0;
  kiln_tensor_t *result = nullptr;
  kiln_status_t status = kiln_invoke_device(fn, 1, &tensor, 1, &dtype, &rank, &result);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_FAILED_PRECONDITION);
  kiln_status_free(status);
  EXPECT_FALSE(called) << "compiled GPU code must not run without a GPU";
  EXPECT_EQ(result, nullptr);
  status = kiln_invoke_device(nullptr, 1, &tensor, 1, &dtype, &rank, &result);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_INVALID_ARGUMENT);
  kiln_status_free(status);
  kiln_tensor_free(tensor);
}

TEST(RuntimeCuda, CompiledCodeCallsAreHarmless) {
  SKIP_WITH_DRIVER();
  // Module registration (from a GPU binary's global constructors) must work
  // before anything knows whether there is a GPU; the rest returns null.
  static const char image[] = "not a cubin";
  void *module = mgpuModuleLoad(const_cast<char *>(image), sizeof image);
  ASSERT_NE(module, nullptr);
  EXPECT_EQ(mgpuModuleGetFunction(module, "kernel"), nullptr);
  mgpuModuleUnload(module);
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  EXPECT_EQ(mgpuMemAlloc(64, nullptr, false), nullptr);
}
} // namespace
