//===- SplitBatchReductions.cpp - Per-example partial sums ----------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-split-batch-reductions` pass (see Passes.td): a sum over the
// batch whose result is one register block (a bias gradient's [C], the
// filter gradient of a one-channel input's convolution, [1, C] per window
// offset) gives the CPU's tiling a single block, so it ran on one core over
// the whole batch while the others waited. Split into a sum per example,
// parallel over the examples, and a sum of those partials over the batch in
// order, it runs on every core; the order of the additions no longer
// depends on anything but the batch, so results stay the same for any
// thread count.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_KILNSPLITBATCHREDUCTIONS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {
/// Results of at most this many elements: one register block (16 floats
/// per zmm register, a few registers).
constexpr int64_t kMaxResultElements = 64;
/// Work per example, in loop iterations, below which a per-example partial
/// costs more than it saves (a dense layer's bias gradient sums one row).
constexpr int64_t kMinPerExample = 64;

/// The loop of `op` that is its batch: a dynamic reduction loop that is
/// dimension 0 of an input, with that input.
std::optional<std::pair<unsigned, Value>> batchLoop(linalg::GenericOp op) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    if (map.getNumResults() == 0)
      continue;
    auto dim = dyn_cast<AffineDimExpr>(map.getResult(0));
    if (dim && iterators[dim.getPosition()] == utils::IteratorType::reduction &&
        ShapedType::isDynamic(ranges[dim.getPosition()]))
      return std::make_pair(dim.getPosition(), input->get());
  }
  return std::nullopt;
}

/// Whether the body adds each value into the accumulator (and does nothing
/// else with it): a sum, which partial sums may split.
bool isSum(linalg::GenericOp op) {
  Block *body = op.getBody();
  BlockArgument accumulator = body->getArguments().back();
  auto add = body->getTerminator()->getOperand(0).getDefiningOp<arith::AddFOp>();
  return add && accumulator.hasOneUse() && (add.getLhs() == accumulator || add.getRhs() == accumulator);
}

struct SplitBatchReduction : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op, PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || op->getNumResults() != 1 || op.getNumDpsInits() != 1)
      return failure();
    auto resultType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!resultType || !resultType.hasStaticShape() || resultType.getNumElements() > kMaxResultElements ||
        !isa<FloatType>(resultType.getElementType()) || !isSum(op))
      return failure();
    std::optional<std::pair<unsigned, Value>> batch = batchLoop(op);
    if (!batch)
      return failure();
    auto [batchDim, batchSource] = *batch;
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    int64_t perExample = 1;
    for (auto [i, iterator] : llvm::enumerate(iterators)) {
      if (iterator != utils::IteratorType::reduction || i == batchDim)
        continue;
      if (ShapedType::isDynamic(ranges[i]))
        return failure();
      perExample *= ranges[i];
    }
    if (perExample < kMinPerExample)
      return failure();

    // The partials: the same loops with the batch parallel, into [N, result].
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Type element = resultType.getElementType();
    SmallVector<OpFoldResult> partialSizes{tensor::getMixedSize(rewriter, loc, batchSource, 0)};
    for (int64_t size : resultType.getShape())
      partialSizes.push_back(rewriter.getIndexAttr(size));
    Value empty = tensor::EmptyOp::create(rewriter, loc, partialSizes, element);
    Value zero = arith::ConstantOp::create(rewriter, loc, rewriter.getFloatAttr(element, 0.0));
    Value partialInit = linalg::FillOp::create(rewriter, loc, ValueRange{zero}, ValueRange{empty}).getResult(0);
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    AffineMap resultMap = maps.back();
    SmallVector<AffineExpr> partialResults{rewriter.getAffineDimExpr(batchDim)};
    llvm::append_range(partialResults, resultMap.getResults());
    maps.back() = AffineMap::get(resultMap.getNumDims(), 0, partialResults, context);
    iterators[batchDim] = utils::IteratorType::parallel;
    auto partial = linalg::GenericOp::create(rewriter, loc, TypeRange{partialInit.getType()}, op.getDpsInputs(),
                                             ValueRange{partialInit}, maps, iterators);
    rewriter.inlineRegionBefore(op.getRegion(), partial.getRegion(), partial.getRegion().end());

    // Their sum over the batch, in order, added to what the op accumulated into.
    rewriter.replaceOp(op, kiln::lowering::sumOverOuterDim(rewriter, loc, partial.getResult(0), op.getDpsInits()[0]));
    return success();
  }
};

struct KilnSplitBatchReductionsPass : kiln::impl::KilnSplitBatchReductionsBase<KilnSplitBatchReductionsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<SplitBatchReduction>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
