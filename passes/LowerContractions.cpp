//===- LowerContractions.cpp - matmul, conv2d and its gradients to linalg -===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The contraction family of kiln-lower-to-linalg (see Passes.td): `matmul`
// (linalg.matmul/matvec/vecmat/dot by operand ranks), `conv2d`
// (linalg.conv_2d_nhwc_hwcf on the zero-padded input) and the two
// convolution gradients kiln-autodiff builds, in one place so that a
// convolution and its gradients are lowered side by side: the input gradient
// is itself a conv_2d_nhwc_hwcf (of the dilated cotangent with the flipped
// filter), the filter gradient one contraction `linalg.generic` over
// (kh, kw, c, f | n, y, x). The CPU pipeline rewrites both per example and
// window offset (kiln-split-input-gradients, kiln-split-filter-gradients),
// which recognize exactly the forms built here: change them together.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/LoweringPatterns.h"

#include "dialect/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace kiln::lowering;

namespace {

//===----------------------------------------------------------------------===//
// Forward ops
//===----------------------------------------------------------------------===//

struct MatmulLowering : OpRewritePattern<kiln::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::MatmulOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Value lhs = op.getLhs(), rhs = op.getRhs();
    int64_t lhsRank = tensorTypeOf(lhs).getRank(), rhsRank = tensorTypeOf(rhs).getRank();
    // Result dims come from lhs dim 0 (ranks 2x2, 2x1) or rhs dim 1 (1x2).
    SmallVector<Value> dynamicSizes;
    for (int64_t i = 0; i < type.getRank(); ++i) {
      if (!type.isDynamicDim(i))
        continue;
      if (lhsRank == 2 && i == 0)
        dynamicSizes.push_back(tensor::DimOp::create(rewriter, loc, lhs, 0));
      else
        dynamicSizes.push_back(tensor::DimOp::create(rewriter, loc, rhs, 1));
    }
    Value init =
        filledTensor(rewriter, loc, type, dynamicSizes, floatConstant(rewriter, loc, type.getElementType(), 0));
    Operation *result;
    if (lhsRank == 2 && rhsRank == 2)
      result = linalg::MatmulOp::create(rewriter, loc, TypeRange{type}, ValueRange{lhs, rhs}, ValueRange{init});
    else if (lhsRank == 2)
      result = linalg::MatvecOp::create(rewriter, loc, TypeRange{type}, ValueRange{lhs, rhs}, ValueRange{init});
    else if (rhsRank == 2)
      result = linalg::VecmatOp::create(rewriter, loc, TypeRange{type}, ValueRange{lhs, rhs}, ValueRange{init});
    else
      result = linalg::DotOp::create(rewriter, loc, TypeRange{type}, ValueRange{lhs, rhs}, ValueRange{init});
    rewriter.replaceOp(op, result->getResults());
    return success();
  }
};

struct Conv2DLowering : OpRewritePattern<kiln::Conv2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::Conv2DOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Value input = op.getInput();
    // The zero frame: top, bottom, left, right.
    input = padSpatial(rewriter, loc, input, op.getPadding());
    SmallVector<Value> dynamicSizes;
    if (type.isDynamicDim(0))
      dynamicSizes.push_back(tensor::DimOp::create(rewriter, loc, op.getInput(), 0));
    Value init =
        filledTensor(rewriter, loc, type, dynamicSizes, floatConstant(rewriter, loc, type.getElementType(), 0));
    auto conv = linalg::Conv2DNhwcHwcfOp::create(rewriter, loc, TypeRange{type}, ValueRange{input, op.getFilter()},
                                                 ValueRange{init}, rewriter.getI64VectorAttr(op.getStrides()),
                                                 rewriter.getI64VectorAttr({1, 1}));
    rewriter.replaceOp(op, conv->getResults());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Convolution gradients
//===----------------------------------------------------------------------===//

/// dX = conv(dilate(dY) padded by kh-1 / kw-1, flip(K) with cin and cout
/// swapped), stride 1, computed over the padded input and then cut to it.
/// Positions of the padded input no window reached stay zero because the
/// zero buffer is larger than the dilated cotangent.
struct Conv2DGradInputLowering : OpRewritePattern<kiln::Conv2DGradInputOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::Conv2DGradInputOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value dy = op.getOutputGrad(), filter = op.getFilter();
    RankedTensorType filterType = tensorTypeOf(filter), type = op.getType();
    Type element = type.getElementType();
    ArrayRef<int64_t> k = filterType.getShape(), strides = op.getStrides(), pad = op.getPadding();
    int64_t paddedH = type.getDimSize(1) + pad[0] + pad[1], paddedW = type.getDimSize(2) + pad[2] + pad[3];

    // The dilated cotangent inside a zero frame of kh-1 / kw-1.
    auto frameType = RankedTensorType::get({type.getDimSize(0), paddedH + k[0] - 1, paddedW + k[1] - 1, k[3]}, element);
    Value frame = zerosWithBatchOf(rewriter, loc, frameType, dy);
    SmallVector<OpFoldResult> offsets = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(k[0] - 1),
                                         rewriter.getIndexAttr(k[1] - 1), rewriter.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, dy);
    SmallVector<OpFoldResult> steps = {rewriter.getIndexAttr(1), rewriter.getIndexAttr(strides[0]),
                                       rewriter.getIndexAttr(strides[1]), rewriter.getIndexAttr(1)};
    Value dilated = tensor::InsertSliceOp::create(rewriter, loc, dy, frame, offsets, sizes, steps);

    // flipped[i, j, f, c] = filter[kh-1-i, kw-1-j, c, f].
    auto flippedType = RankedTensorType::get({k[0], k[1], k[3], k[2]}, element);
    AffineExpr i = getAffineDimExpr(0, context), j = getAffineDimExpr(1, context), f = getAffineDimExpr(2, context),
               c = getAffineDimExpr(3, context);
    SmallVector<AffineMap> flipMaps = {AffineMap::get(4, 0, {k[0] - 1 - i, k[1] - 1 - j, c, f}, context),
                                       AffineMap::getMultiDimIdentityMap(4, context)};
    Value flippedInit = tensor::EmptyOp::create(rewriter, loc, flippedType.getShape(), element);
    Value flipped = linalg::GenericOp::create(
                        rewriter, loc, TypeRange{flippedType}, ValueRange{filter}, ValueRange{flippedInit}, flipMaps,
                        iteratorTypes(SmallVector<bool>(4, false)),
                        [](OpBuilder &b, Location l, ValueRange args) { linalg::YieldOp::create(b, l, args[0]); })
                        .getResult(0);

    auto paddedType = RankedTensorType::get({type.getDimSize(0), paddedH, paddedW, k[2]}, element);
    Value init = zerosWithBatchOf(rewriter, loc, paddedType, dy);
    Value result = linalg::Conv2DNhwcHwcfOp::create(rewriter, loc, TypeRange{paddedType}, ValueRange{dilated, flipped},
                                                    ValueRange{init}, rewriter.getI64VectorAttr({1, 1}),
                                                    rewriter.getI64VectorAttr({1, 1}))
                       ->getResult(0);
    if (paddedType != type) {
      SmallVector<OpFoldResult> cutOffsets = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(pad[0]),
                                              rewriter.getIndexAttr(pad[2]), rewriter.getIndexAttr(0)};
      SmallVector<OpFoldResult> cutSizes = tensor::getMixedSizes(rewriter, loc, result);
      cutSizes[1] = rewriter.getIndexAttr(type.getDimSize(1));
      cutSizes[2] = rewriter.getIndexAttr(type.getDimSize(2));
      SmallVector<OpFoldResult> ones(4, rewriter.getIndexAttr(1));
      result = tensor::ExtractSliceOp::create(rewriter, loc, type, result, cutOffsets, cutSizes, ones);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// dK[i, j, c, f] = sum over (n, y, x) of in_padded[n, y*sh + i, x*sw + j, c]
/// * dY[n, y, x, f], as one contraction with loops (i, j, c, f | n, y, x):
/// the definition, for every target. kiln-map-to-gpu runs it as one
/// implicit GEMM (M = kh*kw*c, N = f, K = n*y*x); the CPU pipeline splits it
/// into contractions per example and window offset
/// (kiln-split-filter-gradients), which its register blocks fit.
struct Conv2DGradFilterLowering : OpRewritePattern<kiln::Conv2DGradFilterOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::Conv2DGradFilterOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    RankedTensorType type = op.getType();
    ArrayRef<int64_t> strides = op.getStrides();
    Value input = padSpatial(rewriter, loc, op.getInput(), op.getPadding());
    SmallVector<AffineExpr> d;
    for (unsigned e = 0; e < 7; ++e)
      d.push_back(getAffineDimExpr(e, context));
    // d = (i, j, c, f, n, y, x)
    SmallVector<AffineMap> maps = {
        AffineMap::get(7, 0, {d[4], d[5] * strides[0] + d[0], d[6] * strides[1] + d[1], d[2]}, context),
        AffineMap::get(7, 0, {d[4], d[5], d[6], d[3]}, context),
        AffineMap::get(7, 0, {d[0], d[1], d[2], d[3]}, context)};
    Value init = filledTensor(rewriter, loc, type, {}, floatConstant(rewriter, loc, type.getElementType(), 0.0));
    Value result = linalg::GenericOp::create(rewriter, loc, TypeRange{type}, ValueRange{input, op.getOutputGrad()},
                                             ValueRange{init}, maps,
                                             iteratorTypes({false, false, false, false, true, true, true}), buildMulAdd)
                       .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void kiln::populateLowerContractionPatterns(RewritePatternSet &patterns) {
  patterns.add<MatmulLowering, Conv2DLowering, Conv2DGradInputLowering, Conv2DGradFilterLowering>(
      patterns.getContext());
}
