//===- ChooseTileSizes.cpp - The CPU's tile sizes, as an attribute --------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-choose-tile-sizes` pass (see Passes.td): the policy half of the
// CPU's register-block recipe. For each tiling unit of a function (an op,
// or a contraction, convolution or pooling with its elementwise epilogue)
// it records on the compute op `kiln.tile_sizes`, one size per loop: the
// register block on the parallel loops, the step inside the block on the
// reduction loops. Large transposes get their cache blocks the same way.
// Sizes are chosen from the op's static shape: they always divide the static
// dimensions and the dynamic batch dimension is tiled by 1, so no tile needs
// masking. kiln-tile-and-vectorize (the mechanism) tiles by what is recorded
// and chooses nothing; the shared predicates and the tiling units are
// defined here too (CpuTiling.h).
//
//===----------------------------------------------------------------------===//

#include "passes/CpuTiling.h"
#include "passes/Passes.h"

#include "dialect/KilnDialect.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace kiln {
#define GEN_PASS_DEF_KILNCHOOSETILESIZES
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln::cpu;
using kiln::KilnDialect;

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
constexpr int64_t kElementwiseInner = 64;
constexpr int64_t kReductionInner = 64;
/// The largest reduction block or transpose vectorized whole (elements; 64
/// zmm registers' worth). The vectorizer unrolls a whole block into code
/// proportional to its volume, so a larger block reduces one step at a time
/// (one vector add per step) and a larger transpose is cache-blocked.
constexpr int64_t kMaxReductionBlock = 1024;

/// The largest divisor of `size` that is at most `cap` (at least 1).
static int64_t largestDivisorAtMost(int64_t size, int64_t cap) {
  for (int64_t d = std::min(size, cap); d > 1; --d)
    if (size % d == 0)
      return d;
  return 1;
}

/// The tile of one static dimension: the largest divisor under `cap`; a
/// dynamic dimension is tiled by 1.
static int64_t tileOf(int64_t size, int64_t cap) {
  return ShapedType::isDynamic(size) ? 1 : largestDivisorAtMost(size, cap);
}

/// The output-pixel tile of a convolution row: up to 8 wide, or up to 14
/// when the best divisor under 8 is too narrow (26 -> 13, not 2).
static int64_t pixelTile(int64_t width) {
  int64_t tile = tileOf(width, kConvPixels);
  if (tile < 4 && !ShapedType::isDynamic(width))
    tile = std::max(tile, largestDivisorAtMost(width, kConvPixelsMax));
  return tile;
}

bool kiln::cpu::isShuffleTransposable(ShapedType type) {
  return type.getRank() == 2 && type.hasStaticShape() && type.getElementType().isF32() &&
         type.getDimSize(0) % kShuffleTransposeTile == 0 && type.getDimSize(1) % kShuffleTransposeTile == 0;
}

bool kiln::cpu::isConvOrPool(Operation *op) {
  return isa<linalg::Conv2DNhwcHwcfOp, linalg::PoolingNhwcMaxOp, linalg::PoolingNhwcSumOp>(op);
}

bool kiln::cpu::isContraction(Operation *op) {
  return isa<linalg::MatmulOp, linalg::MatvecOp, linalg::VecmatOp, linalg::DotOp>(op);
}

/// The generic of `op` when it is a contraction `linalg.generic` with two
/// inputs and one ranked result of `rank`; null otherwise.
static linalg::GenericOp genericContraction(Operation *op, int64_t rank) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic || generic->getNumResults() != 1 || generic.getNumDpsInputs() != 2)
    return nullptr;
  auto type = dyn_cast<RankedTensorType>(generic->getResult(0).getType());
  if (!type || type.getRank() != rank || !linalg::isaContractionOpInterface(cast<linalg::LinalgOp>(op)))
    return nullptr;
  return generic;
}

bool kiln::cpu::isGenericMatmul(Operation *op, bool requireStaticShape) {
  linalg::GenericOp generic = genericContraction(op, 2);
  if (!generic || (requireStaticShape && !cast<RankedTensorType>(generic->getResult(0).getType()).hasStaticShape()))
    return false;
  return generic.getIndexingMapMatchingResult(cast<OpResult>(generic->getResult(0))).isProjectedPermutation();
}

bool kiln::cpu::isGenericPixelContraction(Operation *op) {
  linalg::GenericOp generic = genericContraction(op, 3);
  if (!generic || !cast<RankedTensorType>(generic->getResult(0).getType()).hasStaticShape())
    return false;
  return llvm::all_of(generic.getIndexingMapsArray(), [](AffineMap map) { return map.isProjectedPermutation(); });
}

/// The tile of each output dimension of a compute op (its register block).
static SmallVector<int64_t> outputTile(linalg::LinalgOp op) {
  ArrayRef<int64_t> shape = cast<ShapedType>(op.getDpsInits()[0].getType()).getShape();
  if (isConvOrPool(op)) // (n, oh, ow, channels)
    return {1, 1, pixelTile(shape[2]), tileOf(shape[3], kConvChannels)};
  if (isGenericPixelContraction(op)) // (y, x, channels)
    return {1, pixelTile(shape[1]), tileOf(shape[2], kConvChannels)};
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

SmallVector<int64_t> kiln::cpu::parallelTileSizes(linalg::LinalgOp op, ArrayRef<int64_t> outTile) {
  SmallVector<int64_t> sizes(op.getNumLoops(), 0);
  AffineMap map = op.getIndexingMapMatchingResult(cast<OpResult>(op->getResult(0)));
  for (auto [i, expr] : llvm::enumerate(map.getResults()))
    if (auto dim = dyn_cast<AffineDimExpr>(expr))
      sizes[dim.getPosition()] = outTile[i];
  return sizes;
}

/// Tile sizes for the reduction loops of `op` once its parallel loops are a
/// register block of `parallel` (0 = keep whole): windows to 1 x 1 and input
/// channels by 4 for convolutions, the kernel row to 1 for pooling (then it
/// decomposes to 1-D), k by 8 for contractions, long generic reductions by
/// 64. Decided on the block: its parallel loops are the tile sizes, or 1
/// for the dynamic ones (kiln-tile-and-vectorize tiles what is left
/// dynamic of a block by 1).
static SmallVector<int64_t> reductionTileSizes(linalg::LinalgOp op, ArrayRef<int64_t> parallel) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  for (auto [i, iterator] : llvm::enumerate(op.getIteratorTypesArray()))
    if (iterator == utils::IteratorType::parallel)
      ranges[i] = parallel[i] != 0 ? parallel[i] : (ShapedType::isDynamic(ranges[i]) ? 1 : ranges[i]);
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
  if (isGenericMatmul(op, /*requireStaticShape=*/false) ||
      isGenericPixelContraction(op)) { // every reduction step by 1: one outer product
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
  // A block too large to vectorize whole (a bias gradient's 24 x 24 x 32
  // per image: more than kMaxReductionBlock) reduces one step at a time: over every reduction dimension
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
    bool tooLarge = volume() > kMaxReductionBlock;
    for (auto [i, iterator] : llvm::enumerate(iterators)) {
      if (!tooLarge || (!innerParallel && volume() <= kMaxReductionBlock))
        break;
      if (iterator == utils::IteratorType::reduction && sizes[i] == 0)
        sizes[i] = 1;
    }
  }
  return sizes;
}

/// The cache block of a large `linalg.transpose`: up to 64 x 64 elements
/// (the input's and the output's innermost dimensions; the others by 1), so
/// that its scalar copy reads and writes within cache instead of striding
/// through the whole input once per output row; none for a small one
/// (at most kMaxReductionBlock elements), which is vectorized whole. A
/// whole-vectorized transpose becomes one shuffle per element, unrolled: a
/// dense layer's 1352 x 10 kernel, transposed for its input gradient, made
/// LLVM work for a minute and a half.
///
/// A 2-D f32 transpose whose sides are multiples of 16 (a weight panel of
/// kiln-pack-transposed-weights) is tiled by 16 x 16 instead, each tile
/// vectorized and transposed in registers by shuffles.
static std::optional<SmallVector<int64_t>> transposeTileSizes(linalg::TransposeOp op) {
  auto type = cast<ShapedType>(op.getInit().getType());
  if (!op.hasPureTensorSemantics() || type.getRank() < 2 || !type.hasStaticShape() ||
      type.getNumElements() <= kMaxReductionBlock)
    return std::nullopt;
  if (isShuffleTransposable(type))
    return SmallVector<int64_t>{kShuffleTransposeTile, kShuffleTransposeTile};
  ArrayRef<int64_t> permutation = op.getPermutation();
  int64_t rank = type.getRank();
  SmallVector<int64_t> sizes(rank, 1);
  for (int64_t i = 0; i < rank; ++i)
    if (i == rank - 1 || permutation[i] == rank - 1)
      sizes[i] = tileOf(type.getDimSize(i), kElementwiseInner);
  return sizes;
}

/// The tile sizes of a tiling unit's compute op, one per loop.
static SmallVector<int64_t> chooseTileSizes(linalg::LinalgOp op) {
  SmallVector<int64_t> sizes = parallelTileSizes(op, outputTile(op));
  SmallVector<int64_t> reductions = reductionTileSizes(op, sizes);
  for (auto [i, iterator] : llvm::enumerate(op.getIteratorTypesArray()))
    if (iterator == utils::IteratorType::reduction)
      sizes[i] = reductions[i];
  return sizes;
}

//===----------------------------------------------------------------------===//
// Tiling units and the attribute
//===----------------------------------------------------------------------===//

/// Whether `consumer` is an all-parallel generic that reads `value` with the
/// identity map and writes a result of the same shape (bias + activation).
static bool isElementwiseEpilogue(linalg::GenericOp consumer, Value value) {
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
static bool isTilingCandidate(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumLoops() == 0 || op->getNumResults() == 0)
    return false;
  if (isa<linalg::FillOp>(op))
    return false; // Fused into its consumers.
  return isConvOrPool(op) || isContraction(op) || isa<linalg::GenericOp>(op);
}

SmallVector<kiln::cpu::TilingRoot> kiln::cpu::collectRoots(func::FuncOp func) {
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

std::optional<SmallVector<int64_t>> kiln::cpu::getTileSizes(Operation *op) {
  auto sizes = op->getAttrOfType<DenseI64ArrayAttr>(KilnDialect::getTileSizesAttrName());
  if (!sizes)
    return std::nullopt;
  return llvm::to_vector(sizes.asArrayRef());
}

void kiln::cpu::setTileSizes(Operation *op, ArrayRef<int64_t> sizes) {
  op->setAttr(KilnDialect::getTileSizesAttrName(), DenseI64ArrayAttr::get(op->getContext(), sizes));
}

namespace {

struct KilnChooseTileSizesPass : kiln::impl::KilnChooseTileSizesBase<KilnChooseTileSizesPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    for (TilingRoot root : collectRoots(func))
      setTileSizes(root.compute, chooseTileSizes(root.compute));
    func.walk([](linalg::TransposeOp op) {
      if (std::optional<SmallVector<int64_t>> sizes = transposeTileSizes(op))
        setTileSizes(op, *sizes);
    });
  }
};

} // namespace
