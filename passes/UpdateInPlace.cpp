//===- UpdateInPlace.cpp - results tagged kiln.update become in-place writes ===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-update-in-place` pass (see Passes.td). It must run immediately
// before one-shot bufferization: the tensor form of
// `bufferization.materialize_in_destination` has no side effect, so a
// canonicalization in between would erase it.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/KilnDialect.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/BitVector.h"

namespace kiln {
#define GEN_PASS_DEF_KILNUPDATEINPLACE
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using kiln::KilnDialect;

namespace {
struct KilnUpdateInPlacePass : kiln::impl::KilnUpdateInPlaceBase<KilnUpdateInPlacePass> {
  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      llvm::BitVector erase(func.getNumResults());
      auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
      OpBuilder b(ret);
      for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
        auto target = func.getResultAttrOfType<IntegerAttr>(i, KilnDialect::getUpdateAttrName());
        if (!target)
          continue;
        int64_t index = target.getInt();
        if (index < 0 || index >= int64_t(func.getNumArguments()) ||
            func.getArgument(index).getType() != func.getResultTypes()[i]) {
          func.emitError("result #") << i << " has kiln.update = " << index
                                     << ", which is not an argument of the same type";
          return signalPassFailure();
        }
        bufferization::MaterializeInDestinationOp::create(b, ret.getLoc(), ret.getOperand(i), func.getArgument(index));
        func.setArgAttr(index, "bufferization.writable", b.getBoolAttr(true));
        erase.set(i);
      }
      if (erase.none())
        return;
      ret->eraseOperands(erase);
      if (failed(func.eraseResults(erase)))
        signalPassFailure();
    });
  }
};
} // namespace
