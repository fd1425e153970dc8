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

#include "dialect/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace kiln {
#define GEN_PASS_DEF_KILNFLATTENMODELS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using kiln::KilnDialect;

namespace {
struct KilnFlattenModelsPass : kiln::impl::KilnFlattenModelsBase<KilnFlattenModelsPass> {
  void runOnOperation() override {
    ModuleOp top = getOperation();
    UnitAttr unit = UnitAttr::get(&getContext());
    for (ModuleOp model : llvm::make_early_inc_range(top.getOps<ModuleOp>())) {
      for (func::FuncOp func : llvm::make_early_inc_range(model.getOps<func::FuncOp>())) {
        // Rename first, calls included (train_step calls _grad), then move.
        auto newName = StringAttr::get(&getContext(), kiln::implementationSymbol(func.getSymName().str()));
        if (failed(SymbolTable::replaceAllSymbolUses(func, newName, model)))
          return signalPassFailure();
        func.setSymName(newName);
        func->moveBefore(top.getBody(), top.getBody()->end());
        // The kiln argument and result attributes are model metadata (and
        // name kiln.param symbols that are going away); LLVM has no use for them.
        for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
          for (StringRef name : {KilnDialect::getParamAttrName(), KilnDialect::getInputAttrName()})
            func.removeArgAttr(i, StringAttr::get(&getContext(), name));
        // kiln.update stays: kiln-update-in-place consumes it before bufferization.
        for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
          for (StringRef name :
               {KilnDialect::getStateAttrName(), KilnDialect::getHyperAttrName(), KilnDialect::getClassesAttrName()})
            func.removeArgAttr(i, StringAttr::get(&getContext(), name));
        for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
          for (StringRef name :
               {KilnDialect::getGradAttrName(), KilnDialect::getAssignAttrName(), KilnDialect::getUpdateAttrName()})
            if (func.getResultAttr(i, name))
              func->setAttr(KilnDialect::getTrainingAttrName(), unit);
        for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
          for (StringRef name :
               {KilnDialect::getOutputAttrName(), KilnDialect::getGradAttrName(), KilnDialect::getAssignAttrName()})
            func.removeResultAttr(i, StringAttr::get(&getContext(), name));
        exportOrKeepInternal(func);
      }
      model->erase();
    }
    for (func::FuncOp func : top.getOps<func::FuncOp>())
      exportOrKeepInternal(func);
  }

  /// A public function gets a C interface; a private one (a model's shared
  /// forward pass) stays internal to the module: no wrapper, no symbol.
  void exportOrKeepInternal(func::FuncOp func) {
    if (func.isPrivate() && !func.isDeclaration())
      func->setAttr("llvm.linkage", LLVM::LinkageAttr::get(&getContext(), LLVM::Linkage::Internal));
    else
      func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), UnitAttr::get(&getContext()));
  }
};
} // namespace
