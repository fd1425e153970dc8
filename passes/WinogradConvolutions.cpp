//===- WinogradConvolutions.cpp - 3x3 convolutions as Winograd F(2,3) -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-winograd-convolutions` pass (see Passes.td): a 3 x 3, stride 1
// convolution with many input and output channels computes each 2 x 2 block
// of output pixels from a 4 x 4 block of input pixels with 16 products per
// channel pair instead of 36 (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015, F(2x2, 3x3)):
//
//   Y = A^T [ (G g G^T) * (B^T d B) ] A       (* elementwise, per channel pair)
//
// with the 4 x 3 G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1], the 4 x 4
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] and the 2 x 4
// A^T = [1 1 1 0; 0 1 -1 -1]. B and A hold only 0 and +-1, so the input and
// output transforms are additions, written out below as the bodies of
// elementwise generics over the channels (which the CPU tiling vectorizes);
// the sum over input channels becomes 16 matmuls [N*tiles, C] x [C, F],
// which the CPU tiling blocks like any dense layer. F(2,3) and not F(4,3):
// its transforms are exact up to one rounding per addition, so the results
// stay within float32 rounding of the direct convolution. All of it but the
// filter transform runs per (image, half of its rows) in one scf.forall,
// whose transformed tiles stay in cache. Inference functions only: those
// marked kiln.training keep the direct convolution.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "dialect/KilnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_KILNWINOGRADCONVOLUTIONS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

/// Output pixels per tile side (m) and input pixels per tile side (m + 2).
constexpr int64_t kTile = 2;
constexpr int64_t kPoints = 4;
/// Channels below which the matmuls are too thin to gain (a one-channel
/// input's convolution has a reduction of 1): one zmm register of floats.
constexpr int64_t kMinChannels = 16;

using Scalars = SmallVector<Value, 16>;

Value add(OpBuilder &b, Location loc, Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
Value sub(OpBuilder &b, Location loc, Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }

/// B^T d B on a 4 x 4 block (row-major): 32 additions.
Scalars inputTransform(OpBuilder &b, Location loc, ValueRange block) {
  Scalars d(block.begin(), block.end());
  auto at = [&](ArrayRef<Value> v, int64_t r, int64_t c) { return v[r * kPoints + c]; };
  Scalars rows(16), out(16);
  for (int64_t c = 0; c < kPoints; ++c) { // B^T on the rows of each column
    rows[0 * kPoints + c] = sub(b, loc, at(d, 0, c), at(d, 2, c));
    rows[1 * kPoints + c] = add(b, loc, at(d, 1, c), at(d, 2, c));
    rows[2 * kPoints + c] = sub(b, loc, at(d, 2, c), at(d, 1, c));
    rows[3 * kPoints + c] = sub(b, loc, at(d, 1, c), at(d, 3, c));
  }
  for (int64_t r = 0; r < kPoints; ++r) { // ... then B on the columns of each row
    out[r * kPoints + 0] = sub(b, loc, at(rows, r, 0), at(rows, r, 2));
    out[r * kPoints + 1] = add(b, loc, at(rows, r, 1), at(rows, r, 2));
    out[r * kPoints + 2] = sub(b, loc, at(rows, r, 2), at(rows, r, 1));
    out[r * kPoints + 3] = sub(b, loc, at(rows, r, 1), at(rows, r, 3));
  }
  return out;
}

/// G g G^T on a 3 x 3 filter (row-major) for one channel pair.
Scalars filterTransform(OpBuilder &b, Location loc, ValueRange g, Type type) {
  Value half = arith::ConstantOp::create(b, loc, b.getFloatAttr(type, 0.5));
  // G applied to three values: (x0, (x0+x1+x2)/2, (x0-x1+x2)/2, x2).
  auto transform3 = [&](Value x0, Value x1, Value x2) -> std::array<Value, 4> {
    Value outer = add(b, loc, x0, x2);
    return {x0, arith::MulFOp::create(b, loc, add(b, loc, outer, x1), half),
            arith::MulFOp::create(b, loc, sub(b, loc, outer, x1), half), x2};
  };
  Value rows[4][3];
  for (int64_t c = 0; c < 3; ++c) {
    std::array<Value, 4> column = transform3(g[c], g[3 + c], g[6 + c]);
    for (int64_t r = 0; r < kPoints; ++r)
      rows[r][c] = column[r];
  }
  Scalars out(16);
  for (int64_t r = 0; r < kPoints; ++r) {
    std::array<Value, 4> row = transform3(rows[r][0], rows[r][1], rows[r][2]);
    for (int64_t c = 0; c < kPoints; ++c)
      out[r * kPoints + c] = row[c];
  }
  return out;
}

/// One output pixel of A^T m A: the row `a` and column `b` (0 or 1, as i1
/// values: whether it is 1) of the 2 x 2 block, from the 16 products m.
Value outputTransform(OpBuilder &b, Location loc, ValueRange m, Value secondRow, Value secondColumn) {
  auto at = [&](int64_t r, int64_t c) { return m[r * kPoints + c]; };
  Value s[kPoints];
  for (int64_t c = 0; c < kPoints; ++c) { // A^T's row a on each column
    Value first = add(b, loc, add(b, loc, at(0, c), at(1, c)), at(2, c));
    Value second = sub(b, loc, sub(b, loc, at(1, c), at(2, c)), at(3, c));
    s[c] = arith::SelectOp::create(b, loc, secondRow, second, first);
  }
  Value first = add(b, loc, add(b, loc, s[0], s[1]), s[2]);
  Value second = sub(b, loc, sub(b, loc, s[1], s[2]), s[3]);
  return arith::SelectOp::create(b, loc, secondColumn, second, first);
}

struct WinogradConv2D : OpRewritePattern<linalg::Conv2DNhwcHwcfOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::Conv2DNhwcHwcfOp conv, PatternRewriter &rewriter) const override {
    if (!conv.hasPureTensorSemantics())
      return failure();
    auto strides = conv.getStrides().getValues<int64_t>();
    auto dilations = conv.getDilations().getValues<int64_t>();
    if (llvm::any_of(strides, [](int64_t s) { return s != 1; }) ||
        llvm::any_of(dilations, [](int64_t d) { return d != 1; }))
      return rewriter.notifyMatchFailure(conv, "strided or dilated");
    Value input = conv.getInputs()[0], filter = conv.getInputs()[1], init = conv.getOutputs()[0];
    auto inputType = cast<RankedTensorType>(input.getType());
    auto filterType = cast<RankedTensorType>(filter.getType());
    auto resultType = cast<RankedTensorType>(init.getType());
    Type element = resultType.getElementType();
    if (!filterType.hasStaticShape() || filterType.getDimSize(0) != 3 || filterType.getDimSize(1) != 3)
      return rewriter.notifyMatchFailure(conv, "not a static 3 x 3 filter");
    int64_t channels = filterType.getDimSize(2), features = filterType.getDimSize(3);
    if (channels < kMinChannels || features < kMinChannels)
      return rewriter.notifyMatchFailure(conv, "too few channels to gain");
    ArrayRef<int64_t> shape = resultType.getShape();
    if (ShapedType::isDynamic(shape[1]) || ShapedType::isDynamic(shape[2]) || shape[1] % kTile || shape[2] % kTile ||
        inputType.isDynamicDim(1) || inputType.isDynamicDim(2))
      return rewriter.notifyMatchFailure(conv, "output size not static and even");
    if (!kiln::lowering::isZeroFilled(init) || !isa<FloatType>(element))
      return rewriter.notifyMatchFailure(conv, "accumulates into a non-zero init");

    Location loc = conv.getLoc();
    MLIRContext *context = rewriter.getContext();
    auto index = [&](int64_t v) -> OpFoldResult { return rewriter.getIndexAttr(v); };
    int64_t tilesY = shape[1] / kTile, tilesX = shape[2] / kTile;
    // Each parallel piece is half an image's rows of tiles (when even), so
    // that one image still splits over two cores and a piece's transformed
    // tiles stay in L2 (16 x 72 x 32 floats for FashionCnn, 147 KB) instead
    // of a batch's going through memory (75 MB at batch 256).
    int64_t pieces = tilesY % 2 == 0 ? 2 : 1, pieceTilesY = tilesY / pieces;
    int64_t pieceRows = pieceTilesY * kTile, width = inputType.getDimSize(2);
    SmallVector<OpFoldResult> unitSteps(4, index(1));

    // The filter, once per call: 9 slices [C, F] in, 16 transformed [C, F] out.
    SmallVector<Value> taps;
    auto filterPointType = RankedTensorType::get({channels, features}, element);
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j)
        taps.push_back(tensor::ExtractSliceOp::create(
            rewriter, loc, filterPointType, filter, ArrayRef<OpFoldResult>{index(i), index(j), index(0), index(0)},
            ArrayRef<OpFoldResult>{index(1), index(1), index(channels), index(features)}, unitSteps));
    SmallVector<Value> filterInits;
    for (int64_t p = 0; p < 16; ++p)
      filterInits.push_back(tensor::EmptyOp::create(rewriter, loc, filterPointType.getShape(), element));
    auto identity2 = AffineMap::getMultiDimIdentityMap(2, context);
    auto filterPoints = linalg::GenericOp::create(
        rewriter, loc, SmallVector<Type>(16, filterPointType), taps, filterInits,
        SmallVector<AffineMap>(9 + 16, identity2), SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, ValueRange(filterTransform(b, l, args.take_front(9), element)));
        });

    // One piece per (image, half): its input rows in, its output rows out.
    Value batch = tensor::DimOp::create(rewriter, loc, input, 0);
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
    Value pieceInput = tensor::ExtractSliceOp::create(
        rewriter, loc, pieceInputType, input, ArrayRef<OpFoldResult>{image, firstRow, index(0), index(0)},
        ArrayRef<OpFoldResult>{index(1), index(pieceRows + 2), index(width), index(channels)}, unitSteps);

    // The input: 16 strided views [1, tiles, tiles, C] (pixel (i, j) of
    // every 4 x 4 block; blocks overlap by 2) in, 16 transformed out.
    auto tileType = RankedTensorType::get({1, pieceTilesY, tilesX, channels}, element);
    SmallVector<Value> views, tileInits;
    for (int64_t i = 0; i < kPoints; ++i)
      for (int64_t j = 0; j < kPoints; ++j) {
        views.push_back(tensor::ExtractSliceOp::create(
            rewriter, loc, tileType, pieceInput, ArrayRef<OpFoldResult>{index(0), index(i), index(j), index(0)},
            ArrayRef<OpFoldResult>{index(1), index(pieceTilesY), index(tilesX), index(channels)},
            ArrayRef<OpFoldResult>{index(1), index(kTile), index(kTile), index(1)}));
        tileInits.push_back(tensor::EmptyOp::create(rewriter, loc, tileType.getShape(), element));
      }
    auto identity4 = AffineMap::getMultiDimIdentityMap(4, context);
    auto inputPoints = linalg::GenericOp::create(
        rewriter, loc, SmallVector<Type>(16, tileType), views, tileInits, SmallVector<AffineMap>(32, identity4),
        SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, ValueRange(inputTransform(b, l, args.take_front(16))));
        });

    // Per point: [tiles, C] x [C, F], the sum over input channels.
    int64_t tiles = pieceTilesY * tilesX;
    auto rowsType = RankedTensorType::get({tiles, channels}, element);
    auto productRowsType = RankedTensorType::get({tiles, features}, element);
    auto productType = RankedTensorType::get({1, pieceTilesY, tilesX, features}, element);
    Value zero = arith::ConstantOp::create(rewriter, loc, rewriter.getFloatAttr(element, 0.0));
    SmallVector<ReassociationIndices> rowsOf = {{0, 1, 2}, {3}};
    SmallVector<Value> products;
    for (int64_t p = 0; p < 16; ++p) {
      Value productInit = linalg::FillOp::create(
                              rewriter, loc, zero,
                              ValueRange{tensor::EmptyOp::create(rewriter, loc, productRowsType.getShape(), element)})
                              .getResult(0);
      Value rows = tensor::CollapseShapeOp::create(rewriter, loc, rowsType, inputPoints->getResult(p), rowsOf);
      Value product = linalg::MatmulOp::create(rewriter, loc, TypeRange{productRowsType},
                                               ValueRange{rows, filterPoints->getResult(p)}, ValueRange{productInit})
                          ->getResult(0);
      products.push_back(tensor::ExpandShapeOp::create(rewriter, loc, productType, product, rowsOf));
    }

    // The output: [1, tiles, 2, tiles, 2, F], which is [1, rows, W, F].
    auto blocksType = RankedTensorType::get({1, pieceTilesY, kTile, tilesX, kTile, features}, element);
    // Written in place: the piece's rows of the result, viewed as blocks.
    SmallVector<ReassociationIndices> pixelsOf = {{0}, {1, 2}, {3, 4}, {5}};
    auto pieceOutputType = RankedTensorType::get({1, pieceRows, shape[2], features}, element);
    SmallVector<OpFoldResult> pieceOffsets = {image, firstRow, index(0), index(0)};
    SmallVector<OpFoldResult> pieceSizes = {index(1), index(pieceRows), index(shape[2]), index(features)};
    Value pieceResult = tensor::ExtractSliceOp::create(rewriter, loc, pieceOutputType, forall.getRegionIterArgs()[0],
                                                       pieceOffsets, pieceSizes, unitSteps);
    Value blocksInit = tensor::ExpandShapeOp::create(rewriter, loc, blocksType, pieceResult, pixelsOf);
    SmallVector<AffineExpr> productDims;
    for (unsigned position : {0u, 1u, 3u, 5u})
      productDims.push_back(getAffineDimExpr(position, context));
    SmallVector<AffineMap> outputMaps(16, AffineMap::get(6, 0, productDims, context));
    outputMaps.push_back(AffineMap::getMultiDimIdentityMap(6, context));
    auto blocks = linalg::GenericOp::create(
        rewriter, loc, TypeRange{blocksType}, products, ValueRange{blocksInit}, outputMaps,
        SmallVector<utils::IteratorType>(6, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value one = arith::ConstantIndexOp::create(b, l, 1);
          Value secondRow =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, linalg::IndexOp::create(b, l, 2), one);
          Value secondColumn =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, linalg::IndexOp::create(b, l, 4), one);
          linalg::YieldOp::create(b, l, outputTransform(b, l, args.take_front(16), secondRow, secondColumn));
        });
    Value pieceOutput = tensor::CollapseShapeOp::create(rewriter, loc, pieceOutputType, blocks->getResult(0), pixelsOf);
    rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(rewriter, loc, pieceOutput, forall.getRegionIterArgs()[0], pieceOffsets,
                                          pieceSizes, unitSteps);
    rewriter.replaceOp(conv, forall->getResults());
    return success();
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
