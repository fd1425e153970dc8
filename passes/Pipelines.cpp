//===- Pipelines.cpp - Kiln's pass pipelines, in one readable place -------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The whole compilation pipeline from the kiln dialect to the LLVM dialect,
// assembled in one file (as onnx-mlir's CompilerPasses.cpp does). Each stage
// is a function of an options struct; kilnc's --emit levels stop after the
// stage they name.
//
//===----------------------------------------------------------------------===//

#include "passes/Pipelines.h"

#include "passes/Passes.h"

#include "dialect/KilnDialect.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/Transforms/OptimizeForNVVM.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void kiln::buildKilnToLinalgPipeline(OpPassManager &pm) {
  // <Model>_loss_training: dropout masks and batch statistics, as the
  // training step computes them.
  pm.addPass(kiln::createKilnTrainingMode());
  // <Model>_grad (and _grad_training) is made on the kiln dialect, where
  // each op knows its rule.
  pm.addPass(kiln::createKilnAutodiff());
  // <Model>_train_step = _grad + the optimizer update, also on the kiln dialect.
  pm.addPass(kiln::createKilnOptimizer());
  // Target-neutral: each target's pipeline below makes its own forms.
  pm.addPass(kiln::createKilnLowerToLinalg());
  // <Model>_gather_<input>: batches made from device-resident datasets.
  pm.addPass(kiln::createKilnAddBatchGather());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

namespace {
// Passes that change one function at a time are added to a pass manager
// nested on the functions (pm.nest<func::FuncOp>()): MLIR runs it on the
// functions in parallel, on the context's threads, where the same passes
// added to the module would walk all functions on one thread. Only what
// needs the whole module (creating or calling functions, changing
// signatures) runs on the module.

/// Flattening, elementwise fusion, and (CPU only) register-block tiling.
void addTensorPasses(OpPassManager &pm, bool fuseElementwise, bool vectorize) {
  pm.addPass(kiln::createKilnFlattenModels());
  OpPassManager &functions = pm.nest<func::FuncOp>();
  if (fuseElementwise) {
    functions.addPass(createLinalgElementwiseOpFusionPass());
    // One loop per parameter's optimizer update (train_step only).
    functions.addPass(kiln::createKilnFuseOptimizerUpdates());
  }
  functions.addPass(createCanonicalizerPass());
  functions.addPass(createCSEPass());

  // Register-block tiling and vectorization on tensors (the recipe in Passes.td).
  if (vectorize) {
    // Contractions into blockable shapes, the tile sizes (policy, recorded
    // as kiln.tile_sizes), then the tiling by them (mechanism).
    functions.addPass(kiln::createKilnWinogradConvolutions());
    functions.addPass(kiln::createKilnSplitBatchReductions());
    // The per-example loops of the convolution gradients that read the
    // same slices become one loop, with the relu masks and the bias
    // gradients' partial sums (kiln-split-batch-reductions) inside.
    functions.addPass(kiln::createKilnFuseExampleLoops());
    functions.addPass(kiln::createKilnSplitDenseReductions());
    functions.addPass(kiln::createKilnNormalizeContractions());
    functions.addPass(kiln::createKilnPackTransposedWeights());
    functions.addPass(kiln::createKilnChooseTileSizes());
    functions.addPass(kiln::createKilnTileAndVectorize());
    functions.addPass(createCanonicalizerPass());
    functions.addPass(createCSEPass());
  }
}

/// Bufferize: tensors become memrefs, functions take and return memrefs
/// with identity layouts (what the C interface and the runtime expect).
/// Right before it, results tagged kiln.update (train_step's new parameters
/// and optimizer state) become writes into their arguments, so that they are
/// updated in place; no canonicalization may run in between.
void addBufferizationPasses(OpPassManager &pm) {
  pm.addPass(kiln::createKilnUpdateInPlace());
  bufferization::OneShotBufferizePassOptions bufferizeOptions;
  bufferizeOptions.bufferizeFunctionBoundaries = true;
  bufferizeOptions.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferizeOptions));
  bufferization::BufferDeallocationPipelineOptions deallocOptions;
  bufferization::buildBufferDeallocationPipeline(pm, deallocOptions);
  // Returning a function argument (a gradient that is an input, after
  // folding) leaves a bufferization.clone: lower it to alloc + memref.copy
  // (which kiln-copy-to-linalg then turns into loops).
  pm.addPass(createConvertBufferizationToMemRefPass());
}

/// Whose host code is converted: the CPU pipeline's (vectors, OpenMP
/// regions, the buffer cache) or the GPU pipeline's (launches and device
/// memory calls, converted afterwards by gpu-to-llvm).
enum class HostCode { Cpu, Gpu };

/// memrefs, math, arith, control flow, functions and indices -> the LLVM
/// dialect, in an order checked to work (each conversion needs what the
/// previous ones produced; without convert-ub-to-llvm, ub.poison fails
/// translation).
void addHostToLLVMConversions(OpPassManager &pm, HostCode code) {
  bool cpu = code == HostCode::Cpu;
  FinalizeMemRefToLLVMConversionPassOptions memrefOptions;
  // CPU allocations call _mlir_memref_to_llvm_alloc/_free, which codegen
  // links in as a cache of large buffers (codegen/buffer-cache/
  // BufferCache.c): no mmap, page faults or zeroing per call in the steady
  // state. GPU host code keeps malloc: its large buffers are on the device.
  memrefOptions.useGenericFunctions = cpu;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefOptions));
  // The CPU's host code is all in functions, converted function by
  // function; the GPU's module still holds the kernels' modules, which these
  // conversions reach too.
  OpPassManager &functions = cpu ? pm.nest<func::FuncOp>() : pm;
  functions.addPass(createConvertMathToLLVMPass());
  if (cpu)
    functions.addPass(createConvertVectorToLLVMPass());
  functions.addPass(createUBToLLVMConversionPass());
  functions.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  if (cpu)
    pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  (cpu ? pm.nest<LLVM::LLVMFuncOp>() : pm).addPass(createConvertIndexToLLVMPass());
}

/// Loops, vectors and memrefs on the host -> the LLVM dialect, in an order
/// checked to work (each conversion needs what the previous ones produced;
/// without convert-ub-to-llvm, ub.poison fails translation).
void addLoopsToLLVMPasses(OpPassManager &pm) {
  OpPassManager &functions = pm.nest<func::FuncOp>();
  functions.addPass(createConvertVectorToSCFPass());
  functions.addPass(createSCFToControlFlowPass());
  functions.addPass(memref::createExpandStridedMetadataPass());
  functions.addPass(createLowerAffinePass());
  addHostToLLVMConversions(pm, HostCode::Cpu);
  OpPassManager &llvmFunctions = pm.nest<LLVM::LLVMFuncOp>();
  llvmFunctions.addPass(createReconcileUnrealizedCastsPass());
  llvmFunctions.addPass(createCanonicalizerPass());
}
} // namespace

void kiln::buildLinalgToLLVMPipeline(OpPassManager &pm, const CpuPipelineOptions &options) {
  // Filter gradients as one matmul-shaped contraction per window offset, the
  // shape of the CPU's register blocks (the GPU keeps the one contraction).
  pm.addPass(kiln::createKilnSplitFilterGradients());
  // Input gradients as per-example contractions per window offset, added
  // into strided views of the gradient (no zero frame, no products with it).
  pm.addPass(kiln::createKilnSplitInputGradients());
  // predict and loss call one forward function: compiled once, not twice.
  pm.addPass(kiln::createKilnShareForward());
  addTensorPasses(pm, options.fuseElementwise, options.vectorize);
  addBufferizationPasses(pm);

  OpPassManager &functions = pm.nest<func::FuncOp>();
  if (options.vectorize) {
    functions.addPass(kiln::createKilnLowerVectors());
    functions.addPass(createCanonicalizerPass());
    functions.addPass(createCSEPass());
  }
  // Drops the self-copies that in-place updates leave behind.
  functions.addPass(createCanonicalizerPass());
  functions.addPass(kiln::createKilnCopyToLinalg(kiln::KilnCopyToLinalgOptions{/*parallel=*/true}));
  functions.addPass(createConvertLinalgToLoopsPass());
  functions.addPass(createCanonicalizerPass());
  // The register blocks' scf.forall loops run on OpenMP's thread pool
  // (libomp; the thread count is the runtime's: kiln_set_num_threads).
  functions.addPass(createForallToParallelLoopPass());
  pm.addPass(createConvertSCFToOpenMPPass());
  // A loop of one iteration runs on the calling thread (no fork/join).
  pm.addNestedPass<func::FuncOp>(kiln::createKilnForkOnlyWhenParallel());
  // The memref.alloca_scope around each loop body holds no alloca (vector
  // transfers are fully unrolled): canonicalization inlines it, before
  // scf-to-cf gives the body several blocks, which the scope op rejects.
  pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
  addLoopsToLLVMPasses(pm);
}

void kiln::buildLinalgToGpuPipeline(OpPassManager &pm) {
  addTensorPasses(pm, /*fuseElementwise=*/true, /*vectorize=*/false);
  addBufferizationPasses(pm);
  // Drops the self-copies that in-place updates leave behind.
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(kiln::createKilnCopyToLinalg());
  pm.addPass(kiln::createKilnMapToGpu());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void kiln::buildGpuToLLVMPipeline(OpPassManager &pm, const GpuPipelineOptions &options) {
  // As upstream's gpu-lower-to-nvvm-pipeline (GPUToNVVMPipeline.cpp), with
  // the host's memref lowering and Kiln's target options.
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(kiln::createKilnMergeGpuModules());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Device code: gpu.func -> NVVM.
  pm.addNestedPass<gpu::GPUModuleOp>(createStripDebugInfoPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps());
  pm.addNestedPass<gpu::GPUModuleOp>(LLVM::createNVVMOptimizeForTargetPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());

  // Host code: launches and allocations become mgpu* runtime calls.
  addHostToLLVMConversions(pm, HostCode::Gpu);
  pm.addPass(createGpuToLLVMConversionPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  binary.toolkitPath = options.toolkitPath;
  pm.addPass(createGpuModuleToBinaryPass(binary));
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void kiln::buildGpuEmulationPipeline(OpPassManager &pm) {
  buildLinalgToGpuPipeline(pm);
  pm.addPass(kiln::createKilnEmulateGpuOnCpu());
  pm.addPass(createCanonicalizerPass());
  addLoopsToLLVMPasses(pm);
}

void kiln::registerCompilerDialects(DialectRegistry &registry) {
  registry.insert<kiln::KilnDialect>();
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
}

void kiln::registerKilnPassesAndPipelines() {
  registerKilnPasses();
  PassPipelineRegistration<>("kiln-to-linalg", "Lower the kiln dialect to linalg on tensors",
                             [](OpPassManager &pm) { buildKilnToLinalgPipeline(pm); });
  PassPipelineRegistration<>("kiln-to-llvm", "Lower the kiln dialect to the LLVM dialect for the host CPU",
                             [](OpPassManager &pm) {
                               buildKilnToLinalgPipeline(pm);
                               buildLinalgToLLVMPipeline(pm, CpuPipelineOptions{});
                             });
  PassPipelineRegistration<>("kiln-to-gpu", "Lower the kiln dialect to host functions launching GPU kernels",
                             [](OpPassManager &pm) {
                               buildKilnToLinalgPipeline(pm);
                               buildLinalgToGpuPipeline(pm);
                             });
}
