//===- FuseExampleLoops.cpp - One loop over the examples where data meet --===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-fuse-example-loops` pass (see Passes.td): a CPU-pipeline step
// after kiln-split-batch-reductions (whose per-example partial sums it takes
// in too). The convolution gradients are scf.forall loops
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
// 4. Batch-parallel generics that read the loop's slices or its results
//    (the relu mask of its output gradient, the bias gradients' per-example
//    partial sums) join it as new results computed per example.
//
// Every element is computed by the same operations in the same order, so
// results do not change, for any thread count.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
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

/// Whether `slice` (an extract_slice or a parallel_insert_slice) is example
/// `example`'s whole slice [e, 0, ...] of sizes [1, ...] with unit strides
/// (its slice type says the rest of the sizes).
bool isWholeExampleSlice(OffsetSizeAndStrideOpInterface slice, Value example) {
  SmallVector<OpFoldResult> offsets = slice.getMixedOffsets();
  return offsets[0] == getAsOpFoldResult(example) && isConstantIntValue(slice.getMixedSizes()[0], 1) &&
         llvm::all_of(ArrayRef(offsets).drop_front(), [](OpFoldResult o) { return isConstantIntValue(o, 0); }) &&
         llvm::all_of(slice.getMixedStrides(), [](OpFoldResult s) { return isConstantIntValue(s, 1); });
}

/// The parallel_insert_slice that writes result `result` of `forall` when it
/// writes each example's slice whole (isWholeExampleSlice, the rest of the
/// shape static). Null otherwise.
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
  if (ShapedType::isDynamicShape(rest) || insert.getSourceType().getShape() != rest ||
      !isWholeExampleSlice(insert, forall.getInductionVar(0)))
    return nullptr;
  return insert;
}

/// Whether `user`, inside `loop`, reads the iteration's example: a whole
/// example slice of type `exampleType`, in the loop's body.
bool readsTheExample(Operation *user, scf::ForallOp loop, Type exampleType) {
  auto slice = dyn_cast<tensor::ExtractSliceOp>(user);
  return slice && slice->getBlock() == loop.getBody() && slice.getType() == exampleType &&
         isWholeExampleSlice(slice, loop.getInductionVar(0));
}

/// Whether `value` is available before `point`, or would be once the pure
/// ops that compute it from available values move above it (ops without
/// regions, and fills: the tensor.empty and zeros of a loop's outputs).
bool canMakeAvailable(Value value, Operation *point, DominanceInfo &dominance) {
  if (dominance.properlyDominates(value, point))
    return true;
  Operation *def = value.getDefiningOp();
  if (!def || def->getBlock() != point->getBlock() || (def->getNumRegions() != 0 && !isa<linalg::FillOp>(def)) ||
      !isMemoryEffectFree(def))
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

/// A loop over `loop`'s examples with `outputs` as its shared outputs and
/// an empty body, at `loop`'s place.
scf::ForallOp createLoopLike(RewriterBase &rewriter, scf::ForallOp loop, ValueRange outputs) {
  rewriter.setInsertionPoint(loop);
  return scf::ForallOp::create(rewriter, loop.getLoc(), loop.getMixedLowerBound(), loop.getMixedUpperBound(),
                               loop.getMixedStep(), outputs, std::nullopt);
}

/// Moves `loop`'s body to the end of `into`'s (its parallel inserts into
/// `into`'s terminator), reading `into`'s induction variable and `outs` for
/// its own shared outputs.
void moveBodyInto(RewriterBase &rewriter, scf::ForallOp loop, scf::ForallOp into, ArrayRef<BlockArgument> outs) {
  rewriter.replaceAllUsesWith(loop.getInductionVar(0), into.getInductionVar(0));
  for (auto [old, now] : llvm::zip(loop.getRegionIterArgs(), outs))
    rewriter.replaceAllUsesWith(old, now);
  Block *inParallel = into.getTerminator().getBody();
  for (Operation &op : llvm::make_early_inc_range(loop.getBody()->without_terminator()))
    op.moveBefore(into.getTerminator());
  for (Operation &op : llvm::make_early_inc_range(loop.getTerminator().getYieldingOps()))
    op.moveBefore(inParallel, inParallel->end());
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
  scf::ForallOp merged = createLoopLike(rewriter, first, outputs);
  ArrayRef<BlockArgument> sharedOuts = merged.getRegionIterArgs();
  unsigned firstOutputs = first.getOutputs().size();
  if (secondBodyFirst)
    moveBodyInto(rewriter, second, merged, sharedOuts.drop_front(firstOutputs));
  moveBodyInto(rewriter, first, merged, sharedOuts.take_front(firstOutputs));
  // The slices `second` read of `first`'s results go: they would read the
  // merged loop's own results inside it.
  for (auto [from, to] : substitute.getValueMap()) {
    rewriter.replaceAllUsesWith(from, to);
    rewriter.eraseOp(from.getDefiningOp());
  }
  if (!secondBodyFirst)
    moveBodyInto(rewriter, second, merged, sharedOuts.drop_front(firstOutputs));
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
  if (!kiln::lowering::isInPlaceEpilogue(op, result))
    return false;
  auto type = cast<RankedTensorType>(result.getType());
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    if (input->get() == result)
      continue;
    if (!canMakeAvailable(input->get(), result.getOwner(), dominance))
      return false;
    bool sliced = map.isIdentity() && input->get().getType() == type;
    if (!sliced && map.isFunctionOfDim(0))
      return false;
  }
  return true;
}

/// The map of `map` (over (e, rest...)) for one example: e dropped from
/// the dimensions and, when it indexes the first dimension, from the results.
AffineMap perExampleMap(AffineMap map, MLIRContext *context) {
  unsigned dims = map.getNumDims();
  SmallVector<AffineExpr> dropBatch = {getAffineConstantExpr(0, context)};
  for (unsigned dim = 1; dim < dims; ++dim)
    dropBatch.push_back(getAffineDimExpr(dim - 1, context));
  if (map.getNumResults() > 0 && map.getResult(0) == getAffineDimExpr(0, context))
    map = map.dropResult(0);
  return map.replaceDimsAndSymbols(dropBatch, {}, dims - 1, 0);
}

/// Whether value `v`, read by `op` through `map`, is batch-indexed (the
/// first result is d0 and no other uses it) or batch-free (no result uses
/// d0); the rest of its shape must be static when it is batch-indexed.
enum class BatchUse { Indexed, Free, Other };
BatchUse batchUse(Value v, AffineMap map) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type)
    return BatchUse::Other;
  bool first = map.getNumResults() > 0 && map.getResult(0) == getAffineDimExpr(0, map.getContext());
  for (unsigned i = first ? 1 : 0; i < map.getNumResults(); ++i)
    if (map.getResult(i).isFunctionOfDim(0))
      return BatchUse::Other;
  if (!first)
    return BatchUse::Free;
  return ShapedType::isDynamicShape(type.getShape().drop_front()) ? BatchUse::Other : BatchUse::Indexed;
}

/// The example's slice [e, 0, ...] of a batch-indexed tensor `value`.
Value exampleSlice(RewriterBase &rewriter, Location loc, Value value, Value example) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0)), sizes = {rewriter.getIndexAttr(1)},
                                                                     strides(rank, rewriter.getIndexAttr(1));
  offsets[0] = example;
  for (int64_t size : type.getShape().drop_front())
    sizes.push_back(rewriter.getIndexAttr(size));
  auto sliceType = RankedTensorType::get(type.getShape().drop_front(), type.getElementType());
  return tensor::ExtractSliceOp::create(rewriter, loc, sliceType, value, offsets, sizes, strides);
}

/// `op` for one example, at the rewriter's insertion point, into `init` (the
/// example's slice of its init): the inputs that `inLoop` maps read the
/// values computed in the iteration, the other batch-indexed ones the
/// example's slice, the batch-free ones the whole tensor.
linalg::GenericOp buildForExample(RewriterBase &rewriter, linalg::GenericOp op, Value example, const IRMapping &inLoop,
                                  Value init) {
  MLIRContext *context = rewriter.getContext();
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    Value value = input->get();
    if (inLoop.contains(value))
      value = inLoop.lookup(value);
    else if (batchUse(value, map) == BatchUse::Indexed)
      value = exampleSlice(rewriter, op.getLoc(), value, example);
    inputs.push_back(value);
    maps.push_back(perExampleMap(map, context));
  }
  maps.push_back(perExampleMap(op.getMatchingIndexingMap(op.getDpsInitOperand(0)), context));
  SmallVector<utils::IteratorType> iterators(op.getIteratorTypesArray());
  iterators.erase(iterators.begin());
  auto perExample = linalg::GenericOp::create(rewriter, op.getLoc(), TypeRange{init.getType()}, inputs,
                                              ValueRange{init}, maps, iterators);
  rewriter.inlineRegionBefore(op.getRegion(), perExample.getRegion(), perExample.getRegion().end());
  return perExample;
}

/// 2. Moves `op` into the loop of `result`, applied in place to the slice
/// that `insert` writes.
void fuseEpilogue(RewriterBase &rewriter, linalg::GenericOp op, OpResult result, tensor::ParallelInsertSliceOp insert,
                  DominanceInfo &dominance) {
  auto forall = cast<scf::ForallOp>(result.getOwner());
  for (Value input : op.getDpsInputs())
    if (input != result)
      makeAvailable(input, forall, dominance);
  rewriter.setInsertionPoint(forall.getTerminator());
  // In place: the body does not read the init, and reads each element
  // before it writes it.
  Value slice = insert.getSource();
  IRMapping inLoop;
  inLoop.map(result, slice);
  linalg::GenericOp fused = buildForExample(rewriter, op, forall.getInductionVar(0), inLoop, slice);
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
          fusable = fusable && insert && readsTheExample(use.getOwner(), consumer, insert.getSourceType());
          if (fusable)
            substitute.map(use.getOwner()->getResult(0), insert.getSource());
        }
      }
      if (!usesProducer || !fusable)
        continue;
      mergeLoops(rewriter, producer, consumer, dominance, substitute);
      return true;
    }
  return false;
}

/// The most elements of an input that does not depend on the example
/// which a generic joining a loop may read whole every iteration (a bias,
/// a constant), so that a contraction with a weight matrix (a dense
/// layer's input gradient: 4.7 MB a example) never joins.
constexpr int64_t kMaxBatchFreeElements = 1024;

/// Whether `op` can join example loop `loop` as a new result of it: a
/// generic on tensors with one result, not a contraction, whose batch loop
/// d0 is parallel and indexes its result's first dimension, that asks for
/// no indices, and whose inputs are batch-indexed or small and batch-free,
/// each available before the loop or a result of the loop written whole per
/// example.
bool canJoin(linalg::GenericOp op, scf::ForallOp loop, DominanceInfo &dominance) {
  if (!op.hasPureTensorSemantics() || op->getNumResults() != 1 || op.getNumLoops() == 0 ||
      op.getIteratorTypesArray()[0] != utils::IteratorType::parallel ||
      !op.getBody()->getOps<linalg::IndexOp>().empty() ||
      linalg::isaContractionOpInterface(cast<linalg::LinalgOp>(op.getOperation())))
    return false;
  OpOperand *init = op.getDpsInitOperand(0);
  if (batchUse(init->get(), op.getMatchingIndexingMap(init)) != BatchUse::Indexed ||
      !canMakeAvailable(init->get(), loop, dominance))
    return false;
  for (OpOperand *input : op.getDpsInputOperands()) {
    BatchUse use = batchUse(input->get(), op.getMatchingIndexingMap(input));
    auto result = dyn_cast<OpResult>(input->get());
    bool ofLoop = result && result.getOwner() == loop.getOperation();
    if (use == BatchUse::Other || (ofLoop && (use != BatchUse::Indexed || !exampleWrite(loop, result))) ||
        (!ofLoop && !canMakeAvailable(input->get(), loop, dominance)))
      return false;
    auto type = cast<RankedTensorType>(input->get().getType());
    if (use == BatchUse::Free && (!type.hasStaticShape() || type.getNumElements() > kMaxBatchFreeElements))
      return false;
  }
  return true;
}

/// 4. `op` joins `loop` (canJoin): the loop gets a new output, `op`'s init,
/// and each iteration computes the example's slice of `op`'s result into
/// it, at the start of the body when `op` reads none of the loop's
/// results, else at its end. The loop's own reads of that example's slice
/// of `op`'s result then read the value computed there; `op`'s uses after
/// the loop read the new result.
void join(RewriterBase &rewriter, linalg::GenericOp op, scf::ForallOp loop, DominanceInfo &dominance) {
  Location loc = op.getLoc();
  Value init = op.getDpsInits()[0];
  makeAvailable(init, loop, dominance);
  for (Value input : op.getDpsInputs())
    if (!(isa<OpResult>(input) && cast<OpResult>(input).getOwner() == loop.getOperation()))
      makeAvailable(input, loop, dominance);
  // The loop with one more output.
  SmallVector<Value> outputs(loop.getOutputs());
  outputs.push_back(init);
  scf::ForallOp grown = createLoopLike(rewriter, loop, outputs);
  moveBodyInto(rewriter, loop, grown, grown.getRegionIterArgs().drop_back());
  Block *inParallel = grown.getTerminator().getBody();
  // The inputs for one example: the loop's results by the slices it writes.
  bool readsLoop = false;
  IRMapping fromLoop;
  for (OpResult result : loop->getResults())
    if (tensor::ParallelInsertSliceOp insert = exampleWrite(grown, grown->getResult(result.getResultNumber()))) {
      fromLoop.map(result, insert.getSource());
      readsLoop = readsLoop || llvm::is_contained(op.getDpsInputs(), Value(result));
    }
  if (readsLoop)
    rewriter.setInsertionPoint(grown.getTerminator());
  else
    rewriter.setInsertionPointToStart(grown.getBody());
  Value example = grown.getInductionVar(0);
  Value sharedOut = grown.getRegionIterArgs().back();
  Value initSlice = exampleSlice(rewriter, loc, sharedOut, example);
  linalg::GenericOp perExample = buildForExample(rewriter, op, example, fromLoop, initSlice);
  rewriter.setInsertionPointToEnd(inParallel);
  auto slice = cast<tensor::ExtractSliceOp>(initSlice.getDefiningOp());
  tensor::ParallelInsertSliceOp::create(rewriter, loc, perExample->getResult(0), sharedOut, slice.getMixedOffsets(),
                                        slice.getMixedSizes(), slice.getMixedStrides());
  // Inside the loop, the example's slices of `op`'s result are the value
  // just computed.
  Value joined = grown->getResults().back();
  for (Operation *user : llvm::make_early_inc_range(op->getResult(0).getUsers()))
    if (readsTheExample(user, grown, perExample->getResult(0).getType()) && perExample->isBeforeInBlock(user))
      rewriter.replaceOp(user, perExample->getResult(0));
  rewriter.replaceAllUsesWith(op->getResult(0), joined);
  rewriter.replaceOp(loop, grown->getResults().drop_back());
  rewriter.eraseOp(op);
}

/// Whether the ops between `op` and `loop` that use `op`'s results
/// (transitively) are pure and feed nothing the loop uses, so that they can
/// move below the loop; `below` gets them, last first (each moved right
/// after the loop in that order keeps them in order).
bool canSinkBelow(Operation *op, scf::ForallOp loop, const llvm::SetVector<Value> &captured,
                  SmallVectorImpl<Operation *> &below) {
  SmallVector<Operation *> worklist = {op};
  llvm::SmallPtrSet<Operation *, 8> seen;
  while (!worklist.empty()) {
    Operation *current = worklist.pop_back_val();
    for (Value result : current->getResults()) {
      if (captured.contains(result) || llvm::is_contained(loop->getOperands(), result))
        return false;
      for (Operation *user : result.getUsers()) {
        // A use nested in an op before the loop (another loop's body) would
        // need that op to move too.
        Operation *owner = loop->getBlock()->findAncestorOpInBlock(*user);
        if (owner != user && owner && owner->isBeforeInBlock(loop))
          return false;
        if (user->getBlock() != loop->getBlock() || !user->isBeforeInBlock(loop) || !seen.insert(user).second)
          continue;
        if (!isMemoryEffectFree(user))
          return false;
        worklist.push_back(user);
      }
    }
  }
  below.assign(seen.begin(), seen.end());
  llvm::sort(below, [](Operation *a, Operation *b) { return b->isBeforeInBlock(a); });
  return true;
}

/// Whether, once `op` joins `loop`, every use of its result inside the loop
/// can read the value computed in the iteration instead: each is the whole
/// example slice, in the loop's body (a window of it, read by a filter
/// gradient, is not). None may be when `op` reads the loop's results (it is
/// computed at the end of the iteration then).
bool usesInsideReadTheExample(linalg::GenericOp op, scf::ForallOp loop, bool readsLoop) {
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  auto exampleType = RankedTensorType::get(type.getShape().drop_front(), type.getElementType());
  return llvm::all_of(op->getResult(0).getUsers(), [&](Operation *user) {
    return !loop->isProperAncestor(user) || (!readsLoop && readsTheExample(user, loop, exampleType));
  });
}

/// Step 4 for the generics after an example loop that read its results
/// (batch sums of its slices), and for those before it that it reads only
/// as its examples' slices (the relu mask of its output gradient).
bool joinGenerics(RewriterBase &rewriter, func::FuncOp func, DominanceInfo &dominance) {
  for (scf::ForallOp loop : exampleLoops(func)) {
    llvm::SetVector<Value> captured;
    getUsedValuesDefinedAbove(loop.getRegion(), captured);
    // A generic after the loop that reads its results or what it reads.
    for (Operation *op = loop->getNextNode(); op; op = op->getNextNode()) {
      auto generic = dyn_cast<linalg::GenericOp>(op);
      if (!generic || !llvm::any_of(generic.getDpsInputs(), [&](Value input) {
            return input.getDefiningOp() == loop.getOperation() || captured.contains(input);
          }))
        continue;
      if (canJoin(generic, loop, dominance)) {
        join(rewriter, generic, loop, dominance);
        return true;
      }
    }
    // A generic before the loop that reads what the loop reads, when what
    // uses its result can move below the loop (a batch sum and its final
    // sum over the examples).
    for (Operation *op = loop->getPrevNode(); op; op = op->getPrevNode()) {
      auto generic = dyn_cast<linalg::GenericOp>(op);
      SmallVector<Operation *> below;
      if (!generic || !llvm::any_of(generic.getDpsInputs(), [&](Value input) { return captured.contains(input); }) ||
          !canJoin(generic, loop, dominance) || !usesInsideReadTheExample(generic, loop, /*readsLoop=*/false) ||
          !canSinkBelow(generic, loop, captured, below))
        continue;
      for (Operation *user : below)
        user->moveAfter(loop);
      join(rewriter, generic, loop, dominance);
      return true;
    }
    // A producer whose every use is inside the loop, as a slice of the
    // iteration's example.
    for (Value value : captured) {
      auto generic = value.getDefiningOp<linalg::GenericOp>();
      if (!generic || generic->getBlock() != loop->getBlock() ||
          !llvm::all_of(value.getUsers(), [&](Operation *user) { return loop->isProperAncestor(user); }) ||
          !usesInsideReadTheExample(generic, loop, /*readsLoop=*/false) || !canJoin(generic, loop, dominance))
        continue;
      join(rewriter, generic, loop, dominance);
      return true;
    }
  }
  return false;
}

/// A loop's or a linalg op's result has its output's sizes: `tensor.dim`s
/// read them there, so that what is sized like a result does not depend on
/// the op that computes it (and can move above it).
void readSizesFromOutputs(RewriterBase &rewriter, func::FuncOp func) {
  func.walk([&](tensor::DimOp dim) {
    auto result = dyn_cast<OpResult>(dim.getSource());
    if (!result)
      return;
    Value output;
    if (auto forall = dyn_cast<scf::ForallOp>(result.getOwner()))
      output = forall.getTiedOpOperand(result)->get();
    else if (auto linalgOp = dyn_cast<linalg::LinalgOp>(result.getOwner()))
      output = linalgOp.getDpsInitOperand(result.getResultNumber())->get();
    if (output)
      rewriter.modifyOpInPlace(dim, [&] { dim.getSourceMutable().assign(output); });
  });
}

struct KilnFuseExampleLoopsPass : kiln::impl::KilnFuseExampleLoopsBase<KilnFuseExampleLoopsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    IRRewriter rewriter(&getContext());
    DominanceInfo dominance(func);
    readSizesFromOutputs(rewriter, func);
    while (mergeSiblings(rewriter, func, dominance))
      readSizesFromOutputs(rewriter, func);
    while (fuseEpilogues(rewriter, func, dominance))
      readSizesFromOutputs(rewriter, func);
    while (fuseConsumers(rewriter, func, dominance))
      readSizesFromOutputs(rewriter, func);
    while (joinGenerics(rewriter, func, dominance))
      readSizesFromOutputs(rewriter, func);
  }
};

} // namespace
