//===- CpuExecutionEngine.cpp - JIT-compile a lowered module for the host -===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// createCpuExecutionEngine (ObjectEmitter.h): mlir::ExecutionEngine over a
// module the CPU pipeline lowered, translated with the same buffer cache and
// model ABI as kilnc's objects. kiln::Jit and the gradient tests use it.
//
//===----------------------------------------------------------------------===//

#include "codegen/ObjectEmitter.h"
#include "codegen/OpenMPRuntime.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/Module.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <functional>
#include <mutex>

using namespace kiln;

llvm::Expected<std::unique_ptr<mlir::ExecutionEngine>>
kiln::createCpuExecutionEngine(mlir::ModuleOp module, const std::vector<ModelInfo> &models, unsigned optLevel) {
  static std::once_flag nativeTargetOnce;
  std::call_once(nativeTargetOnce, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  // engineOptions holds function_refs: the callables must outlive create().
  std::function<llvm::Error(llvm::Module *)> optimize = [optLevel](llvm::Module *llvmModule) {
    optimizeModule(*llvmModule, optLevel, /*targetMachine=*/nullptr);
    return llvm::Error::success();
  };
  // Translate with the buffer cache and the same model ABI as kilnc's
  // objects (packed entry points and kiln_model_<Model> descriptors), so
  // that the runtime's training loop can drive JIT-compiled code too.
  auto buildModule = [&models](mlir::Operation *op, llvm::LLVMContext &context) -> std::unique_ptr<llvm::Module> {
    std::unique_ptr<llvm::Module> llvmModule = mlir::translateModuleToLLVMIR(op, context);
    if (!llvmModule)
      return nullptr;
    if (llvm::Error error = linkBufferCache(*llvmModule)) {
      llvm::consumeError(std::move(error));
      return nullptr;
    }
    if (!models.empty())
      if (llvm::Error error = addModelABI(*llvmModule, models, "")) {
        llvm::consumeError(std::move(error));
        return nullptr;
      }
    // The engine compiles for the host.
    flushDenormalsInComputeCode(*llvmModule, llvm::Triple(llvm::sys::getProcessTriple()));
    mergeIdenticalFunctions(*llvmModule);
    return llvmModule;
  };
  mlir::ExecutionEngineOptions engineOptions;
  engineOptions.transformer = optimize;
  engineOptions.llvmModuleBuilder = buildModule;
  // Parallel loops call the OpenMP runtime: load it (once per process).
  static const llvm::StringRef sharedLibs[] = {ompLibraryPath()};
  engineOptions.sharedLibPaths = sharedLibs;
  return mlir::ExecutionEngine::create(module, engineOptions);
}

std::vector<int64_t> kiln::memrefDescriptorWords(const void *data, const std::vector<int64_t> &shape) {
  std::vector<int64_t> words = {reinterpret_cast<int64_t>(data), reinterpret_cast<int64_t>(data), 0};
  words.insert(words.end(), shape.begin(), shape.end());
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  words.insert(words.end(), strides.begin(), strides.end());
  return words;
}
