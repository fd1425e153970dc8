//===- FuseExampleLoops.cpp - One loop over the examples where data meet --===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-fuse-example-loops` pass (see Passes.td): a CPU-pipeline step
// after elementwise fusion. The convolution gradients are scf.forall loops
// over the examples (kiln-split-filter-gradients, kiln-split-input-
// gradients), each of which reads an example's slices of the same large
// tensors: FashionCnn's second convolution reads its input (11 MB at batch
// 128) and its output gradient (9.4 MB) once for the filter gradient and
// once for the input gradient; the relu mask of the first convolution and
// its filter gradient then read the input gradient back. Each loop streamed
// them from memory. This pass makes them one loop, in which an example's
// slices are read from memory once and then from L2:
//
// 1. Independent sibling loops over the same examples become one loop.
// 2. An elementwise consumer of a loop's result (the relu mask: dX * (Y >
//    0)) runs inside the loop on the example's slice, in place.
// 3. A later loop that reads a result of the loop only as the same
//    example's slice (the first convolution's filter gradient) joins it,
//    reading the slice the loop has just computed.
//
// Every element is computed by the same operations in the same order, so
// results do not change, for any thread count.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

namespace kiln {
#define GEN_PASS_DEF_KILNFUSEEXAMPLELOOPS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

/// Whether `forall` runs once per example: one induction variable from 0 by
/// 1, every result written by a parallel_insert_slice.
bool isExampleLoop(scf::ForallOp forall) {
  return forall.getRank() == 1 && isConstantIntValue(forall.getMixedLowerBound()[0], 0) &&
         isConstantIntValue(forall.getMixedStep()[0], 1) &&
         llvm::all_of(forall.getTerminator().getYieldingOps(),
                      [](Operation &op) { return isa<tensor::ParallelInsertSliceOp>(op); });
}

/// The example loops in `func`'s top-level block, in order.
SmallVector<scf::ForallOp> exampleLoops(func::FuncOp func) {
  SmallVector<scf::ForallOp> loops;
  for (Operation &op : func.getBody().front())
    if (auto forall = dyn_cast<scf::ForallOp>(op); forall && isExampleLoop(forall))
      loops.push_back(forall);
  return loops;
}

bool sameExamples(scf::ForallOp a, scf::ForallOp b) {
  return a->getBlock() == b->getBlock() && a.getMixedUpperBound()[0] == b.getMixedUpperBound()[0];
}

/// The parallel_insert_slice that writes result `result` of `forall` when it
/// writes each example's slice whole: at (e, 0, ...), sizes (1, the rest of
/// the shape, all static), unit strides. Null otherwise.
tensor::ParallelInsertSliceOp exampleWrite(scf::ForallOp forall, OpResult result) {
  BlockArgument destination = forall.getTiedBlockArgument(forall.getTiedOpOperand(result));
  tensor::ParallelInsertSliceOp insert;
  for (Operation &op : forall.getTerminator().getYieldingOps()) {
    auto candidate = cast<tensor::ParallelInsertSliceOp>(op);
    if (candidate.getDest() == destination) {
      if (insert)
        return nullptr; // written piece by piece
      insert = candidate;
    }
  }
  auto type = dyn_cast<RankedTensorType>(result.getType());
  if (!insert || !type || type.getRank() < 2)
    return nullptr;
  ArrayRef<int64_t> rest = type.getShape().drop_front();
  if (ShapedType::isDynamicShape(rest) || insert.getSourceType().getShape() != rest)
    return nullptr;
  SmallVector<OpFoldResult> offsets = insert.getMixedOffsets(), sizes = insert.getMixedSizes();
  if (getAsOpFoldResult(forall.getInductionVar(0)) != offsets[0] || !isConstantIntValue(sizes[0], 1) ||
      !llvm::all_of(insert.getMixedStrides(), [](OpFoldResult s) { return isConstantIntValue(s, 1); }))
    return nullptr;
  for (size_t dim = 1; dim < offsets.size(); ++dim)
    if (!isConstantIntValue(offsets[dim], 0) || !isConstantIntValue(sizes[dim], rest[dim - 1]))
      return nullptr;
  return insert;
}

/// Whether `value` is available before `point`, or would be once the pure,
/// region-free ops that compute it from available values move above it.
bool canMakeAvailable(Value value, Operation *point, DominanceInfo &dominance) {
  if (dominance.properlyDominates(value, point))
    return true;
  Operation *def = value.getDefiningOp();
  if (!def || def->getBlock() != point->getBlock() || def->getNumRegions() != 0 || !isMemoryEffectFree(def))
    return false;
  return llvm::all_of(def->getOperands(), [&](Value operand) { return canMakeAvailable(operand, point, dominance); });
}

/// Moves those ops (see canMakeAvailable) above `point`, operands first.
void makeAvailable(Value value, Operation *point, DominanceInfo &dominance) {
  if (dominance.properlyDominates(value, point))
    return;
  Operation *def = value.getDefiningOp();
  for (Value operand : def->getOperands())
    makeAvailable(operand, point, dominance);
  def->moveBefore(point);
}

/// The values `forall` uses from outside it (bounds, outputs, captures).
SmallVector<Value> valuesFromOutside(scf::ForallOp forall) {
  llvm::SetVector<Value> values(forall->getOperands().begin(), forall->getOperands().end());
  getUsedValuesDefinedAbove(forall.getRegion(), values);
  return values.takeVector();
}

/// Merges `second` into `first` (same block, first before second, same
/// examples): one loop at `first`'s place whose body is `first`'s, then
/// `second`'s (or the other way round with `secondBodyFirst`), with the
/// outputs and results of both. `substitute` replaces, inside `second`,
/// values by ones computed in `first`'s body. The caller has checked that
/// everything `second` uses can be made available there.
scf::ForallOp mergeLoops(RewriterBase &rewriter, scf::ForallOp first, scf::ForallOp second, DominanceInfo &dominance,
                         const IRMapping &substitute = {}, bool secondBodyFirst = false) {
  for (Value value : valuesFromOutside(second))
    if (!substitute.contains(value))
      makeAvailable(value, first, dominance);
  SmallVector<Value> outputs(first.getOutputs());
  llvm::append_range(outputs, second.getOutputs());
  rewriter.setInsertionPoint(first);
  auto merged = scf::ForallOp::create(rewriter, first.getLoc(), first.getMixedLowerBound(), first.getMixedUpperBound(),
                                      first.getMixedStep(), outputs, std::nullopt);
  Operation *terminator = merged.getTerminator();
  Block *inParallel = merged.getTerminator().getBody();
  ArrayRef<BlockArgument> sharedOuts = merged.getRegionIterArgs();
  unsigned firstOutputs = first.getOutputs().size();
  auto moveBody = [&](scf::ForallOp loop, ArrayRef<BlockArgument> outs) {
    rewriter.replaceAllUsesWith(loop.getInductionVar(0), merged.getInductionVar(0));
    for (auto [old, now] : llvm::zip(loop.getRegionIterArgs(), outs))
      rewriter.replaceAllUsesWith(old, now);
    for (Operation &op : llvm::make_early_inc_range(loop.getBody()->without_terminator()))
      op.moveBefore(terminator);
    for (Operation &op : llvm::make_early_inc_range(loop.getTerminator().getYieldingOps()))
      op.moveBefore(inParallel, inParallel->end());
  };
  if (secondBodyFirst)
    moveBody(second, sharedOuts.drop_front(firstOutputs));
  moveBody(first, sharedOuts.take_front(firstOutputs));
  // The slices `second` read of `first`'s results go: they would read the
  // merged loop's own results inside it.
  for (auto [from, to] : substitute.getValueMap()) {
    rewriter.replaceAllUsesWith(from, to);
    rewriter.eraseOp(from.getDefiningOp());
  }
  if (!secondBodyFirst)
    moveBody(second, sharedOuts.drop_front(firstOutputs));
  rewriter.replaceOp(first, merged->getResults().take_front(firstOutputs));
  rewriter.replaceOp(second, merged->getResults().drop_front(firstOutputs));
  return merged;
}

/// Whether `later` uses nothing that `earlier` computes (directly or through
/// the ops between them) and can be merged into it.
bool canMergeIndependent(scf::ForallOp earlier, scf::ForallOp later, DominanceInfo &dominance) {
  return llvm::all_of(valuesFromOutside(later),
                      [&](Value value) { return canMakeAvailable(value, earlier, dominance); });
}

/// Whether a result of `loop` feeds what steps 2 and 3 bring into the loop
/// after its body: an elementwise generic or another example loop.
bool feedsWhatJoinsLater(scf::ForallOp loop) {
  for (Operation *user : loop->getUsers()) {
    auto generic = dyn_cast<linalg::GenericOp>(user);
    auto forall = dyn_cast<scf::ForallOp>(user);
    if ((generic && generic.getNumLoops() == generic.getNumParallelLoops()) || (forall && isExampleLoop(forall)))
      return true;
  }
  return false;
}

/// 1. Independent sibling example loops become one, pair by pair. A body
/// whose results feed what joins the loop later goes last, so that its
/// example's slices are still in cache then (FashionCnn: the second
/// convolution's filter gradient, then its input gradient, which the relu
/// mask and the first convolution's filter gradient read: 1 thread ~1%
/// faster than the other order).
bool mergeSiblings(RewriterBase &rewriter, func::FuncOp func, DominanceInfo &dominance) {
  SmallVector<scf::ForallOp> loops = exampleLoops(func);
  for (size_t i = 0; i < loops.size(); ++i)
    for (size_t j = i + 1; j < loops.size(); ++j)
      if (sameExamples(loops[i], loops[j]) && canMergeIndependent(loops[i], loops[j], dominance)) {
        bool swap = feedsWhatJoinsLater(loops[i]) && !feedsWhatJoinsLater(loops[j]);
        mergeLoops(rewriter, loops[i], loops[j], dominance, IRMapping(), swap);
        return true;
      }
  return false;
}

/// Whether `op` can run per example on the slices that `result` (of an example
/// loop) is written in: an all-parallel generic of the result's rank with one
/// result of its type, whose body neither reads its init nor asks for
/// indices, and whose other inputs are either indexed like the result
/// (sliced per example) or do not depend on the batch dimension (taken
/// whole), all available before the loop.
bool fusesPerExample(linalg::GenericOp op, OpResult result, DominanceInfo &dominance) {
  auto type = cast<RankedTensorType>(result.getType());
  if (!op.hasPureTensorSemantics() || op->getNumResults() != 1 || op.getNumDpsInits() != 1 ||
      op->getResult(0).getType() != type || op.getNumLoops() != op.getNumParallelLoops() ||
      op.getNumLoops() != unsigned(type.getRank()) || op.payloadUsesValueFromOperand(op.getDpsInitOperand(0)) ||
      !op.getBody()->getOps<linalg::IndexOp>().empty() ||
      !op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isIdentity())
    return false;
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    if (input->get() == result) {
      if (!map.isIdentity())
        return false;
      continue;
    }
    if (!canMakeAvailable(input->get(), result.getOwner(), dominance))
      return false;
    bool sliced = map.isIdentity() && input->get().getType() == type;
    if (!sliced && map.isFunctionOfDim(0))
      return false;
  }
  return true;
}

/// 2. Moves `op` into the loop of `result`, applied in place to the slice
/// that `insert` writes.
void fuseEpilogue(RewriterBase &rewriter, linalg::GenericOp op, OpResult result, tensor::ParallelInsertSliceOp insert,
                  DominanceInfo &dominance) {
  auto forall = cast<scf::ForallOp>(result.getOwner());
  auto type = cast<RankedTensorType>(result.getType());
  int64_t rank = type.getRank();
  MLIRContext *context = rewriter.getContext();
  Location loc = op.getLoc();
  for (Value input : op.getDpsInputs())
    if (input != result)
      makeAvailable(input, forall, dominance);
  rewriter.setInsertionPoint(forall.getTerminator());
  Value slice = insert.getSource();
  auto exampleType = cast<RankedTensorType>(slice.getType());
  // A map over (e, rest...) that does not use e becomes one over (rest...).
  SmallVector<AffineExpr> dropBatch = {getAffineConstantExpr(0, context)};
  for (int64_t dim = 1; dim < rank; ++dim)
    dropBatch.push_back(getAffineDimExpr(dim - 1, context));
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank - 1, context);
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    Value value = input->get();
    if (value == result) {
      inputs.push_back(slice);
      maps.push_back(identity);
    } else if (map.isIdentity() && value.getType() == type) {
      SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0)), sizes = {rewriter.getIndexAttr(1)},
                                                                         strides(rank, rewriter.getIndexAttr(1));
      offsets[0] = forall.getInductionVar(0);
      for (int64_t size : exampleType.getShape())
        sizes.push_back(rewriter.getIndexAttr(size));
      inputs.push_back(tensor::ExtractSliceOp::create(rewriter, loc, exampleType, value, offsets, sizes, strides));
      maps.push_back(identity);
    } else {
      inputs.push_back(value);
      maps.push_back(map.replaceDimsAndSymbols(dropBatch, {}, rank - 1, 0));
    }
  }
  // In place: the body does not read the init, and reads each element
  // before it writes it.
  maps.push_back(identity);
  SmallVector<utils::IteratorType> iterators(rank - 1, utils::IteratorType::parallel);
  auto fused =
      linalg::GenericOp::create(rewriter, loc, TypeRange{exampleType}, inputs, ValueRange{slice}, maps, iterators);
  rewriter.inlineRegionBefore(op.getRegion(), fused.getRegion(), fused.getRegion().end());
  rewriter.modifyOpInPlace(insert, [&] { insert.getSourceMutable().assign(fused->getResult(0)); });
  rewriter.replaceOp(op, result);
}

bool fuseEpilogues(RewriterBase &rewriter, func::FuncOp func, DominanceInfo &dominance) {
  for (Operation &op : func.getBody().front()) {
    auto forall = dyn_cast<scf::ForallOp>(op);
    if (!forall || !isExampleLoop(forall))
      continue;
    for (OpResult result : forall->getResults()) {
      tensor::ParallelInsertSliceOp insert = exampleWrite(forall, result);
      if (!insert || !result.hasOneUse())
        continue;
      auto consumer = dyn_cast<linalg::GenericOp>(*result.getUsers().begin());
      if (consumer && fusesPerExample(consumer, result, dominance)) {
        fuseEpilogue(rewriter, consumer, result, insert, dominance);
        return true;
      }
    }
  }
  return false;
}

/// 3. A later example loop that reads results of an earlier one only as the
/// same example's whole slice joins it, reading the value the earlier loop
/// writes there.
bool fuseConsumers(RewriterBase &rewriter, func::FuncOp func, DominanceInfo &dominance) {
  SmallVector<scf::ForallOp> loops = exampleLoops(func);
  for (scf::ForallOp producer : loops)
    for (scf::ForallOp consumer : loops) {
      if (consumer == producer || !sameExamples(producer, consumer) || !producer->isBeforeInBlock(consumer))
        continue;
      IRMapping substitute;
      bool usesProducer = false, fusable = true;
      for (Value value : valuesFromOutside(consumer)) {
        auto result = dyn_cast<OpResult>(value);
        if (!result || result.getOwner() != producer.getOperation()) {
          fusable = fusable && canMakeAvailable(value, producer, dominance);
          continue;
        }
        usesProducer = true;
        tensor::ParallelInsertSliceOp insert = exampleWrite(producer, result);
        for (OpOperand &use : result.getUses()) {
          if (use.getOwner() == consumer.getOperation()) {
            fusable = false; // an output of the consumer
            continue;
          }
          if (!consumer->isProperAncestor(use.getOwner()))
            continue;
          auto slice = dyn_cast<tensor::ExtractSliceOp>(use.getOwner());
          fusable = fusable && insert && slice && slice->getBlock() == consumer.getBody() &&
                    slice.getMixedOffsets()[0] == getAsOpFoldResult(consumer.getInductionVar(0)) &&
                    slice.getType() == insert.getSourceType() &&
                    llvm::all_of(ArrayRef(slice.getMixedOffsets()).drop_front(),
                                 [](OpFoldResult o) { return isConstantIntValue(o, 0); }) &&
                    llvm::all_of(slice.getMixedStrides(), [](OpFoldResult s) { return isConstantIntValue(s, 1); }) &&
                    isConstantIntValue(slice.getMixedSizes()[0], 1);
          if (fusable)
            substitute.map(slice.getResult(), insert.getSource());
        }
      }
      if (!usesProducer || !fusable)
        continue;
      mergeLoops(rewriter, producer, consumer, dominance, substitute);
      return true;
    }
  return false;
}

struct KilnFuseExampleLoopsPass : kiln::impl::KilnFuseExampleLoopsBase<KilnFuseExampleLoopsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    IRRewriter rewriter(&getContext());
    DominanceInfo dominance(func);
    while (mergeSiblings(rewriter, func, dominance)) {
    }
    while (fuseEpilogues(rewriter, func, dominance)) {
    }
    while (fuseConsumers(rewriter, func, dominance)) {
    }
  }
};

} // namespace
