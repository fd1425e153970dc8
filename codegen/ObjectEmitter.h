//===- ObjectEmitter.h - LLVM IR, assembly and objects for the host CPU -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The back end of kilnc for the CPU: translate the lowered (LLVM-dialect)
// module to LLVM IR, add the model ABI (one `<Model>_<fn>_packed` entry per
// function and a `kiln_model_<Model>` descriptor holding the model's
// metadata as JSON), optimize, and write assembly or object files through
// LLVM's TargetMachine, in process (a binary's objects on several threads).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_OBJECTEMITTER_H
#define KILN_CODEGEN_OBJECTEMITTER_H

#include "kiln/ModelInfo.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
class Triple;
} // namespace llvm
namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace kiln {

/// What to generate code for.
struct CpuTargetOptions {
  /// LLVM CPU name; "native" (the default) means the host CPU and its features.
  std::string cpu = "native";
  /// LLVM optimization level, 0-3.
  unsigned optLevel = 3;
};

/// Creates the TargetMachine for the host triple and `options.cpu`.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>> createCpuTargetMachine(const CpuTargetOptions &options);

/// Translates `module` (fully lowered to the LLVM dialect) to LLVM IR for
/// `targetMachine`, links the buffer cache and adds the model ABI for
/// `models` and, when `mainModel` is non-empty, the `kiln_main_model`
/// pointer the standalone binary's main reads. Identical functions are
/// merged (mergeIdenticalFunctions); not optimized yet: optimizeModule or
/// emitObjectsInParallel does it.
llvm::Expected<std::unique_ptr<llvm::Module>> translateToLLVMIR(mlir::ModuleOp module, llvm::LLVMContext &context,
                                                                const std::vector<ModelInfo> &models,
                                                                const std::string &mainModel,
                                                                llvm::TargetMachine &targetMachine);

/// Optimizes `module` with LLVM's default pipeline at `optLevel` (0-3; the
/// JIT and kilnc share it), for `targetMachine`'s costs (null: generic ones).
void optimizeModule(llvm::Module &module, unsigned optLevel, llvm::TargetMachine *targetMachine);

/// Keeps one of each set of identical functions and points the uses of the
/// others at it (LLVM's MergeFunctions). The MLIR pipeline makes identical
/// OpenMP-outlined loop bodies in several functions (grad's forward pass and
/// the forward function's, train_step's optimizer updates and apply's), which
/// LLVM would otherwise optimize and compile once each. translateToLLVMIR and
/// the JIT call it on the module they translate, before anything cuts it.
void mergeIdenticalFunctions(llvm::Module &module);

/// Adds the model ABI to a translated module: `<Model>_<fn>_packed` for
/// every entry point, the `kiln_model_<Model>` descriptors and, when
/// `mainModel` is non-empty, `kiln_main_model`. (translateToLLVMIR calls it;
/// the JIT calls it on the module ExecutionEngine translates.)
llvm::Error addModelABI(llvm::Module &module, const std::vector<ModelInfo> &models, const std::string &mainModel);

/// Links the buffer cache (codegen/buffer-cache/BufferCache.c: the
/// allocator behind memref.alloc that keeps large buffers from one call to
/// the next) into `module`, with internal linkage, if the module calls it.
llvm::Error linkBufferCache(llvm::Module &module);

/// JIT-compiles `module`, lowered by the CPU pipeline, for the host: LLVM IR
/// with the buffer cache and the model ABI of `models` (none: no ABI),
/// optimized at `optLevel`. kiln::Jit and the gradient tests use it.
llvm::Expected<std::unique_ptr<mlir::ExecutionEngine>>
createCpuExecutionEngine(mlir::ModuleOp module, const std::vector<ModelInfo> &models, unsigned optLevel);

/// A dense row-major buffer as the memref descriptor an engine's C-interface
/// functions take, in 64-bit words: allocated, aligned, offset, sizes,
/// strides.
std::vector<int64_t> memrefDescriptorWords(const void *data, const std::vector<int64_t> &shape);

/// Makes the compiled code run with denormals flushed to zero (FTZ and DAZ)
/// on every thread that runs it, restoring each thread's mode afterwards
/// (codegen/FlushDenormals.cpp). A no-op unless `triple` is x86.
void flushDenormalsInComputeCode(llvm::Module &module, const llvm::Triple &triple);

/// Writes `module` as an object file or assembly.
llvm::Error emitMachineCode(llvm::Module &module, llvm::TargetMachine &targetMachine, llvm::raw_pwrite_stream &os,
                            llvm::CodeGenFileType fileType);

/// Optimizes `module` at `options.optLevel` and compiles it to at most
/// `maxParts` object files, on as many threads as the machine has
/// (codegen/ParallelCodegen.cpp). The objects belong together: link all of
/// them into one binary or shared library, with nothing else compiled by
/// Kiln (they share hidden symbols). Changes `module` (its private variables
/// become hidden symbols).
llvm::Expected<std::vector<llvm::SmallString<0>>>
emitObjectsInParallel(llvm::Module &module, const CpuTargetOptions &options, unsigned maxParts);

/// The model's metadata as the JSON text embedded in its descriptor.
std::string modelInfoToJson(const ModelInfo &model);

/// A C header declaring the models' functions with plain C types (see
/// docs/artifacts.md). `sourceName` is quoted in its banner.
llvm::Expected<std::string> generateCHeader(const std::vector<ModelInfo> &models, const std::string &sourceName,
                                            bool gpu = false);

} // namespace kiln

#endif // KILN_CODEGEN_OBJECTEMITTER_H
