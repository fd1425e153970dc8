//===- LowerGradientsToLinalg.cpp - autodiff's internal ops to linalg -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The lowering patterns of the ops only kiln-autodiff builds (`transpose`,
// `broadcast_to`, `sum_to`, `element_count`, `onehot` and the convolution
// and pooling gradients), registered by kiln-lower-to-linalg through
// populateLowerGradientsToLinalgPatterns. They live apart from
// LowerToLinalg.cpp because they are one op family with its own helpers
// (the sliding-window gathers of the pooling gradients).
//
// Each op becomes one linalg op where one exists (`linalg.transpose`,
// `linalg.conv_2d_nhwc_hwcf`, a `linalg.generic`), plus the tensor ops that
// prepare its operands. The batch dimension `?` comes from `tensor.dim` of
// an operand. The pooling gradients gather: each input element sums, over
// the window positions, the cotangents of the windows that cover it, read
// with `tensor.extract` (a scatter would need non-affine output maps).
//
//===----------------------------------------------------------------------===//

#include "passes/LoweringPatterns.h"

#include "dialect/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

RankedTensorType typeOf(Value value) { return cast<RankedTensorType>(value.getType()); }

Value floatConstant(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

/// The `?` sizes of `type`, where dimension i of `type` is dimension
/// `sourceDim(i)` of `source` (skipped when it returns -1).
SmallVector<Value> dynamicSizesFrom(OpBuilder &b, Location loc, RankedTensorType type, Value source,
                                    llvm::function_ref<int64_t(int64_t)> sourceDim) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, source, sourceDim(i)));
  return sizes;
}

/// A tensor of `type` filled with `value` (a scalar of its element type).
Value filled(OpBuilder &b, Location loc, RankedTensorType type, ValueRange dynamicSizes, Value value) {
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(), dynamicSizes);
  return linalg::FillOp::create(b, loc, ValueRange{value}, ValueRange{empty}).getResult(0);
}

/// A zero-filled tensor of `type` whose batch size (dimension 0, if `?`) is
/// that of `batchSource`.
Value zerosWithBatchOf(OpBuilder &b, Location loc, RankedTensorType type, Value batchSource) {
  SmallVector<Value> sizes = dynamicSizesFrom(b, loc, type, batchSource, [](int64_t i) { return i; });
  return filled(b, loc, type, sizes, floatConstant(b, loc, type.getElementType(), 0.0));
}

/// Pads the H and W dimensions of an NHWC tensor with zeros.
Value padSpatial(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> pad) {
  if (llvm::all_of(pad, [](int64_t p) { return p == 0; }))
    return input;
  RankedTensorType type = typeOf(input);
  SmallVector<int64_t> shape(type.getShape());
  shape[1] += pad[0] + pad[1];
  shape[2] += pad[2] + pad[3];
  SmallVector<OpFoldResult> low = {b.getIndexAttr(0), b.getIndexAttr(pad[0]), b.getIndexAttr(pad[2]),
                                   b.getIndexAttr(0)};
  SmallVector<OpFoldResult> high = {b.getIndexAttr(0), b.getIndexAttr(pad[1]), b.getIndexAttr(pad[3]),
                                    b.getIndexAttr(0)};
  return tensor::PadOp::create(b, loc, RankedTensorType::get(shape, type.getElementType()), input, low, high,
                               floatConstant(b, loc, type.getElementType(), 0.0));
}

SmallVector<utils::IteratorType> iterators(ArrayRef<bool> isReduction) {
  SmallVector<utils::IteratorType> result;
  for (bool reduction : isReduction)
    result.push_back(reduction ? utils::IteratorType::reduction : utils::IteratorType::parallel);
  return result;
}

//===----------------------------------------------------------------------===//
// Shape ops
//===----------------------------------------------------------------------===//

struct TransposeLowering : OpRewritePattern<kiln::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::TransposeOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ArrayRef<int64_t> permutation = op.getPermutation();
    RankedTensorType type = op.getType();
    SmallVector<Value> sizes =
        dynamicSizesFrom(rewriter, loc, type, op.getInput(), [&](int64_t i) { return permutation[i]; });
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(), type.getElementType(), sizes);
    auto transpose = linalg::TransposeOp::create(rewriter, loc, op.getInput(), init, permutation);
    rewriter.replaceOp(op, transpose->getResults());
    return success();
  }
};

/// One `linalg.generic` copying the input through a broadcasting map (a
/// static 1 against a larger dimension reads index 0).
struct BroadcastToLowering : OpRewritePattern<kiln::BroadcastToOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::BroadcastToOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    RankedTensorType inputType = typeOf(op.getInput()), type = op.getType();
    int64_t rank = type.getRank(), offset = rank - inputType.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t j = 0; j < inputType.getRank(); ++j)
      exprs.push_back(inputType.getDimSize(j) == 1 && type.getDimSize(j + offset) != 1
                          ? getAffineConstantExpr(0, context)
                          : getAffineDimExpr(j + offset, context));
    SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, exprs, context),
                                   AffineMap::getMultiDimIdentityMap(rank, context)};
    SmallVector<Value> sizes = dynamicSizesFrom(rewriter, loc, type, op.getLike(), [](int64_t i) { return i; });
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(), type.getElementType(), sizes);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{op.getInput()}, ValueRange{init}, maps,
        iterators(SmallVector<bool>(rank, false)),
        [](OpBuilder &b, Location l, ValueRange args) { linalg::YieldOp::create(b, l, args[0]); });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

/// A `linalg.generic` summing over the leading dimensions the target lacks
/// and the dimensions it stretched from 1, into the target shape without
/// those 1s; then `tensor.expand_shape` puts the 1s back.
struct SumToLowering : OpRewritePattern<kiln::SumToOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::SumToOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value input = op.getInput();
    RankedTensorType inputType = typeOf(input), target = op.getType();
    if (inputType == target) {
      rewriter.replaceOp(op, input);
      return success();
    }
    int64_t rank = inputType.getRank(), offset = rank - target.getRank();
    SmallVector<bool> reduced(rank, false);
    SmallVector<AffineExpr> kept;
    SmallVector<int64_t> keptShape, keptSource;
    for (int64_t i = 0; i < rank; ++i) {
      int64_t j = i - offset;
      reduced[i] = j < 0 || (target.getDimSize(j) == 1 && inputType.getDimSize(i) != 1);
      if (reduced[i])
        continue;
      kept.push_back(getAffineDimExpr(i, context));
      keptShape.push_back(target.getDimSize(j));
      keptSource.push_back(i);
    }
    auto keptType = RankedTensorType::get(keptShape, target.getElementType());
    SmallVector<Value> sizes =
        dynamicSizesFrom(rewriter, loc, keptType, input, [&](int64_t k) { return keptSource[k]; });
    Value init = filled(rewriter, loc, keptType, sizes, floatConstant(rewriter, loc, target.getElementType(), 0.0));
    SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, context),
                                   AffineMap::get(rank, 0, kept, context)};
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{keptType}, ValueRange{input}, ValueRange{init}, maps, iterators(reduced),
        [](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, ValueRange{arith::AddFOp::create(b, l, args[0], args[1]).getResult()});
        });
    Value result = generic.getResult(0);
    if (keptType != target) {
      auto groups = getReassociationIndicesForCollapse(target.getShape(), keptType.getShape());
      if (!groups)
        return op.emitOpError("cannot reshape the sum to ") << target;
      result = tensor::ExpandShapeOp::create(rewriter, loc, target, result, *groups);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// The product of the sizes (static ones folded, `?` ones read with
/// tensor.dim) converted to float, in a rank-0 `linalg.fill`.
struct ElementCountLowering : OpRewritePattern<kiln::ElementCountOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::ElementCountOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType inputType = typeOf(op.getInput()), type = op.getType();
    Type element = type.getElementType();
    int64_t staticCount = 1;
    Value dynamicCount;
    for (int64_t d : op.getDims()) {
      if (!inputType.isDynamicDim(d)) {
        staticCount *= inputType.getDimSize(d);
        continue;
      }
      Value dim = tensor::DimOp::create(rewriter, loc, op.getInput(), d);
      dynamicCount = dynamicCount ? arith::MulIOp::create(rewriter, loc, dynamicCount, dim).getResult() : dim;
    }
    Value count = floatConstant(rewriter, loc, element, double(staticCount));
    if (dynamicCount) {
      Value asInt = arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(), dynamicCount);
      Value asFloat = arith::SIToFPOp::create(rewriter, loc, element, asInt);
      count = arith::MulFOp::create(rewriter, loc, count, asFloat);
    }
    rewriter.replaceOp(op, filled(rewriter, loc, type, {}, count));
    return success();
  }
};

/// One `linalg.generic` over the result comparing `linalg.index(axis)` with
/// the index read (broadcast along the axis).
struct OneHotLowering : OpRewritePattern<kiln::OneHotOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::OneHotOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    RankedTensorType type = op.getType();
    int64_t rank = type.getRank(), axis = op.getAxis();
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < rank; ++i)
      if (i != axis)
        exprs.push_back(getAffineDimExpr(i, context));
    SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, exprs, context),
                                   AffineMap::getMultiDimIdentityMap(rank, context)};
    SmallVector<Value> sizes = dynamicSizesFrom(rewriter, loc, type, op.getLike(), [](int64_t i) { return i; });
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(), type.getElementType(), sizes);
    Type element = type.getElementType();
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{op.getIndices()}, ValueRange{init}, maps,
        iterators(SmallVector<bool>(rank, false)), [&](OpBuilder &b, Location l, ValueRange args) {
          Value position = linalg::IndexOp::create(b, l, axis);
          Value index = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, position, index);
          linalg::YieldOp::create(b, l, ValueRange{arith::UIToFPOp::create(b, l, element, hit).getResult()});
        });
    rewriter.replaceOp(op, generic.getResults());
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
    RankedTensorType filterType = typeOf(filter), type = op.getType();
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
    AffineExpr i = getAffineDimExpr(0, context), j = getAffineDimExpr(1, context),
               f = getAffineDimExpr(2, context), c = getAffineDimExpr(3, context);
    SmallVector<AffineMap> flipMaps = {AffineMap::get(4, 0, {k[0] - 1 - i, k[1] - 1 - j, c, f}, context),
                                       AffineMap::getMultiDimIdentityMap(4, context)};
    Value flippedInit = tensor::EmptyOp::create(rewriter, loc, flippedType.getShape(), element);
    Value flipped = linalg::GenericOp::create(rewriter, loc, TypeRange{flippedType}, ValueRange{filter},
                                              ValueRange{flippedInit}, flipMaps,
                                              iterators(SmallVector<bool>(4, false)),
                                              [](OpBuilder &b, Location l, ValueRange args) {
                                                linalg::YieldOp::create(b, l, args[0]);
                                              })
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
/// * dY[n, y, x, f]: for each window offset (i, j), a strided slice of the
/// padded input and one contraction `linalg.generic` with loops
/// (c, f | n, y, x) whose maps are all projected permutations (so that
/// kiln-tile-and-vectorize blocks it like a matmul: c x f accumulators, one
/// (n, y, x) step at a time), inserted at [i, j] of the result.
struct Conv2DGradFilterLowering : OpRewritePattern<kiln::Conv2DGradFilterOp> {
  Conv2DGradFilterLowering(MLIRContext *context, bool asOneContraction)
      : OpRewritePattern(context), asOneContraction(asOneContraction) {}
  bool asOneContraction;

  /// dK[i, j, c, f] as one contraction with loops (i, j, c, f | n, y, x):
  /// the input is read at (n, y*sh + i, x*sw + j, c). kiln-map-to-gpu runs it
  /// as one implicit GEMM (M = kh*kw*c, N = f, K = n*y*x).
  LogicalResult rewriteAsOneContraction(kiln::Conv2DGradFilterOp op, PatternRewriter &rewriter) const {
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
    Value init = filled(rewriter, loc, type, {}, floatConstant(rewriter, loc, type.getElementType(), 0.0));
    Value result = linalg::GenericOp::create(
                       rewriter, loc, TypeRange{type}, ValueRange{input, op.getOutputGrad()}, ValueRange{init}, maps,
                       iterators({false, false, false, false, true, true, true}),
                       [](OpBuilder &b, Location l, ValueRange args) {
                         Value product = arith::MulFOp::create(b, l, args[0], args[1]);
                         linalg::YieldOp::create(b, l,
                                                 ValueRange{arith::AddFOp::create(b, l, args[2], product).getResult()});
                       })
                       .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }

  LogicalResult matchAndRewrite(kiln::Conv2DGradFilterOp op, PatternRewriter &rewriter) const override {
    if (asOneContraction)
      return rewriteAsOneContraction(op, rewriter);
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    RankedTensorType type = op.getType();
    Type element = type.getElementType();
    ArrayRef<int64_t> strides = op.getStrides();
    Value dy = op.getOutputGrad();
    RankedTensorType dyType = typeOf(dy);
    Value input = padSpatial(rewriter, loc, op.getInput(), op.getPadding());
    ArrayRef<int64_t> k = type.getShape(); // (kh, kw, c, f)
    SmallVector<AffineExpr> d;
    for (unsigned e = 0; e < 5; ++e)
      d.push_back(getAffineDimExpr(e, context));
    // d = (c, f, n, y, x)
    SmallVector<AffineMap> maps = {AffineMap::get(5, 0, {d[2], d[3], d[4], d[0]}, context),
                                   AffineMap::get(5, 0, {d[2], d[3], d[4], d[1]}, context),
                                   AffineMap::get(5, 0, {d[0], d[1]}, context)};
    auto sliceType = RankedTensorType::get({dyType.getDimSize(0), dyType.getDimSize(1), dyType.getDimSize(2), k[2]},
                                           element);
    auto blockType = RankedTensorType::get({k[2], k[3]}, element);
    Value zero = floatConstant(rewriter, loc, element, 0.0);
    Value result = tensor::EmptyOp::create(rewriter, loc, type.getShape(), element);
    SmallVector<OpFoldResult> sliceSizes = tensor::getMixedSizes(rewriter, loc, dy);
    sliceSizes[3] = rewriter.getIndexAttr(k[2]);
    SmallVector<OpFoldResult> sliceSteps = {rewriter.getIndexAttr(1), rewriter.getIndexAttr(strides[0]),
                                            rewriter.getIndexAttr(strides[1]), rewriter.getIndexAttr(1)};
    for (int64_t i = 0; i < k[0]; ++i)
      for (int64_t j = 0; j < k[1]; ++j) {
        SmallVector<OpFoldResult> offsets = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(i),
                                             rewriter.getIndexAttr(j), rewriter.getIndexAttr(0)};
        Value window =
            tensor::ExtractSliceOp::create(rewriter, loc, sliceType, input, offsets, sliceSizes, sliceSteps);
        Value init = filled(rewriter, loc, blockType, {}, zero);
        Value block = linalg::GenericOp::create(
                          rewriter, loc, TypeRange{blockType}, ValueRange{window, dy}, ValueRange{init}, maps,
                          iterators({false, false, true, true, true}),
                          [](OpBuilder &b, Location l, ValueRange args) {
                            Value product = arith::MulFOp::create(b, l, args[0], args[1]);
                            linalg::YieldOp::create(
                                b, l, ValueRange{arith::AddFOp::create(b, l, args[2], product).getResult()});
                          })
                          .getResult(0);
        SmallVector<OpFoldResult> at = {rewriter.getIndexAttr(i), rewriter.getIndexAttr(j), rewriter.getIndexAttr(0),
                                        rewriter.getIndexAttr(0)};
        SmallVector<OpFoldResult> blockSizes = {rewriter.getIndexAttr(1), rewriter.getIndexAttr(1),
                                                rewriter.getIndexAttr(k[2]), rewriter.getIndexAttr(k[3])};
        SmallVector<OpFoldResult> ones(4, rewriter.getIndexAttr(1));
        result = tensor::InsertSliceOp::create(rewriter, loc, block, result, at, blockSizes, ones);
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
      iterators({false, false, false, false, true, true}), [&](OpBuilder &nb, Location l, ValueRange args) {
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
          Value inRange =
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, index, indexConstant(nb, l, size));
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
    Value input = op.getInput(), dy = op.getOutputGrad();
    RankedTensorType type = op.getType(), dyType = typeOf(dy);
    Type element = type.getElementType();
    ArrayRef<int64_t> window = op.getWindow(), strides = op.getStrides();

    auto indexType = RankedTensorType::get(dyType.getShape(), rewriter.getIndexType());
    SmallVector<Value> sizes = dynamicSizesFrom(rewriter, loc, dyType, dy, [](int64_t i) { return i; });
    Value maxInit = filled(rewriter, loc, dyType, sizes,
                           floatConstant(rewriter, loc, element, -std::numeric_limits<double>::infinity()));
    Value indexInit = filled(rewriter, loc, indexType, sizes, indexConstant(rewriter, loc, 0));
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
        maps, iterators({false, false, false, false, true, true}), [&](OpBuilder &b, Location l, ValueRange args) {
          Value ki = linalg::IndexOp::create(b, l, 4), kj = linalg::IndexOp::create(b, l, 5);
          Value position = arith::AddIOp::create(
              b, l, arith::MulIOp::create(b, l, ki, indexConstant(b, l, windowWidth)), kj);
          Value greater = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, args[0], args[2]);
          Value newMax = arith::SelectOp::create(b, l, greater, args[0], args[2]);
          Value newIndex = arith::SelectOp::create(b, l, greater, position, args[3]);
          linalg::YieldOp::create(b, l, ValueRange{newMax, newIndex});
        });
    Value chosen = argmax.getResult(1);

    Value result = buildWindowGather(
        rewriter, loc, type, dy, dyType, window, strides,
        [&](OpBuilder &b, Location l, Value n, Value oy, Value ox, Value c, Value ki, Value kj) {
          Value position = arith::AddIOp::create(
              b, l, arith::MulIOp::create(b, l, ki, indexConstant(b, l, windowWidth)), kj);
          Value picked = tensor::ExtractOp::create(b, l, chosen, ValueRange{n, oy, ox, c});
          Value cotangent = tensor::ExtractOp::create(b, l, dy, ValueRange{n, oy, ox, c});
          Value isChosen = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, picked, position);
          return arith::SelectOp::create(b, l, isChosen, cotangent, floatConstant(b, l, element, 0.0)).getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Every input element takes cotangent / (kh * kw) from each window that
/// covers it.
struct AvgPoolGradLowering : OpRewritePattern<kiln::AvgPoolGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::AvgPoolGradOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value dy = op.getOutputGrad();
    RankedTensorType type = op.getType();
    Type element = type.getElementType();
    ArrayRef<int64_t> window = op.getWindow();
    double area = double(window[0] * window[1]);
    Value result = buildWindowGather(
        rewriter, loc, type, dy, typeOf(dy), window, op.getStrides(),
        [&](OpBuilder &b, Location l, Value n, Value oy, Value ox, Value c, Value, Value) {
          Value cotangent = tensor::ExtractOp::create(b, l, dy, ValueRange{n, oy, ox, c});
          return arith::DivFOp::create(b, l, cotangent, floatConstant(b, l, element, area)).getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void kiln::populateLowerGradientsToLinalgPatterns(RewritePatternSet &patterns, bool filterGradientAsOneContraction) {
  patterns.add<TransposeLowering, BroadcastToLowering, SumToLowering, ElementCountLowering, OneHotLowering,
               Conv2DGradInputLowering, MaxPoolGradLowering, AvgPoolGradLowering>(patterns.getContext());
  patterns.add<Conv2DGradFilterLowering>(patterns.getContext(), filterGradientAsOneContraction);
}
