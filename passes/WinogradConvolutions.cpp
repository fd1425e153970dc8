//===- WinogradConvolutions.cpp - 3x3 convolutions as Winograd F(4,3), F(2,3) -===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-winograd-convolutions` pass (see Passes.td): a 3 x 3, stride 1
// convolution with many input and output channels computes each m x m block
// of output pixels from an n x n block of input pixels (n = m + 2) with
// n x n products per channel pair instead of 9 m x m (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2015):
//
//   Y = A^T [ (G g G^T) * (B^T d B) ] A       (* elementwise, per channel pair)
//
// F(4x4, 3x3) (36 products for 16 pixels) where 4 divides the output's
// height and width, else F(2x2, 3x3) (16 for 4); the matrices of both are
// the tables below. The transforms are loops of vector code over the
// channels whose bodies apply a table on both sides of a block (additions
// for +-1, an FMA for other coefficients); the sum over input channels is
// one matmul [tiles, C] x [C, F] per point, in a loop, which the CPU tiling
// blocks like any dense layer. F(4,3)'s coefficients (up to 8 in A, 1/24
// in G) round more than F(2,3)'s 0, +-1 and 1/2, still within ~1e-6
// relative of the direct convolution (test/numerics checks both against
// PyTorch in float64). All of it but the filter transform runs per (image,
// half of its rows of tiles) in one scf.forall, whose transformed tiles
// stay in cache; an elementwise epilogue (bias + activation) that is the
// convolution's only user runs there too, on each piece while it is in
// cache, and so do the producers of the piece's input rows (the previous
// convolution and its epilogue). Inference functions only: those marked
// kiln.training keep the direct convolution.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "dialect/KilnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_KILNWINOGRADCONVOLUTIONS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

/// Channels below which the matmuls are too thin to gain (a one-channel
/// input's convolution has a reduction of 1): one zmm register of floats.
constexpr int64_t kMinChannels = 16;

/// A Winograd algorithm F(m x m, 3 x 3): output blocks of m x m pixels,
/// input blocks of n x n (n = m + 2, overlapping by 2), and its matrices,
/// row-major: Y = A^T [ (G g G^T) * (B^T d B) ] A.
struct Scheme {
  int64_t tile;                  // m
  int64_t points;                // n
  ArrayRef<double> inputMatrix;  // B^T, n x n
  ArrayRef<double> filterMatrix; // G, n x 3
  ArrayRef<double> outputMatrix; // A^T, m x n
};

// clang-format off
// F(2x2, 3x3), interpolation points 0, 1, -1 (and infinity): B and A hold
// only 0 and +-1, G also 1/2.
constexpr double kInput2[] = {1,  0, -1,  0,
                              0,  1,  1,  0,
                              0, -1,  1,  0,
                              0,  1,  0, -1};
constexpr double kFilter2[] = {1,   0,  0,
                               .5, .5, .5,
                               .5, -.5, .5,
                               0,   0,  1};
constexpr double kOutput2[] = {1, 1,  1,  0,
                               0, 1, -1, -1};
// F(4x4, 3x3), points 0, 1, -1, 2, -2 (and infinity), as in Lavin & Gray.
constexpr double kInput4[] = {4,  0, -5,  0, 1, 0,
                              0, -4, -4,  1, 1, 0,
                              0,  4, -4, -1, 1, 0,
                              0, -2, -1,  2, 1, 0,
                              0,  2, -1, -2, 1, 0,
                              0,  4,  0, -5, 0, 1};
constexpr double kFilter4[] = { 1. / 4,   0,        0,
                               -1. / 6,  -1. / 6,  -1. / 6,
                               -1. / 6,   1. / 6,  -1. / 6,
                                1. / 24,  1. / 12,  1. / 6,
                                1. / 24, -1. / 12,  1. / 6,
                                0,        0,        1};
constexpr double kOutput4[] = {1, 1,  1, 1,  1, 0,
                               0, 1, -1, 2, -2, 0,
                               0, 1,  1, 4,  4, 0,
                               0, 1, -1, 8, -8, 1};
// clang-format on

constexpr Scheme kF2{2, 4, kInput2, kFilter2, kOutput2};
constexpr Scheme kF4{4, 6, kInput4, kFilter4, kOutput4};

/// The scheme for an output of `height` x `width`: F(4,3) when 4 divides
/// both (2.25 products per output pixel and channel pair, against 4 with
/// F(2,3) and 9 direct, for transforms with coefficients up to 8; in
/// float32 the result stays within ~1e-6 relative of the direct
/// convolution), F(2,3) when 2 does, none otherwise.
std::optional<Scheme> schemeFor(int64_t height, int64_t width) {
  if (height % kF4.tile == 0 && width % kF4.tile == 0)
    return kF4;
  if (height % kF2.tile == 0 && width % kF2.tile == 0)
    return kF2;
  return std::nullopt;
}

using Scalars = SmallVector<Value, 36>;
using scf::ValueVector;

/// sum_j coefficients[j] * values[j] over the nonzero coefficients: additions
/// and subtractions for +-1, an FMA for the others. It starts from a term
/// with a positive coefficient where there is one (d2 - d1, not -d1 + d2).
Value combination(OpBuilder &b, Location loc, ArrayRef<double> coefficients, ArrayRef<Value> values) {
  Type type = values.front().getType();
  auto constant = [&](double c) -> Value {
    TypedAttr attr = b.getFloatAttr(getElementTypeOrSelf(type), c);
    if (auto vector = dyn_cast<VectorType>(type))
      attr = DenseElementsAttr::get(vector, attr);
    return arith::ConstantOp::create(b, loc, attr);
  };
  auto first = llvm::find_if(coefficients, [](double c) { return c > 0; });
  if (first == coefficients.end())
    first = llvm::find_if(coefficients, [](double c) { return c != 0; });
  size_t start = first - coefficients.begin();
  double c0 = coefficients[start];
  Value sum = c0 == 1 ? values[start] : arith::MulFOp::create(b, loc, constant(c0), values[start]).getResult();
  for (auto [j, c] : llvm::enumerate(coefficients)) {
    if (j == start || c == 0)
      continue;
    if (c == 1)
      sum = arith::AddFOp::create(b, loc, sum, values[j]);
    else if (c == -1)
      sum = arith::SubFOp::create(b, loc, sum, values[j]);
    else
      sum = math::FmaOp::create(b, loc, constant(c), values[j], sum);
  }
  return sum;
}

/// M X M^T for an R x K matrix M (row-major) and a K x K block X (row-major):
/// M on the columns of X, then on the rows of the result.
Scalars transform(OpBuilder &b, Location loc, ArrayRef<double> matrix, int64_t rows, ValueRange block) {
  int64_t k = matrix.size() / rows;
  SmallVector<Value> left(rows * k); // M X: R x K
  for (int64_t c = 0; c < k; ++c) {
    SmallVector<Value> column;
    for (int64_t j = 0; j < k; ++j)
      column.push_back(block[j * k + c]);
    for (int64_t r = 0; r < rows; ++r)
      left[r * k + c] = combination(b, loc, matrix.slice(r * k, k), column);
  }
  Scalars out(rows * rows); // (M X) M^T: R x R
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < rows; ++c)
      out[r * rows + c] = combination(b, loc, matrix.slice(c * k, k), ArrayRef<Value>(left).slice(r * k, k));
  return out;
}

Value constantIndex(OpBuilder &b, Location loc, int64_t value) { return arith::ConstantIndexOp::create(b, loc, value); }

/// Channels per step of the transform loops: one zmm register of f32 when
/// 16 divides them.
int64_t channelStep(int64_t channels) {
  for (int64_t step = std::min<int64_t>(channels, 16); step > 1; --step)
    if (channels % step == 0)
      return step;
  return 1;
}

/// `value` (a vector) written into the tensor `dest` at `indices`; the new tensor.
Value write(OpBuilder &b, Location loc, Value value, Value dest, ArrayRef<Value> indices) {
  return vector::TransferWriteOp::create(b, loc, value, dest, indices, ArrayRef<bool>{true})->getResult(0);
}

/// A loop nest of `sizes[i] / steps[i]` iterations per dimension,
/// carrying the tensors `dests` that `body` writes (it gets the induction
/// variables and returns the tensors written). The transforms are such
/// loops of vector code, not elementwise generics: each step writes n x n
/// (or m x m) vectors into one tensor, which a generic could only write as
/// as many slices, and those bufferization copies.
ValueVector loopNest(OpBuilder &b, Location loc, ArrayRef<int64_t> sizes, ArrayRef<int64_t> steps, ValueRange dests,
                     function_ref<ValueVector(OpBuilder &, Location, ValueRange, ValueRange)> body) {
  SmallVector<Value> lower, upper, step;
  for (auto [size, by] : llvm::zip_equal(sizes, steps)) {
    lower.push_back(constantIndex(b, loc, 0));
    upper.push_back(constantIndex(b, loc, size));
    step.push_back(constantIndex(b, loc, by));
  }
  return scf::buildLoopNest(b, loc, lower, upper, step, dests, body).results;
}

/// A vector of `type` read from `source` at `indices` (in bounds).
Value read(OpBuilder &b, Location loc, VectorType type, Value source, ArrayRef<Value> indices) {
  return vector::TransferReadOp::create(b, loc, type, source, indices, std::nullopt, ArrayRef<bool>{true});
}

/// The scheme `conv` is computed with, or why it stays a direct
/// convolution (in `whyNot`).
std::optional<Scheme> winogradScheme(linalg::Conv2DNhwcHwcfOp conv, const char **whyNot) {
  auto fail = [&](const char *why) -> std::optional<Scheme> {
    *whyNot = why;
    return std::nullopt;
  };
  if (!conv.hasPureTensorSemantics())
    return fail("not on tensors");
  auto strides = conv.getStrides().getValues<int64_t>();
  auto dilations = conv.getDilations().getValues<int64_t>();
  if (llvm::any_of(strides, [](int64_t s) { return s != 1; }) ||
      llvm::any_of(dilations, [](int64_t d) { return d != 1; }))
    return fail("strided or dilated");
  auto inputType = cast<RankedTensorType>(conv.getInputs()[0].getType());
  auto filterType = cast<RankedTensorType>(conv.getInputs()[1].getType());
  auto resultType = cast<RankedTensorType>(conv.getOutputs()[0].getType());
  if (!filterType.hasStaticShape() || filterType.getDimSize(0) != 3 || filterType.getDimSize(1) != 3)
    return fail("not a static 3 x 3 filter");
  if (filterType.getDimSize(2) < kMinChannels || filterType.getDimSize(3) < kMinChannels)
    return fail("too few channels to gain");
  ArrayRef<int64_t> shape = resultType.getShape();
  if (ShapedType::isDynamic(shape[1]) || ShapedType::isDynamic(shape[2]) || inputType.isDynamicDim(1) ||
      inputType.isDynamicDim(2))
    return fail("output size not static");
  std::optional<Scheme> scheme = schemeFor(shape[1], shape[2]);
  if (!scheme)
    return fail("output size not even");
  if (!kiln::lowering::isZeroFilled(conv.getOutputs()[0]) || !isa<FloatType>(resultType.getElementType()))
    return fail("accumulates into a non-zero init");
  return scheme;
}

/// Whether `op`, the producer of a piece's input, is computed for the
/// piece's rows inside the loop instead of for the whole batch before it:
/// an elementwise generic (the previous layer's bias + activation), a fill,
/// or a convolution or pooling that does not become Winograd itself (its
/// own loop would nest), each with no other user. The input's rows then
/// come from L1 instead of memory; the piece overlaps the next by two
/// rows, which are computed twice.
bool fusesIntoPiece(Operation *op) {
  if (!op || !op->hasOneUse() || op->getNumResults() != 1)
    return false;
  if (isa<linalg::FillOp, linalg::PoolingNhwcMaxOp, linalg::PoolingNhwcSumOp>(op))
    return true;
  if (auto conv = dyn_cast<linalg::Conv2DNhwcHwcfOp>(op)) {
    const char *whyNot = nullptr;
    return !winogradScheme(conv, &whyNot);
  }
  auto generic = dyn_cast<linalg::GenericOp>(op);
  return generic && generic.getNumLoops() == generic.getNumParallelLoops() &&
         generic.getBody()->getOps<linalg::IndexOp>().empty();
}

/// Makes the `tensor.dim`s of `op`'s result (tiling leaves them for the
/// batch size) read its init instead, which has the same shape, so that
/// they do not keep `op` alive.
void readShapeFromInit(RewriterBase &rewriter, Operation *op) {
  auto dps = dyn_cast_or_null<DestinationStyleOpInterface>(op);
  if (!dps || op->getNumResults() != 1 || dps.getNumDpsInits() != 1)
    return;
  for (Operation *user : llvm::make_early_inc_range(op->getUsers()))
    if (auto dim = dyn_cast<tensor::DimOp>(user)) {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPoint(dim);
      rewriter.replaceOpWithNewOp<tensor::DimOp>(dim, dps.getDpsInits()[0], dim.getIndex());
    }
}

/// Computes the producers of `slice` (the piece's input rows), and theirs,
/// inside `loop` for just the rows it needs (fusesIntoPiece).
void fuseProducersIntoPiece(RewriterBase &rewriter, tensor::ExtractSliceOp slice, scf::ForallOp loop) {
  SmallVector<LoopLikeOpInterface> loops = {cast<LoopLikeOpInterface>(loop.getOperation())};
  SmallVector<tensor::ExtractSliceOp> candidates = {slice};
  while (!candidates.empty()) {
    tensor::ExtractSliceOp candidate = candidates.pop_back_val();
    Operation *producer = candidate.getSource().getDefiningOp();
    if (isa_and_nonnull<tensor::EmptyOp>(producer)) { // a fused op's init: the piece's own
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPoint(candidate);
      rewriter.replaceOpWithNewOp<tensor::EmptyOp>(candidate, candidate.getType().getShape(),
                                                   candidate.getType().getElementType());
      continue;
    }
    readShapeFromInit(rewriter, producer);
    if (!fusesIntoPiece(producer))
      continue;
    std::optional<scf::SCFFuseProducerOfSliceResult> fused =
        scf::tileAndFuseProducerOfSlice(rewriter, candidate, loops);
    if (!fused)
      continue;
    // The slice and the whole-batch producer are dead now; erased at once,
    // so that the producer's own producers have the one user that
    // fusesIntoPiece asks for.
    Operation *original = fused->origProducer.getOwner();
    if (candidate->use_empty())
      rewriter.eraseOp(candidate);
    if (original->use_empty())
      rewriter.eraseOp(original);
    for (Operation *generated : fused->generatedSlices)
      if (auto generatedSlice = dyn_cast<tensor::ExtractSliceOp>(generated))
        candidates.push_back(generatedSlice);
  }
}

struct WinogradConv2D : OpRewritePattern<linalg::Conv2DNhwcHwcfOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::Conv2DNhwcHwcfOp conv, PatternRewriter &rewriter) const override {
    const char *whyNot = nullptr;
    std::optional<Scheme> scheme = winogradScheme(conv, &whyNot);
    if (!scheme)
      return rewriter.notifyMatchFailure(conv, whyNot);
    Value input = conv.getInputs()[0], filter = conv.getInputs()[1], init = conv.getOutputs()[0];
    auto inputType = cast<RankedTensorType>(input.getType());
    auto filterType = cast<RankedTensorType>(filter.getType());
    auto resultType = cast<RankedTensorType>(init.getType());
    Type element = resultType.getElementType();
    int64_t channels = filterType.getDimSize(2), features = filterType.getDimSize(3);
    ArrayRef<int64_t> shape = resultType.getShape();
    linalg::GenericOp epilogue = fusableEpilogue(conv);

    Location loc = conv.getLoc();
    auto index = [&](int64_t v) -> OpFoldResult { return rewriter.getIndexAttr(v); };
    int64_t tile = scheme->tile, points = scheme->points, products = points * points;
    int64_t tilesY = shape[1] / tile, tilesX = shape[2] / tile;
    // Each parallel piece is half an image's rows of tiles (when even), so
    // that one image still splits over two cores and a piece's transformed
    // tiles stay in L2 (36 x 18 x 32 floats for FashionCnn, 83 KB) instead
    // of a batch's going through memory.
    int64_t pieces = tilesY % 2 == 0 ? 2 : 1, pieceTilesY = tilesY / pieces;
    int64_t pieceRows = pieceTilesY * tile, width = inputType.getDimSize(2);
    SmallVector<OpFoldResult> unitSteps(4, index(1));

    // The filter, once per call: [3, 3, C, F] in, the n x n points of
    // each channel pair out, as [n * n, C, F].
    int64_t filterStep = channelStep(features);
    auto filterVector = VectorType::get({filterStep}, element);
    Value filterInit = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{products, channels, features}, element);
    Value filterPoints =
        loopNest(rewriter, loc, {channels, features}, {1, filterStep}, filterInit,
                 [&](OpBuilder &b, Location l, ValueRange ivs, ValueRange dests) {
                   Value c = ivs[0], f = ivs[1];
                   SmallVector<Value> taps;
                   for (int64_t i = 0; i < 3; ++i)
                     for (int64_t j = 0; j < 3; ++j)
                       taps.push_back(
                           read(b, l, filterVector, filter, {constantIndex(b, l, i), constantIndex(b, l, j), c, f}));
                   Value written = dests[0];
                   for (auto [p, point] : llvm::enumerate(transform(b, l, scheme->filterMatrix, points, taps)))
                     written = write(b, l, point, written, {constantIndex(b, l, p), c, f});
                   return ValueVector{written};
                 })
            .front();

    // One piece per (image, half): its input rows in, its output rows out.
    // The batch size from the init, not the input, whose producers may
    // move into the loop (fuseProducersIntoPiece wants the input's slice
    // as their only user).
    Value batch = tensor::DimOp::create(rewriter, loc, init, 0);
    SmallVector<Value> dynamicBatch;
    if (resultType.isDynamicDim(0))
      dynamicBatch.push_back(batch);
    Value result = tensor::EmptyOp::create(rewriter, loc, resultType, dynamicBatch); // every piece written
    auto forall = scf::ForallOp::create(rewriter, loc, ArrayRef<OpFoldResult>{batch, index(pieces)}, ValueRange{result},
                                        std::nullopt);
    Value image = forall.getInductionVar(0), piece = forall.getInductionVar(1);
    rewriter.setInsertionPointToStart(forall.getBody());
    Value firstRow =
        arith::MulIOp::create(rewriter, loc, piece, arith::ConstantIndexOp::create(rewriter, loc, pieceRows));
    auto pieceInputType = RankedTensorType::get({1, pieceRows + 2, width, channels}, element);
    auto pieceInput = tensor::ExtractSliceOp::create(
        rewriter, loc, pieceInputType, input, ArrayRef<OpFoldResult>{image, firstRow, index(0), index(0)},
        ArrayRef<OpFoldResult>{index(1), index(pieceRows + 2), index(width), index(channels)}, unitSteps);

    // The input: the n x n block of each tile (blocks overlap by 2), a
    // vector of channels at a time, transformed into [n * n, tiles, C].
    int64_t tiles = pieceTilesY * tilesX;
    int64_t inputStep = channelStep(channels);
    auto inputVector = VectorType::get({inputStep}, element);
    Value inputInit = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{products, tiles, channels}, element);
    Value inputPoints =
        loopNest(rewriter, loc, {pieceTilesY, tilesX, channels}, {1, 1, inputStep}, inputInit,
                 [&](OpBuilder &b, Location l, ValueRange ivs, ValueRange dests) {
                   Value y = ivs[0], x = ivs[1], c = ivs[2], zeroIndex = constantIndex(b, l, 0);
                   Value row = arith::MulIOp::create(b, l, y, constantIndex(b, l, tile));
                   Value column = arith::MulIOp::create(b, l, x, constantIndex(b, l, tile));
                   SmallVector<Value> block;
                   for (int64_t i = 0; i < points; ++i) {
                     Value rowI = arith::AddIOp::create(b, l, row, constantIndex(b, l, i));
                     for (int64_t j = 0; j < points; ++j)
                       block.push_back(
                           read(b, l, inputVector, pieceInput,
                                {zeroIndex, rowI, arith::AddIOp::create(b, l, column, constantIndex(b, l, j)), c}));
                   }
                   Value tileIndex =
                       arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, y, constantIndex(b, l, tilesX)), x);
                   Value written = dests[0];
                   for (auto [p, point] : llvm::enumerate(transform(b, l, scheme->inputMatrix, points, block)))
                     written = write(b, l, point, written, {constantIndex(b, l, p), tileIndex, c});
                   return ValueVector{written};
                 })
            .front();

    // Per point: [tiles, C] x [C, F], the sum over input channels, one
    // matmul in a loop over the points (one register-block kernel to
    // compile, not n x n).
    auto rowsType = RankedTensorType::get({tiles, channels}, element);
    auto pointFilterType = RankedTensorType::get({channels, features}, element);
    auto productRowsType = RankedTensorType::get({tiles, features}, element);
    Value zero = arith::ConstantOp::create(rewriter, loc, rewriter.getFloatAttr(element, 0.0));
    Value productsInit = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{products, tiles, features}, element);
    auto pointSlice = [&](OpBuilder &b, Location l, RankedTensorType type, Value source, Value p) {
      return tensor::ExtractSliceOp::create(
          b, l, type, source, ArrayRef<OpFoldResult>{p, index(0), index(0)},
          ArrayRef<OpFoldResult>{index(1), index(type.getDimSize(0)), index(type.getDimSize(1))},
          ArrayRef<OpFoldResult>{index(1), index(1), index(1)});
    };
    Value pointProducts =
        loopNest(rewriter, loc, {products}, {1}, productsInit,
                 [&](OpBuilder &b, Location l, ValueRange ivs, ValueRange dests) {
                   Value p = ivs[0];
                   Value product =
                       linalg::FillOp::create(b, l, zero, ValueRange{pointSlice(b, l, productRowsType, dests[0], p)})
                           .getResult(0);
                   product = linalg::MatmulOp::create(b, l, TypeRange{productRowsType},
                                                      ValueRange{pointSlice(b, l, rowsType, inputPoints, p),
                                                                 pointSlice(b, l, pointFilterType, filterPoints, p)},
                                                      ValueRange{product})
                                 ->getResult(0);
                   return ValueVector{tensor::InsertSliceOp::create(
                       b, l, product, dests[0], ArrayRef<OpFoldResult>{p, index(0), index(0)},
                       ArrayRef<OpFoldResult>{index(1), index(tiles), index(features)},
                       ArrayRef<OpFoldResult>{index(1), index(1), index(1)})};
                 })
            .front();

    // The output: the piece's rows of the result, viewed as blocks [1,
    // tiles, m, tiles, m, F]; each tile's m x m pixels are written into its
    // block, a vector of channels at a time, in place.
    auto blocksType = RankedTensorType::get({1, pieceTilesY, tile, tilesX, tile, features}, element);
    SmallVector<ReassociationIndices> pixelsOf = {{0}, {1, 2}, {3, 4}, {5}};
    auto pieceOutputType = RankedTensorType::get({1, pieceRows, shape[2], features}, element);
    SmallVector<OpFoldResult> pieceOffsets = {image, firstRow, index(0), index(0)};
    SmallVector<OpFoldResult> pieceSizes = {index(1), index(pieceRows), index(shape[2]), index(features)};
    Value pieceResult = tensor::ExtractSliceOp::create(rewriter, loc, pieceOutputType, forall.getRegionIterArgs()[0],
                                                       pieceOffsets, pieceSizes, unitSteps);
    Value blocksInit = tensor::ExpandShapeOp::create(rewriter, loc, blocksType, pieceResult, pixelsOf);
    int64_t outputStep = channelStep(features);
    auto outputVector = VectorType::get({outputStep}, element);
    Value blocks =
        loopNest(rewriter, loc, {pieceTilesY, tilesX, features}, {1, 1, outputStep}, blocksInit,
                 [&](OpBuilder &b, Location l, ValueRange ivs, ValueRange dests) {
                   Value y = ivs[0], x = ivs[1], c = ivs[2], zeroIndex = constantIndex(b, l, 0);
                   Value tileIndex =
                       arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, y, constantIndex(b, l, tilesX)), x);
                   SmallVector<Value> block;
                   for (int64_t p = 0; p < products; ++p)
                     block.push_back(read(b, l, outputVector, pointProducts, {constantIndex(b, l, p), tileIndex, c}));
                   Scalars pixels = transform(b, l, scheme->outputMatrix, tile, block);
                   Value written = dests[0];
                   for (int64_t i = 0; i < tile; ++i)
                     for (int64_t j = 0; j < tile; ++j)
                       written = write(b, l, pixels[i * tile + j], written,
                                       {zeroIndex, y, constantIndex(b, l, i), x, constantIndex(b, l, j), c});
                   return ValueVector{written};
                 })
            .front();
    Value pieceOutput = tensor::CollapseShapeOp::create(rewriter, loc, pieceOutputType, blocks, pixelsOf);
    if (epilogue)
      pieceOutput = applyEpilogue(rewriter, epilogue, conv->getResult(0), pieceOutput, pieceOffsets, pieceSizes);
    rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(rewriter, loc, pieceOutput, forall.getRegionIterArgs()[0], pieceOffsets,
                                          pieceSizes, unitSteps);
    if (epilogue) {
      rewriter.replaceOp(epilogue, forall->getResults());
      rewriter.eraseOp(conv);
    } else {
      rewriter.replaceOp(conv, forall->getResults());
    }
    fuseProducersIntoPiece(rewriter, pieceInput, forall);
    return success();
  }

  /// The elementwise epilogue of `conv` (bias + activation) that can run on
  /// each piece of the result right after the output transform, while the
  /// piece is in cache, instead of in a pass of its own over the whole
  /// result: the convolution's only user, a generic of the result's type
  /// whose body reads neither its init nor its indices, that reads the
  /// result and every other same-shaped input element for element and
  /// the rest without the batch, row or column (a bias), all defined before
  /// the convolution.
  static linalg::GenericOp fusableEpilogue(linalg::Conv2DNhwcHwcfOp conv) {
    Value result = conv->getResult(0);
    if (!result.hasOneUse())
      return nullptr;
    Operation *user = *result.user_begin();
    if (!kiln::lowering::isInPlaceEpilogue(user, result))
      return nullptr;
    auto op = cast<linalg::GenericOp>(user);
    DominanceInfo dominance(conv->getParentOfType<func::FuncOp>());
    for (OpOperand *input : op.getDpsInputOperands()) {
      if (input->get() == result)
        continue;
      AffineMap map = op.getMatchingIndexingMap(input);
      bool elementwise = map.isIdentity() && input->get().getType() == result.getType();
      if (!dominance.properlyDominates(input->get(), conv) ||
          (!elementwise && (map.isFunctionOfDim(0) || map.isFunctionOfDim(1) || map.isFunctionOfDim(2))))
        return nullptr;
    }
    return op;
  }

  /// `epilogue` applied in place to `piece`, the values of `convResult` at
  /// `offsets` / `sizes` (an image's rows); same-shaped inputs are read at
  /// the same slice, the others whole.
  static Value applyEpilogue(RewriterBase &rewriter, linalg::GenericOp epilogue, Value convResult, Value piece,
                             ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes) {
    Location loc = epilogue.getLoc();
    SmallVector<Value> inputs;
    for (OpOperand *input : epilogue.getDpsInputOperands()) {
      Value value = input->get();
      if (value == convResult)
        value = piece;
      else if (value.getType() == convResult.getType())
        value = tensor::ExtractSliceOp::create(rewriter, loc, cast<RankedTensorType>(piece.getType()), value, offsets,
                                               sizes, SmallVector<OpFoldResult>(4, rewriter.getIndexAttr(1)));
      inputs.push_back(value);
    }
    // In place: the body does not read the init, and reads each element
    // before it writes it.
    auto onPiece = linalg::GenericOp::create(rewriter, loc, TypeRange{piece.getType()}, inputs, ValueRange{piece},
                                             epilogue.getIndexingMapsArray(), epilogue.getIteratorTypesArray());
    rewriter.cloneRegionBefore(epilogue.getRegion(), onPiece.getRegion(), onPiece.getRegion().end());
    return onPiece->getResult(0);
  }
};

struct KilnWinogradConvolutionsPass : kiln::impl::KilnWinogradConvolutionsBase<KilnWinogradConvolutionsPass> {
  void runOnOperation() override {
    // Inference functions only: training keeps the direct convolution, whose
    // rounding its trajectories (and the tests that check where training
    // ends up) were established with, and whose compile time is lower
    // (training functions hold three convolutions each).
    if (getOperation()->hasAttr(kiln::KilnDialect::getTrainingAttrName()))
      return;
    RewritePatternSet patterns(&getContext());
    patterns.add<WinogradConv2D>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
