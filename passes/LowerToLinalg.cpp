//===- LowerToLinalg.cpp - kiln ops to linalg, tensor, arith, math --------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-lower-to-linalg` pass: one rewrite pattern per kiln op family.
// Contractions, convolutions and pooling become named linalg ops so that the
// later tiling and vectorization recipes (kiln-tile-and-vectorize) can match them; everything
// elementwise, every reduction and the losses become `linalg.generic`s that
// fusion can merge. The batch dimension `?` is carried through `tensor.dim`.
//
// Numerical conventions (checked against PyTorch by the tests): softmax and
// the cross-entropy subtract the row maximum before `exp`; argmax returns the
// first maximal index; binary cross-entropy clamps p to [1e-7, 1 - 1e-7] as
// Keras does.
//
//===----------------------------------------------------------------------===//

#include "passes/LoweringPatterns.h"
#include "passes/Passes.h"

#include "dialect/KilnDialect.h"
#include "dialect/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace kiln {
#define GEN_PASS_DEF_KILNLOWERTOLINALG
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

using BodyFn = llvm::function_ref<Value(OpBuilder &, Location, ValueRange)>;

//===----------------------------------------------------------------------===//
// Helpers shared by the patterns
//===----------------------------------------------------------------------===//

RankedTensorType tensorTypeOf(Value value) { return cast<RankedTensorType>(value.getType()); }

/// A scalar constant of a float type.
Value floatConstant(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

/// The `?` sizes of `resultType`, read from the first operand that has the
/// same dimension dynamic when operands are aligned on the right (NumPy
/// broadcasting). The verifier guarantees such an operand exists.
SmallVector<Value> broadcastDynamicSizes(OpBuilder &b, Location loc, RankedTensorType resultType,
                                         ValueRange operands) {
  SmallVector<Value> sizes;
  int64_t rank = resultType.getRank();
  for (int64_t i = 0; i < rank; ++i) {
    if (!resultType.isDynamicDim(i))
      continue;
    for (Value operand : operands) {
      RankedTensorType type = tensorTypeOf(operand);
      int64_t j = i - (rank - type.getRank());
      if (j >= 0 && type.isDynamicDim(j)) {
        sizes.push_back(tensor::DimOp::create(b, loc, operand, j));
        break;
      }
    }
  }
  return sizes;
}

/// An empty tensor of `type` whose `?` sizes come from `operands`.
Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type, ValueRange operands) {
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 broadcastDynamicSizes(b, loc, type, operands));
}

/// The indexing map that reads `operandType` broadcast into `resultType`:
/// dimensions aligned on the right; a static 1 against a larger result
/// dimension reads index 0.
AffineMap broadcastMap(MLIRContext *context, RankedTensorType operandType, RankedTensorType resultType) {
  int64_t rank = resultType.getRank(), offset = rank - operandType.getRank();
  SmallVector<AffineExpr> exprs;
  for (int64_t j = 0; j < operandType.getRank(); ++j) {
    int64_t i = j + offset;
    if (operandType.getDimSize(j) == 1 && resultType.getDimSize(i) != 1)
      exprs.push_back(getAffineConstantExpr(0, context));
    else
      exprs.push_back(getAffineDimExpr(i, context));
  }
  return AffineMap::get(rank, 0, exprs, context);
}

/// A `linalg.generic` computing `resultType` elementwise from `operands`
/// (broadcast NumPy-style); `body` gets one scalar per operand.
Value buildElementwise(OpBuilder &b, Location loc, RankedTensorType resultType, ValueRange operands, BodyFn body) {
  MLIRContext *context = b.getContext();
  SmallVector<AffineMap> maps;
  for (Value operand : operands)
    maps.push_back(broadcastMap(context, tensorTypeOf(operand), resultType));
  maps.push_back(AffineMap::getMultiDimIdentityMap(resultType.getRank(), context));
  SmallVector<utils::IteratorType> iterators(resultType.getRank(), utils::IteratorType::parallel);
  Value init = emptyLike(b, loc, resultType, operands);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, operands, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value result = body(nested, nestedLoc, args.drop_back());
        linalg::YieldOp::create(nested, nestedLoc, result);
      });
  return generic.getResult(0);
}

/// The tensor type of `type` with the dimensions in `reduced` removed.
RankedTensorType dropDims(RankedTensorType type, ArrayRef<int64_t> reduced, Type elementType = {}) {
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!llvm::is_contained(reduced, i))
      shape.push_back(type.getDimSize(i));
  return RankedTensorType::get(shape, elementType ? elementType : type.getElementType());
}

/// The `?` sizes of `input` kept after dropping `reduced`.
SmallVector<Value> keptDynamicSizes(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced) {
  SmallVector<Value> sizes;
  RankedTensorType type = tensorTypeOf(input);
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!llvm::is_contained(reduced, i) && type.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, input, i));
  return sizes;
}

/// A tensor of `type` filled with `value`.
Value filledTensor(OpBuilder &b, Location loc, RankedTensorType type, ValueRange dynamicSizes, Value value) {
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(), dynamicSizes);
  return linalg::FillOp::create(b, loc, ValueRange{value}, ValueRange{empty}).getResult(0);
}

/// Reduces `input` over the dimensions `reduced` with `combine(element,
/// accumulator)`, starting from `initValue`. With an `accumulator` type the
/// result has that element type and each element is extended to it first.
Value buildReduction(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced, double initValue,
                     BodyFn combine, FloatType accumulator = {}) {
  MLIRContext *context = b.getContext();
  RankedTensorType inputType = tensorTypeOf(input);
  Type element = accumulator ? Type(accumulator) : inputType.getElementType();
  RankedTensorType resultType = dropDims(inputType, reduced, element);
  Value init = filledTensor(b, loc, resultType, keptDynamicSizes(b, loc, input, reduced),
                            floatConstant(b, loc, element, initValue));
  SmallVector<AffineExpr> kept;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t i = 0; i < inputType.getRank(); ++i) {
    bool isReduced = llvm::is_contained(reduced, i);
    iterators.push_back(isReduced ? utils::IteratorType::reduction : utils::IteratorType::parallel);
    if (!isReduced)
      kept.push_back(getAffineDimExpr(i, context));
  }
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(inputType.getRank(), context),
                                 AffineMap::get(inputType.getRank(), 0, kept, context)};
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, ValueRange{input}, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value value = args[0];
        if (accumulator)
          value = arith::ExtFOp::create(nested, nestedLoc, accumulator, value);
        linalg::YieldOp::create(nested, nestedLoc, combine(nested, nestedLoc, ValueRange{value, args[1]}));
      });
  return generic.getResult(0);
}

/// The sum over `reduced`, accumulated in `accumulator` if given (the result
/// then has that element type).
Value sumOver(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced, FloatType accumulator = {}) {
  auto add = [](OpBuilder &nb, Location l, ValueRange args) {
    return arith::AddFOp::create(nb, l, args[0], args[1]).getResult();
  };
  return buildReduction(b, loc, input, reduced, 0.0, add, accumulator);
}

/// sumOver accumulating in f64 and rounding once at the end: the user's
/// `sum` and `mean` and the losses' means may add millions of values, and a
/// float32 running sum stops growing at 2^24 (the sum of 20 million ones
/// was 16777216). Internal sums over a softmax axis stay in f32.
Value accurateSumOver(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced) {
  RankedTensorType inputType = tensorTypeOf(input);
  if (!inputType.getElementType().isF32())
    return sumOver(b, loc, input, reduced);
  Value wideSum = sumOver(b, loc, input, reduced, b.getF64Type());
  return buildElementwise(b, loc, dropDims(inputType, reduced), ValueRange{wideSum},
                          [&](OpBuilder &nb, Location l, ValueRange args) {
                            return arith::TruncFOp::create(nb, l, inputType.getElementType(), args[0]).getResult();
                          });
}

Value maxOver(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced) {
  return buildReduction(b, loc, input, reduced, -std::numeric_limits<double>::infinity(),
                        [](OpBuilder &nb, Location l, ValueRange args) {
                          return arith::MaximumFOp::create(nb, l, args[0], args[1]).getResult();
                        });
}

/// The number of elements of `input` in the dimensions `reduced`, as a float
/// scalar of `floatType` (read at run time when a dimension is `?`).
Value elementCount(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced, Type floatType) {
  RankedTensorType type = tensorTypeOf(input);
  int64_t staticCount = 1;
  Value dynamicCount;
  for (int64_t i : reduced) {
    if (!type.isDynamicDim(i)) {
      staticCount *= type.getDimSize(i);
      continue;
    }
    Value dim = tensor::DimOp::create(b, loc, input, i);
    dynamicCount = dynamicCount ? arith::MulIOp::create(b, loc, dynamicCount, dim).getResult() : dim;
  }
  Value count = floatConstant(b, loc, floatType, double(staticCount));
  if (dynamicCount) {
    Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), dynamicCount);
    Value asFloat = arith::SIToFPOp::create(b, loc, floatType, asInt);
    count = arith::MulFOp::create(b, loc, count, asFloat);
  }
  return count;
}

/// Divides every element of `value` by the scalar `divisor`.
Value divideBy(OpBuilder &b, Location loc, Value value, Value divisor) {
  return buildElementwise(b, loc, tensorTypeOf(value), ValueRange{value},
                          [&](OpBuilder &nb, Location l, ValueRange args) {
                            return arith::DivFOp::create(nb, l, args[0], divisor).getResult();
                          });
}

/// The mean of all elements of `value`, as a rank-0 tensor.
Value meanOfAll(OpBuilder &b, Location loc, Value value) {
  RankedTensorType type = tensorTypeOf(value);
  SmallVector<int64_t> all = llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
  Value count = elementCount(b, loc, value, all, type.getElementType());
  return divideBy(b, loc, accurateSumOver(b, loc, value, all), count);
}

/// The dimensions a reduction with an optional axis reduces.
SmallVector<int64_t> reducedDims(RankedTensorType type, std::optional<uint64_t> axis) {
  if (axis)
    return {int64_t(*axis)};
  return llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
}

/// An indexing map over `rank` dimensions that drops dimension `axis`.
AffineMap mapDroppingDim(MLIRContext *context, int64_t rank, int64_t axis) {
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis)
      exprs.push_back(getAffineDimExpr(i, context));
  return AffineMap::get(rank, 0, exprs, context);
}

/// A `linalg.generic` over the shape of `full` reading `full` with the
/// identity map and each of `reducedInputs` (shaped like `full` without
/// `axis`) broadcast along `axis`.
Value buildAlongAxis(OpBuilder &b, Location loc, Value full, ValueRange reducedInputs, int64_t axis, BodyFn body) {
  MLIRContext *context = b.getContext();
  RankedTensorType type = tensorTypeOf(full);
  int64_t rank = type.getRank();
  SmallVector<Value> inputs = {full};
  llvm::append_range(inputs, reducedInputs);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, context)};
  for (size_t i = 0; i < reducedInputs.size(); ++i)
    maps.push_back(mapDroppingDim(context, rank, axis));
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, context));
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  Value init = emptyLike(b, loc, type, ValueRange{full});
  auto generic = linalg::GenericOp::create(b, loc, TypeRange{type}, inputs, ValueRange{init}, maps, iterators,
                                           [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
                                             linalg::YieldOp::create(nested, nestedLoc,
                                                                     body(nested, nestedLoc, args.drop_back()));
                                           });
  return generic.getResult(0);
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

template <typename KilnOp>
struct UnaryLowering : OpRewritePattern<KilnOp> {
  using OpRewritePattern<KilnOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(KilnOp op, PatternRewriter &rewriter) const override {
    Type elementType = op.getType().getElementType();
    Value result = buildElementwise(
        rewriter, op.getLoc(), op.getType(), ValueRange{op.getInput()},
        [&](OpBuilder &b, Location loc, ValueRange args) { return scalar(b, loc, args[0], elementType); });
    rewriter.replaceOp(op, result);
    return success();
  }
  static Value scalar(OpBuilder &b, Location loc, Value x, Type type);
};

template <>
Value UnaryLowering<kiln::NegOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return arith::NegFOp::create(b, loc, x);
}
template <>
Value UnaryLowering<kiln::ReluOp>::scalar(OpBuilder &b, Location loc, Value x, Type type) {
  return arith::MaximumFOp::create(b, loc, x, floatConstant(b, loc, type, 0.0));
}
template <>
Value UnaryLowering<kiln::SigmoidOp>::scalar(OpBuilder &b, Location loc, Value x, Type type) {
  Value one = floatConstant(b, loc, type, 1.0);
  Value expNeg = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  return arith::DivFOp::create(b, loc, one, arith::AddFOp::create(b, loc, one, expNeg));
}
template <>
Value UnaryLowering<kiln::TanhOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::TanhOp::create(b, loc, x);
}
template <>
Value UnaryLowering<kiln::ExpOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::ExpOp::create(b, loc, x);
}
template <>
Value UnaryLowering<kiln::LogOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::LogOp::create(b, loc, x);
}
template <>
Value UnaryLowering<kiln::SqrtOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::SqrtOp::create(b, loc, x);
}
template <>
Value UnaryLowering<kiln::AbsOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::AbsFOp::create(b, loc, x);
}

template <typename KilnOp, typename ArithOp>
struct BinaryLowering : OpRewritePattern<KilnOp> {
  using OpRewritePattern<KilnOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(KilnOp op, PatternRewriter &rewriter) const override {
    Value result = buildElementwise(rewriter, op.getLoc(), op.getType(), ValueRange{op.getLhs(), op.getRhs()},
                                    [](OpBuilder &b, Location loc, ValueRange args) {
                                      return ArithOp::create(b, loc, args[0], args[1]).getResult();
                                    });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct CompareLowering : OpRewritePattern<kiln::CompareOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::CompareOp op, PatternRewriter &rewriter) const override {
    Type resultElement = op.getType().getElementType();
    bool isFloat = isa<FloatType>(tensorTypeOf(op.getLhs()).getElementType());
    kiln::ComparePredicate predicate = op.getPredicate();
    Value result = buildElementwise(
        rewriter, op.getLoc(), op.getType(), ValueRange{op.getLhs(), op.getRhs()},
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value bit = isFloat ? arith::CmpFOp::create(b, loc, floatPredicate(predicate), args[0], args[1]).getResult()
                              : arith::CmpIOp::create(b, loc, intPredicate(predicate), args[0], args[1]).getResult();
          return arith::UIToFPOp::create(b, loc, resultElement, bit).getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
  static arith::CmpFPredicate floatPredicate(kiln::ComparePredicate p) {
    switch (p) {
    case kiln::ComparePredicate::EQ:
      return arith::CmpFPredicate::OEQ;
    case kiln::ComparePredicate::NE:
      return arith::CmpFPredicate::UNE;
    case kiln::ComparePredicate::LT:
      return arith::CmpFPredicate::OLT;
    case kiln::ComparePredicate::LE:
      return arith::CmpFPredicate::OLE;
    case kiln::ComparePredicate::GT:
      return arith::CmpFPredicate::OGT;
    case kiln::ComparePredicate::GE:
      return arith::CmpFPredicate::OGE;
    }
    llvm_unreachable("unknown predicate");
  }
  static arith::CmpIPredicate intPredicate(kiln::ComparePredicate p) {
    switch (p) {
    case kiln::ComparePredicate::EQ:
      return arith::CmpIPredicate::eq;
    case kiln::ComparePredicate::NE:
      return arith::CmpIPredicate::ne;
    case kiln::ComparePredicate::LT:
      return arith::CmpIPredicate::slt;
    case kiln::ComparePredicate::LE:
      return arith::CmpIPredicate::sle;
    case kiln::ComparePredicate::GT:
      return arith::CmpIPredicate::sgt;
    case kiln::ComparePredicate::GE:
      return arith::CmpIPredicate::sge;
    }
    llvm_unreachable("unknown predicate");
  }
};

struct ConstantLowering : OpRewritePattern<kiln::ConstantOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::ConstantOp op, PatternRewriter &rewriter) const override {
    auto value = dyn_cast<TypedAttr>(op.getValue());
    if (!value)
      return rewriter.notifyMatchFailure(op, "constant value is not a typed attribute");
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, value);
    return success();
  }
};

/// An i64 constant with the bits of `value`.
Value i64Constant(OpBuilder &b, Location loc, uint64_t value) {
  return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(int64_t(value))).getResult();
}

/// SplitMix64's finalizer on i64 values: a bijection whose output bits each
/// depend on every input bit.
Value splitMix64(OpBuilder &b, Location loc, Value z) {
  auto mixStep = [&](Value x, unsigned shift) {
    return arith::XOrIOp::create(b, loc, x, arith::ShRUIOp::create(b, loc, x, i64Constant(b, loc, shift))).getResult();
  };
  z = arith::MulIOp::create(b, loc, mixStep(z, 30), i64Constant(b, loc, 0xBF58476D1CE4E5B9ull));
  z = arith::MulIOp::create(b, loc, mixStep(z, 27), i64Constant(b, loc, 0x94D049BB133111EBull));
  return mixStep(z, 31);
}

/// Without a key, dropout is the identity (inference). With the key (seed,
/// step) of a train step: element i is kept, and scaled by 1 / (1 - rate),
/// when the top 32 bits of splitmix(layerKey + i * golden) are at least
/// rate * 2^32, with layerKey = splitmix(seed ^ splitmix(step ^ instance <<
/// 32)). Computed per element from its index: no state, no stored mask, the
/// same for any thread count.
struct DropoutLowering : OpRewritePattern<kiln::DropoutOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::DropoutOp op, PatternRewriter &rewriter) const override {
    if (op.getKey().empty()) {
      rewriter.replaceOp(op, op.getInput());
      return success();
    }
    Location loc = op.getLoc();
    Value input = op.getInput();
    RankedTensorType type = tensorTypeOf(input);
    Type i64 = rewriter.getI64Type();
    // Row-major strides of the input, for each element's linear index.
    SmallVector<Value> strides(type.getRank());
    Value stride = i64Constant(rewriter, loc, 1);
    for (int64_t d = type.getRank() - 1; d >= 0; --d) {
      strides[d] = stride;
      Value size = arith::IndexCastOp::create(rewriter, loc, i64, tensor::DimOp::create(rewriter, loc, input, d));
      stride = arith::MulIOp::create(rewriter, loc, stride, size);
    }
    double rate = op.getRate().convertToDouble();
    uint64_t threshold = uint64_t(std::llround(rate * 4294967296.0));
    Type element = type.getElementType();
    // The key's scalars are operands of the elementwise op (broadcast), not
    // read before it: on the GPU they live in device memory, which only the
    // kernel may read. The layer's key is loop-invariant; LLVM hoists it.
    int64_t instance = op.getInstance();
    Value result = buildElementwise(
        rewriter, loc, type, ValueRange{input, op.getKey()[0], op.getKey()[1]},
        [&](OpBuilder &b, Location l, ValueRange args) {
          auto constant = [&](uint64_t value) { return i64Constant(b, l, value); };
          Value seed = arith::ExtUIOp::create(b, l, i64, args[1]);
          Value step = arith::FPToSIOp::create(b, l, i64, args[2]);
          Value stepAndInstance = arith::XOrIOp::create(b, l, step, constant(uint64_t(instance) << 32));
          Value layerKey =
              splitMix64(b, l, arith::XOrIOp::create(b, l, seed, splitMix64(b, l, stepAndInstance)));
          Value linear = constant(0);
          for (int64_t d = 0; d < type.getRank(); ++d) {
            Value index = arith::IndexCastOp::create(b, l, i64, linalg::IndexOp::create(b, l, d));
            linear = arith::AddIOp::create(b, l, linear, arith::MulIOp::create(b, l, index, strides[d]));
          }
          Value golden = constant(0x9E3779B97F4A7C15ull);
          Value counter = arith::AddIOp::create(b, l, layerKey, arith::MulIOp::create(b, l, linear, golden));
          Value bits = splitMix64(b, l, counter);
          Value top = arith::ShRUIOp::create(b, l, bits, constant(32));
          Value keep = arith::CmpIOp::create(b, l, arith::CmpIPredicate::uge, top, constant(threshold));
          Value scaled = arith::MulFOp::create(b, l, args[0], floatConstant(b, l, element, 1.0 / (1.0 - rate)));
          return arith::SelectOp::create(b, l, keep, scaled, floatConstant(b, l, element, 0.0)).getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Contractions, convolution, pooling, reshape
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
    Value init = filledTensor(rewriter, loc, type, dynamicSizes, floatConstant(rewriter, loc, type.getElementType(), 0));
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
    ArrayRef<int64_t> pad = op.getPadding(); // top, bottom, left, right
    if (llvm::any_of(pad, [](int64_t p) { return p != 0; })) {
      RankedTensorType inputType = tensorTypeOf(input);
      SmallVector<int64_t> paddedShape(inputType.getShape());
      paddedShape[1] += pad[0] + pad[1];
      paddedShape[2] += pad[2] + pad[3];
      auto paddedType = RankedTensorType::get(paddedShape, inputType.getElementType());
      SmallVector<OpFoldResult> low = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(pad[0]),
                                       rewriter.getIndexAttr(pad[2]), rewriter.getIndexAttr(0)};
      SmallVector<OpFoldResult> high = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(pad[1]),
                                        rewriter.getIndexAttr(pad[3]), rewriter.getIndexAttr(0)};
      input = tensor::PadOp::create(rewriter, loc, paddedType, input, low, high,
                                    floatConstant(rewriter, loc, inputType.getElementType(), 0.0));
    }
    SmallVector<Value> dynamicSizes;
    if (type.isDynamicDim(0))
      dynamicSizes.push_back(tensor::DimOp::create(rewriter, loc, op.getInput(), 0));
    Value init = filledTensor(rewriter, loc, type, dynamicSizes, floatConstant(rewriter, loc, type.getElementType(), 0));
    auto conv = linalg::Conv2DNhwcHwcfOp::create(rewriter, loc, TypeRange{type}, ValueRange{input, op.getFilter()},
                                                 ValueRange{init}, rewriter.getI64VectorAttr(op.getStrides()),
                                                 rewriter.getI64VectorAttr({1, 1}));
    rewriter.replaceOp(op, conv->getResults());
    return success();
  }
};

template <typename KilnOp, typename LinalgPoolOp, bool isMax>
struct PoolLowering : OpRewritePattern<KilnOp> {
  using OpRewritePattern<KilnOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(KilnOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Type element = type.getElementType();
    ArrayRef<int64_t> window = op.getWindow();
    SmallVector<Value> dynamicSizes;
    if (type.isDynamicDim(0))
      dynamicSizes.push_back(tensor::DimOp::create(rewriter, loc, op.getInput(), 0));
    double initValue = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
    Value init = filledTensor(rewriter, loc, type, dynamicSizes, floatConstant(rewriter, loc, element, initValue));
    Value windowShape = tensor::EmptyOp::create(rewriter, loc, window, element);
    auto pool = LinalgPoolOp::create(rewriter, loc, TypeRange{type}, ValueRange{op.getInput(), windowShape},
                                     ValueRange{init}, rewriter.getI64VectorAttr(op.getStrides()),
                                     rewriter.getI64VectorAttr({1, 1}));
    Value result = pool->getResult(0);
    if (!isMax)
      result = divideBy(rewriter, loc, result, floatConstant(rewriter, loc, element, double(window[0] * window[1])));
    rewriter.replaceOp(op, result);
    return success();
  }
};

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
    return op.emitOpError("reshape from ") << source << " to " << target
                                           << " is not a collapse or an expansion of dimensions";
  }
};

//===----------------------------------------------------------------------===//
// Reductions, argmax, softmax
//===----------------------------------------------------------------------===//

template <typename KilnOp>
struct ReductionLowering : OpRewritePattern<KilnOp> {
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

struct ArgmaxLowering : OpRewritePattern<kiln::ArgmaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::ArgmaxOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value input = op.getInput();
    RankedTensorType inputType = tensorTypeOf(input);
    int64_t axis = op.getAxis(), rank = inputType.getRank();
    Type element = inputType.getElementType();
    SmallVector<Value> sizes = keptDynamicSizes(rewriter, loc, input, {axis});
    Value maxInit = filledTensor(rewriter, loc, dropDims(inputType, {axis}), sizes,
                                 floatConstant(rewriter, loc, element, -std::numeric_limits<double>::infinity()));
    RankedTensorType indexType = op.getType();
    Value indexInit = filledTensor(rewriter, loc, indexType, sizes,
                                   arith::ConstantOp::create(rewriter, loc, rewriter.getIntegerAttr(indexType.getElementType(), 0)));
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators[axis] = utils::IteratorType::reduction;
    AffineMap reducedMap = mapDroppingDim(context, rank, axis);
    SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, context), reducedMap, reducedMap};
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{maxInit.getType(), indexType}, ValueRange{input}, ValueRange{maxInit, indexInit},
        maps, iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value index = arith::IndexCastOp::create(b, l, indexType.getElementType(),
                                                   linalg::IndexOp::create(b, l, axis));
          // Strictly greater: the first maximal element wins, as in PyTorch and NumPy.
          Value greater = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, args[0], args[1]);
          Value newMax = arith::SelectOp::create(b, l, greater, args[0], args[1]);
          Value newIndex = arith::SelectOp::create(b, l, greater, index, args[2]);
          linalg::YieldOp::create(b, l, ValueRange{newMax, newIndex});
        });
    rewriter.replaceOp(op, generic.getResult(1));
    return success();
  }
};

/// softmax(x) = exp(x - max) / sum(exp(x - max)); log_softmax(x) = (x - max) -
/// log(sum(exp(x - max))), both along `axis`.
template <typename KilnOp, bool isLog>
struct SoftmaxLowering : OpRewritePattern<KilnOp> {
  using OpRewritePattern<KilnOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(KilnOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = op.getInput();
    int64_t axis = op.getAxis();
    Value max = maxOver(rewriter, loc, input, {axis});
    Value shifted = buildAlongAxis(rewriter, loc, input, ValueRange{max}, axis,
                                   [](OpBuilder &b, Location l, ValueRange args) {
                                     return arith::SubFOp::create(b, l, args[0], args[1]).getResult();
                                   });
    Value exps = buildElementwise(rewriter, loc, tensorTypeOf(shifted), ValueRange{shifted},
                                  [](OpBuilder &b, Location l, ValueRange args) {
                                    return math::ExpOp::create(b, l, args[0]).getResult();
                                  });
    Value sum = sumOver(rewriter, loc, exps, {axis});
    Value result;
    if (isLog)
      result = buildAlongAxis(rewriter, loc, shifted, ValueRange{sum}, axis, [](OpBuilder &b, Location l, ValueRange args) {
        return arith::SubFOp::create(b, l, args[0], math::LogOp::create(b, l, args[1])).getResult();
      });
    else
      result = buildAlongAxis(rewriter, loc, exps, ValueRange{sum}, axis, [](OpBuilder &b, Location l, ValueRange args) {
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
    Value shiftedExp = buildAlongAxis(rewriter, loc, logits, ValueRange{max}, 1,
                                      [](OpBuilder &b, Location l, ValueRange args) {
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
    Value terms = buildElementwise(rewriter, loc, type, ValueRange{p, y}, [&](OpBuilder &b, Location l, ValueRange args) {
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

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct KilnLowerToLinalgPass : kiln::impl::KilnLowerToLinalgBase<KilnLowerToLinalgPass> {
  using KilnLowerToLinalgBase::KilnLowerToLinalgBase;
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    patterns.add<UnaryLowering<kiln::NegOp>, UnaryLowering<kiln::ReluOp>, UnaryLowering<kiln::SigmoidOp>,
                 UnaryLowering<kiln::TanhOp>, UnaryLowering<kiln::ExpOp>, UnaryLowering<kiln::LogOp>,
                 UnaryLowering<kiln::SqrtOp>, UnaryLowering<kiln::AbsOp>>(context);
    patterns.add<BinaryLowering<kiln::AddOp, arith::AddFOp>, BinaryLowering<kiln::SubOp, arith::SubFOp>,
                 BinaryLowering<kiln::MulOp, arith::MulFOp>, BinaryLowering<kiln::DivOp, arith::DivFOp>,
                 BinaryLowering<kiln::PowOp, math::PowFOp>, BinaryLowering<kiln::MaximumOp, arith::MaximumFOp>,
                 BinaryLowering<kiln::MinimumOp, arith::MinimumFOp>>(context);
    patterns.add<CompareLowering, ConstantLowering, DropoutLowering, MatmulLowering, Conv2DLowering,
                 PoolLowering<kiln::MaxPoolOp, linalg::PoolingNhwcMaxOp, true>,
                 PoolLowering<kiln::AvgPoolOp, linalg::PoolingNhwcSumOp, false>, ReshapeLowering,
                 ReductionLowering<kiln::ReduceSumOp>, ReductionLowering<kiln::ReduceMeanOp>,
                 ReductionLowering<kiln::ReduceMaxOp>, ReductionLowering<kiln::ReduceMinOp>, ArgmaxLowering,
                 SoftmaxLowering<kiln::SoftmaxOp, false>, SoftmaxLowering<kiln::LogSoftmaxOp, true>,
                 CrossEntropyLowering, BinaryCrossEntropyLowering, MseLowering>(context);
    // The internal ops kiln-autodiff builds (LowerGradientsToLinalg.cpp).
    kiln::populateLowerGradientsToLinalgPatterns(patterns, filterGradientAsOneContraction);

    ConversionTarget target(*context);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect, math::MathDialect, tensor::TensorDialect,
                           func::FuncDialect>();
    target.addIllegalDialect<kiln::KilnDialect>();
    // Parameter declarations are model metadata, not computation.
    target.addLegalOp<kiln::ParamOp>();
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
