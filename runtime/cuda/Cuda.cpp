//===- Cuda.cpp - The thin CUDA runtime of --target=cuda models ----------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Two faces on one CUDA driver connection:
//
// - the `mgpu*` functions that MLIR's gpu-to-llvm lowering makes compiled
//   models call (module load, kernel launch, device memory, streams), with
//   the signatures of MLIR 22's generated declarations;
// - Kiln's C API for them (runtime.h): kiln_cuda_init, device-resident
//   tensors, kiln_invoke_device.
//
// The driver (`libcuda.so.1`) is opened with dlopen on first use, so a model
// binary links and starts on machines without a GPU or driver and can say so
// (kiln_cuda_init's status) instead of failing to load. No CUDA header is
// needed to build: the few driver types and entry points are declared here.
//
// Everything runs on one stream: the `mgpuStreamCreate` of every compiled
// function returns it (and `mgpuStreamDestroy` leaves it), so kernels of a
// training step queue back to back and the host synchronizes once per call,
// in kiln_invoke_device. Allocations are stream-ordered (cuMemAllocAsync,
// from a pool that keeps freed memory), so the per-step buffers of a
// training step cost no driver round trip after the first step.
//
// Compiled code has no error path: the first driver error is kept (later
// calls do nothing) and kiln_invoke_device returns it as its status. Kernel
// faults surface at the next synchronization; with KILN_CUDA_SYNC=1 the
// runtime waits for every kernel, so that the error names the kernel that
// failed (for debugging; slow).
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

using kiln::runtime::makeStatus;

namespace {

// The driver API's types and entry points (cuda.h), as far as used here.
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUmemoryPool = struct CUmemPoolHandle_st *;
constexpr int kStreamNonBlocking = 0x1;
constexpr int kAttributeMultiprocessorCount = 16;
constexpr int kAttributeComputeCapabilityMajor = 75;
constexpr int kAttributeComputeCapabilityMinor = 76;
constexpr int kAttributeMemoryPoolsSupported = 115;
constexpr int kMemPoolAttrReleaseThreshold = 4;

struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuDeviceGetDefaultMemPool)(CUmemoryPool *, CUdevice);
  CUresult (*cuMemPoolSetAttribute)(CUmemoryPool, int, void *);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                             void **, void **);
  CUresult (*cuMemAllocAsync)(CUdeviceptr *, size_t, CUstream);
  CUresult (*cuMemFreeAsync)(CUdeviceptr, CUstream);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
};

/// The process's one connection to the driver.
struct Cuda {
  std::once_flag once;
  kiln_status_code_t initCode = KILN_STATUS_OK;
  std::string initError; ///< why the GPU cannot be used ("" when it can)
  Driver driver{};
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  std::string deviceName;
  /// Stream-ordered allocation (cuMemAllocAsync) works; else (some virtual
  /// GPUs) plain cuMemAlloc/cuMemFree, which synchronize.
  bool memoryPools = false;
  /// The first error of an mgpu* call ("" while there is none).
  std::string stickyError;
  /// KILN_CUDA_SYNC=1: wait for every kernel, so that an error names it.
  bool syncEachKernel = false;
  /// Kernel names, for messages.
  std::unordered_map<CUfunction, std::string> kernelNames;
};

Cuda &cuda() {
  static Cuda instance;
  return instance;
}

std::string describe(CUresult result) {
  Driver &d = cuda().driver;
  const char *name = nullptr, *text = nullptr;
  if (d.cuGetErrorName)
    d.cuGetErrorName(result, &name);
  if (d.cuGetErrorString)
    d.cuGetErrorString(result, &text);
  return std::string(name ? name : "CUDA error " + std::to_string(result)) +
         (text ? std::string(" (") + text + ")" : "");
}

void initialize(Cuda &c) {
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    c.initCode = KILN_STATUS_FAILED_PRECONDITION;
    c.initError = std::string("no NVIDIA driver: cannot load libcuda.so.1 (") + dlerror() + ")";
    return;
  }
  Driver &d = c.driver;
  bool complete = true;
  auto bind = [&](auto &function, const char *name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(library, name));
    if (!function && complete) {
      complete = false;
      c.initError =
          std::string("libcuda.so.1 lacks ") + name + " (the driver is too old: CUDA 11.2 or later is needed)";
    }
  };
  bind(d.cuInit, "cuInit");
  bind(d.cuDeviceGetCount, "cuDeviceGetCount");
  bind(d.cuDeviceGet, "cuDeviceGet");
  bind(d.cuDeviceGetName, "cuDeviceGetName");
  bind(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  bind(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  bind(d.cuCtxSetCurrent, "cuCtxSetCurrent");
  bind(d.cuDeviceGetDefaultMemPool, "cuDeviceGetDefaultMemPool");
  bind(d.cuMemPoolSetAttribute, "cuMemPoolSetAttribute");
  bind(d.cuStreamCreate, "cuStreamCreate");
  bind(d.cuStreamSynchronize, "cuStreamSynchronize");
  bind(d.cuModuleLoadData, "cuModuleLoadData");
  bind(d.cuModuleUnload, "cuModuleUnload");
  bind(d.cuModuleGetFunction, "cuModuleGetFunction");
  bind(d.cuLaunchKernel, "cuLaunchKernel");
  bind(d.cuMemAllocAsync, "cuMemAllocAsync");
  bind(d.cuMemFreeAsync, "cuMemFreeAsync");
  bind(d.cuMemAlloc, "cuMemAlloc_v2");
  bind(d.cuMemFree, "cuMemFree_v2");
  bind(d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  bind(d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  bind(d.cuGetErrorName, "cuGetErrorName");
  bind(d.cuGetErrorString, "cuGetErrorString");
  if (!complete) {
    c.initCode = KILN_STATUS_FAILED_PRECONDITION;
    return;
  }
  auto fail = [&](const char *what, CUresult result) {
    c.initCode = KILN_STATUS_FAILED_PRECONDITION;
    c.initError = std::string(what) + " failed: " + describe(result);
  };
  int count = 0;
  if (CUresult r = d.cuInit(0))
    return fail("cuInit (is there an NVIDIA GPU and a working driver?)", r);
  if (CUresult r = d.cuDeviceGetCount(&count))
    return fail("cuDeviceGetCount", r);
  if (count == 0) {
    c.initCode = KILN_STATUS_FAILED_PRECONDITION;
    c.initError = "the NVIDIA driver sees no GPU";
    return;
  }
  CUdevice device = 0;
  if (CUresult r = d.cuDeviceGet(&device, 0))
    return fail("cuDeviceGet", r);
  if (CUresult r = d.cuDevicePrimaryCtxRetain(&c.context, device))
    return fail("cuDevicePrimaryCtxRetain", r);
  if (CUresult r = d.cuCtxSetCurrent(c.context))
    return fail("cuCtxSetCurrent", r);
  if (CUresult r = d.cuStreamCreate(&c.stream, kStreamNonBlocking))
    return fail("cuStreamCreate", r);
  // Keep freed memory in the pool: a training step frees and allocates the
  // same buffers every step.
  int pools = 0;
  d.cuDeviceGetAttribute(&pools, kAttributeMemoryPoolsSupported, device);
  c.memoryPools = pools != 0;
  CUmemoryPool pool = nullptr;
  if (c.memoryPools && d.cuDeviceGetDefaultMemPool(&pool, device) == 0) {
    unsigned long long threshold = ~0ull;
    d.cuMemPoolSetAttribute(pool, kMemPoolAttrReleaseThreshold, &threshold);
  }
  const char *sync = std::getenv("KILN_CUDA_SYNC");
  c.syncEachKernel = sync && *sync && std::strcmp(sync, "0") != 0;
  char name[256] = {};
  int major = 0, minor = 0, sms = 0;
  d.cuDeviceGetName(name, sizeof name - 1, device);
  d.cuDeviceGetAttribute(&major, kAttributeComputeCapabilityMajor, device);
  d.cuDeviceGetAttribute(&minor, kAttributeComputeCapabilityMinor, device);
  d.cuDeviceGetAttribute(&sms, kAttributeMultiprocessorCount, device);
  c.deviceName = std::string(name) + " (sm_" + std::to_string(major) + std::to_string(minor) + ", " +
                 std::to_string(sms) + " SMs)";
}

/// The connection, initialized on first use; null if the GPU is unusable.
Cuda *connection() {
  Cuda &c = cuda();
  std::call_once(c.once, [&] { initialize(c); });
  return c.initCode == KILN_STATUS_OK ? &c : nullptr;
}

/// Records the first failure of a compiled model's runtime call; true if
/// `result` is a success and no earlier call failed.
bool ok(const char *what, CUresult result) {
  Cuda &c = cuda();
  if (result != 0 && c.stickyError.empty())
    c.stickyError = std::string(what) + " failed: " + describe(result);
  return result == 0 && c.stickyError.empty();
}

/// A kernel module, loaded at its first launch (compiled models register
/// their modules from global constructors, before main can check the GPU).
struct LazyModule {
  const void *image;
  CUmodule module = nullptr;
  std::unordered_map<const char *, CUfunction> functions;
};

kiln_status_t stickyStatus() {
  Cuda &c = cuda();
  if (c.stickyError.empty())
    return nullptr;
  return makeStatus(KILN_STATUS_FAILED_PRECONDITION, "CUDA: %s", c.stickyError.c_str());
}

kiln_status_t unavailable() {
  connection();
  return makeStatus(cuda().initCode, "no usable GPU: %s", cuda().initError.c_str());
}
} // namespace

//===----------------------------------------------------------------------===//
// What compiled models call (MLIR's gpu-to-llvm lowering)
//===----------------------------------------------------------------------===//

extern "C" void *mgpuModuleLoad(void *image, size_t /*size*/) {
  auto *lazy = new LazyModule();
  lazy->image = image;
  return lazy;
}

extern "C" void mgpuModuleUnload(void *handle) {
  auto *lazy = static_cast<LazyModule *>(handle);
  // Unloading at exit is left to the driver's teardown.
  delete lazy;
}

extern "C" void *mgpuModuleGetFunction(void *handle, const char *name) {
  auto *lazy = static_cast<LazyModule *>(handle);
  Cuda *c = connection();
  if (!c) {
    ok("loading a kernel", 1);
    return nullptr;
  }
  auto found = lazy->functions.find(name);
  if (found != lazy->functions.end())
    return found->second;
  if (!lazy->module && !ok("cuModuleLoadData", c->driver.cuModuleLoadData(&lazy->module, lazy->image)))
    return nullptr;
  CUfunction function = nullptr;
  if (!ok("cuModuleGetFunction", c->driver.cuModuleGetFunction(&function, lazy->module, name)))
    return nullptr;
  lazy->functions[name] = function;
  c->kernelNames[function] = name;
  return function;
}

extern "C" void mgpuLaunchKernel(void *function, int64_t gridX, int64_t gridY, int64_t gridZ, int64_t blockX,
                                 int64_t blockY, int64_t blockZ, int32_t sharedMemory, void *stream, void **params,
                                 void **extra, int64_t /*paramsCount*/) {
  Cuda *c = connection();
  if (!c || !function || !cuda().stickyError.empty())
    return;
  if (gridX == 0 || gridY == 0 || gridZ == 0)
    return; // an empty batch: nothing to do
  auto kernel = static_cast<CUfunction>(function);
  // (The messages are built only on failure: this runs for every kernel.)
  CUresult result = c->driver.cuLaunchKernel(kernel, unsigned(gridX), unsigned(gridY), unsigned(gridZ),
                                             unsigned(blockX), unsigned(blockY), unsigned(blockZ),
                                             unsigned(sharedMemory), static_cast<CUstream>(stream), params, extra);
  if (result != 0) {
    ok(("launching kernel " + c->kernelNames[kernel]).c_str(), result);
    return;
  }
  if (c->syncEachKernel)
    if (CUresult sync = c->driver.cuStreamSynchronize(static_cast<CUstream>(stream)))
      ok(("running kernel " + c->kernelNames[kernel]).c_str(), sync);
}

extern "C" void *mgpuStreamCreate() {
  Cuda *c = connection();
  return c ? c->stream : nullptr;
}

extern "C" void mgpuStreamDestroy(void * /*stream*/) {}

extern "C" void mgpuStreamSynchronize(void *stream) {
  if (Cuda *c = connection(); c && cuda().stickyError.empty())
    ok("cuStreamSynchronize", c->driver.cuStreamSynchronize(static_cast<CUstream>(stream)));
}

extern "C" void *mgpuMemAlloc(uint64_t bytes, void *stream, bool /*isHostShared*/) {
  Cuda *c = connection();
  if (!c || !cuda().stickyError.empty())
    return nullptr;
  CUdeviceptr pointer = 0;
  // A zero-size buffer (an empty batch) still gets a distinct address.
  size_t size = bytes ? bytes : 1;
  bool allocated = c->memoryPools
                       ? ok("cuMemAllocAsync", c->driver.cuMemAllocAsync(&pointer, size, static_cast<CUstream>(stream)))
                       : ok("cuMemAlloc", c->driver.cuMemAlloc(&pointer, size));
  return allocated ? reinterpret_cast<void *>(pointer) : nullptr;
}

extern "C" void mgpuMemFree(void *pointer, void *stream) {
  Cuda *c = connection();
  if (!c || !pointer)
    return;
  auto device = reinterpret_cast<CUdeviceptr>(pointer);
  if (c->memoryPools)
    ok("cuMemFreeAsync", c->driver.cuMemFreeAsync(device, static_cast<CUstream>(stream)));
  else
    ok("cuMemFree", c->driver.cuMemFree(device)); // waits for the work using it
}

//===----------------------------------------------------------------------===//
// Kiln's C API
//===----------------------------------------------------------------------===//

extern "C" kiln_status_t kiln_cuda_init(void) { return connection() ? nullptr : unavailable(); }

extern "C" const char *kiln_cuda_device_name(void) {
  Cuda *c = connection();
  return c ? c->deviceName.c_str() : nullptr;
}

namespace kiln::runtime {
void freeDeviceCopy(kiln_tensor_t *tensor) {
  if (tensor->deviceData)
    mgpuMemFree(tensor->deviceData, cuda().stream);
  tensor->deviceData = nullptr;
}
} // namespace kiln::runtime

namespace {
kiln_status_t upload(Cuda *c, const kiln_tensor_t *tensor, void *device) {
  if (tensor->byteSize &&
      !ok("cuMemcpyHtoDAsync", c->driver.cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(device), tensor->data,
                                                           tensor->byteSize, c->stream)))
    return stickyStatus();
  return nullptr;
}
} // namespace

extern "C" kiln_status_t kiln_tensor_to_device(kiln_tensor_t *tensor) {
  if (!tensor)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_tensor_to_device: NULL tensor");
  Cuda *c = connection();
  if (!c)
    return unavailable();
  if (!tensor->deviceData && !(tensor->deviceData = mgpuMemAlloc(tensor->byteSize, c->stream, false)))
    return stickyStatus();
  tensor->hostStale = false;
  return upload(c, tensor, tensor->deviceData);
}

extern "C" kiln_status_t kiln_tensor_to_host(kiln_tensor_t *tensor) {
  if (!tensor)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_tensor_to_host: NULL tensor");
  if (!tensor->hostStale)
    return nullptr;
  if (kiln_status_t status = kiln::runtime::copyDeviceToHost(tensor->data, tensor->deviceData, tensor->byteSize))
    return status;
  tensor->hostStale = false;
  return nullptr;
}

namespace {
kiln_status_t invokeOnDevice(kiln_packed_fn_t fn, size_t num_args, kiln_tensor_t *const *args, size_t num_results,
                             const kiln_dtype_t *result_dtypes, const int32_t *result_ranks, kiln_tensor_t **results,
                             kiln::runtime::InvokeMode mode) {
  if (!fn || (num_args && !args) || (num_results && (!result_dtypes || !result_ranks || !results)))
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_invoke_device: null argument");
  Cuda *c = connection();
  if (!c)
    return unavailable();
  if (kiln_status_t status = stickyStatus())
    return status;
  // Arguments without a device copy are uploaded for this call only.
  std::vector<void *> devicePointers(num_args), temporaries;
  kiln_status_t status = nullptr;
  for (size_t i = 0; i < num_args && !status; ++i) {
    if (!args[i]) {
      status = makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_invoke_device: argument %zu is null", i);
      break;
    }
    if (args[i]->deviceData) {
      devicePointers[i] = args[i]->deviceData;
      continue;
    }
    void *device = mgpuMemAlloc(args[i]->byteSize, c->stream, false);
    if (!device) {
      status = stickyStatus();
      break;
    }
    temporaries.push_back(device);
    devicePointers[i] = device;
    status = upload(c, args[i], device);
  }
  if (!status) {
    std::vector<const void *> data(devicePointers.begin(), devicePointers.end());
    status = kiln::runtime::invokePacked(fn, num_args, args, data.data(), num_results, result_dtypes, result_ranks,
                                         results, mode);
  }
  // The call may have updated device-resident arguments in place.
  for (size_t i = 0; i < num_args; ++i)
    if (args[i] && args[i]->deviceData)
      args[i]->hostStale = true;
  for (void *temporary : temporaries)
    mgpuMemFree(temporary, c->stream);
  if (!status)
    status = stickyStatus();
  return status;
}
} // namespace

extern "C" kiln_status_t kiln_invoke_device(kiln_packed_fn_t fn, size_t num_args, kiln_tensor_t *const *args,
                                            size_t num_results, const kiln_dtype_t *result_dtypes,
                                            const int32_t *result_ranks, kiln_tensor_t **results) {
  return invokeOnDevice(fn, num_args, args, num_results, result_dtypes, result_ranks, results,
                        kiln::runtime::InvokeMode::Device);
}

extern "C" kiln_status_t kiln_invoke_device_resident(kiln_packed_fn_t fn, size_t num_args, kiln_tensor_t *const *args,
                                                     size_t num_results, const kiln_dtype_t *result_dtypes,
                                                     const int32_t *result_ranks, kiln_tensor_t **results) {
  return invokeOnDevice(fn, num_args, args, num_results, result_dtypes, result_ranks, results,
                        kiln::runtime::InvokeMode::DeviceResident);
}

namespace kiln::runtime {
kiln_status_t copyDeviceToHost(void *hostDestination, const void *deviceSource, size_t bytes) {
  Cuda *c = connection();
  if (!c)
    return unavailable();
  if (bytes &&
      !ok("cuMemcpyDtoHAsync",
          c->driver.cuMemcpyDtoHAsync(hostDestination, reinterpret_cast<CUdeviceptr>(deviceSource), bytes, c->stream)))
    return stickyStatus();
  if (!ok("cuStreamSynchronize", c->driver.cuStreamSynchronize(c->stream)))
    return stickyStatus();
  return nullptr;
}

void freeDeviceResult(void *pointer) { mgpuMemFree(pointer, cuda().stream); }
} // namespace kiln::runtime
