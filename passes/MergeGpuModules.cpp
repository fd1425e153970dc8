//===- MergeGpuModules.cpp - One gpu.module for all outlined kernels ------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-merge-gpu-modules` pass (see Passes.td): runs right after
// gpu-kernel-outlining in the CUDA pipeline, so that a model file becomes
// one cubin (one ptxas run, one cuModuleLoadData) instead of one per kernel.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace kiln {
#define GEN_PASS_DEF_KILNMERGEGPUMODULES
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

struct KilnMergeGpuModulesPass : kiln::impl::KilnMergeGpuModulesBase<KilnMergeGpuModulesPass> {
  void runOnOperation() override {
    SmallVector<gpu::GPUModuleOp> modules(getOperation().getOps<gpu::GPUModuleOp>());
    if (modules.size() < 2)
      return;
    // Outlining names each module uniquely but may give the kernels inside
    // the same name: a kernel takes its module's name.
    gpu::GPUModuleOp target = modules.front();
    Block &body = target.getBodyRegion().front();
    DenseMap<StringAttr, StringAttr> kernelOfModule;
    for (gpu::GPUModuleOp module : modules) {
      auto kernels = llvm::to_vector(module.getOps<gpu::GPUFuncOp>());
      if (kernels.size() != 1) {
        module.emitError("kiln-merge-gpu-modules: expected one kernel per outlined module");
        return signalPassFailure();
      }
      SymbolTable::setSymbolName(kernels.front(), module.getSymNameAttr());
      kernelOfModule[module.getSymNameAttr()] = module.getSymNameAttr();
    }
    for (gpu::GPUModuleOp module : ArrayRef(modules).drop_front()) {
      for (Operation &op : llvm::make_early_inc_range(module.getBodyRegion().front()))
        op.moveBefore(&body, body.end());
      module.erase();
    }
    StringAttr targetName = target.getSymNameAttr();
    getOperation().walk([&](gpu::LaunchFuncOp launch) {
      StringAttr kernel = kernelOfModule.lookup(launch.getKernelModuleName());
      launch.setKernelAttr(SymbolRefAttr::get(targetName, {FlatSymbolRefAttr::get(kernel)}));
    });
  }
};

} // namespace
