//===- TileAndVectorize.cpp - Register-block tiling and vectorization -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-tile-and-vectorize` pass (see Passes.td): the tensor half of the
// CPU recipe (Passes.td; docs/performance.md), the mechanism that tiles by
// the sizes kiln-choose-tile-sizes recorded on the ops (`kiln.tile_sizes`;
// it chooses none itself). Each compute op is tiled into a block that fits
// the vector registers (with its fill and, when there is one, its
// elementwise epilogue fused into the same tile), its reduction dimensions
// are tiled inside the block, convolutions are decomposed to 1-D, every
// statically shaped linalg op is vectorized, and the accumulators are
// hoisted out of the reduction loops while still on tensors. The register
// blocks of an op form one scf.forall: the CPU pipeline runs them on
// OpenMP's thread pool (Pipelines.cpp).
//
// A contraction generic into a static 2-D result (the convolution filter
// gradient, after kiln-normalize-contractions) is blocked like a matmul,
// reducing over the batch outermost. Large transposes are copied in
// cache-sized blocks.
//
//===----------------------------------------------------------------------===//

#include "passes/CpuTiling.h"
#include "passes/Passes.h"

#include "dialect/KilnDialect.h"

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
using namespace kiln::cpu;
using kiln::KilnDialect;

namespace {

/// Reduction steps per weight panel of a dynamic-row matmul with a long
/// reduction (a dense layer on a flattened image: FashionCnn's dense_0 has
/// 18432): inside a chunk, the panel loop is outside the row blocks, so the
/// 128 x 64 panel (32 KB) is read from memory once per chunk and from L1
/// by the other row blocks. With the row blocks outermost instead, each of
/// them streamed all 4.7 MB of the kernel (measured: at batch 6 the dense
/// layer took 0.7x the time of the convolution with 0.22x its FLOPs).
/// Panels of 256 (64 KB) spill out of L1 (48 KB on Zen 5): dense_0 alone,
/// alternating, 6% slower at batch 8 and 12% at batch 32; panels of 64
/// lose at batch 256.
constexpr int64_t kMatmulPanelK = 128;
/// Batch elements per step of a batch reduction's outer loop (a filter
/// gradient): the register blocks inside run in parallel, once per chunk
/// (not once per image, which costs a fork/join per image), over a chunk
/// whose operands still fit in L2.
constexpr int64_t kBatchReductionChunk = 8;

//===----------------------------------------------------------------------===//
// Tiling
//===----------------------------------------------------------------------===//

/// The loops for independent tiles of `op`: an scf.forall (run on the
/// thread pool), or an scf.for inside one already (a piece of a Winograd
/// convolution, one example of a convolution gradient: nested parallel
/// regions would only add a fork/join each).
scf::SCFTilingOptions::LoopType parallelLoopType(Operation *op) {
  return op->getParentOfType<scf::ForallOp>() ? scf::SCFTilingOptions::LoopType::ForOp
                                              : scf::SCFTilingOptions::LoopType::ForallOp;
}

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
  options.setFusionControlFn([compute](tensor::ExtractSliceOp, OpResult producer,
                                       bool) -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
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

/// Tiles `op` by `sizes` (0: that loop is not tiled) with loops of
/// `loopType` (scf.for, or an scf.forall for independent tiles) in place of
/// the op; the tiled ops are in the result.
FailureOr<scf::SCFTilingResult>
tileInPlace(RewriterBase &rewriter, Operation *op, ArrayRef<int64_t> sizes,
            scf::SCFTilingOptions::LoopType loopType = scf::SCFTilingOptions::LoopType::ForOp) {
  scf::SCFTilingOptions tiling;
  tiling.setTileSizes(getAsIndexOpFoldResult(rewriter.getContext(), sizes));
  tiling.setLoopType(loopType);
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> result = scf::tileUsingSCF(rewriter, cast<TilingInterface>(op), tiling);
  if (succeeded(result))
    rewriter.replaceOp(op, result->replacements);
  return result;
}

/// Splits the reduction of a row chunk of a dynamic-row matmul (`root`, its
/// epilogue fused) into panels of kMatmulPanelK steps when it is long: an
/// scf.for over the panels around the matmul, which becomes the new root
/// (its row blocks are tiled inside each panel); the epilogue stays after
/// the panel loop and is marked to be tiled by rows of 1, which vectorizes
/// it. Returns whether it split.
FailureOr<bool> tileReductionPanels(RewriterBase &rewriter, TilingRoot &root) {
  linalg::LinalgOp matmul = root.compute;
  int64_t reduction = matmul.getStaticLoopRanges()[2];
  if (ShapedType::isDynamic(reduction) || reduction < 2 * kMatmulPanelK)
    return false;
  FailureOr<scf::SCFTilingResult> result = tileInPlace(rewriter, matmul, {0, 0, kMatmulPanelK});
  if (failed(result))
    return failure();
  if (root.root != matmul)
    root.root->setAttr(kBlockMarker, rewriter.getUnitAttr());
  auto tiled = cast<linalg::LinalgOp>(result->tiledOps.front());
  root = TilingRoot{tiled, tiled};
  return true;
}

/// Tiles `root.root` by the register block recorded on `root.compute`
/// (kiln.tile_sizes), fusing `root.compute` and fills, and marks the tiled
/// compute op(s) with kBlockMarker.
///
/// The blocks are independent (they tile parallel dimensions only): they
/// become one scf.forall, which the CPU pipeline runs on the OpenMP thread
/// pool. Each block computes the same values whatever the thread count, so
/// results do not depend on it. A matmul whose dynamic row count is tiled by
/// more than 1 is first split into parallel chunks of kMatmulRowChunk rows
/// (kMatmulRowChunkInTask, one after the other, inside a parallel task);
/// inside a chunk, the row loop is peeled: full blocks of static size, then
/// one remainder block, tiled by rows of 1 later.
LogicalResult tileRegisterBlock(RewriterBase &rewriter, TilingRoot root) {
  std::optional<SmallVector<int64_t>> chosen = getTileSizes(root.compute);
  if (!chosen)
    return success(); // No size was chosen: the op stays whole.
  // The block of each output dimension, from the compute op's loops.
  AffineMap outputMap = root.compute.getIndexingMapMatchingResult(cast<OpResult>(root.compute->getResult(0)));
  SmallVector<int64_t> outTile;
  for (AffineExpr expr : outputMap.getResults()) {
    auto dim = dyn_cast<AffineDimExpr>(expr);
    outTile.push_back(dim ? (*chosen)[dim.getPosition()] : 0);
  }
  SmallVector<int64_t> sizes = parallelTileSizes(root.root, outTile);
  if (llvm::all_of(sizes, [](int64_t s) { return s == 0; })) {
    root.compute->setAttr(kBlockMarker, rewriter.getUnitAttr());
    return success();
  }
  using LoopType = scf::SCFTilingOptions::LoopType;
  bool dynamicRows =
      isa<linalg::MatmulOp>(root.compute) && root.root.getStaticLoopRanges()[0] == ShapedType::kDynamic && sizes[0] > 1;
  if (dynamicRows) {
    SmallVector<int64_t> chunk(sizes.size(), 0);
    chunk[0] = root.root->getParentOfType<scf::ForallOp>() ? kMatmulRowChunkInTask : kMatmulRowChunk;
    FailureOr<TilingRoot> chunked = tileAndFuse(rewriter, root, chunk, parallelLoopType(root.root));
    if (failed(chunked))
      return failure();
    root = *chunked;
    FailureOr<bool> paneled = tileReductionPanels(rewriter, root);
    if (failed(paneled))
      return failure();
    if (*paneled)
      sizes = parallelTileSizes(root.root, outTile);
  }

  SmallVector<LoopLikeOpInterface> loops;
  FailureOr<TilingRoot> tiled =
      tileAndFuse(rewriter, root, sizes, dynamicRows ? LoopType::ForOp : parallelLoopType(root.root), &loops);
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
  FailureOr<scf::SCFTilingResult> result = tileInPlace(rewriter, op, sizes);
  if (failed(result))
    return failure();
  return cast<linalg::LinalgOp>(result->tiledOps.back());
}

/// Tiles the reduction loops of the (already blocked) `op` by the sizes
/// recorded on it (tiling copies the attribute to the tiled op).
LogicalResult tileReductions(RewriterBase &rewriter, linalg::LinalgOp op) {
  std::optional<SmallVector<int64_t>> chosen = getTileSizes(op);
  if (!chosen)
    return success();
  SmallVector<int64_t> sizes = *chosen;
  for (auto [i, iterator] : llvm::enumerate(op.getIteratorTypesArray()))
    if (iterator != utils::IteratorType::reduction)
      sizes[i] = 0;
  if (llvm::all_of(sizes, [](int64_t s) { return s == 0; }))
    return success();
  return failure(failed(tileInPlace(rewriter, op, sizes)));
}

/// Tiles a remainder block of a dynamic-row matmul (`op`: fewer rows than
/// a full block, a dynamic number) into blocks of 2 rows, peeled, the rest
/// by rows of 1; its reductions are tiled in each. A single-row block has
/// one accumulator per 16 columns, each a chain of dependent FMAs
/// (measured: at batch 6 the two rows left over after a 4-row block took as
/// long as the block). Other remainder blocks are tiled by rows of 1.
LogicalResult tileRemainderBlock(RewriterBase &rewriter, linalg::LinalgOp op) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (isa<linalg::MatmulOp>(op) && ShapedType::isDynamic(ranges[0]) && !ShapedType::isDynamic(ranges[1])) {
    FailureOr<scf::SCFTilingResult> pairs = tileInPlace(rewriter, op, {2, 0, 0});
    if (failed(pairs))
      return failure();
    auto pairLoop = cast<scf::ForOp>(pairs->loops.front().getOperation());
    scf::ForOp rest;
    if (failed(scf::peelForLoopAndSimplifyBounds(rewriter, pairLoop, rest)) || !rest)
      return failure();
    // The main loop's tiles are full (iv + 2 <= extent), but MLIR cannot
    // prove it for an extent that is itself a remainder (its bound is a
    // floordiv of it): the tile size min(extent - iv, 2) is 2 there.
    SmallVector<affine::AffineMinOp> sizes;
    pairLoop.getBody()->walk([&](affine::AffineMinOp min) {
      if (llvm::is_contained(min.getOperands(), pairLoop.getInductionVar()) &&
          llvm::any_of(min.getMap().getResults(), [](AffineExpr e) {
            auto constant = dyn_cast<AffineConstantExpr>(e);
            return constant && constant.getValue() == 2;
          }))
        sizes.push_back(min);
    });
    for (affine::AffineMinOp min : sizes) {
      rewriter.setInsertionPoint(min);
      rewriter.replaceOpWithNewOp<arith::ConstantIndexOp>(min, 2);
    }
    linalg::LinalgOp pair, single;
    pairLoop.getBody()->walk([&](linalg::MatmulOp matmul) { pair = matmul; });
    rest.getBody()->walk([&](linalg::MatmulOp matmul) { single = matmul; });
    if (!pair || !single || failed(tileReductions(rewriter, pair)))
      return failure();
    op = single;
  }
  FailureOr<linalg::LinalgOp> single = tileDynamicByOne(rewriter, op);
  return failure(failed(single) || failed(tileReductions(rewriter, *single)));
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
  return failure(failed(tileInPlace(rewriter, op, sizes)));
}

/// Marks a transpose tile that stays scalar (vectorized, it would become a
/// fully unrolled element-by-element vector.transpose); 16 x 16 tiles are
/// vectorized (kShuffleTransposeTile).
constexpr llvm::StringLiteral kScalarMarker = "kiln.scalar_block";

/// Tiles a large `linalg.transpose` into the cache blocks recorded on it
/// (kiln.tile_sizes; see kiln-choose-tile-sizes). The blocks are
/// independent copies: one scf.forall, run on the thread pool (a dense
/// kernel's transpose in the training step is 4.7 MB for FashionCnn).
LogicalResult tileTranspose(RewriterBase &rewriter, linalg::TransposeOp op) {
  std::optional<SmallVector<int64_t>> sizes = getTileSizes(op);
  if (!sizes || !op.hasPureTensorSemantics())
    return success();
  FailureOr<scf::SCFTilingResult> result = tileInPlace(rewriter, op, *sizes, parallelLoopType(op));
  if (failed(result))
    return failure();
  for (Operation *tiled : result->tiledOps)
    if (!isShuffleTransposable(cast<ShapedType>(cast<linalg::TransposeOp>(tiled).getInit().getType())))
      tiled->setAttr(kScalarMarker, rewriter.getUnitAttr());
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

struct KilnTileAndVectorizePass : kiln::impl::KilnTileAndVectorizeBase<KilnTileAndVectorizePass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    MLIRContext *context = &getContext();
    IRRewriter rewriter(context);

    // 0. Generic contractions (kiln-normalize-contractions made them) reduce
    // over the batch outermost.
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
      if (failed(tileRemainderBlock(rewriter, block)))
        block->emitWarning("kiln-tile-and-vectorize: could not tile the reduction; left scalar");
    }
    if (failed(canonicalize(func)))
      return signalPassFailure();

    // 3. Unit-window 2-D convolutions and poolings to 1-D, then vectorize.
    if (failed(applyPatterns(
            func, [](RewritePatternSet &patterns) { linalg::populateDecomposeConvolutionPatterns(patterns); })))
      return signalPassFailure();
    vectorizeAll(rewriter, func);
    func.walk([](linalg::TransposeOp op) { op->removeAttr(kScalarMarker); });
    if (failed(applyPatterns(func, populateVectorCleanupPatterns, /*maxIterations=*/4)))
      return signalPassFailure();

    // 4. Accumulators out of the reduction loops, on tensors; then drop the
    // unit dimensions the 1-D convolutions left (measured: otherwise a large
    // buffer is allocated and leaked per call) and the unit reductions of
    // generic contractions (once their broadcasts are folded into the
    // contraction maps above).
    hoistOnTensors(rewriter, func);
    auto dropUnitDims = [&](RewritePatternSet &patterns) {
      vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
      patterns.add<DropUnitReductionDims>(context);
      populateCanonicalizationPatterns(patterns);
    };
    if (failed(applyPatterns(func, dropUnitDims, /*maxIterations=*/8)))
      return signalPassFailure();
    hoistOnTensors(rewriter, func);
    // What was not vectorized (argmax, transposes) goes on without its sizes.
    func.walk([](Operation *op) { op->removeAttr(KilnDialect::getTileSizesAttrName()); });
  }
};

} // namespace

void kiln::cpu::populateCanonicalizationPatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  for (Dialect *dialect : context->getLoadedDialects())
    dialect->getCanonicalizationPatterns(patterns);
  for (RegisteredOperationName op : context->getRegisteredOperations())
    op.getCanonicalizationPatterns(patterns, context);
}

LogicalResult kiln::cpu::canonicalize(func::FuncOp func) {
  return applyPatterns(func, populateCanonicalizationPatterns);
}

LogicalResult kiln::cpu::applyPatterns(Operation *root, function_ref<void(RewritePatternSet &)> populate,
                                       std::optional<int64_t> maxIterations) {
  RewritePatternSet patterns(root->getContext());
  populate(patterns);
  GreedyRewriteConfig config;
  if (maxIterations)
    config.setMaxIterations(*maxIterations);
  return applyPatternsGreedily(root, std::move(patterns), config);
}
