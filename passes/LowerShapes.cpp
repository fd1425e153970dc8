//===- LowerShapes.cpp - reshape and autodiff's shape ops to linalg -------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The shape family of kiln-lower-to-linalg (see Passes.td): `reshape`
// (tensor.collapse_shape/expand_shape), `concat` and its adjoint `slice`
// (tensor.insert_slice/extract_slice), `transpose` (linalg.transpose), and
// the shape ops kiln-autodiff builds: `broadcast_to` and its adjoint `sum_to`,
// `element_count` and `onehot` (linalg.generic). The batch dimension `?` of
// a result comes from `tensor.dim` of an operand.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/LoweringPatterns.h"

#include "dialect/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace kiln::lowering;

namespace {

//===----------------------------------------------------------------------===//
// Reshape
//===----------------------------------------------------------------------===//

struct ReshapeLowering : OpRewritePattern<kiln::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::ReshapeOp op, PatternRewriter &rewriter) const override {
    RankedTensorType source = tensorTypeOf(op.getInput()), target = op.getType();
    if (target.getRank() < source.getRank()) {
      if (auto groups = getReassociationIndicesForCollapse(source.getShape(), target.getShape())) {
        rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, target, op.getInput(), *groups);
        return success();
      }
    } else if (target.getRank() > source.getRank()) {
      if (auto groups = getReassociationIndicesForCollapse(target.getShape(), source.getShape())) {
        rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, target, op.getInput(), *groups);
        return success();
      }
    } else if (source == target) {
      rewriter.replaceOp(op, op.getInput());
      return success();
    }
    // Any other reshape (the language's `reshape(x, [N, 3, 8])` of
    // [N, 4, 6]): collapse to one row per example, then expand that.
    bool batched = source.getRank() > 0 && source.isDynamicDim(0);
    int64_t perRow = 1;
    for (int64_t d : source.getShape().drop_front(batched ? 1 : 0))
      perRow *= d;
    SmallVector<int64_t> rowShape;
    if (batched)
      rowShape.push_back(ShapedType::kDynamic);
    rowShape.push_back(perRow);
    auto rows = RankedTensorType::get(rowShape, source.getElementType());
    auto collapse = getReassociationIndicesForCollapse(source.getShape(), rows.getShape());
    auto expand = getReassociationIndicesForCollapse(target.getShape(), rows.getShape());
    if (!collapse || !expand)
      return op.emitOpError("reshape from ") << source << " to " << target << " cannot be lowered";
    Value flat = tensor::CollapseShapeOp::create(rewriter, op.getLoc(), rows, op.getInput(), *collapse);
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, target, flat, *expand);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Concat and slice
//===----------------------------------------------------------------------===//

/// The offsets, sizes and unit strides of the part of a tensor shaped as
/// `value` that starts at `offset` along `axis` (`?` sizes from `value`).
static void sliceAlong(OpBuilder &b, Location loc, Value value, int64_t axis, int64_t offset,
                       SmallVectorImpl<OpFoldResult> &offsets, SmallVectorImpl<OpFoldResult> &sizes,
                       SmallVectorImpl<OpFoldResult> &strides) {
  RankedTensorType type = tensorTypeOf(value);
  for (int64_t i = 0; i < type.getRank(); ++i) {
    offsets.push_back(b.getIndexAttr(i == axis ? offset : 0));
    sizes.push_back(type.isDynamicDim(i) ? OpFoldResult(tensor::DimOp::create(b, loc, value, i).getResult())
                                         : OpFoldResult(b.getIndexAttr(type.getDimSize(i))));
    strides.push_back(b.getIndexAttr(1));
  }
}

/// Both operands inserted into an empty result, the second after the
/// first along the axis (what tensor.concat decomposes into).
struct ConcatLowering : OpRewritePattern<kiln::ConcatOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::ConcatOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    int64_t axis = op.getAxis();
    SmallVector<Value> sizes = dynamicSizesFrom(rewriter, loc, type, op.getLhs(), [](int64_t i) { return i; });
    Value result = tensor::EmptyOp::create(rewriter, loc, type.getShape(), type.getElementType(), sizes);
    int64_t offset = 0;
    for (Value part : {op.getLhs(), op.getRhs()}) {
      SmallVector<OpFoldResult> offsets, partSizes, strides;
      sliceAlong(rewriter, loc, part, axis, offset, offsets, partSizes, strides);
      result = tensor::InsertSliceOp::create(rewriter, loc, part, result, offsets, partSizes, strides);
      offset += tensorTypeOf(part).getDimSize(axis);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// tensor.extract_slice of the range along the axis.
struct SliceLowering : OpRewritePattern<kiln::SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::SliceOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    int64_t axis = op.getAxis();
    SmallVector<OpFoldResult> offsets, sizes, strides;
    sliceAlong(rewriter, loc, op.getInput(), axis, op.getOffset(), offsets, sizes, strides);
    sizes[axis] = rewriter.getIndexAttr(type.getDimSize(axis));
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(op, type, op.getInput(), offsets, sizes, strides);
    return success();
  }
};

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
    RankedTensorType inputType = tensorTypeOf(op.getInput()), type = op.getType();
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
        iteratorTypes(SmallVector<bool>(rank, false)),
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
    RankedTensorType inputType = tensorTypeOf(input), target = op.getType();
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
    Value init =
        filledTensor(rewriter, loc, keptType, sizes, floatConstant(rewriter, loc, target.getElementType(), 0.0));
    SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, context),
                                   AffineMap::get(rank, 0, kept, context)};
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{keptType}, ValueRange{input}, ValueRange{init}, maps, iteratorTypes(reduced),
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
    RankedTensorType type = op.getType();
    Value count = elementCount(rewriter, loc, op.getInput(), op.getDims(), type.getElementType());
    rewriter.replaceOp(op, filledTensor(rewriter, loc, type, {}, count));
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
    // The `?` sizes from `like`, or else from the indices (the class
    // dimension is then static, as the verifier checks).
    SmallVector<Value> sizes =
        op.getLike()
            ? dynamicSizesFrom(rewriter, loc, type, op.getLike(), [](int64_t i) { return i; })
            : dynamicSizesFrom(rewriter, loc, type, op.getIndices(), [&](int64_t i) { return i < axis ? i : i - 1; });
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(), type.getElementType(), sizes);
    Type element = type.getElementType();
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{op.getIndices()}, ValueRange{init}, maps,
        iteratorTypes(SmallVector<bool>(rank, false)), [&](OpBuilder &b, Location l, ValueRange args) {
          Value position = linalg::IndexOp::create(b, l, axis);
          Value index = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, position, index);
          linalg::YieldOp::create(b, l, ValueRange{arith::UIToFPOp::create(b, l, element, hit).getResult()});
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

} // namespace

void kiln::populateLowerShapePatterns(RewritePatternSet &patterns) {
  patterns.add<ReshapeLowering, ConcatLowering, SliceLowering, TransposeLowering, BroadcastToLowering, SumToLowering,
               ElementCountLowering, OneHotLowering>(patterns.getContext());
}
