//===- FlattenModels.cpp - hoist model functions to the top-level module --===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-flatten-models` pass (see Passes.td): after it, the module is
// the flat list of functions that LLVM translation expects, each exported
// with a C interface.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace kiln {
#define GEN_PASS_DEF_KILNFLATTENMODELS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {
struct KilnFlattenModelsPass : kiln::impl::KilnFlattenModelsBase<KilnFlattenModelsPass> {
  void runOnOperation() override {
    ModuleOp top = getOperation();
    UnitAttr unit = UnitAttr::get(&getContext());
    for (ModuleOp model : llvm::make_early_inc_range(top.getOps<ModuleOp>())) {
      for (func::FuncOp func : llvm::make_early_inc_range(model.getOps<func::FuncOp>())) {
        func->moveBefore(top.getBody(), top.getBody()->end());
        func.setSymName(kiln::implementationSymbol(func.getSymName().str()));
        // The kiln argument and result attributes are model metadata (and
        // name kiln.param symbols that are going away); LLVM has no use for them.
        for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
          for (StringRef name : {"kiln.param", "kiln.input"})
            func.removeArgAttr(i, StringAttr::get(&getContext(), name));
        for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
          func.removeResultAttr(i, StringAttr::get(&getContext(), "kiln.output"));
        func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), unit);
      }
      model->erase();
    }
    for (func::FuncOp func : top.getOps<func::FuncOp>())
      func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), unit);
  }
};
} // namespace
