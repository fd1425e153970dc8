//===- FuseOptimizerUpdates.cpp - one loop per parameter update -----------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-fuse-optimizer-updates` pass (see Passes.td): upstream
// elementwise fusion with a control function that also accepts producers
// with several uses, applied to functions that update their arguments
// (results tagged kiln.update: train_step and apply) only (elsewhere the
// default single-use rule keeps the tiling recipes' patterns intact).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/KilnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/MapVector.h"

namespace kiln {
#define GEN_PASS_DEF_KILNFUSEOPTIMIZERUPDATES
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {
/// True for an all-parallel generic with one identity-mapped result.
bool isElementwiseUpdate(linalg::GenericOp op) {
  return op.getNumDpsInits() == 1 && op.getNumLoops() == op.getNumParallelLoops() &&
         op.getIndexingMapMatchingResult(op->getResult(0)).isIdentity();
}

/// Merges `group` (elementwise generics over the same domain, each result
/// used only by the return) into one multi-result generic. Identical inputs
/// become one block argument, so that CSE later shares the computations the
/// bodies have in common (Adam's new m inside the new w).
void mergeGroup(SmallVector<linalg::GenericOp> group, OpBuilder &builder) {
  linalg::GenericOp last = group.back();
  builder.setInsertionPoint(last);
  SmallVector<Value> inputs, outputs;
  SmallVector<AffineMap> inputMaps, outputMaps;
  SmallVector<Type> resultTypes;
  for (linalg::GenericOp op : group) {
    for (OpOperand *operand : op.getDpsInputOperands()) {
      AffineMap map = op.getMatchingIndexingMap(operand);
      bool seen = false;
      for (size_t i = 0; i < inputs.size(); ++i)
        seen = seen || (inputs[i] == operand->get() && inputMaps[i] == map);
      if (!seen) {
        inputs.push_back(operand->get());
        inputMaps.push_back(map);
      }
    }
    outputs.push_back(op.getDpsInitOperand(0)->get());
    outputMaps.push_back(op.getMatchingIndexingMap(op.getDpsInitOperand(0)));
    resultTypes.push_back(op->getResult(0).getType());
  }
  SmallVector<AffineMap> maps(inputMaps);
  maps.append(outputMaps);
  auto merged = linalg::GenericOp::create(
      builder, last.getLoc(), resultTypes, inputs, outputs, maps, last.getIteratorTypesArray(),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        SmallVector<Value> yields;
        for (size_t k = 0; k < group.size(); ++k) {
          linalg::GenericOp op = group[k];
          IRMapping mapping;
          for (OpOperand *operand : op.getDpsInputOperands()) {
            AffineMap map = op.getMatchingIndexingMap(operand);
            for (size_t i = 0; i < inputs.size(); ++i)
              if (inputs[i] == operand->get() && inputMaps[i] == map)
                mapping.map(op.getMatchingBlockArgument(operand), args[i]);
          }
          mapping.map(op.getMatchingBlockArgument(op.getDpsInitOperand(0)), args[inputs.size() + k]);
          for (Operation &bodyOp : op.getBody()->without_terminator())
            b.clone(bodyOp, mapping);
          auto yield = cast<linalg::YieldOp>(op.getBody()->getTerminator());
          yields.push_back(mapping.lookupOrDefault(yield.getOperand(0)));
        }
        linalg::YieldOp::create(b, loc, yields);
      });
  for (size_t k = 0; k < group.size(); ++k) {
    linalg::GenericOp op = group[k];
    op->getResult(0).replaceAllUsesWith(merged->getResult(k));
    op->erase();
  }
}

/// Makes each result of `op` that the function returns as the new value of
/// an argument which `op` also reads elementwise (Adam's w, m and v) write
/// into that argument: the argument becomes the result's init, and the body
/// reads the old value from the init's block argument. One-shot
/// bufferization then updates the argument's buffer in place; with a
/// tensor.empty init it wrote a new buffer and kiln-update-in-place's
/// materialization copied it back (3 x 4.7 MB for dense_0's kernel a step).
void writeIntoUpdatedArguments(linalg::GenericOp op, func::ReturnOp ret, func::FuncOp func) {
  for (OpResult result : op->getResults()) {
    if (!result.hasOneUse() || *result.getUsers().begin() != ret)
      continue;
    auto target = func.getResultAttrOfType<IntegerAttr>(result.getUses().begin()->getOperandNumber(),
                                                        kiln::KilnDialect::getUpdateAttrName());
    if (!target)
      continue;
    Value argument = func.getArgument(target.getInt());
    OpOperand *init = op.getDpsInitOperand(result.getResultNumber());
    if (argument.getType() != result.getType() || !op.getMatchingIndexingMap(init).isIdentity() ||
        !init->get().getDefiningOp<tensor::EmptyOp>())
      continue;
    // Read after this op, the argument's old value would need a copy.
    if (llvm::any_of(argument.getUsers(), [&](Operation *user) {
          return user != op && (user->getBlock() != op->getBlock() || op->isBeforeInBlock(user));
        }))
      continue;
    for (OpOperand *input : op.getDpsInputOperands()) {
      if (input->get() != argument || !op.getMatchingIndexingMap(input).isIdentity())
        continue;
      op.getMatchingBlockArgument(input).replaceAllUsesWith(op.getMatchingBlockArgument(init));
      init->set(argument);
      break;
    }
  }
}

struct KilnFuseOptimizerUpdatesPass : kiln::impl::KilnFuseOptimizerUpdatesBase<KilnFuseOptimizerUpdatesPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    // The arguments the function updates: the parameters and state slots.
    llvm::SmallDenseSet<Value> updated;
    for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
      if (auto target = func.getResultAttrOfType<IntegerAttr>(i, kiln::KilnDialect::getUpdateAttrName()))
        updated.insert(func.getArgument(target.getInt()));
    if (updated.empty())
      return;
    // 1. Vertical: fuse producers into consumers even with several uses
    //    (their other uses keep the producer, which now only feeds the return).
    RewritePatternSet patterns(&getContext());
    // Rank-0 producers (Adam's bias correction from lr and the step count)
    // stay separate: fused, they would be recomputed for every element.
    linalg::populateElementwiseOpsFusionPatterns(patterns, [](OpOperand *operand) {
      auto type = dyn_cast<RankedTensorType>(operand->get().getType());
      return !type || type.getRank() > 0;
    });
    if (failed(applyPatternsGreedily(func, std::move(patterns))))
      return signalPassFailure();
    // 2. Horizontal: the update generics of one parameter (same domain, each
    //    result returned, nothing else reading it) become one generic.
    auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
    llvm::MapVector<Value, SmallVector<linalg::GenericOp>> groups; // keyed by the parameter's gradient
    for (Operation &op : func.getBody().front()) {
      auto generic = dyn_cast<linalg::GenericOp>(&op);
      if (!generic || !isElementwiseUpdate(generic) || !generic->getResult(0).hasOneUse() ||
          *generic->getResult(0).getUsers().begin() != ret)
        continue;
      // Group by the gradient operand, shared by all of a parameter's
      // updates: the one tensor input that is neither a constant nor an
      // argument being updated (it comes from the _grad call or its inlined
      // body in train_step, and is an argument of apply).
      Value key;
      for (OpOperand *operand : generic.getDpsInputOperands())
        if (!updated.contains(operand->get()) && !operand->get().getDefiningOp<arith::ConstantOp>() &&
            cast<ShapedType>(operand->get().getType()).getRank() > 0)
          key = operand->get();
      if (key)
        groups[key].push_back(generic);
    }
    OpBuilder builder(&getContext());
    for (auto &[key, group] : groups)
      if (group.size() > 1)
        mergeGroup(group, builder);
    // 3. Destinations: each update writes into the argument it replaces,
    //    and the inputs that read the old values from elsewhere go.
    func.walk([&](linalg::GenericOp generic) {
      if (generic.getNumLoops() == generic.getNumParallelLoops())
        writeIntoUpdatedArguments(generic, ret, func);
    });
    RewritePatternSet unusedInputs(&getContext());
    linalg::populateEraseUnusedOperandsAndResultsPatterns(unusedInputs);
    if (failed(applyPatternsGreedily(func, std::move(unusedInputs))))
      return signalPassFailure();
  }
};
} // namespace
