//===- TileAndVectorize.cpp - Register-block tiling and vectorization -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-tile-and-vectorize` pass (see Passes.td): the tensor half of the
// CPU recipe (Passes.td; docs/performance.md). Each compute op is tiled into a block that fits the
// vector registers (with its fill and, when there is one, its elementwise
// epilogue fused into the same tile), its reduction dimensions are tiled
// inside the block, convolutions are decomposed to 1-D, every statically
// shaped linalg op is vectorized, and the accumulators are hoisted out of
// the reduction loops while still on tensors. Tile sizes are chosen here,
// per op, from its static shape: they always divide the static dimensions,
// and the dynamic batch dimension is tiled by 1, so no tile needs masking.
// The register blocks of an op form one scf.forall: the CPU pipeline runs
// them on OpenMP's thread pool (Pipelines.cpp).
//
// The gradients' contractions are first brought into shapes the blocks fit:
// a matmul of a transposed operand into a contraction generic reading it
// untransposed, a contraction generic that reshape fusion expanded back into
// a matmul, and a contraction generic into a static 2-D result (the
// convolution filter gradient) is blocked like a matmul, reducing over the
// batch outermost. Large transposes are copied in cache-sized blocks.
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

/// Register-block caps (elements), measured best on AVX-512: 8 output pixels x 32
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
/// Rows of a dynamic-row matmul per parallel chunk (a multiple of both row
/// block heights): 8 chunks at batch 128, one at batch 1.
constexpr int64_t kMatmulRowChunk = 16;
/// Batch elements per step of a batch reduction's outer loop (a filter
/// gradient): the register blocks inside run in parallel, once per chunk
/// (not once per image, which costs a fork/join per image), over a chunk
/// whose operands still fit in L2.
constexpr int64_t kBatchReductionChunk = 8;
constexpr int64_t kElementwiseInner = 64;
constexpr int64_t kReductionInner = 64;
/// Largest statically shaped op (in elements per operand) that is vectorized
/// whole; bigger ones would become one huge transfer (measured: llc then takes
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

/// A `linalg.generic` contraction into a static 2-D result (m, n) whose
/// reduction loops may be several (the convolution filter gradient's
/// (n, y, x)): blocked like a matmul, reduced one step at a time.
bool isGenericMatmul(Operation *op) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic || generic->getNumResults() != 1 || generic.getNumDpsInputs() != 2)
    return false;
  auto type = dyn_cast<RankedTensorType>(generic->getResult(0).getType());
  if (!type || type.getRank() != 2 || !type.hasStaticShape())
    return false;
  if (!generic.getIndexingMapMatchingResult(cast<OpResult>(generic->getResult(0))).isProjectedPermutation())
    return false;
  return linalg::isaContractionOpInterface(cast<linalg::LinalgOp>(op));
}

/// The tile of each output dimension of a compute op (its register block).
SmallVector<int64_t> outputTile(linalg::LinalgOp op) {
  ArrayRef<int64_t> shape = cast<ShapedType>(op.getDpsInits()[0].getType()).getShape();
  if (isConvOrPool(op)) // (n, oh, ow, channels)
    return {1, 1, pixelTile(shape[2]), tileOf(shape[3], kConvChannels)};
  if (isa<linalg::MatmulOp>(op) || isGenericMatmul(op)) { // (m, n); a dynamic m is peeled later
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
  if (isGenericMatmul(op)) { // every reduction step by 1: one outer product
    for (auto [i, iterator] : llvm::enumerate(iterators))
      if (iterator == utils::IteratorType::reduction)
        sizes[i] = 1;
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
  // A block still too large to vectorize whole (a bias gradient's 24 x 24 x
  // 32 per image) reduces one step at a time: over every reduction dimension
  // when the innermost dimension is parallel (each step is then one vector
  // add into the accumulator, no horizontal reduction), else over its outer
  // dimensions until it fits.
  if (!isContraction(op)) {
    auto volume = [&] {
      int64_t product = 1;
      for (auto [range, size] : llvm::zip(ranges, sizes))
        product *= size != 0 ? size : (ShapedType::isDynamic(range) ? 1 : range);
      return product;
    };
    bool innerParallel = !iterators.empty() && iterators.back() == utils::IteratorType::parallel;
    bool tooLarge = volume() > kMaxVectorElements;
    for (auto [i, iterator] : llvm::enumerate(iterators)) {
      if (!tooLarge || (!innerParallel && volume() <= kMaxVectorElements))
        break;
      if (iterator == utils::IteratorType::reduction && sizes[i] == 0)
        sizes[i] = 1;
    }
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

/// Tiles `root.root` by `sizes` in loops of `loopType`, fusing `root.compute`
/// and fills into the tile; returns the tiled root and compute ops.
FailureOr<TilingRoot> tileAndFuse(RewriterBase &rewriter, TilingRoot root, ArrayRef<int64_t> sizes,
                                  scf::SCFTilingOptions::LoopType loopType,
                                  SmallVectorImpl<LoopLikeOpInterface> *loops = nullptr) {
  scf::SCFTilingOptions tiling;
  tiling.setTileSizes(getAsIndexOpFoldResult(rewriter.getContext(), sizes));
  tiling.setLoopType(loopType);
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

  TilingRoot tiled{};
  bool epilogue = root.root != root.compute;
  for (Operation *op : result->tiledAndFusedOps) {
    if (op->getName() == compute->getName())
      tiled.compute = cast<linalg::LinalgOp>(op);
    else if (epilogue && op->getName() == root.root->getName())
      tiled.root = cast<linalg::LinalgOp>(op);
  }
  if (!epilogue)
    tiled.root = tiled.compute;
  if (!tiled.compute || !tiled.root)
    return failure();
  if (loops)
    loops->assign(result->loops.begin(), result->loops.end());
  return tiled;
}

/// Tiles `root.root` by its register block, fusing `root.compute` and fills,
/// and marks the tiled compute op(s) with kBlockMarker.
///
/// The blocks are independent (they tile parallel dimensions only): they
/// become one scf.forall, which the CPU pipeline runs on the OpenMP thread
/// pool. Each block computes the same values whatever the thread count, so
/// results do not depend on it. A matmul whose dynamic row count is tiled by
/// more than 1 is first split into parallel chunks of kMatmulRowChunk rows;
/// inside a chunk, the row loop is peeled: full blocks of static size, then
/// one remainder block, tiled by rows of 1 later.
LogicalResult tileRegisterBlock(RewriterBase &rewriter, TilingRoot root) {
  SmallVector<int64_t> outTile = outputTile(root.compute);
  SmallVector<int64_t> sizes = parallelTileSizes(root.root, outTile);
  if (llvm::all_of(sizes, [](int64_t s) { return s == 0; })) {
    root.compute->setAttr(kBlockMarker, rewriter.getUnitAttr());
    return success();
  }
  using LoopType = scf::SCFTilingOptions::LoopType;
  bool dynamicRows = isa<linalg::MatmulOp>(root.compute) &&
                     root.root.getStaticLoopRanges()[0] == ShapedType::kDynamic && sizes[0] > 1;
  if (dynamicRows) {
    SmallVector<int64_t> chunk(sizes.size(), 0);
    chunk[0] = kMatmulRowChunk;
    FailureOr<TilingRoot> chunked = tileAndFuse(rewriter, root, chunk, LoopType::ForallOp);
    if (failed(chunked))
      return failure();
    root = *chunked;
  }

  SmallVector<LoopLikeOpInterface> loops;
  FailureOr<TilingRoot> tiled =
      tileAndFuse(rewriter, root, sizes, dynamicRows ? LoopType::ForOp : LoopType::ForallOp, &loops);
  if (failed(tiled))
    return failure();
  tiled->compute->setAttr(kBlockMarker, rewriter.getUnitAttr());

  if (dynamicRows && !loops.empty()) {
    if (auto rowLoop = dyn_cast<scf::ForOp>(loops.front().getOperation())) {
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

/// A contraction `linalg.generic` whose output has more than two dimensions
/// and whose trailing output dimensions run together in every operand (the
/// dense input gradient after reshape fusion: (n, y, x, c | k) reading
/// W^T[k, y, x, c]) is collapsed back to 2-D and, where it then is one,
/// rewritten as a `linalg.matmul`, so that it is blocked like a matmul
/// rather than as one matrix-vector product per output pixel.
void collapseToMatmul(RewriterBase &rewriter, linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op->getNumResults() != 1 || op.getNumDpsInputs() != 2 ||
      !linalg::isaContractionOpInterface(cast<linalg::LinalgOp>(op.getOperation())))
    return;
  AffineMap outputMap = op.getIndexingMapMatchingResult(cast<OpResult>(op->getResult(0)));
  if (outputMap.getNumResults() <= 2 || !outputMap.isProjectedPermutation())
    return;
  ReassociationIndices trailing;
  for (unsigned r = 1; r < outputMap.getNumResults(); ++r)
    trailing.push_back(outputMap.getDimPosition(r));
  SmallVector<ReassociationIndices> groups = {trailing};
  if (!linalg::areDimSequencesPreserved(op.getIndexingMapsArray(), groups))
    return;
  rewriter.setInsertionPoint(op);
  FailureOr<linalg::CollapseResult> collapsed =
      linalg::collapseOpIterationDims(cast<linalg::LinalgOp>(op.getOperation()), groups, rewriter);
  if (failed(collapsed))
    return;
  rewriter.replaceOp(op, collapsed->results);
  if (auto generic = dyn_cast<linalg::GenericOp>(collapsed->collapsedOp.getOperation())) {
    rewriter.setInsertionPoint(generic);
    (void)linalg::specializeGenericOp(rewriter, generic);
  }
}

/// A `linalg.matmul` whose A operand is a 2-D `linalg.transpose` and whose
/// result is static (a weight gradient: activations^T @ dY) becomes a
/// contraction `linalg.generic` reading the untransposed A with a transposed
/// map: each reduction step then reads a contiguous row of A for the block's
/// rows, and the transpose (a scalar copy of the whole activation) is gone.
void foldTransposedLhs(RewriterBase &rewriter, linalg::MatmulOp matmul) {
  if (!matmul.hasPureTensorSemantics() || matmul.hasUserDefinedMaps())
    return;
  auto transpose = matmul.getInputs()[0].getDefiningOp<linalg::TransposeOp>();
  if (!transpose || transpose.getPermutation() != ArrayRef<int64_t>{1, 0})
    return;
  auto resultType = cast<RankedTensorType>(matmul->getResult(0).getType());
  Type element = resultType.getElementType();
  if (!resultType.hasStaticShape() || !isa<FloatType>(element) ||
      cast<ShapedType>(matmul.getInputs()[1].getType()).getElementType() != element ||
      cast<ShapedType>(transpose.getInput().getType()).getElementType() != element)
    return;
  MLIRContext *context = rewriter.getContext();
  AffineExpr m = getAffineDimExpr(0, context), n = getAffineDimExpr(1, context), k = getAffineDimExpr(2, context);
  SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {k, m}, context), AffineMap::get(3, 0, {k, n}, context),
                                 AffineMap::get(3, 0, {m, n}, context)};
  rewriter.setInsertionPoint(matmul);
  auto generic = linalg::GenericOp::create(
      rewriter, matmul.getLoc(), TypeRange{resultType}, ValueRange{transpose.getInput(), matmul.getInputs()[1]},
      ValueRange{matmul.getOutputs()[0]}, maps,
      SmallVector<utils::IteratorType>{utils::IteratorType::parallel, utils::IteratorType::parallel,
                                       utils::IteratorType::reduction},
      [](OpBuilder &b, Location l, ValueRange args) {
        Value product = arith::MulFOp::create(b, l, args[0], args[1]);
        linalg::YieldOp::create(b, l, ValueRange{arith::AddFOp::create(b, l, args[2], product).getResult()});
      });
  rewriter.replaceOp(matmul, generic->getResults());
  if (transpose->use_empty())
    rewriter.eraseOp(transpose);
}

/// Tiles the dynamic (batch) reduction loops of a generic contraction by
/// kBatchReductionChunk, outermost, before its register blocks: each block
/// then reduces over a few batch elements at a time, whose operands stay in
/// cache across the blocks (a block loop outside the batch loop would stream
/// the whole batch from memory once per block).
LogicalResult tileBatchReductions(RewriterBase &rewriter, linalg::LinalgOp op) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<int64_t> sizes(ranges.size(), 0);
  bool any = false, staticReduction = false;
  for (auto [i, iterator] : llvm::enumerate(op.getIteratorTypesArray())) {
    if (iterator != utils::IteratorType::reduction)
      continue;
    if (ShapedType::isDynamic(ranges[i])) {
      sizes[i] = kBatchReductionChunk;
      any = true;
    } else {
      staticReduction = true;
    }
  }
  // With only the batch to reduce over, it stays the inner loop of each
  // block (the accumulators would otherwise go through memory every step).
  if (!any || !staticReduction)
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

/// Marks a transpose tile that stays scalar (vectorized, it would become a
/// fully unrolled element-by-element vector.transpose).
constexpr llvm::StringLiteral kScalarMarker = "kiln.scalar_block";

/// Tiles a large `linalg.transpose` into blocks of up to 64 x 64 elements
/// (the input's and the output's innermost dimensions; the others by 1), so
/// that its scalar copy reads and writes within cache instead of striding
/// through the whole input once per output row.
LogicalResult tileTranspose(RewriterBase &rewriter, linalg::TransposeOp op) {
  auto type = cast<ShapedType>(op.getInit().getType());
  if (!op.hasPureTensorSemantics() || type.getRank() < 2 || !type.hasStaticShape() ||
      type.getNumElements() <= kMaxVectorElements)
    return success();
  ArrayRef<int64_t> permutation = op.getPermutation();
  int64_t rank = type.getRank();
  SmallVector<int64_t> sizes(rank, 1);
  for (int64_t i = 0; i < rank; ++i)
    if (i == rank - 1 || permutation[i] == rank - 1)
      sizes[i] = tileOf(type.getDimSize(i), kElementwiseInner);
  scf::SCFTilingOptions tiling;
  tiling.setTileSizes(getAsIndexOpFoldResult(rewriter.getContext(), sizes));
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> result = scf::tileUsingSCF(rewriter, cast<TilingInterface>(op.getOperation()), tiling);
  if (failed(result))
    return failure();
  for (Operation *tiled : result->tiledOps)
    tiled->setAttr(kScalarMarker, rewriter.getUnitAttr());
  rewriter.replaceOp(op, result->replacements);
  return success();
}

//===----------------------------------------------------------------------===//
// Vectorization
//===----------------------------------------------------------------------===//

/// Whether `op` has a static, register-sized shape and a body the vectorizer
/// handles without gathers.
bool shouldVectorize(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumLoops() == 0 || op.hasDynamicShape() || op->hasAttr(kScalarMarker))
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

/// Drops the unit reduction dimensions of a `vector.contract` that has more
/// than one reduction dimension, keeping the last reduction dimension (a
/// generic contraction tiled by 1 over (n, y, x) vectorizes to one with three
/// unit reductions, which the outer-product lowering does not take: it would
/// become separate multiplies and adds instead of FMAs).
struct DropUnitReductionDims : OpRewritePattern<vector::ContractionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(vector::ContractionOp op, PatternRewriter &rewriter) const override {
    if (isa_and_nonnull<vector::MaskOp>(op->getParentOp()))
      return failure();
    auto lhsType = dyn_cast<VectorType>(op.getLhs().getType());
    auto rhsType = dyn_cast<VectorType>(op.getRhs().getType());
    if (!lhsType || !rhsType || lhsType.isScalable() || rhsType.isScalable())
      return failure();
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    SmallVector<vector::IteratorType> iterators = op.getIteratorTypesArray();
    unsigned numDims = maps[0].getNumDims();
    SmallVector<int64_t> sizes(numDims, ShapedType::kDynamic);
    VectorType operandTypes[2] = {lhsType, rhsType};
    for (unsigned operand = 0; operand < 2; ++operand) {
      AffineMap map = maps[operand];
      VectorType type = operandTypes[operand];
      for (unsigned r = 0; r < map.getNumResults(); ++r) {
        auto dim = dyn_cast<AffineDimExpr>(map.getResult(r));
        if (!dim)
          return failure();
        sizes[dim.getPosition()] = type.getDimSize(r);
      }
    }
    SmallVector<unsigned> reductions;
    for (unsigned d = 0; d < numDims; ++d)
      if (iterators[d] == vector::IteratorType::reduction)
        reductions.push_back(d);
    if (reductions.size() < 2)
      return failure();
    llvm::SmallBitVector drop(numDims);
    for (unsigned d : reductions)
      if (sizes[d] == 1)
        drop.set(d);
    // Keep one reduction dimension: the last non-unit one, else the last.
    bool keepsOne = llvm::any_of(reductions, [&](unsigned d) { return !drop.test(d); });
    if (!keepsOne)
      drop.reset(reductions.back());
    if (drop.none())
      return failure();

    auto reduceOperand = [&](Value value, VectorType type, AffineMap map, AffineMap &newMap) -> Value {
      SmallVector<int64_t> shape;
      SmallVector<AffineExpr> results;
      for (unsigned r = 0; r < map.getNumResults(); ++r) {
        unsigned d = cast<AffineDimExpr>(map.getResult(r)).getPosition();
        if (drop.test(d))
          continue;
        shape.push_back(type.getDimSize(r));
        results.push_back(map.getResult(r));
      }
      newMap = compressDims(AffineMap::get(numDims, 0, results, rewriter.getContext()), drop);
      auto newType = VectorType::get(shape, type.getElementType());
      if (newType == type)
        return value;
      return vector::ShapeCastOp::create(rewriter, op.getLoc(), newType, value);
    };
    SmallVector<AffineMap> newMaps(3);
    Value lhs = reduceOperand(op.getLhs(), lhsType, maps[0], newMaps[0]);
    Value rhs = reduceOperand(op.getRhs(), rhsType, maps[1], newMaps[1]);
    newMaps[2] = compressDims(maps[2], drop);
    SmallVector<Attribute> newIterators;
    for (unsigned d = 0; d < numDims; ++d)
      if (!drop.test(d))
        newIterators.push_back(vector::IteratorTypeAttr::get(rewriter.getContext(), iterators[d]));
    rewriter.replaceOpWithNewOp<vector::ContractionOp>(op, lhs, rhs, op.getAcc(),
                                                       rewriter.getAffineMapArrayAttr(newMaps),
                                                       rewriter.getArrayAttr(newIterators), op.getKind());
    return success();
  }
};

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

    // 0. Generic contractions: back to matmuls where they are ones; the
    // others reduce over the batch outermost.
    {
      SmallVector<linalg::MatmulOp> matmuls;
      func.walk([&](linalg::MatmulOp op) { matmuls.push_back(op); });
      for (linalg::MatmulOp op : matmuls)
        foldTransposedLhs(rewriter, op);
      SmallVector<linalg::GenericOp> expanded;
      func.walk([&](linalg::GenericOp op) { expanded.push_back(op); });
      for (linalg::GenericOp op : expanded)
        collapseToMatmul(rewriter, op);
    }
    if (failed(canonicalize(func)))
      return signalPassFailure();
    {
      SmallVector<linalg::LinalgOp> contractions;
      func.walk([&](linalg::GenericOp op) {
        if (op.hasPureTensorSemantics() && isGenericMatmul(op))
          contractions.push_back(op);
      });
      for (linalg::LinalgOp op : contractions)
        if (failed(tileBatchReductions(rewriter, op)))
          op->emitWarning("kiln-tile-and-vectorize: could not tile the batch reduction");
    }

    // Large transposes in cache-sized blocks.
    {
      SmallVector<linalg::TransposeOp> transposes;
      func.walk([&](linalg::TransposeOp op) { transposes.push_back(op); });
      for (linalg::TransposeOp op : transposes)
        if (failed(tileTranspose(rewriter, op)))
          op->emitWarning("kiln-tile-and-vectorize: could not tile the transpose");
    }

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
    func.walk([](linalg::TransposeOp op) { op->removeAttr(kScalarMarker); });
    {
      RewritePatternSet patterns(context);
      populateVectorCleanupPatterns(patterns);
      GreedyRewriteConfig config;
      config.setMaxIterations(4);
      if (failed(applyPatternsGreedily(func, std::move(patterns), config)))
        return signalPassFailure();
    }

    // 4. Accumulators out of the reduction loops, on tensors; then drop the
    // unit dimensions the 1-D convolutions left (measured: otherwise a large
    // buffer is allocated and leaked per call) and the unit reductions of
    // generic contractions (once their broadcasts are folded into the
    // contraction maps above).
    hoistOnTensors(rewriter, func);
    {
      RewritePatternSet patterns(context);
      vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
      patterns.add<DropUnitReductionDims>(context);
      populateCanonicalizationPatterns(patterns);
      GreedyRewriteConfig config;
      config.setMaxIterations(8);
      if (failed(applyPatternsGreedily(func, std::move(patterns), config)))
        return signalPassFailure();
    }
    hoistOnTensors(rewriter, func);
  }
};

} // namespace
