//===- LowerReductions.cpp - reductions, softmax and losses to linalg -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The reduction family of kiln-lower-to-linalg (see Passes.td): sum, mean,
// max and min over an axis or all, argmax and argmin, take, softmax and
// log-softmax, and the losses, as `linalg.generic` reductions.
//
// Numerical conventions (checked against PyTorch by the tests): softmax and
// the cross-entropy subtract the row maximum before `exp`; argmax (argmin)
// returns the first maximal (minimal) index; take gives NaN for an index out
// of range; binary cross-entropy clamps p to [1e-7, 1 - 1e-7] as
// Keras does; user-visible sums and means accumulate in f64
// (accurateSumOver).
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/LoweringPatterns.h"

#include "dialect/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;
using namespace kiln::lowering;

namespace {

//===----------------------------------------------------------------------===//
// Reductions, argmax, softmax
//===----------------------------------------------------------------------===//

template <typename KilnOp> struct ReductionLowering : OpRewritePattern<KilnOp> {
  using OpRewritePattern<KilnOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(KilnOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = op.getInput();
    SmallVector<int64_t> dims = reducedDims(tensorTypeOf(input), op.getAxis());
    rewriter.replaceOp(op, reduce(rewriter, loc, input, dims));
    return success();
  }
  static Value reduce(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> dims);
};

template <>
Value ReductionLowering<kiln::ReduceSumOp>::reduce(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> dims) {
  return accurateSumOver(b, loc, input, dims);
}
template <>
Value ReductionLowering<kiln::ReduceMeanOp>::reduce(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> dims) {
  Value count = elementCount(b, loc, input, dims, tensorTypeOf(input).getElementType());
  return divideBy(b, loc, accurateSumOver(b, loc, input, dims), count);
}
template <>
Value ReductionLowering<kiln::ReduceMaxOp>::reduce(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> dims) {
  return maxOver(b, loc, input, dims);
}
template <>
Value ReductionLowering<kiln::ReduceMinOp>::reduce(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> dims) {
  return buildReduction(b, loc, input, dims, std::numeric_limits<double>::infinity(),
                        [](OpBuilder &nb, Location l, ValueRange args) {
                          return arith::MinimumFOp::create(nb, l, args[0], args[1]).getResult();
                        });
}

/// argmax (`isMax`) and argmin: one pass along the axis keeping the extreme
/// value and its index.
template <typename KilnOp, bool isMax> struct ArgExtremeLowering : OpRewritePattern<KilnOp> {
  using OpRewritePattern<KilnOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(KilnOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value input = op.getInput();
    RankedTensorType inputType = tensorTypeOf(input);
    int64_t axis = op.getAxis(), rank = inputType.getRank();
    Type element = inputType.getElementType();
    SmallVector<Value> sizes = keptDynamicSizes(rewriter, loc, input, {axis});
    double worst = isMax ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    Value extremeInit =
        filledTensor(rewriter, loc, dropDims(inputType, {axis}), sizes, floatConstant(rewriter, loc, element, worst));
    RankedTensorType indexType = op.getType();
    Value indexInit =
        filledTensor(rewriter, loc, indexType, sizes,
                     arith::ConstantOp::create(rewriter, loc, rewriter.getIntegerAttr(indexType.getElementType(), 0)));
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators[axis] = utils::IteratorType::reduction;
    AffineMap reducedMap = mapDroppingDim(context, rank, axis);
    SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, context), reducedMap, reducedMap};
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{extremeInit.getType(), indexType}, ValueRange{input},
        ValueRange{extremeInit, indexInit}, maps, iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value index =
              arith::IndexCastOp::create(b, l, indexType.getElementType(), linalg::IndexOp::create(b, l, axis));
          // Strictly better: the first extreme element wins, as in PyTorch and NumPy.
          Value better = arith::CmpFOp::create(b, l, isMax ? arith::CmpFPredicate::OGT : arith::CmpFPredicate::OLT,
                                               args[0], args[1]);
          Value newExtreme = arith::SelectOp::create(b, l, better, args[0], args[1]);
          Value newIndex = arith::SelectOp::create(b, l, better, index, args[2]);
          linalg::YieldOp::create(b, l, ValueRange{newExtreme, newIndex});
        });
    rewriter.replaceOp(op, generic.getResult(1));
    return success();
  }
};

/// take: a pass along the axis that keeps the element whose position equals
/// the index. Comparing positions (rather than loading at the index) reads
/// nothing out of bounds: an index out of range keeps the initial NaN.
struct TakeLowering : OpRewritePattern<kiln::TakeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::TakeOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value input = op.getInput(), indices = op.getIndices();
    RankedTensorType inputType = tensorTypeOf(input);
    int64_t axis = op.getAxis(), rank = inputType.getRank();
    Type element = inputType.getElementType();
    Type indexElement = tensorTypeOf(indices).getElementType();
    SmallVector<Value> sizes = keptDynamicSizes(rewriter, loc, input, {axis});
    Value init = filledTensor(rewriter, loc, op.getType(), sizes,
                              floatConstant(rewriter, loc, element, std::numeric_limits<double>::quiet_NaN()));
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators[axis] = utils::IteratorType::reduction;
    AffineMap reducedMap = mapDroppingDim(context, rank, axis);
    SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, context), reducedMap, reducedMap};
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{op.getType()}, ValueRange{input, indices}, ValueRange{init}, maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value position = arith::IndexCastOp::create(b, l, indexElement, linalg::IndexOp::create(b, l, axis));
          Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, position, args[1]);
          linalg::YieldOp::create(b, l, ValueRange{arith::SelectOp::create(b, l, hit, args[0], args[2]).getResult()});
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

/// softmax(x) = exp(x - max) / sum(exp(x - max)); log_softmax(x) = (x - max) -
/// log(sum(exp(x - max))), both along `axis`.
template <typename KilnOp, bool isLog> struct SoftmaxLowering : OpRewritePattern<KilnOp> {
  using OpRewritePattern<KilnOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(KilnOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = op.getInput();
    int64_t axis = op.getAxis();
    Value max = maxOver(rewriter, loc, input, {axis});
    Value shifted =
        buildAlongAxis(rewriter, loc, input, ValueRange{max}, axis, [](OpBuilder &b, Location l, ValueRange args) {
          return arith::SubFOp::create(b, l, args[0], args[1]).getResult();
        });
    Value exps = buildElementwise(
        rewriter, loc, tensorTypeOf(shifted), ValueRange{shifted},
        [](OpBuilder &b, Location l, ValueRange args) { return math::ExpOp::create(b, l, args[0]).getResult(); });
    Value sum = sumOver(rewriter, loc, exps, {axis});
    Value result;
    if (isLog)
      result =
          buildAlongAxis(rewriter, loc, shifted, ValueRange{sum}, axis, [](OpBuilder &b, Location l, ValueRange args) {
            return arith::SubFOp::create(b, l, args[0], math::LogOp::create(b, l, args[1])).getResult();
          });
    else
      result =
          buildAlongAxis(rewriter, loc, exps, ValueRange{sum}, axis, [](OpBuilder &b, Location l, ValueRange args) {
            return arith::DivFOp::create(b, l, args[0], args[1]).getResult();
          });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

/// mean over rows of logsumexp(z_b) - z_b[t_b] (sparse, from logits); NaN
/// when a label t_b is outside [0, classes).
struct CrossEntropyLowering : OpRewritePattern<kiln::CrossEntropyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::CrossEntropyOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value logits = op.getLhs(), labels = op.getRhs();
    RankedTensorType logitsType = tensorTypeOf(logits);
    Type element = logitsType.getElementType();
    Value max = maxOver(rewriter, loc, logits, {1});
    Value shiftedExp =
        buildAlongAxis(rewriter, loc, logits, ValueRange{max}, 1, [](OpBuilder &b, Location l, ValueRange args) {
          Value d = arith::SubFOp::create(b, l, args[0], args[1]);
          return math::ExpOp::create(b, l, d).getResult();
        });
    Value sum = sumOver(rewriter, loc, shiftedExp, {1});
    RankedTensorType rowType = tensorTypeOf(max);
    SmallVector<AffineMap> maps(4, AffineMap::getMultiDimIdentityMap(1, context));
    Value rowInit = emptyLike(rewriter, loc, rowType, ValueRange{max});
    Value classes = tensor::DimOp::create(rewriter, loc, logits, 1);
    auto perRow = linalg::GenericOp::create(
        rewriter, loc, TypeRange{rowType}, ValueRange{max, sum, labels}, ValueRange{rowInit}, maps,
        SmallVector<utils::IteratorType>{utils::IteratorType::parallel},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value row = linalg::IndexOp::create(b, l, 0);
          Value column = arith::IndexCastOp::create(b, l, b.getIndexType(), args[2]);
          // A label outside [0, classes) must not index memory (labels come
          // from the C API and the JIT unchecked): one unsigned compare
          // catches negatives too; such a row's loss is NaN, which every
          // caller already treats as an error.
          Value inRange = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, column, classes);
          Value zero = arith::ConstantIndexOp::create(b, l, 0);
          Value safeColumn = arith::SelectOp::create(b, l, inRange, column, zero);
          Value target = tensor::ExtractOp::create(b, l, logits, ValueRange{row, safeColumn});
          Value logSumExp = arith::AddFOp::create(b, l, math::LogOp::create(b, l, args[1]), args[0]);
          Value loss = arith::SubFOp::create(b, l, logSumExp, target);
          Value nan = arith::ConstantOp::create(
              b, l, b.getFloatAttr(element, APFloat::getQNaN(cast<FloatType>(element).getFloatSemantics())));
          linalg::YieldOp::create(b, l, ValueRange{arith::SelectOp::create(b, l, inRange, loss, nan).getResult()});
        });
    rewriter.replaceOp(op, meanOfAll(rewriter, loc, perRow.getResult(0)));
    return success();
  }
};

/// mean of -(y log p + (1 - y) log(1 - p)), p clamped to [1e-7, 1 - 1e-7].
struct BinaryCrossEntropyLowering : OpRewritePattern<kiln::BinaryCrossEntropyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::BinaryCrossEntropyOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value p = op.getLhs(), y = op.getRhs();
    RankedTensorType type = tensorTypeOf(p);
    Type element = type.getElementType();
    Value terms =
        buildElementwise(rewriter, loc, type, ValueRange{p, y}, [&](OpBuilder &b, Location l, ValueRange args) {
          Value one = floatConstant(b, l, element, 1.0);
          Value eps = floatConstant(b, l, element, 1e-7);
          Value clamped = arith::MinimumFOp::create(b, l, arith::MaximumFOp::create(b, l, args[0], eps),
                                                    arith::SubFOp::create(b, l, one, eps));
          Value logP = math::LogOp::create(b, l, clamped);
          Value log1mP = math::LogOp::create(b, l, arith::SubFOp::create(b, l, one, clamped));
          Value pos = arith::MulFOp::create(b, l, args[1], logP);
          Value neg = arith::MulFOp::create(b, l, arith::SubFOp::create(b, l, one, args[1]), log1mP);
          return arith::NegFOp::create(b, l, arith::AddFOp::create(b, l, pos, neg)).getResult();
        });
    rewriter.replaceOp(op, meanOfAll(rewriter, loc, terms));
    return success();
  }
};

struct MseLowering : OpRewritePattern<kiln::MseOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::MseOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value squares = buildElementwise(rewriter, loc, tensorTypeOf(op.getLhs()), ValueRange{op.getLhs(), op.getRhs()},
                                     [](OpBuilder &b, Location l, ValueRange args) {
                                       Value d = arith::SubFOp::create(b, l, args[0], args[1]);
                                       return arith::MulFOp::create(b, l, d, d).getResult();
                                     });
    rewriter.replaceOp(op, meanOfAll(rewriter, loc, squares));
    return success();
  }
};

} // namespace

void kiln::populateLowerReductionPatterns(RewritePatternSet &patterns) {
  patterns.add<ReductionLowering<kiln::ReduceSumOp>, ReductionLowering<kiln::ReduceMeanOp>,
               ReductionLowering<kiln::ReduceMaxOp>, ReductionLowering<kiln::ReduceMinOp>,
               ArgExtremeLowering<kiln::ArgmaxOp, /*isMax=*/true>, ArgExtremeLowering<kiln::ArgminOp, /*isMax=*/false>,
               TakeLowering, SoftmaxLowering<kiln::SoftmaxOp, false>, SoftmaxLowering<kiln::LogSoftmaxOp, true>,
               CrossEntropyLowering, BinaryCrossEntropyLowering, MseLowering>(patterns.getContext());
}
