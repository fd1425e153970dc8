//===- LowerPooling.cpp - max/avg pooling and their gradients to linalg ---===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The pooling family of kiln-lower-to-linalg (see Passes.td): `max_pool` and
// `avg_pool` become linalg.pooling_nhwc_max/sum (the average divided by the
// window size), and their gradients gathers: each input element sums, over
// the window positions, the cotangents of the windows that cover it, read
// with `tensor.extract` (a scatter would need non-affine output maps).
// With `padding` (padding = same) the input is padded first (-inf for max,
// 0 for the average, which then divides each window by the number of input
// elements it holds, as Keras), and the gradients are computed for the
// padded input and cropped back to the input.
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

#include <limits>

using namespace mlir;
using namespace kiln::lowering;

namespace {

//===----------------------------------------------------------------------===//
// Forward ops
//===----------------------------------------------------------------------===//

bool isPadded(ArrayRef<int64_t> pads) {
  return llvm::any_of(pads, [](int64_t p) { return p != 0; });
}

/// The number of input elements (not padding) in the window of output
/// position (oy, ox), as a float: along each axis, the window starts at
/// o * stride - padBefore and is cut to [0, extent).
Value windowCount(OpBuilder &b, Location loc, Type element, Value oy, Value ox, int64_t height, int64_t width,
                  ArrayRef<int64_t> window, ArrayRef<int64_t> strides, ArrayRef<int64_t> pads) {
  auto along = [&](Value o, int64_t extent, int64_t size, int64_t stride, int64_t before) -> Value {
    Value start = arith::SubIOp::create(b, loc, arith::MulIOp::create(b, loc, o, indexConstant(b, loc, stride)),
                                        indexConstant(b, loc, before));
    Value end = arith::AddIOp::create(b, loc, start, indexConstant(b, loc, size));
    Value first = arith::MaxSIOp::create(b, loc, start, indexConstant(b, loc, 0));
    Value last = arith::MinSIOp::create(b, loc, end, indexConstant(b, loc, extent));
    return arith::SubIOp::create(b, loc, last, first);
  };
  Value count = arith::MulIOp::create(b, loc, along(oy, height, window[0], strides[0], pads[0]),
                                      along(ox, width, window[1], strides[1], pads[2]));
  Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), count);
  return arith::SIToFPOp::create(b, loc, element, asInt);
}

/// The padded gradient's interior: the input's [N, H, W, C] at offset
/// (top, left).
Value cropSpatial(OpBuilder &b, Location loc, Value padded, RankedTensorType type, ArrayRef<int64_t> pads) {
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(pads[0]), b.getIndexAttr(pads[2]),
                                       b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < 4; ++i)
    sizes.push_back(type.isDynamicDim(i) ? OpFoldResult(tensor::DimOp::create(b, loc, padded, i).getResult())
                                         : OpFoldResult(b.getIndexAttr(type.getDimSize(i))));
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, loc, type, padded, offsets, sizes, strides);
}

template <typename KilnOp, typename LinalgPoolOp, bool isMax> struct PoolLowering : OpRewritePattern<KilnOp> {
  using OpRewritePattern<KilnOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(KilnOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Type element = type.getElementType();
    ArrayRef<int64_t> window = op.getWindow();
    SmallVector<int64_t, 4> pads = op.getPads();
    SmallVector<Value> dynamicSizes;
    if (type.isDynamicDim(0))
      dynamicSizes.push_back(tensor::DimOp::create(rewriter, loc, op.getInput(), 0));
    double initValue = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
    Value init = filledTensor(rewriter, loc, type, dynamicSizes, floatConstant(rewriter, loc, element, initValue));
    Value windowShape = tensor::EmptyOp::create(rewriter, loc, window, element);
    // The padding never wins a maximum and adds nothing to a sum.
    Value input = padSpatial(rewriter, loc, op.getInput(), pads, initValue);
    auto pool = LinalgPoolOp::create(rewriter, loc, TypeRange{type}, ValueRange{input, windowShape}, ValueRange{init},
                                     rewriter.getI64VectorAttr(op.getStrides()), rewriter.getI64VectorAttr({1, 1}));
    Value result = pool->getResult(0);
    if (!isMax && !isPadded(pads)) {
      result = divideBy(rewriter, loc, result, floatConstant(rewriter, loc, element, double(window[0] * window[1])));
    } else if (!isMax) {
      // Each window's sum over the number of its input elements.
      RankedTensorType inputType = tensorTypeOf(op.getInput());
      ArrayRef<int64_t> strides = op.getStrides();
      MLIRContext *context = rewriter.getContext();
      AffineMap identity = AffineMap::getMultiDimIdentityMap(4, context);
      Value out = tensor::EmptyOp::create(rewriter, loc, type.getShape(), element, dynamicSizes);
      auto divide = linalg::GenericOp::create(
          rewriter, loc, TypeRange{type}, ValueRange{result}, ValueRange{out},
          SmallVector<AffineMap>{identity, identity}, iteratorTypes(SmallVector<bool>(4, false)),
          [&](OpBuilder &b, Location l, ValueRange args) {
            Value oy = linalg::IndexOp::create(b, l, 1), ox = linalg::IndexOp::create(b, l, 2);
            Value count = windowCount(b, l, element, oy, ox, inputType.getDimSize(1), inputType.getDimSize(2), window,
                                      strides, pads);
            linalg::YieldOp::create(b, l, ValueRange{arith::DivFOp::create(b, l, args[0], count).getResult()});
          });
      result = divide.getResult(0);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Pooling gradients
//===----------------------------------------------------------------------===//

/// Builds the gather that pooling gradients share: a `linalg.generic` over
/// (n, h, w, c, ki, kj) into a zero tensor of `type` whose body asks, for
/// input element (h, w) and window offset (ki, kj), whether the window at
/// output (oy, ox) = ((h - ki) / sh, (w - kj) / sw) exists; if so it adds
/// `contribution(oy, ox, ki, kj)`, else 0.
using ContributionFn =
    llvm::function_ref<Value(OpBuilder &, Location, Value n, Value oy, Value ox, Value c, Value ki, Value kj)>;

Value buildWindowGather(OpBuilder &b, Location loc, RankedTensorType type, Value batchSource,
                        RankedTensorType outputType, ArrayRef<int64_t> window, ArrayRef<int64_t> strides,
                        ContributionFn contribution) {
  MLIRContext *context = b.getContext();
  Type element = type.getElementType();
  Value init = zerosWithBatchOf(b, loc, type, batchSource);
  // A window-shaped tensor gives the (ki, kj) loops their bounds, as the
  // named pooling ops do.
  Value windowShape = tensor::EmptyOp::create(b, loc, window, element);
  SmallVector<AffineExpr> d;
  for (unsigned k = 0; k < 6; ++k)
    d.push_back(getAffineDimExpr(k, context));
  SmallVector<AffineMap> maps = {AffineMap::get(6, 0, {d[4], d[5]}, context),
                                 AffineMap::get(6, 0, {d[0], d[1], d[2], d[3]}, context)};
  int64_t outH = outputType.getDimSize(1), outW = outputType.getDimSize(2);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type}, ValueRange{windowShape}, ValueRange{init}, maps,
      iteratorTypes({false, false, false, false, true, true}), [&](OpBuilder &nb, Location l, ValueRange args) {
        Value n = linalg::IndexOp::create(nb, l, 0), h = linalg::IndexOp::create(nb, l, 1),
              w = linalg::IndexOp::create(nb, l, 2), c = linalg::IndexOp::create(nb, l, 3),
              ki = linalg::IndexOp::create(nb, l, 4), kj = linalg::IndexOp::create(nb, l, 5);
        Value zeroIndex = indexConstant(nb, l, 0);
        // Whether `offset` = (pos - k) lands on a window start: offset >= 0,
        // offset % stride == 0 and offset / stride < size. Returns the
        // window index, clamped to 0 when it does not.
        auto windowIndex = [&](Value pos, Value k, int64_t stride, int64_t size, Value &valid) {
          Value offset = arith::SubIOp::create(nb, l, pos, k);
          Value strideValue = indexConstant(nb, l, stride);
          Value nonNegative = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, offset, zeroIndex);
          Value aligned = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq,
                                                arith::RemSIOp::create(nb, l, offset, strideValue), zeroIndex);
          Value index = arith::DivSIOp::create(nb, l, offset, strideValue);
          Value inRange = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, index, indexConstant(nb, l, size));
          valid = arith::AndIOp::create(nb, l, arith::AndIOp::create(nb, l, nonNegative, aligned), inRange);
          return arith::SelectOp::create(nb, l, valid, index, zeroIndex).getResult();
        };
        Value validY, validX;
        Value oy = windowIndex(h, ki, strides[0], outH, validY);
        Value ox = windowIndex(w, kj, strides[1], outW, validX);
        Value valid = arith::AndIOp::create(nb, l, validY, validX);
        Value term = contribution(nb, l, n, oy, ox, c, ki, kj);
        Value zero = floatConstant(nb, l, element, 0.0);
        Value masked = arith::SelectOp::create(nb, l, valid, term, zero);
        linalg::YieldOp::create(nb, l, ValueRange{arith::AddFOp::create(nb, l, args[1], masked).getResult()});
      });
  return generic.getResult(0);
}

/// First the position of each window's first maximum (a select-reduction
/// over the window with a strict `>`, as PyTorch picks it), then the
/// gather: an input element takes the cotangent of every window whose
/// chosen position it is.
struct MaxPoolGradLowering : OpRewritePattern<kiln::MaxPoolGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::MaxPoolGradOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value dy = op.getOutputGrad();
    SmallVector<int64_t, 4> pads = op.getPads();
    // The gradient of the padded input (-inf padding is never chosen), cropped
    // at the end.
    Value input = padSpatial(rewriter, loc, op.getInput(), pads, -std::numeric_limits<double>::infinity());
    RankedTensorType type = tensorTypeOf(input), dyType = tensorTypeOf(dy);
    Type element = type.getElementType();
    ArrayRef<int64_t> window = op.getWindow(), strides = op.getStrides();

    auto indexType = RankedTensorType::get(dyType.getShape(), rewriter.getIndexType());
    SmallVector<Value> sizes = dynamicSizesFrom(rewriter, loc, dyType, dy, [](int64_t i) { return i; });
    Value maxInit = filledTensor(rewriter, loc, dyType, sizes,
                                 floatConstant(rewriter, loc, element, -std::numeric_limits<double>::infinity()));
    Value indexInit = filledTensor(rewriter, loc, indexType, sizes, indexConstant(rewriter, loc, 0));
    Value windowShape = tensor::EmptyOp::create(rewriter, loc, window, element);
    SmallVector<AffineExpr> d;
    for (unsigned k = 0; k < 6; ++k)
      d.push_back(getAffineDimExpr(k, context));
    // d = (n, oy, ox, c, ki, kj)
    AffineMap outputMap = AffineMap::get(6, 0, {d[0], d[1], d[2], d[3]}, context);
    SmallVector<AffineMap> maps = {
        AffineMap::get(6, 0, {d[0], d[1] * strides[0] + d[4], d[2] * strides[1] + d[5], d[3]}, context),
        AffineMap::get(6, 0, {d[4], d[5]}, context), outputMap, outputMap};
    int64_t windowWidth = window[1];
    auto argmax = linalg::GenericOp::create(
        rewriter, loc, TypeRange{dyType, indexType}, ValueRange{input, windowShape}, ValueRange{maxInit, indexInit},
        maps, iteratorTypes({false, false, false, false, true, true}), [&](OpBuilder &b, Location l, ValueRange args) {
          Value ki = linalg::IndexOp::create(b, l, 4), kj = linalg::IndexOp::create(b, l, 5);
          Value position =
              arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, ki, indexConstant(b, l, windowWidth)), kj);
          Value greater = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, args[0], args[2]);
          Value newMax = arith::SelectOp::create(b, l, greater, args[0], args[2]);
          Value newIndex = arith::SelectOp::create(b, l, greater, position, args[3]);
          linalg::YieldOp::create(b, l, ValueRange{newMax, newIndex});
        });
    Value chosen = argmax.getResult(1);

    Value result = buildWindowGather(
        rewriter, loc, type, dy, dyType, window, strides,
        [&](OpBuilder &b, Location l, Value n, Value oy, Value ox, Value c, Value ki, Value kj) {
          Value position =
              arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, ki, indexConstant(b, l, windowWidth)), kj);
          Value picked = tensor::ExtractOp::create(b, l, chosen, ValueRange{n, oy, ox, c});
          Value cotangent = tensor::ExtractOp::create(b, l, dy, ValueRange{n, oy, ox, c});
          Value isChosen = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, picked, position);
          return arith::SelectOp::create(b, l, isChosen, cotangent, floatConstant(b, l, element, 0.0)).getResult();
        });
    if (isPadded(pads))
      result = cropSpatial(rewriter, loc, result, op.getType(), pads);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Every input element takes cotangent / (kh * kw) from each window that
/// covers it; with padding, cotangent / (the window's input elements), the
/// gather running over the padded input and the result cropped.
struct AvgPoolGradLowering : OpRewritePattern<kiln::AvgPoolGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::AvgPoolGradOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value dy = op.getOutputGrad();
    RankedTensorType type = op.getType();
    Type element = type.getElementType();
    ArrayRef<int64_t> window = op.getWindow(), strides = op.getStrides();
    SmallVector<int64_t, 4> pads = op.getPads();
    bool padded = isPadded(pads);
    SmallVector<int64_t> paddedShape(type.getShape());
    paddedShape[1] += pads[0] + pads[1];
    paddedShape[2] += pads[2] + pads[3];
    auto paddedType = RankedTensorType::get(paddedShape, element);
    double area = double(window[0] * window[1]);
    Value result = buildWindowGather(rewriter, loc, paddedType, dy, tensorTypeOf(dy), window, strides,
                                     [&](OpBuilder &b, Location l, Value n, Value oy, Value ox, Value c, Value, Value) {
                                       Value cotangent = tensor::ExtractOp::create(b, l, dy, ValueRange{n, oy, ox, c});
                                       Value count = padded ? windowCount(b, l, element, oy, ox, type.getDimSize(1),
                                                                          type.getDimSize(2), window, strides, pads)
                                                            : floatConstant(b, l, element, area);
                                       return arith::DivFOp::create(b, l, cotangent, count).getResult();
                                     });
    if (padded)
      result = cropSpatial(rewriter, loc, result, type, pads);
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void kiln::populateLowerPoolingPatterns(RewritePatternSet &patterns) {
  patterns
      .add<PoolLowering<kiln::MaxPoolOp, linalg::PoolingNhwcMaxOp, true>,
           PoolLowering<kiln::AvgPoolOp, linalg::PoolingNhwcSumOp, false>, MaxPoolGradLowering, AvgPoolGradLowering>(
          patterns.getContext());
}
