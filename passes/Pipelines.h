//===- Pipelines.h - Kiln's pass pipelines ----------------------*- C++ -*-===//
//
// The pipelines, as plain functions taking explicit option structs (no pass
// reads a global flag): kiln -> linalg on tensors, and linalg -> the LLVM
// dialect for the host CPU. kilnc, the JIT and the tests all build their pass
// managers from these, so there is one definition of "the pipeline".
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PIPELINES_H
#define KILN_PASSES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <string>

namespace kiln {

/// Options of the CPU pipeline.
struct CpuPipelineOptions {
  /// Fuse elementwise linalg ops into their producers and consumers.
  bool fuseElementwise = true;
  /// Tile matmuls, convolutions, pooling and generics into register blocks
  /// and vectorize them (kiln-tile-and-vectorize, then kiln-lower-vectors
  /// after bufferization); when false, linalg is lowered to scalar loops.
  bool vectorize = true;
};

/// Options of the CUDA pipeline (kilnc --target=cuda).
struct GpuPipelineOptions {
  /// The GPU architecture the cubin is for (`sm_90`: H100/H200).
  std::string chip = "sm_90";
  /// PTX ISA version of the embedded PTX (8.0: CUDA 12.0 drivers and later).
  std::string features = "+ptx80";
  /// What gpu-module-to-binary embeds: `fatbin` (cubin + PTX, needs ptxas
  /// and fatbinary from a CUDA toolkit), `bin` (cubin) or `isa` (PTX, which
  /// the driver compiles at load time; needs no toolkit).
  std::string format = "fatbin";
  /// The CUDA toolkit (empty: CUDA_HOME, CUDA_PATH or PATH).
  std::string toolkitPath;
  unsigned optLevel = 3;
};

/// kiln dialect -> linalg/tensor/arith/math on tensors: kiln-autodiff
/// (`<Model>_grad`), kiln-optimizer (`<Model>_train_step`), then the lowering.
/// Functions stay in their model modules with their kiln.* attributes, so
/// that the model metadata (codegen/ModelInfo.cpp) is read after it.
/// The stage is target-neutral: the target pipelines below make their own
/// forms (the CPU's filter gradients per window offset:
/// kiln-split-filter-gradients).
void buildKilnToLinalgPipeline(mlir::OpPassManager &pm);

/// linalg on tensors -> LLVM dialect: the CPU's forms (filter gradients per
/// window offset), flatten the model modules, choose tile sizes, tile and
/// vectorize (unless disabled), bufferize (function boundaries included,
/// identity layouts), lower the vectors and what is left of linalg to loops,
/// then to LLVM (the lowering order in Pipelines.cpp).
void buildLinalgToLLVMPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &options);

/// linalg on tensors -> host functions launching GPU kernels (`gpu.launch`
/// in the functions; kilnc --emit=gpu): flatten, fuse, bufferize as for the
/// CPU, then kiln-map-to-gpu.
void buildLinalgToGpuPipeline(mlir::OpPassManager &pm);

/// The output of buildLinalgToGpuPipeline -> LLVM dialect with the device
/// code compiled and embedded (gpu.binary): kernels outlined, NVVM, NVPTX,
/// gpu-module-to-binary; host calls to the runtime's mgpu* functions.
void buildGpuToLLVMPipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options);

/// Test instrument: buildLinalgToGpuPipeline, then the kernels as CPU loops
/// (kiln-emulate-gpu-on-cpu) and the host lowering to LLVM. The JIT runs
/// the GPU lowering this way on machines without a GPU.
void buildGpuEmulationPipeline(mlir::OpPassManager &pm);

/// Adds every dialect, extension and LLVM translation the pipelines need to
/// `registry` (kiln, the upstream dialects with their bufferization and
/// to-LLVM interfaces).
void registerCompilerDialects(mlir::DialectRegistry &registry);

/// Registers every Kiln pass and the named pipelines `kiln-to-linalg` and
/// `kiln-to-llvm` (for kiln-opt).
void registerKilnPassesAndPipelines();

} // namespace kiln

#endif // KILN_PASSES_PIPELINES_H
