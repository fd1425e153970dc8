//===- LowerElementwise.cpp - Elementwise kiln ops to linalg --------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The elementwise family of kiln-lower-to-linalg (see Passes.td): unary and
// binary arithmetic, comparisons, constants and dropout, each one
// `linalg.generic` with NumPy broadcasting (buildElementwise) that
// elementwise fusion can merge with its neighbours; stop_gradient becomes
// its operand; batch_norm's inference form becomes elementwise kiln ops.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/LoweringPatterns.h"

#include "dialect/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace kiln::lowering;

namespace {

template <typename KilnOp> struct UnaryLowering : OpRewritePattern<KilnOp> {
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

template <> Value UnaryLowering<kiln::NegOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return arith::NegFOp::create(b, loc, x);
}
template <> Value UnaryLowering<kiln::ReluOp>::scalar(OpBuilder &b, Location loc, Value x, Type type) {
  return arith::MaximumFOp::create(b, loc, x, floatConstant(b, loc, type, 0.0));
}
template <> Value UnaryLowering<kiln::SigmoidOp>::scalar(OpBuilder &b, Location loc, Value x, Type type) {
  Value one = floatConstant(b, loc, type, 1.0);
  Value expNeg = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  return arith::DivFOp::create(b, loc, one, arith::AddFOp::create(b, loc, one, expNeg));
}
template <> Value UnaryLowering<kiln::TanhOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::TanhOp::create(b, loc, x);
}
template <> Value UnaryLowering<kiln::ExpOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::ExpOp::create(b, loc, x);
}
template <> Value UnaryLowering<kiln::LogOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::LogOp::create(b, loc, x);
}
template <> Value UnaryLowering<kiln::SqrtOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::SqrtOp::create(b, loc, x);
}
template <> Value UnaryLowering<kiln::AbsOp>::scalar(OpBuilder &b, Location loc, Value x, Type) {
  return math::AbsFOp::create(b, loc, x);
}

template <typename KilnOp, typename ArithOp> struct BinaryLowering : OpRewritePattern<KilnOp> {
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
          Value layerKey = splitMix64(b, l, arith::XOrIOp::create(b, l, seed, splitMix64(b, l, stepAndInstance)));
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

/// stop_gradient has done its work once kiln-autodiff has run: its value is
/// its operand's.
struct StopGradientLowering : OpRewritePattern<kiln::StopGradientOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::StopGradientOp op, PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, op.getInput());
    return success();
  }
};

/// batch_norm's inference form becomes the elementwise kiln ops it is made
/// of (BatchNormOp::buildNormalize), which the patterns above then lower
/// and fusion merges into one loop with its neighbours.
struct BatchNormLowering : OpRewritePattern<kiln::BatchNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(kiln::BatchNormOp op, PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, kiln::BatchNormOp::buildNormalize(rewriter, op.getLoc(), op.getInput(), op.getGamma(),
                                                             op.getBeta(), op.getMean(), op.getVariance(),
                                                             op.getEpsilon().convertToDouble()));
    return success();
  }
};

} // namespace

void kiln::populateLowerElementwisePatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns.add<UnaryLowering<kiln::NegOp>, UnaryLowering<kiln::ReluOp>, UnaryLowering<kiln::SigmoidOp>,
               UnaryLowering<kiln::TanhOp>, UnaryLowering<kiln::ExpOp>, UnaryLowering<kiln::LogOp>,
               UnaryLowering<kiln::SqrtOp>, UnaryLowering<kiln::AbsOp>>(context);
  patterns.add<BinaryLowering<kiln::AddOp, arith::AddFOp>, BinaryLowering<kiln::SubOp, arith::SubFOp>,
               BinaryLowering<kiln::MulOp, arith::MulFOp>, BinaryLowering<kiln::DivOp, arith::DivFOp>,
               BinaryLowering<kiln::PowOp, math::PowFOp>, BinaryLowering<kiln::MaximumOp, arith::MaximumFOp>,
               BinaryLowering<kiln::MinimumOp, arith::MinimumFOp>>(context);
  patterns.add<BatchNormLowering, CompareLowering, ConstantLowering, DropoutLowering, StopGradientLowering>(context);
}
