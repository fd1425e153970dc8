//===- TileAndVectorize.cpp - Register-block tiling and vectorization -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-tile-and-vectorize` pass (see Passes.td): the tensor half of the
// CPU recipe in PERF.md. Each compute op is tiled into a block that fits the
// vector registers (with its fill and, when there is one, its elementwise
// epilogue fused into the same tile), its reduction dimensions are tiled
// inside the block, convolutions are decomposed to 1-D, every statically
// shaped linalg op is vectorized, and the accumulators are hoisted out of
// the reduction loops while still on tensors. Tile sizes are chosen here,
// per op, from its static shape: they always divide the static dimensions,
// and the dynamic batch dimension is tiled by 1, so no tile needs masking.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"

namespace kiln {
#define GEN_PASS_DEF_KILNTILEANDVECTORIZE
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

//===----------------------------------------------------------------------===//
// Tile sizes
//===----------------------------------------------------------------------===//

/// Register-block caps (elements), from PERF.md: 8 output pixels x 32
/// channels for convolutions (16 zmm accumulators), 64 columns for matmul
/// rows, 4 input channels and 8 k-steps per reduction tile.
constexpr int64_t kConvPixels = 8;
constexpr int64_t kConvPixelsMax = 14;
constexpr int64_t kConvChannels = 32;
constexpr int64_t kConvInputChannels = 4;
constexpr int64_t kMatmulColumns = 64;
/// Matmul rows per block: 4 x 64 or 8 x 32 accumulators (16 zmm).
constexpr int64_t kMatmulRowsWide = 4;
constexpr int64_t kMatmulRowsNarrow = 8;
constexpr int64_t kMatmulK = 8;
constexpr int64_t kElementwiseInner = 64;
constexpr int64_t kReductionInner = 64;
/// Largest statically shaped op (in elements per operand) that is vectorized
/// whole; bigger ones would become one huge transfer (PERF.md: llc then takes
/// a minute).
constexpr int64_t kMaxVectorElements = 16384;

/// The largest divisor of `size` that is at most `cap` (at least 1).
int64_t largestDivisorAtMost(int64_t size, int64_t cap) {
  for (int64_t d = std::min(size, cap); d > 1; --d)
    if (size % d == 0)
      return d;
  return 1;
}

/// The tile of one static dimension: the largest divisor under `cap`; a
/// dynamic dimension is tiled by 1.
int64_t tileOf(int64_t size, int64_t cap) {
  return ShapedType::isDynamic(size) ? 1 : largestDivisorAtMost(size, cap);
}

/// The output-pixel tile of a convolution row: up to 8 wide, or up to 14
/// when the best divisor under 8 is too narrow (26 -> 13, not 2).
int64_t pixelTile(int64_t width) {
  int64_t tile = tileOf(width, kConvPixels);
  if (tile < 4 && !ShapedType::isDynamic(width))
    tile = std::max(tile, largestDivisorAtMost(width, kConvPixelsMax));
  return tile;
}

bool isConvOrPool(Operation *op) {
  return isa<linalg::Conv2DNhwcHwcfOp, linalg::PoolingNhwcMaxOp, linalg::PoolingNhwcSumOp>(op);
}

bool isContraction(Operation *op) {
  return isa<linalg::MatmulOp, linalg::MatvecOp, linalg::VecmatOp, linalg::DotOp>(op);
}

/// The tile of each output dimension of a compute op (its register block).
SmallVector<int64_t> outputTile(linalg::LinalgOp op) {
  ArrayRef<int64_t> shape = cast<ShapedType>(op.getDpsInits()[0].getType()).getShape();
  if (isConvOrPool(op)) // (n, oh, ow, channels)
    return {1, 1, pixelTile(shape[2]), tileOf(shape[3], kConvChannels)};
  if (isa<linalg::MatmulOp>(op)) { // (m, n); a dynamic m is peeled later
    int64_t columns = tileOf(shape[1], kMatmulColumns);
    int64_t rows = columns > 32 ? kMatmulRowsWide : kMatmulRowsNarrow;
    return {ShapedType::isDynamic(shape[0]) ? rows : largestDivisorAtMost(shape[0], rows), columns};
  }
  if (isa<linalg::MatvecOp, linalg::VecmatOp>(op))
    return {tileOf(shape[0], kMatmulColumns)};
  // Elementwise / generic: the innermost dimension in vector registers.
  SmallVector<int64_t> tile(shape.size(), 1);
  if (!shape.empty())
    tile.back() = tileOf(shape.back(), kElementwiseInner);
  return tile;
}

/// Tile sizes over the loops of `op` for the parallel dimensions, from the
/// tile of its (first) output; reduction loops get 0 (not tiled).
SmallVector<int64_t> parallelTileSizes(linalg::LinalgOp op, ArrayRef<int64_t> outTile) {
  SmallVector<int64_t> sizes(op.getNumLoops(), 0);
  AffineMap map = op.getIndexingMapMatchingResult(cast<OpResult>(op->getResult(0)));
  for (auto [i, expr] : llvm::enumerate(map.getResults()))
    if (auto dim = dyn_cast<AffineDimExpr>(expr))
      sizes[dim.getPosition()] = outTile[i];
  return sizes;
}

/// Tile sizes for the reduction loops of `op` once its parallel loops are a
/// register block (0 = keep whole): windows to 1 x 1 and input channels by
/// 4 for convolutions, the kernel row to 1 for pooling (then it decomposes to
/// 1-D), k by 8 for contractions, long generic reductions by 64.
SmallVector<int64_t> reductionTileSizes(linalg::LinalgOp op) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  SmallVector<int64_t> sizes(ranges.size(), 0);
  if (isa<linalg::Conv2DNhwcHwcfOp>(op)) { // (n, oh, ow, f, kh, kw, c)
    sizes[4] = 1;
    sizes[5] = 1;
    sizes[6] = tileOf(ranges[6], kConvInputChannels);
    return sizes;
  }
  if (isa<linalg::PoolingNhwcMaxOp, linalg::PoolingNhwcSumOp>(op)) { // (n, oh, ow, c, kh, kw)
    sizes[4] = 1;
    return sizes;
  }
  int64_t cap = isContraction(op) && !isa<linalg::DotOp, linalg::MatvecOp>(op) ? kMatmulK : kReductionInner;
  for (auto [i, iterator] : llvm::enumerate(iterators)) {
    if (iterator != utils::IteratorType::reduction)
      continue;
    if (ShapedType::isDynamic(ranges[i]))
      sizes[i] = 1;
    else if (isContraction(op) || ranges[i] > kReductionInner)
      sizes[i] = largestDivisorAtMost(ranges[i], cap);
  }
  return sizes;
}

//===----------------------------------------------------------------------===//
// Roots
//===----------------------------------------------------------------------===//

/// One unit of tiling: `root` is tiled, `compute` (a contraction,
/// convolution or pooling whose only user is `root`, or `root` itself) and
/// the fills feeding them are fused into the tile.
struct TilingRoot {
  linalg::LinalgOp root;
  linalg::LinalgOp compute;
};

/// Whether `consumer` is an all-parallel generic that reads `value` with the
/// identity map and writes a result of the same shape (bias + activation).
bool isElementwiseEpilogue(linalg::GenericOp consumer, Value value) {
  if (consumer.getNumReductionLoops() != 0 || consumer->getNumResults() != 1)
    return false;
  if (consumer->getResult(0).getType() != value.getType())
    return false;
  for (OpOperand *input : consumer.getDpsInputOperands())
    if (input->get() == value && consumer.getMatchingIndexingMap(input).isIdentity())
      return consumer.getIndexingMapMatchingResult(cast<OpResult>(consumer->getResult(0))).isIdentity();
  return false;
}

/// Whether `op` is worth tiling and safe to hand to the vectorizer later.
bool isTilingCandidate(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumLoops() == 0 || op->getNumResults() == 0)
    return false;
  if (isa<linalg::FillOp>(op))
    return false; // Fused into its consumers.
  return isConvOrPool(op) || isContraction(op) || isa<linalg::GenericOp>(op);
}

SmallVector<TilingRoot> collectRoots(func::FuncOp func) {
  SmallVector<TilingRoot> roots;
  llvm::DenseSet<Operation *> fused;
  func.walk([&](linalg::LinalgOp op) {
    if (!isTilingCandidate(op) || fused.contains(op))
      return;
    if ((isConvOrPool(op) || isContraction(op)) && op->hasOneUse()) {
      auto consumer = dyn_cast<linalg::GenericOp>(*op->getUsers().begin());
      if (consumer && isElementwiseEpilogue(consumer, op->getResult(0))) {
        roots.push_back({consumer, op});
        fused.insert(consumer);
        return;
      }
    }
    roots.push_back({op, op});
  });
  return roots;
}

//===----------------------------------------------------------------------===//
// Tiling
//===----------------------------------------------------------------------===//

/// Marks the compute op of a register block until its reductions are tiled.
constexpr llvm::StringLiteral kBlockMarker = "kiln.register_block";

/// Tiles `root.root` by its register block, fusing `root.compute` and fills,
/// and marks the tiled compute op(s) with kBlockMarker. A matmul's dynamic
/// row loop (tiled by more than 1) is peeled: full blocks of static size,
/// then one remainder block, tiled by rows of 1 later.
LogicalResult tileRegisterBlock(RewriterBase &rewriter, TilingRoot root) {
  SmallVector<int64_t> outTile = outputTile(root.compute);
  SmallVector<int64_t> sizes = parallelTileSizes(root.root, outTile);
  if (llvm::all_of(sizes, [](int64_t s) { return s == 0; })) {
    root.compute->setAttr(kBlockMarker, rewriter.getUnitAttr());
    return success();
  }

  scf::SCFTilingOptions tiling;
  tiling.setTileSizes(getAsIndexOpFoldResult(rewriter.getContext(), sizes));
  scf::SCFTileAndFuseOptions options;
  options.setTilingOptions(tiling);
  Operation *compute = root.compute;
  options.setFusionControlFn([compute](tensor::ExtractSliceOp, OpResult producer, bool)
                                 -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
    Operation *owner = producer.getOwner();
    if (owner == compute || isa<linalg::FillOp>(owner))
      return scf::SCFTileAndFuseOptions::ControlFnResult{};
    return std::nullopt;
  });

  rewriter.setInsertionPoint(root.root);
  FailureOr<scf::SCFTileAndFuseResult> result =
      scf::tileConsumerAndFuseProducersUsingSCF(rewriter, cast<TilingInterface>(root.root.getOperation()), options);
  if (failed(result))
    return failure();
  for (OpResult old : root.root->getResults())
    if (Value replacement = result->replacements.lookup(old))
      rewriter.replaceAllUsesWith(old, replacement);

  Operation *tiledCompute = nullptr;
  for (Operation *tiled : result->tiledAndFusedOps)
    if (tiled->getName() == compute->getName())
      tiledCompute = tiled;
  if (!tiledCompute)
    return failure();
  tiledCompute->setAttr(kBlockMarker, rewriter.getUnitAttr());

  bool dynamicRows = isa<linalg::MatmulOp>(compute) && root.root.getStaticLoopRanges()[0] == ShapedType::kDynamic &&
                     sizes[0] > 1 && !result->loops.empty();
  if (dynamicRows) {
    if (auto rowLoop = dyn_cast<scf::ForOp>(result->loops.front().getOperation())) {
      scf::ForOp remainder;
      (void)scf::peelForLoopAndSimplifyBounds(rewriter, rowLoop, remainder);
    }
  }
  return success();
}

/// Tiles the dynamic parallel loops of `op` (a peeled remainder block) by 1;
/// returns the tiled op, or `op` when all its loops are static.
FailureOr<linalg::LinalgOp> tileDynamicByOne(RewriterBase &rewriter, linalg::LinalgOp op) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<int64_t> sizes(ranges.size(), 0);
  bool any = false;
  for (auto [i, iterator] : llvm::enumerate(op.getIteratorTypesArray()))
    if (iterator == utils::IteratorType::parallel && ShapedType::isDynamic(ranges[i])) {
      sizes[i] = 1;
      any = true;
    }
  if (!any)
    return op;
  scf::SCFTilingOptions tiling;
  tiling.setTileSizes(getAsIndexOpFoldResult(rewriter.getContext(), sizes));
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> result = scf::tileUsingSCF(rewriter, cast<TilingInterface>(op.getOperation()), tiling);
  if (failed(result))
    return failure();
  rewriter.replaceOp(op, result->replacements);
  return cast<linalg::LinalgOp>(result->tiledOps.back());
}

/// Tiles the reduction loops of the (already blocked) `op`.
LogicalResult tileReductions(RewriterBase &rewriter, linalg::LinalgOp op) {
  SmallVector<int64_t> sizes = reductionTileSizes(op);
  if (llvm::all_of(sizes, [](int64_t s) { return s == 0; }))
    return success();
  scf::SCFTilingOptions tiling;
  tiling.setTileSizes(getAsIndexOpFoldResult(rewriter.getContext(), sizes));
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> result = scf::tileUsingSCF(rewriter, cast<TilingInterface>(op.getOperation()), tiling);
  if (failed(result))
    return failure();
  rewriter.replaceOp(op, result->replacements);
  return success();
}

//===----------------------------------------------------------------------===//
// Vectorization
//===----------------------------------------------------------------------===//

/// Whether `op` has a static, register-sized shape and a body the vectorizer
/// handles without gathers.
bool shouldVectorize(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumLoops() == 0 || op.hasDynamicShape())
    return false;
  for (Value operand : op->getOperands()) {
    auto type = dyn_cast<ShapedType>(operand.getType());
    if (type && type.getNumElements() > kMaxVectorElements)
      return false;
  }
  bool hasExtract = false;
  op->walk([&](tensor::ExtractOp) { hasExtract = true; });
  if (hasExtract)
    return false;
  return succeeded(linalg::vectorizeOpPrecondition(op));
}

void vectorizeAll(RewriterBase &rewriter, func::FuncOp func) {
  SmallVector<linalg::LinalgOp> candidates;
  func.walk([&](linalg::LinalgOp op) {
    if (shouldVectorize(op))
      candidates.push_back(op);
  });
  for (linalg::LinalgOp op : candidates) {
    rewriter.setInsertionPoint(op);
    FailureOr<linalg::VectorizationResult> result = linalg::vectorize(rewriter, op);
    if (succeeded(result))
      rewriter.replaceOp(op, result->replacements);
  }
}

/// The clean-up that `transform.structured.vectorize_children_and_apply_patterns`
/// applies after vectorizing: fold slices into transfers, canonicalize them.
void populateVectorCleanupPatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
  vector::populateVectorReductionToContractPatterns(patterns);
  vector::populateSinkVectorOpsPatterns(patterns);
  patterns.add<linalg::LinalgCopyVTRForwardingPattern, linalg::LinalgCopyVTWForwardingPattern>(context,
                                                                                                /*benefit=*/2);
  vector::TransferReadOp::getCanonicalizationPatterns(patterns, context);
  vector::TransferWriteOp::getCanonicalizationPatterns(patterns, context);
  tensor::populateFoldTensorSubsetIntoVectorTransferPatterns(patterns);
  vector::populateVectorStepLoweringPatterns(patterns);
}

/// Every op's canonicalization patterns (what the canonicalizer pass uses).
void populateCanonicalizationPatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  for (Dialect *dialect : context->getLoadedDialects())
    dialect->getCanonicalizationPatterns(patterns);
  for (RegisteredOperationName op : context->getRegisteredOperations())
    op.getCanonicalizationPatterns(patterns, context);
}

/// Moves loop-invariant code and loop-invariant read/write pairs of tensor
/// subsets (the accumulators) out of every loop, innermost first, so that a
/// reduction loop carries its accumulator as a vector.
void hoistOnTensors(RewriterBase &rewriter, func::FuncOp func) {
  SmallVector<LoopLikeOpInterface> loops;
  func.walk<WalkOrder::PostOrder>([&](LoopLikeOpInterface loop) { loops.push_back(loop); });
  for (LoopLikeOpInterface loop : loops) {
    moveLoopInvariantCode(loop);
    hoistLoopInvariantSubsets(rewriter, loop);
  }
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

LogicalResult canonicalize(func::FuncOp func) {
  RewritePatternSet patterns(func.getContext());
  populateCanonicalizationPatterns(patterns);
  return applyPatternsGreedily(func, std::move(patterns));
}

struct KilnTileAndVectorizePass : kiln::impl::KilnTileAndVectorizeBase<KilnTileAndVectorizePass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    MLIRContext *context = &getContext();
    IRRewriter rewriter(context);

    // 1. Register blocks with fused fills and epilogues.
    for (TilingRoot root : collectRoots(func))
      if (failed(tileRegisterBlock(rewriter, root)))
        root.root->emitWarning("kiln-tile-and-vectorize: could not tile; left scalar");
    // Canonicalize: peeled blocks get static shapes.
    if (failed(canonicalize(func)))
      return signalPassFailure();

    // 2. Reductions inside each block (remainder blocks first by rows of 1).
    SmallVector<linalg::LinalgOp> blocks;
    func.walk([&](linalg::LinalgOp op) {
      if (op->hasAttr(kBlockMarker))
        blocks.push_back(op);
    });
    for (linalg::LinalgOp block : blocks) {
      block->removeAttr(kBlockMarker);
      FailureOr<linalg::LinalgOp> tiled = tileDynamicByOne(rewriter, block);
      if (failed(tiled) || failed(tileReductions(rewriter, *tiled)))
        block->emitWarning("kiln-tile-and-vectorize: could not tile the reduction; left scalar");
    }
    if (failed(canonicalize(func)))
      return signalPassFailure();

    // 3. Unit-window 2-D convolutions and poolings to 1-D, then vectorize.
    {
      RewritePatternSet patterns(context);
      linalg::populateDecomposeConvolutionPatterns(patterns);
      if (failed(applyPatternsGreedily(func, std::move(patterns))))
        return signalPassFailure();
    }
    vectorizeAll(rewriter, func);
    {
      RewritePatternSet patterns(context);
      populateVectorCleanupPatterns(patterns);
      GreedyRewriteConfig config;
      config.setMaxIterations(4);
      (void)applyPatternsGreedily(func, std::move(patterns), config);
    }

    // 4. Accumulators out of the reduction loops, on tensors; then drop the
    // unit dimensions the 1-D convolutions left (PERF.md: otherwise a large
    // buffer is allocated and leaked per call).
    hoistOnTensors(rewriter, func);
    {
      RewritePatternSet patterns(context);
      vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
      populateCanonicalizationPatterns(patterns);
      GreedyRewriteConfig config;
      config.setMaxIterations(8);
      (void)applyPatternsGreedily(func, std::move(patterns), config);
    }
    hoistOnTensors(rewriter, func);
  }
};

} // namespace
