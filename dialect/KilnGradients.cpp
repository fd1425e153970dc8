//===- KilnGradients.cpp - Vector-Jacobian products of the kiln ops -------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The differentiation rules: each differentiable kiln op implements
// `DifferentiableOpInterface::buildVectorJacobianProduct` here, in kiln ops,
// so that kiln-autodiff never names an op. One function per op family
// (elementwise binary, elementwise unary, matmul, convolution, pooling,
// shape, reductions, softmax, losses); the op methods at the end only
// dispatch. Every op a rule builds carries the forward op's location, so a
// problem in the backward pass is reported at the .kiln source line.
//
// Conventions (PyTorch's, each checked against PyTorch 1.13 by
// test/numerics/gradcheck_with_torch.py):
// - relu'(0) = 0 and abs'(0) = 0;
// - elementwise maximum/minimum give half of the cotangent to each operand
//   on a tie (torch.maximum); reductions along an axis send it to the first
//   extreme element (the index torch.max(dim) returns); a reduction over all
//   elements spreads it evenly over the ties (torch.max());
// - transpose transposes the cotangent back; concat hands each operand its
//   slice of the cotangent;
// - take sends the cotangent to the chosen element (torch.gather); an
//   out-of-range index, whose result is NaN, gets none;
// - stop_gradient passes none (it is NonDifferentiable, so it has no rule);
// - maxpool sends a window's cotangent to its first maximum (row-major),
//   never to padding; avgpool with padding divides by the number of input
//   elements in the window, as its forward does (Keras, count_include_pad
//   False);
// - cross-entropy from logits: (softmax(z) - onehot(t)) / N;
// - pow: d/da = b * a^(b-1) (0 where b = 0), d/db = a^b * log(a) (0 where
//   a = 0, as PyTorch masks it); for a < 0 the log is NaN, as in PyTorch,
//   so d/db is only meaningful where a > 0;
// - binary cross-entropy differentiates the clamped forward: no gradient
//   flows to p outside [1e-7, 1 - 1e-7];
// - means divide by the element count at run time (a dynamic batch);
// - dropout applies its mask to the cotangent (the same op and key);
// - batch_norm's inference form treats the moving statistics as constants;
//   its training form is differentiated through the ops it is rewritten
//   into (kiln-training-mode), as PyTorch differentiates through the batch
//   statistics.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace kiln;

namespace {

RankedTensorType tensorType(Value value) { return cast<RankedTensorType>(value.getType()); }

/// Builds the kiln ops of one rule, all at the forward op's location. The
/// binary helpers broadcast their operands NumPy-style; the ops infer their
/// result types (frontend/ShapeRules.h: a `?` against a static size gives
/// the static size).
class RuleBuilder {
public:
  RuleBuilder(OpBuilder &builder, Location loc) : b(builder), loc(loc) {}

  /// A rank-0 constant of the element type of `like`.
  Value constant(Value like, double value) {
    return ConstantOp::create(b, loc, RankedTensorType::get({}, tensorType(like).getElementType()), value);
  }

  template <typename OpT> Value binary(Value lhs, Value rhs) { return OpT::create(b, loc, lhs, rhs); }
  Value add(Value l, Value r) { return binary<AddOp>(l, r); }
  Value sub(Value l, Value r) { return binary<SubOp>(l, r); }
  Value mul(Value l, Value r) { return binary<MulOp>(l, r); }
  Value div(Value l, Value r) { return binary<DivOp>(l, r); }
  Value pow(Value l, Value r) { return binary<PowOp>(l, r); }
  Value maximum(Value l, Value r) { return binary<MaximumOp>(l, r); }
  Value minimum(Value l, Value r) { return binary<MinimumOp>(l, r); }

  template <typename OpT> Value unary(Value x) { return OpT::create(b, loc, x.getType(), x); }
  Value neg(Value x) { return unary<NegOp>(x); }
  Value exp(Value x) { return unary<ExpOp>(x); }
  Value log(Value x) { return unary<LogOp>(x); }

  /// 1.0 where `lhs predicate rhs` holds, else 0.0 (float, broadcast shape).
  Value compare(ComparePredicate predicate, Value lhs, Value rhs) {
    return CompareOp::create(b, loc, predicate, lhs, rhs);
  }

  /// Sums `value` back to `target` (the unbroadcast); nothing when the
  /// types already agree.
  Value sumTo(Value value, Type target) {
    if (value.getType() == target)
      return value;
    return SumToOp::create(b, loc, target, value);
  }

  /// Repeats `value` to the shape of `like`.
  Value broadcastLike(Value value, Value like) {
    if (tensorType(value).getShape() == tensorType(like).getShape())
      return value;
    return BroadcastToOp::create(b, loc, value, like);
  }

  Value reshape(Value value, RankedTensorType type) {
    if (value.getType() == type)
      return value;
    return ReshapeOp::create(b, loc, type, value);
  }

  /// `value` (the result of reducing along `axis`) with that axis put back
  /// as a dimension of size 1, so that it broadcasts against the input.
  Value keepDim(Value value, int64_t axis) {
    RankedTensorType type = tensorType(value);
    SmallVector<int64_t> shape(type.getShape());
    shape.insert(shape.begin() + axis, 1);
    return reshape(value, RankedTensorType::get(shape, type.getElementType()));
  }

  /// The number of elements of `value` in `dims` (all when empty), rank 0.
  Value count(Value value, std::optional<ArrayRef<int64_t>> dims = std::nullopt) {
    RankedTensorType type = tensorType(value);
    SmallVector<int64_t> all =
        dims ? SmallVector<int64_t>(*dims) : llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
    return ElementCountOp::create(b, loc, RankedTensorType::get({}, type.getElementType()), value,
                                  b.getDenseI64ArrayAttr(all));
  }

  OpBuilder &b;
  Location loc;
};

//===----------------------------------------------------------------------===//
// Elementwise binary ops
//===----------------------------------------------------------------------===//

/// The cotangents of a broadcasting binary op whose partial derivatives,
/// already multiplied by the result cotangent, are `lhsTerm` and `rhsTerm`
/// (in the result's shape): each is summed back to its operand's shape.
void pushBinary(RuleBuilder &r, Operation *op, Value lhsTerm, Value rhsTerm, SmallVectorImpl<Value> &out) {
  out.push_back(lhsTerm ? r.sumTo(lhsTerm, op->getOperand(0).getType()) : Value());
  out.push_back(rhsTerm ? r.sumTo(rhsTerm, op->getOperand(1).getType()) : Value());
}

/// add, sub, mul, div, pow, maximum, minimum.
LogicalResult binaryVjp(Operation *op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op->getLoc());
  Value a = op->getOperand(0), b = op->getOperand(1), y = op->getResult(0);
  if (isa<AddOp>(op)) {
    pushBinary(r, op, g, g, out);
  } else if (isa<SubOp>(op)) {
    pushBinary(r, op, g, r.neg(g), out);
  } else if (isa<MulOp>(op)) {
    pushBinary(r, op, r.mul(g, b), r.mul(g, a), out);
  } else if (isa<DivOp>(op)) {
    // d/db (a / b) = -a / b^2, written as PyTorch does.
    pushBinary(r, op, r.div(g, b), r.neg(r.div(r.mul(g, a), r.mul(b, b))), out);
  } else if (isa<PowOp>(op)) {
    // d/da = b * a^(b-1); where b = 0 the exponent is taken as 0 rather
    // than -1 so that a = 0 gives 0, not 0 * inf (PyTorch masks it too).
    Value bIsZero = r.compare(ComparePredicate::EQ, b, r.constant(b, 0.0));
    Value exponent = r.add(r.sub(b, r.constant(b, 1.0)), bIsZero);
    Value dA = r.mul(g, r.mul(b, r.pow(a, exponent)));
    // d/db = a^b * log(a); where a = 0, log(a + 1) = 0 stands in for
    // log(a), so the term is 0 there, as PyTorch masks it.
    Value aIsZero = r.compare(ComparePredicate::EQ, a, r.constant(a, 0.0));
    Value dB = r.mul(g, r.mul(y, r.log(r.add(a, aIsZero))));
    pushBinary(r, op, dA, dB, out);
  } else if (isa<MaximumOp, MinimumOp>(op)) {
    // The winner takes the cotangent; a tie splits it in halves (PyTorch).
    ComparePredicate wins = isa<MaximumOp>(op) ? ComparePredicate::GT : ComparePredicate::LT;
    Value lhsShare = r.add(r.compare(wins, a, b), r.mul(r.compare(ComparePredicate::EQ, a, b), r.constant(a, 0.5)));
    Value rhsShare = r.sub(r.constant(a, 1.0), lhsShare);
    pushBinary(r, op, r.mul(g, lhsShare), r.mul(g, rhsShare), out);
  } else {
    return op->emitError() << "'" << op->getName() << "' has no binary differentiation rule";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise unary ops
//===----------------------------------------------------------------------===//

/// neg, relu, sigmoid, tanh, exp, log, sqrt, abs; the result `y` is reused
/// where the derivative is a function of it.
LogicalResult unaryVjp(Operation *op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op->getLoc());
  Value x = op->getOperand(0), y = op->getResult(0);
  Value dx;
  if (isa<NegOp>(op))
    dx = r.neg(g);
  else if (isa<ReluOp>(op))
    // relu'(0) = 0. The mask reads the result, y > 0 exactly where x > 0
    // (NaN and -0 included), so that x has no use but the relu: the
    // convolution or matmul before it then writes y in its epilogue instead
    // of writing x for a separate pass.
    dx = r.mul(g, r.compare(ComparePredicate::GT, y, r.constant(y, 0.0)));
  else if (isa<SigmoidOp>(op))
    dx = r.mul(g, r.mul(y, r.sub(r.constant(y, 1.0), y)));
  else if (isa<TanhOp>(op))
    dx = r.mul(g, r.sub(r.constant(y, 1.0), r.mul(y, y)));
  else if (isa<ExpOp>(op))
    dx = r.mul(g, y);
  else if (isa<LogOp>(op))
    dx = r.div(g, x);
  else if (isa<SqrtOp>(op))
    dx = r.div(g, r.mul(y, r.constant(y, 2.0)));
  else if (isa<AbsOp>(op)) {
    Value zero = r.constant(x, 0.0);
    Value sign = r.sub(r.compare(ComparePredicate::GT, x, zero), r.compare(ComparePredicate::LT, x, zero));
    dx = r.mul(g, sign); // abs'(0) = 0
  } else {
    return op->emitError() << "'" << op->getName() << "' has no unary differentiation rule";
  }
  out.push_back(dx);
  return success();
}

//===----------------------------------------------------------------------===//
// Matmul
//===----------------------------------------------------------------------===//

/// The transpose of a rank-2 value.
Value transpose2D(RuleBuilder &r, Value value) {
  return TransposeOp::create(r.b, r.loc, value, r.b.getDenseI64ArrayAttr({1, 0}));
}

/// A kiln.matmul of two values (its type inferred as numpy.matmul's).
Value matmul(RuleBuilder &r, Value lhs, Value rhs) { return MatmulOp::create(r.b, r.loc, lhs, rhs); }

/// `vector` [n] as a column [n, 1], to form outer products by broadcasting.
Value column(RuleBuilder &r, Value vector) { return r.keepDim(vector, 1); }

/// Y = A @ B for ranks 1 and 2: dA = dY @ B^T, dB = A^T @ dY, with the
/// rank-1 cases written as matrix-vector products and outer products.
LogicalResult matmulVjp(MatmulOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op.getLoc());
  Value a = op.getLhs(), b = op.getRhs();
  int64_t aRank = tensorType(a).getRank(), bRank = tensorType(b).getRank();
  Value dA, dB;
  if (aRank == 2 && bRank == 2) { // [m,k] @ [k,n]
    dA = matmul(r, g, transpose2D(r, b));
    dB = matmul(r, transpose2D(r, a), g);
  } else if (aRank == 2) { // [m,k] @ [k] -> [m]
    dA = r.mul(column(r, g), b);
    dB = matmul(r, g, a);
  } else if (bRank == 2) { // [k] @ [k,n] -> [n]
    dA = matmul(r, b, g);
    dB = r.mul(column(r, a), g);
  } else { // [k] @ [k] -> []
    dA = r.mul(g, b);
    dB = r.mul(g, a);
  }
  // `?` against a static size can make the inferred type more static than
  // the operand's; reconcile through sum_to (a no-op on equal types).
  out.push_back(r.sumTo(dA, a.getType()));
  out.push_back(r.sumTo(dB, b.getType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

/// Input: stride-1 convolution of the dilated, padded output cotangent with
/// the flipped, transposed filter (kiln.conv2d_grad_input); filter:
/// correlation of the input with the output cotangent
/// (kiln.conv2d_grad_filter).
LogicalResult conv2dVjp(Conv2DOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  Location loc = op.getLoc();
  out.push_back(Conv2DGradInputOp::create(builder, loc, op.getInput().getType(), g, op.getFilter(), op.getStridesAttr(),
                                          op.getPaddingAttr()));
  out.push_back(Conv2DGradFilterOp::create(builder, loc, op.getFilter().getType(), op.getInput(), g,
                                           op.getStridesAttr(), op.getPaddingAttr()));
  return success();
}

LogicalResult maxPoolVjp(MaxPoolOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  out.push_back(MaxPoolGradOp::create(builder, op.getLoc(), op.getInput(), g, op.getWindowAttr(), op.getStridesAttr(),
                                      op.getPaddingAttr()));
  return success();
}

LogicalResult avgPoolVjp(AvgPoolOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  out.push_back(AvgPoolGradOp::create(builder, op.getLoc(), op.getInput().getType(), g, op.getWindowAttr(),
                                      op.getStridesAttr(), op.getPaddingAttr()));
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions and softmax
//===----------------------------------------------------------------------===//

/// `g` (shaped as `x` without `axis`) placed at the positions `index` names
/// along `axis`, zero elsewhere: the cotangent of selecting those elements.
Value scatterAlong(RuleBuilder &r, Value g, Value index, int64_t axis, Value x) {
  Value mask = OneHotOp::create(r.b, r.loc, tensorType(x), index, uint64_t(axis), x);
  return r.mul(mask, r.keepDim(g, axis));
}

/// take: the cotangent goes to the chosen elements; the indices get none.
LogicalResult takeVjp(TakeOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op.getLoc());
  Value x = op.getInput();
  out.push_back(r.sumTo(scatterAlong(r, g, op.getIndices(), op.getAxis(), x), x.getType()));
  out.push_back(Value());
  return success();
}

/// The cotangent of a reduction's result spread back over the input's shape.
Value spread(RuleBuilder &r, Value g, Value input, std::optional<int64_t> axis) {
  return r.broadcastLike(axis ? r.keepDim(g, *axis) : g, input);
}

template <typename ReductionOp>
LogicalResult reductionVjp(ReductionOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op.getLoc());
  Value x = op.getInput();
  std::optional<int64_t> axis;
  if (op.getAxis())
    axis = int64_t(*op.getAxis());
  Value dx;
  if constexpr (std::is_same_v<ReductionOp, ReduceSumOp>) {
    dx = spread(r, g, x, axis);
  } else if constexpr (std::is_same_v<ReductionOp, ReduceMeanOp>) {
    SmallVector<int64_t> dims;
    if (axis)
      dims.push_back(*axis);
    else
      dims = llvm::to_vector(llvm::seq<int64_t>(0, tensorType(x).getRank()));
    dx = r.div(spread(r, g, x, axis), r.count(x, ArrayRef<int64_t>(dims)));
  } else {
    constexpr bool isMax = std::is_same_v<ReductionOp, ReduceMaxOp>;
    if (axis) {
      // To the first extreme element along the axis, as torch.max(dim).
      Value index = isMax ? ArgmaxOp::create(r.b, r.loc, x, uint64_t(*axis)).getResult()
                          : ArgminOp::create(r.b, r.loc, x, uint64_t(*axis)).getResult();
      dx = scatterAlong(r, g, index, *axis, x);
    } else {
      // Evenly over the ties, as torch.max() over all elements.
      Value mask = r.compare(ComparePredicate::EQ, x, op.getResult());
      Value ties = ReduceSumOp::create(r.b, r.loc, mask, std::optional<int64_t>());
      dx = r.mul(mask, r.div(g, ties));
    }
  }
  out.push_back(r.sumTo(dx, x.getType()));
  return success();
}

/// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g),
/// sums along the axis.
template <typename SoftmaxLikeOp>
LogicalResult softmaxVjp(SoftmaxLikeOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op.getLoc());
  Value y = op.getResult();
  int64_t axis = op.getAxis();
  auto sumAlongAxis = [&](Value v) {
    return r.keepDim(ReduceSumOp::create(r.b, r.loc, v, std::optional<int64_t>(axis)), axis);
  };
  Value dx;
  if constexpr (std::is_same_v<SoftmaxLikeOp, SoftmaxOp>)
    dx = r.mul(y, r.sub(g, sumAlongAxis(r.mul(g, y))));
  else
    dx = r.sub(g, r.mul(r.exp(y), sumAlongAxis(g)));
  out.push_back(r.sumTo(dx, op.getInput().getType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

/// Sparse cross-entropy from logits: dz = g * (softmax(z) - onehot(t)) / N;
/// the labels get nothing.
LogicalResult crossEntropyVjp(CrossEntropyOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op.getLoc());
  Value z = op.getLhs();
  RankedTensorType zType = tensorType(z);
  Value probs = SoftmaxOp::create(r.b, r.loc, z, uint64_t(1));
  Value onehot = OneHotOp::create(r.b, r.loc, zType, op.getRhs(), uint64_t(1), z);
  Value scale = r.div(g, r.count(z, ArrayRef<int64_t>{0}));
  out.push_back(r.sumTo(r.mul(r.sub(probs, onehot), scale), zType));
  out.push_back(Value());
  return success();
}

/// mean((a - b)^2): da = 2 g (a - b) / count, db = -da.
LogicalResult mseVjp(MseOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op.getLoc());
  Value a = op.getLhs(), b = op.getRhs();
  Value scale = r.div(r.mul(g, r.constant(a, 2.0)), r.count(a));
  Value da = r.mul(r.sub(a, b), scale);
  out.push_back(r.sumTo(da, a.getType()));
  out.push_back(r.sumTo(r.neg(da), b.getType()));
  return success();
}

/// mean(-(y log pc + (1 - y) log(1 - pc))) with pc = clamp(p, eps, 1 - eps):
/// dp = g (pc - y) / (pc (1 - pc)) / count where p is inside the clamp range
/// (the clamp's derivative is 0 outside, 1 on its bounds, as torch.clamp);
/// dy = g (log(1 - pc) - log(pc)) / count.
LogicalResult binaryCrossEntropyVjp(BinaryCrossEntropyOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op.getLoc());
  Value p = op.getLhs(), y = op.getRhs();
  Value one = r.constant(p, 1.0), eps = r.constant(p, 1e-7);
  Value high = r.sub(one, eps);
  Value clamped = r.minimum(r.maximum(p, eps), high);
  Value inside = r.mul(r.compare(ComparePredicate::GE, p, eps), r.compare(ComparePredicate::LE, p, high));
  Value scale = r.div(g, r.count(p));
  Value oneMinus = r.sub(one, clamped);
  Value dp = r.mul(r.mul(inside, scale), r.div(r.sub(clamped, y), r.mul(clamped, oneMinus)));
  Value dy = r.mul(scale, r.sub(r.log(oneMinus), r.log(clamped)));
  out.push_back(r.sumTo(dp, p.getType()));
  out.push_back(r.sumTo(dy, y.getType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

/// transpose: the cotangent transposed back, by the inverse permutation.
LogicalResult transposeVjp(TransposeOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  ArrayRef<int64_t> permutation = op.getPermutation();
  SmallVector<int64_t> inverse(permutation.size());
  for (size_t i = 0; i < permutation.size(); ++i)
    inverse[permutation[i]] = int64_t(i);
  out.push_back(TransposeOp::create(builder, op.getLoc(), g, builder.getDenseI64ArrayAttr(inverse)));
  return success();
}

/// concat: each operand gets its own part of the cotangent.
LogicalResult concatVjp(ConcatOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  int64_t axis = op.getAxis();
  RankedTensorType lhs = op.getLhs().getType(), rhs = op.getRhs().getType();
  out.push_back(SliceOp::create(builder, op.getLoc(), lhs, g, uint64_t(axis), uint64_t(0)));
  out.push_back(SliceOp::create(builder, op.getLoc(), rhs, g, uint64_t(axis), uint64_t(lhs.getDimSize(axis))));
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// The interface methods: dispatch to the family rules above
//===----------------------------------------------------------------------===//

#define KILN_VJP(OpClass, body)                                                                                        \
  LogicalResult OpClass::buildVectorJacobianProduct(OpBuilder &builder, ArrayRef<Value> resultCotangents,              \
                                                    SmallVectorImpl<Value> &operandCotangents) {                       \
    Value g = resultCotangents.front();                                                                                \
    if (!g) {                                                                                                          \
      operandCotangents.append(getOperation()->getNumOperands(), Value());                                             \
      return success();                                                                                                \
    }                                                                                                                  \
    return body;                                                                                                       \
  }

KILN_VJP(AddOp, binaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(SubOp, binaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(MulOp, binaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(DivOp, binaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(PowOp, binaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(MaximumOp, binaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(MinimumOp, binaryVjp(*this, builder, g, operandCotangents))

KILN_VJP(NegOp, unaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(ReluOp, unaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(SigmoidOp, unaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(TanhOp, unaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(ExpOp, unaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(LogOp, unaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(SqrtOp, unaryVjp(*this, builder, g, operandCotangents))
KILN_VJP(AbsOp, unaryVjp(*this, builder, g, operandCotangents))

KILN_VJP(MatmulOp, matmulVjp(*this, builder, g, operandCotangents))
KILN_VJP(Conv2DOp, conv2dVjp(*this, builder, g, operandCotangents))
KILN_VJP(MaxPoolOp, maxPoolVjp(*this, builder, g, operandCotangents))
KILN_VJP(AvgPoolOp, avgPoolVjp(*this, builder, g, operandCotangents))

KILN_VJP(ReshapeOp,
         (operandCotangents.push_back(RuleBuilder(builder, getLoc()).reshape(g, getInput().getType())), success()))
KILN_VJP(TransposeOp, transposeVjp(*this, builder, g, operandCotangents))
KILN_VJP(ConcatOp, concatVjp(*this, builder, g, operandCotangents))
// The same mask and scale on the cotangent: the same op with the same key
// recomputes the mask (identity without a key). The key gets no gradient.
LogicalResult dropoutVjp(DropoutOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  out.push_back(
      DropoutOp::create(builder, op.getLoc(), g.getType(), g, op.getKey(), op.getRateAttr(), op.getInstanceAttr()));
  for (size_t i = 0; i < op.getKey().size(); ++i)
    out.push_back(Value());
  return success();
}

KILN_VJP(DropoutOp, dropoutVjp(*this, builder, g, operandCotangents))

/// The inference form: with s = 1 / sqrt(variance + epsilon), dx = g gamma s,
/// dgamma = sum(g (x - mean) s), dbeta = sum(g), the sums over every axis
/// but the last. The moving statistics get none (non-trainable).
LogicalResult batchNormVjp(BatchNormOp op, OpBuilder &builder, Value g, SmallVectorImpl<Value> &out) {
  RuleBuilder r(builder, op.getLoc());
  Value inverseStddev = r.div(
      r.constant(g, 1.0),
      SqrtOp::create(builder, op.getLoc(), r.add(op.getVariance(), r.constant(g, op.getEpsilon().convertToDouble()))));
  Value normalised = r.mul(r.sub(op.getInput(), op.getMean()), inverseStddev);
  out.push_back(r.mul(g, r.mul(op.getGamma(), inverseStddev)));
  out.push_back(r.sumTo(r.mul(g, normalised), op.getGamma().getType()));
  out.push_back(r.sumTo(g, op.getBeta().getType()));
  out.push_back(Value());
  out.push_back(Value());
  return success();
}
KILN_VJP(BatchNormOp, batchNormVjp(*this, builder, g, operandCotangents))

KILN_VJP(ReduceSumOp, reductionVjp(*this, builder, g, operandCotangents))
KILN_VJP(ReduceMeanOp, reductionVjp(*this, builder, g, operandCotangents))
KILN_VJP(ReduceMaxOp, reductionVjp(*this, builder, g, operandCotangents))
KILN_VJP(ReduceMinOp, reductionVjp(*this, builder, g, operandCotangents))

KILN_VJP(TakeOp, takeVjp(*this, builder, g, operandCotangents))

KILN_VJP(SoftmaxOp, softmaxVjp(*this, builder, g, operandCotangents))
KILN_VJP(LogSoftmaxOp, softmaxVjp(*this, builder, g, operandCotangents))

KILN_VJP(CrossEntropyOp, crossEntropyVjp(*this, builder, g, operandCotangents))
KILN_VJP(BinaryCrossEntropyOp, binaryCrossEntropyVjp(*this, builder, g, operandCotangents))
KILN_VJP(MseOp, mseVjp(*this, builder, g, operandCotangents))

#undef KILN_VJP
