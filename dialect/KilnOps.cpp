//===- KilnOps.cpp - The kiln ops --------------------------------*- C++ -*-===//
//
// Verifiers, folders and custom builders of the kiln ops (declared in
// KilnOps.td). The shape rules live here as small shared helpers, one per op
// family: NumPy broadcasting for the elementwise binary ops, the output size
// formula for convolution and pooling, axis removal for reductions. Every
// verifier reports through emitOpError, with the offending types in the
// message.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace kiln;

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

namespace {

/// Broadcasts one pair of aligned dimensions (NumPy rules; `?` against a
/// static 1 stays `?`). `dynamicAllowed` is set when the pair is `?` against
/// a static size > 1: the result may then be that size or `?`.
FailureOr<int64_t> broadcastDim(int64_t a, int64_t b, bool &dynamicAllowed) {
  dynamicAllowed = false;
  if (a == b)
    return a;
  if (a == 1)
    return b;
  if (b == 1)
    return a;
  if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b)) {
    dynamicAllowed = true;
    return ShapedType::isDynamic(a) ? b : a;
  }
  return failure();
}

/// Returns true if `actual` equals `expected` dimension by dimension.
bool sameShape(ArrayRef<int64_t> actual, ArrayRef<int64_t> expected) {
  return actual.size() == expected.size() &&
         llvm::equal(actual, expected);
}

/// Checks that the result of `op` has shape `expected`, reporting the
/// expected type otherwise.
LogicalResult verifyResultShape(Operation *op, ArrayRef<int64_t> expected) {
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  if (sameShape(resultType.getShape(), expected))
    return success();
  return op->emitOpError()
         << "result type " << resultType << " does not match the expected type "
         << RankedTensorType::get(expected, resultType.getElementType());
}

/// Checks that `dims` holds exactly two strictly positive values.
LogicalResult verifyPositivePair(Operation *op, StringRef name,
                                 ArrayRef<int64_t> dims) {
  if (dims.size() != 2)
    return op->emitOpError() << "'" << name << "' must have 2 values, got "
                             << dims.size();
  if (llvm::any_of(dims, [](int64_t d) { return d <= 0; }))
    return op->emitOpError() << "'" << name
                             << "' values must be positive, got [" << dims[0]
                             << ", " << dims[1] << "]";
  return success();
}

/// Output size of a sliding window over `size` (already padded) elements:
/// floor((size - window) / stride) + 1, or `?` for a dynamic size.
int64_t slidingOutputSize(int64_t size, int64_t window, int64_t stride) {
  if (ShapedType::isDynamic(size))
    return ShapedType::kDynamic;
  return (size - window) / stride + 1;
}

/// Checks that `axis` is in [0, rank).
LogicalResult verifyAxis(Operation *op, int64_t axis, int64_t rank) {
  if (axis < 0 || axis >= rank)
    return op->emitOpError() << "axis " << axis << " is out of range for rank "
                             << rank << " (expected [0, " << rank << "))";
  return success();
}

/// The shape `shape` without dimension `axis`.
SmallVector<int64_t> dropAxis(ArrayRef<int64_t> shape, int64_t axis) {
  SmallVector<int64_t> result(shape);
  result.erase(result.begin() + axis);
  return result;
}

/// Checks that `op`'s result is a rank-0 tensor of the element type of
/// operand 0 (the shape of every loss).
LogicalResult verifyScalarLossResult(Operation *op) {
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  Type element = getElementTypeOrSelf(op->getOperand(0).getType());
  if (resultType.getRank() != 0 || resultType.getElementType() != element)
    return op->emitOpError() << "result type " << resultType
                             << " must be a rank-0 tensor of " << element;
  return success();
}

/// Checks that the two operands of a loss have compatible shapes.
LogicalResult verifySameShapeOperands(Operation *op) {
  Type lhs = op->getOperand(0).getType(), rhs = op->getOperand(1).getType();
  if (failed(verifyCompatibleShape(lhs, rhs)))
    return op->emitOpError() << "operands of types " << lhs << " and " << rhs
                             << " must have the same shape";
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Family verifiers called from the ODS base classes (extraClassDefinition).
//===----------------------------------------------------------------------===//

/// Verifies the broadcast shape of the elementwise binary ops and compare:
/// the result shape is the NumPy broadcast of the operand shapes.
static LogicalResult verifyBroadcastingBinaryOp(Operation *op) {
  auto lhs = cast<RankedTensorType>(op->getOperand(0).getType());
  auto rhs = cast<RankedTensorType>(op->getOperand(1).getType());
  auto result = cast<RankedTensorType>(op->getResult(0).getType());
  int64_t rank = std::max(lhs.getRank(), rhs.getRank());
  SmallVector<int64_t> expected(rank);
  SmallVector<bool> dynamicAllowed(rank);
  for (int64_t i = 0; i < rank; ++i) {
    // Aligned on the right; a missing dimension acts as 1.
    int64_t li = i - (rank - lhs.getRank()), ri = i - (rank - rhs.getRank());
    int64_t l = li >= 0 ? lhs.getDimSize(li) : 1;
    int64_t r = ri >= 0 ? rhs.getDimSize(ri) : 1;
    bool allowed = false;
    FailureOr<int64_t> dim = broadcastDim(l, r, allowed);
    if (failed(dim))
      return op->emitOpError() << "operands of types " << lhs << " and " << rhs
                               << " are not broadcast-compatible";
    expected[i] = *dim;
    dynamicAllowed[i] = allowed;
  }
  bool matches = result.getRank() == rank;
  for (int64_t i = 0; matches && i < rank; ++i)
    matches = result.getDimSize(i) == expected[i] ||
              (dynamicAllowed[i] && result.isDynamicDim(i));
  if (!matches)
    return op->emitOpError()
           << "result type " << result << " is not the broadcast of operand "
           << "types " << lhs << " and " << rhs << " (expected "
           << RankedTensorType::get(expected, result.getElementType()) << ")";
  return success();
}

/// Verifies a 2-D pooling op: NHWC input, positive window and strides, the
/// window fits, and the output shape.
static LogicalResult verifyPool2DOp(Operation *op, ArrayRef<int64_t> window,
                                    ArrayRef<int64_t> strides) {
  auto input = cast<RankedTensorType>(op->getOperand(0).getType());
  if (input.getRank() != 4)
    return op->emitOpError() << "input must be a rank-4 NHWC tensor, got "
                             << input;
  if (failed(verifyPositivePair(op, "window", window)) ||
      failed(verifyPositivePair(op, "strides", strides)))
    return failure();
  ArrayRef<int64_t> shape = input.getShape();
  for (int i = 0; i < 2; ++i)
    if (!ShapedType::isDynamic(shape[1 + i]) && shape[1 + i] < window[i])
      return op->emitOpError()
             << "window [" << window[0] << ", " << window[1]
             << "] does not fit in the input of type " << input;
  SmallVector<int64_t> expected = {
      shape[0], slidingOutputSize(shape[1], window[0], strides[0]),
      slidingOutputSize(shape[2], window[1], strides[1]), shape[3]};
  return verifyResultShape(op, expected);
}

/// Verifies a reduction: `axis` (if any) in range, result shape = input
/// shape without `axis` (rank 0 without an axis).
static LogicalResult verifyReductionOp(Operation *op, IntegerAttr axisAttr) {
  auto input = cast<RankedTensorType>(op->getOperand(0).getType());
  if (!axisAttr)
    return verifyResultShape(op, {});
  int64_t axis = axisAttr.getInt();
  if (failed(verifyAxis(op, axis, input.getRank())))
    return failure();
  return verifyResultShape(op, dropAxis(input.getShape(), axis));
}

/// Verifies that `axis` is in [0, rank) of operand 0 (softmax family).
static LogicalResult verifyAxisInRange(Operation *op, IntegerAttr axisAttr) {
  auto input = cast<RankedTensorType>(op->getOperand(0).getType());
  return verifyAxis(op, axisAttr.getInt(), input.getRank());
}

//===----------------------------------------------------------------------===//
// Generated definitions
//===----------------------------------------------------------------------===//

#include "dialect/KilnEnums.cpp.inc"

#define GET_OP_CLASSES
#include "dialect/KilnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// ConstantOp
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValueAttr(); }

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

void ParamOp::build(OpBuilder &builder, OperationState &state, StringRef name,
                    RankedTensorType type, InitKind init,
                    std::optional<double> value) {
  FloatAttr valueAttr;
  if (value)
    valueAttr = builder.getF64FloatAttr(*value);
  build(builder, state, builder.getStringAttr(name), TypeAttr::get(type),
        InitKindAttr::get(builder.getContext(), init), valueAttr);
}

LogicalResult ParamOp::verify() {
  auto type = getTensorType();
  if (!type.hasStaticShape())
    return emitOpError() << "parameter type " << type
                         << " must have a static shape";
  if (!isa<FloatType>(type.getElementType()))
    return emitOpError() << "parameter type " << type
                         << " must have a float element type";
  bool isConstant = getInit() == InitKind::Constant;
  if (isConstant && !getValue())
    return emitOpError() << "init = constant requires a value";
  if (!isConstant && getValue())
    return emitOpError() << "a value is only allowed with init = constant, "
                            "not init = "
                         << stringifyInitKind(getInit());
  return success();
}

//===----------------------------------------------------------------------===//
// CompareOp
//===----------------------------------------------------------------------===//

LogicalResult CompareOp::verify() { return verifyBroadcastingBinaryOp(*this); }

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::verify() {
  auto lhs = getLhs().getType(), rhs = getRhs().getType();
  for (auto [name, type] : {std::pair{"lhs", lhs}, std::pair{"rhs", rhs}})
    if (type.getRank() != 1 && type.getRank() != 2)
      return emitOpError() << name << " must have rank 1 or 2, got " << type;
  // Contraction: the last dimension of lhs against the first of rhs.
  int64_t lk = lhs.getShape().back(), rk = rhs.getShape().front();
  if (!ShapedType::isDynamic(lk) && !ShapedType::isDynamic(rk) && lk != rk)
    return emitOpError() << "contraction dimensions of " << lhs << " and "
                         << rhs << " differ (" << lk << " vs " << rk << ")";
  SmallVector<int64_t> expected;
  if (lhs.getRank() == 2)
    expected.push_back(lhs.getDimSize(0));
  if (rhs.getRank() == 2)
    expected.push_back(rhs.getDimSize(1));
  return verifyResultShape(*this, expected);
}

//===----------------------------------------------------------------------===//
// Conv2DOp
//===----------------------------------------------------------------------===//

LogicalResult Conv2DOp::verify() {
  auto input = getInput().getType(), filter = getFilter().getType();
  if (input.getRank() != 4)
    return emitOpError() << "input must be a rank-4 NHWC tensor, got "
                         << input;
  if (filter.getRank() != 4 || !filter.hasStaticShape())
    return emitOpError() << "filter must be a static rank-4 HWCF tensor "
                            "([kh, kw, cin, cout]), got "
                         << filter;
  ArrayRef<int64_t> strides = getStrides(), padding = getPadding();
  if (failed(verifyPositivePair(*this, "strides", strides)))
    return failure();
  if (padding.size() != 4)
    return emitOpError() << "'padding' must have 4 values [top, bottom, "
                            "left, right], got "
                         << padding.size();
  if (llvm::any_of(padding, [](int64_t p) { return p < 0; }))
    return emitOpError() << "'padding' values must be non-negative";

  ArrayRef<int64_t> in = input.getShape(), k = filter.getShape();
  if (!ShapedType::isDynamic(in[3]) && in[3] != k[2])
    return emitOpError() << "input channels of " << input
                         << " do not match the filter's cin in " << filter;
  int64_t paddedH = ShapedType::isDynamic(in[1])
                        ? ShapedType::kDynamic
                        : in[1] + padding[0] + padding[1];
  int64_t paddedW = ShapedType::isDynamic(in[2])
                        ? ShapedType::kDynamic
                        : in[2] + padding[2] + padding[3];
  if ((!ShapedType::isDynamic(paddedH) && paddedH < k[0]) ||
      (!ShapedType::isDynamic(paddedW) && paddedW < k[1]))
    return emitOpError() << "filter window " << k[0] << "x" << k[1]
                         << " does not fit in the padded input of type "
                         << input;
  SmallVector<int64_t> expected = {in[0],
                                   slidingOutputSize(paddedH, k[0], strides[0]),
                                   slidingOutputSize(paddedW, k[1], strides[1]),
                                   k[3]};
  return verifyResultShape(*this, expected);
}

//===----------------------------------------------------------------------===//
// ReshapeOp
//===----------------------------------------------------------------------===//

/// Checks that only the leading dimension of `type` may be dynamic.
static LogicalResult verifyOnlyLeadingDynamic(Operation *op, StringRef what,
                                              RankedTensorType type) {
  for (int64_t i = 1; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      return op->emitOpError() << what << " type " << type
                               << " may only have a dynamic leading dimension";
  return success();
}

LogicalResult ReshapeOp::verify() {
  auto input = getInput().getType(), result = getResult().getType();
  if (failed(verifyOnlyLeadingDynamic(*this, "input", input)) ||
      failed(verifyOnlyLeadingDynamic(*this, "result", result)))
    return failure();
  bool inputBatch = input.getRank() > 0 && input.isDynamicDim(0);
  bool resultBatch = result.getRank() > 0 && result.isDynamicDim(0);
  if (inputBatch != resultBatch)
    return emitOpError() << "a dynamic leading (batch) dimension must be kept: "
                         << input << " cannot be reshaped to " << result;
  auto staticElements = [](RankedTensorType type, bool skipLeading) {
    int64_t n = 1;
    for (int64_t d : type.getShape().drop_front(skipLeading ? 1 : 0))
      n *= d;
    return n;
  };
  if (staticElements(input, inputBatch) != staticElements(result, resultBatch))
    return emitOpError() << "element counts of " << input << " and " << result
                         << " differ";
  return success();
}

//===----------------------------------------------------------------------===//
// ArgmaxOp
//===----------------------------------------------------------------------===//

LogicalResult ArgmaxOp::verify() {
  auto input = getInput().getType();
  int64_t axis = getAxisAttr().getInt();
  if (failed(verifyAxis(*this, axis, input.getRank())))
    return failure();
  return verifyResultShape(*this, dropAxis(input.getShape(), axis));
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

LogicalResult CrossEntropyOp::verify() {
  auto logits = getLhs().getType(), labels = getRhs().getType();
  if (logits.getRank() != 2)
    return emitOpError() << "logits must have rank 2 ([batch, classes]), got "
                         << logits;
  if (labels.getRank() != 1)
    return emitOpError() << "labels must have rank 1 ([batch]), got "
                         << labels;
  int64_t lb = logits.getDimSize(0), rb = labels.getDimSize(0);
  if (!ShapedType::isDynamic(lb) && !ShapedType::isDynamic(rb) && lb != rb)
    return emitOpError() << "batch sizes of logits " << logits
                         << " and labels " << labels << " differ";
  return verifyScalarLossResult(*this);
}

LogicalResult BinaryCrossEntropyOp::verify() {
  if (failed(verifySameShapeOperands(*this)))
    return failure();
  return verifyScalarLossResult(*this);
}

LogicalResult MseOp::verify() {
  if (failed(verifySameShapeOperands(*this)))
    return failure();
  return verifyScalarLossResult(*this);
}

//===----------------------------------------------------------------------===//
// DropoutOp
//===----------------------------------------------------------------------===//

LogicalResult DropoutOp::verify() {
  double rate = getRate().convertToDouble();
  if (!(rate >= 0.0 && rate < 1.0))
    return emitOpError() << "rate must be in [0, 1), got " << rate;
  ValueRange key = getKey();
  if (key.empty())
    return success();
  auto isScalar = [](Value v, bool wantInteger) {
    auto type = dyn_cast<RankedTensorType>(v.getType());
    return type && type.getRank() == 0 &&
           (wantInteger ? type.getElementType().isInteger(32) : type.getElementType().isF32());
  };
  if (key.size() != 2 || !isScalar(key[0], true) || !isScalar(key[1], false))
    return emitOpError() << "key must be (seed: tensor<i32>, step: tensor<f32>)";
  return success();
}

//===----------------------------------------------------------------------===//
// Internal ops of automatic differentiation
//===----------------------------------------------------------------------===//

LogicalResult TransposeOp::verify() {
  auto input = getInput().getType();
  ArrayRef<int64_t> permutation = getPermutation();
  if (int64_t(permutation.size()) != input.getRank())
    return emitOpError() << "permutation has " << permutation.size()
                         << " entries for an input of rank " << input.getRank();
  SmallVector<bool> seen(input.getRank(), false);
  SmallVector<int64_t> expected;
  for (int64_t p : permutation) {
    if (p < 0 || p >= input.getRank() || seen[p])
      return emitOpError() << "'permutation' must be a permutation of [0, "
                           << input.getRank() << ")";
    seen[p] = true;
    expected.push_back(input.getDimSize(p));
  }
  return verifyResultShape(*this, expected);
}

/// Checks that `small` broadcasts to `large` (NumPy rules, aligned on the
/// right): each dimension of `small` equals the aligned one of `large`, is
/// 1, or one of the two is `?`.
static bool broadcastsTo(RankedTensorType small, RankedTensorType large) {
  if (small.getRank() > large.getRank())
    return false;
  int64_t offset = large.getRank() - small.getRank();
  for (int64_t j = 0; j < small.getRank(); ++j) {
    int64_t s = small.getDimSize(j), l = large.getDimSize(j + offset);
    if (s != l && s != 1 && !ShapedType::isDynamic(s) &&
        !ShapedType::isDynamic(l))
      return false;
  }
  return true;
}

LogicalResult BroadcastToOp::verify() {
  auto input = getInput().getType(), result = getResult().getType();
  auto like = cast<RankedTensorType>(getLike().getType());
  if (!sameShape(result.getShape(), like.getShape()))
    return emitOpError() << "result type " << result
                         << " must have the shape of " << like;
  if (!broadcastsTo(input, result))
    return emitOpError() << "input type " << input
                         << " does not broadcast to " << result;
  return success();
}

LogicalResult SumToOp::verify() {
  auto input = getInput().getType(), result = getResult().getType();
  if (!broadcastsTo(result, input))
    return emitOpError() << "result type " << result
                         << " does not broadcast to the input type " << input;
  return success();
}

LogicalResult ElementCountOp::verify() {
  auto input = cast<RankedTensorType>(getInput().getType());
  SmallVector<bool> seen(input.getRank(), false);
  for (int64_t d : getDims()) {
    if (failed(verifyAxis(*this, d, input.getRank())))
      return failure();
    if (seen[d])
      return emitOpError() << "dimension " << d << " is listed twice";
    seen[d] = true;
  }
  return verifyResultShape(*this, {});
}

LogicalResult OneHotOp::verify() {
  auto indices = getIndices().getType(), result = getResult().getType();
  if (result.getRank() != indices.getRank() + 1)
    return emitOpError() << "result type " << result
                         << " must have one dimension more than " << indices;
  int64_t axis = getAxis();
  if (failed(verifyAxis(*this, axis, result.getRank())))
    return failure();
  auto like = cast<RankedTensorType>(getLike().getType());
  if (!sameShape(result.getShape(), like.getShape()))
    return emitOpError() << "result type " << result
                         << " must have the shape of " << like;
  if (failed(verifyCompatibleShape(dropAxis(result.getShape(), axis),
                                   indices.getShape())))
    return emitOpError() << "result type " << result << " without dimension "
                         << axis << " does not match the indices' type "
                         << indices;
  return success();
}

/// Checks that a convolution with `input` type, static HWCF `filter` type,
/// `strides` and `padding` produces `output` (the shared shape check of the
/// two convolution-gradient ops).
static LogicalResult verifyConvGradShapes(Operation *op,
                                          RankedTensorType input,
                                          RankedTensorType filter,
                                          RankedTensorType output,
                                          ArrayRef<int64_t> strides,
                                          ArrayRef<int64_t> padding) {
  for (RankedTensorType type : {input, filter, output})
    if (type.getRank() != 4)
      return op->emitOpError() << "operands and result must have rank 4, got "
                               << type;
  if (!filter.hasStaticShape())
    return op->emitOpError() << "filter type " << filter << " must be static";
  for (int64_t i = 1; i < 4; ++i)
    if (input.isDynamicDim(i) || output.isDynamicDim(i))
      return op->emitOpError()
             << "only the batch dimension may be dynamic, got " << input
             << " and " << output;
  if (failed(verifyPositivePair(op, "strides", strides)))
    return failure();
  if (padding.size() != 4 ||
      llvm::any_of(padding, [](int64_t p) { return p < 0; }))
    return op->emitOpError() << "'padding' must have 4 non-negative values "
                                "[top, bottom, left, right]";
  ArrayRef<int64_t> in = input.getShape(), k = filter.getShape(),
                    out = output.getShape();
  int64_t paddedH = in[1] + padding[0] + padding[1];
  int64_t paddedW = in[2] + padding[2] + padding[3];
  if (in[3] != k[2] || out[3] != k[3] || paddedH < k[0] || paddedW < k[1] ||
      out[1] != slidingOutputSize(paddedH, k[0], strides[0]) ||
      out[2] != slidingOutputSize(paddedW, k[1], strides[1]) ||
      failed(verifyCompatibleShape(ArrayRef<int64_t>{in[0]},
                                   ArrayRef<int64_t>{out[0]})))
    return op->emitOpError()
           << "a convolution of " << input << " with " << filter
           << " does not produce " << output;
  return success();
}

LogicalResult Conv2DGradInputOp::verify() {
  return verifyConvGradShapes(*this, getResult().getType(),
                              getFilter().getType(),
                              getOutputGrad().getType(), getStrides(),
                              getPadding());
}

LogicalResult Conv2DGradFilterOp::verify() {
  return verifyConvGradShapes(*this, getInput().getType(),
                              getResult().getType(),
                              getOutputGrad().getType(), getStrides(),
                              getPadding());
}

/// Checks that pooling `input` with `window` and `strides` produces
/// `output` (the shared shape check of the pooling-gradient ops).
static LogicalResult verifyPoolGradShapes(Operation *op,
                                          RankedTensorType input,
                                          RankedTensorType output,
                                          ArrayRef<int64_t> window,
                                          ArrayRef<int64_t> strides) {
  if (input.getRank() != 4 || output.getRank() != 4)
    return op->emitOpError() << "input and output gradient must be rank-4 "
                                "NHWC tensors, got "
                             << input << " and " << output;
  if (failed(verifyPositivePair(op, "window", window)) ||
      failed(verifyPositivePair(op, "strides", strides)))
    return failure();
  ArrayRef<int64_t> in = input.getShape(), out = output.getShape();
  for (int64_t i = 1; i < 4; ++i)
    if (ShapedType::isDynamic(in[i]) || ShapedType::isDynamic(out[i]))
      return op->emitOpError()
             << "only the batch dimension may be dynamic, got " << input
             << " and " << output;
  if (in[1] < window[0] || in[2] < window[1] || in[3] != out[3] ||
      out[1] != slidingOutputSize(in[1], window[0], strides[0]) ||
      out[2] != slidingOutputSize(in[2], window[1], strides[1]) ||
      failed(verifyCompatibleShape(ArrayRef<int64_t>{in[0]},
                                   ArrayRef<int64_t>{out[0]})))
    return op->emitOpError() << "pooling " << input << " with window ["
                             << window[0] << ", " << window[1]
                             << "] does not produce " << output;
  return success();
}

LogicalResult MaxPoolGradOp::verify() {
  if (getInput().getType() != getResult().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " must be the input type "
                         << getInput().getType();
  return verifyPoolGradShapes(*this, getInput().getType(),
                              getOutputGrad().getType(), getWindow(),
                              getStrides());
}

LogicalResult AvgPoolGradOp::verify() {
  return verifyPoolGradShapes(*this, getResult().getType(),
                              getOutputGrad().getType(), getWindow(),
                              getStrides());
}
