//===- KilnOps.cpp - The kiln ops --------------------------------*- C++ -*-===//
//
// Verifiers, folders, custom builders and result-type inference of the kiln
// ops (declared in KilnOps.td). The shape rules themselves (NumPy
// broadcasting, the matmul shape, the output size of convolution and
// pooling, axis removal) are frontend/ShapeRules.h, which Sema applies too;
// here they are checked per op family and used to infer result types. Every
// verifier reports through emitOpError, with the offending types in the
// message. The inference (InferTypeOpInterface) runs after verify(), so an
// invalid op is reported by its verifier's message.
//
// Over 700 lines on purpose: one verifier (and inference) per op, all
// sharing the small file-local helpers below; a split would have to export
// them through another header for no gain in reading.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnOps.h"
#include "frontend/ShapeRules.h"

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

// The shared rules read any negative extent as dynamic, and MLIR's `?` is
// negative.
static_assert(ShapedType::kDynamic < 0, "ShapeRules.h needs `?` negative");

/// Returns true if `actual` equals `expected` dimension by dimension.
bool sameShape(ArrayRef<int64_t> actual, ArrayRef<int64_t> expected) {
  return actual.size() == expected.size() && llvm::equal(actual, expected);
}

/// Checks that the result of `op` has shape `expected`, reporting the
/// expected type otherwise.
LogicalResult verifyResultShape(Operation *op, ArrayRef<int64_t> expected) {
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  if (sameShape(resultType.getShape(), expected))
    return success();
  return op->emitOpError() << "result type " << resultType << " does not match the expected type "
                           << RankedTensorType::get(expected, resultType.getElementType());
}

/// Checks that `dims` holds exactly two strictly positive values.
LogicalResult verifyPositivePair(Operation *op, StringRef name, ArrayRef<int64_t> dims) {
  if (dims.size() != 2)
    return op->emitOpError() << "'" << name << "' must have 2 values, got " << dims.size();
  if (llvm::any_of(dims, [](int64_t d) { return d <= 0; }))
    return op->emitOpError() << "'" << name << "' values must be positive, got [" << dims[0] << ", " << dims[1] << "]";
  return success();
}

/// Returns true if `expected` (a ShapeRules.h result, nullopt if the window
/// did not fit) is `actual` but for the batch dimensions, which need only be
/// compatible.
bool matchesBatched(const std::optional<std::vector<int64_t>> &expected, ArrayRef<int64_t> actual) {
  return expected && sameShape(ArrayRef<int64_t>(*expected).drop_front(), actual.drop_front()) &&
         succeeded(verifyCompatibleShape(ArrayRef<int64_t>{expected->front()}, actual.take_front()));
}

/// Checks that `axis` is in [0, rank).
LogicalResult verifyAxis(Operation *op, int64_t axis, int64_t rank) {
  if (axis < 0 || axis >= rank)
    return op->emitOpError() << "axis " << axis << " is out of range for rank " << rank << " (expected [0, " << rank
                             << "))";
  return success();
}

/// The shape `shape` without dimension `axis`.
SmallVector<int64_t> dropAxis(ArrayRef<int64_t> shape, int64_t axis) {
  return llvm::to_vector(shape::reduceShape(shape, axis));
}

/// Checks that `op`'s result is a rank-0 tensor of the element type of
/// operand 0 (the shape of every loss).
LogicalResult verifyScalarLossResult(Operation *op) {
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  Type element = getElementTypeOrSelf(op->getOperand(0).getType());
  if (resultType.getRank() != 0 || resultType.getElementType() != element)
    return op->emitOpError() << "result type " << resultType << " must be a rank-0 tensor of " << element;
  return success();
}

/// Checks that the two operands of a loss have compatible shapes.
LogicalResult verifySameShapeOperands(Operation *op) {
  Type lhs = op->getOperand(0).getType(), rhs = op->getOperand(1).getType();
  if (failed(verifyCompatibleShape(lhs, rhs)))
    return op->emitOpError() << "operands of types " << lhs << " and " << rhs << " must have the same shape";
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
  std::optional<std::vector<int64_t>> expected =
      shape::broadcastShapes(lhs.getShape(), rhs.getShape(), shape::DynamicDims::Unknown);
  if (!expected)
    return op->emitOpError() << "operands of types " << lhs << " and " << rhs << " are not broadcast-compatible";
  if (!shape::isBroadcastResult(lhs.getShape(), rhs.getShape(), result.getShape()))
    return op->emitOpError() << "result type " << result << " is not the broadcast of operand "
                             << "types " << lhs << " and " << rhs << " (expected "
                             << RankedTensorType::get(*expected, result.getElementType()) << ")";
  return success();
}

/// Infers the result of a broadcasting op: the broadcast shape (a static
/// extent where one operand has `?`), of `resultElement`, or of the lhs
/// element type when that is null.
static LogicalResult inferBroadcastType(std::optional<Location> location, Type lhsType, Type rhsType,
                                        Type resultElement, SmallVectorImpl<Type> &types) {
  auto lhs = dyn_cast<RankedTensorType>(lhsType);
  auto rhs = dyn_cast<RankedTensorType>(rhsType);
  if (!lhs || !rhs)
    return emitOptionalError(location, "operands must be ranked tensors");
  std::optional<std::vector<int64_t>> shape =
      shape::broadcastShapes(lhs.getShape(), rhs.getShape(), shape::DynamicDims::Unknown);
  if (!shape)
    return emitOptionalError(location, "operands of types ", lhs, " and ", rhs, " are not broadcast-compatible");
  types.push_back(RankedTensorType::get(*shape, resultElement ? resultElement : lhs.getElementType()));
  return success();
}

/// The broadcasting ops accept a declared `?` where the inferred extent is
/// static (verifyBroadcastingBinaryOp has checked the exact rule).
static bool isCompatibleBroadcastType(TypeRange inferred, TypeRange declared) {
  return inferred.size() == 1 && declared.size() == 1 &&
         getElementTypeOrSelf(inferred[0]) == getElementTypeOrSelf(declared[0]) &&
         succeeded(verifyCompatibleShape(inferred[0], declared[0]));
}

/// Checks a pooling's `padding` (when given): four amounts, each in
/// [0, window), so that every window holds at least one input element (the
/// maximum is never the padding's, an average never divides by 0).
static LogicalResult verifyPoolPadding(Operation *op, ArrayRef<int64_t> window, ArrayRef<int64_t> pads) {
  auto attr = op->getAttrOfType<DenseI64ArrayAttr>("padding");
  if (attr && attr.size() != 4)
    return op->emitOpError() << "'padding' must have 4 values (top, bottom, left, right), got " << attr.size();
  for (int64_t i = 0; i < 4; ++i)
    if (pads[i] < 0 || pads[i] >= window[i / 2])
      return op->emitOpError() << "'padding' values must be in [0, window), got [" << pads[0] << ", " << pads[1] << ", "
                               << pads[2] << ", " << pads[3] << "]";
  return success();
}

/// Verifies a 2-D pooling op: NHWC input, positive window and strides, the
/// padding, the window fits, and the output shape.
static LogicalResult verifyPool2DOp(Operation *op, ArrayRef<int64_t> window, ArrayRef<int64_t> strides,
                                    ArrayRef<int64_t> pads) {
  auto input = cast<RankedTensorType>(op->getOperand(0).getType());
  if (input.getRank() != 4)
    return op->emitOpError() << "input must be a rank-4 NHWC tensor, got " << input;
  if (failed(verifyPositivePair(op, "window", window)) || failed(verifyPositivePair(op, "strides", strides)) ||
      failed(verifyPoolPadding(op, window, pads)))
    return failure();
  std::optional<std::vector<int64_t>> expected = shape::pool2dShape(input.getShape(), window, strides, pads);
  if (!expected)
    return op->emitOpError() << "window [" << window[0] << ", " << window[1] << "] does not fit in the input of type "
                             << input;
  return verifyResultShape(op, *expected);
}

/// Infers the result of a 2-D pooling op (see verifyPool2DOp).
static LogicalResult inferPool2DType(std::optional<Location> location, Type inputType, ArrayRef<int64_t> window,
                                     ArrayRef<int64_t> strides, ArrayRef<int64_t> pads, SmallVectorImpl<Type> &types) {
  auto input = dyn_cast<RankedTensorType>(inputType);
  if (!input || input.getRank() != 4 || window.size() != 2 || strides.size() != 2 ||
      llvm::any_of(strides, [](int64_t s) { return s <= 0; }))
    return emitOptionalError(location, "invalid pooling operands");
  std::optional<std::vector<int64_t>> shape = shape::pool2dShape(input.getShape(), window, strides, pads);
  if (!shape)
    return emitOptionalError(location, "the window does not fit in ", input);
  types.push_back(RankedTensorType::get(*shape, input.getElementType()));
  return success();
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

/// Infers the result of a reduction (and of argmax): the input shape
/// without `axis`, rank 0 without one, of `resultElement` or else of the
/// input's element type.
static LogicalResult inferReductionType(std::optional<Location> location, Type inputType, IntegerAttr axisAttr,
                                        Type resultElement, SmallVectorImpl<Type> &types) {
  auto input = dyn_cast<RankedTensorType>(inputType);
  if (!input)
    return emitOptionalError(location, "input must be a ranked tensor");
  std::optional<int64_t> axis;
  if (axisAttr) {
    axis = axisAttr.getInt();
    if (*axis < 0 || *axis >= input.getRank())
      return emitOptionalError(location, "axis ", *axis, " is out of range for ", input);
  }
  types.push_back(RankedTensorType::get(shape::reduceShape(input.getShape(), axis),
                                        resultElement ? resultElement : input.getElementType()));
  return success();
}

/// Verifies argmax or argmin: `axis` in range, result shape = input shape
/// without `axis`.
static LogicalResult verifyArgExtremeOp(Operation *op, IntegerAttr axisAttr) {
  auto input = cast<RankedTensorType>(op->getOperand(0).getType());
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

void ParamOp::build(OpBuilder &builder, OperationState &state, StringRef name, RankedTensorType type, InitKind init,
                    std::optional<double> value, bool nonTrainable) {
  FloatAttr valueAttr;
  if (value)
    valueAttr = builder.getF64FloatAttr(*value);
  build(builder, state, builder.getStringAttr(name), TypeAttr::get(type), InitKindAttr::get(builder.getContext(), init),
        valueAttr, nonTrainable ? builder.getUnitAttr() : UnitAttr());
}

LogicalResult ParamOp::verify() {
  auto type = getTensorType();
  if (!type.hasStaticShape())
    return emitOpError() << "parameter type " << type << " must have a static shape";
  if (!isa<FloatType>(type.getElementType()))
    return emitOpError() << "parameter type " << type << " must have a float element type";
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
// BatchNormOp
//===----------------------------------------------------------------------===//

LogicalResult BatchNormOp::verify() {
  auto input = cast<RankedTensorType>(getInput().getType());
  if (input.getRank() < 2 || ShapedType::isDynamic(input.getShape().back()))
    return emitOpError() << "expects an input of rank 2 or more with a static last axis, got " << input;
  auto perFeature = RankedTensorType::get({input.getShape().back()}, input.getElementType());
  for (Value statistic : {getGamma(), getBeta(), getMean(), getVariance()})
    if (statistic.getType() != perFeature)
      return emitOpError() << "expects gamma, beta, mean and variance of type " << perFeature << ", got "
                           << statistic.getType();
  double epsilon = getEpsilon().convertToDouble(), momentum = getMomentum().convertToDouble();
  if (!(epsilon > 0))
    return emitOpError() << "epsilon must be greater than 0, got " << epsilon;
  if (!(momentum >= 0 && momentum <= 1))
    return emitOpError() << "momentum must be in [0, 1], got " << momentum;
  return success();
}

Value BatchNormOp::buildNormalize(OpBuilder &builder, Location loc, Value x, Value gamma, Value beta, Value mean,
                                  Value variance, double epsilon) {
  auto perFeature = cast<RankedTensorType>(gamma.getType());
  Value eps = ConstantOp::create(builder, loc, RankedTensorType::get({}, perFeature.getElementType()), epsilon);
  // The per-feature scale first: one division per feature, not per element.
  Value stddev = SqrtOp::create(builder, loc, perFeature, AddOp::create(builder, loc, variance, eps));
  Value scale = DivOp::create(builder, loc, gamma, stddev);
  Value centred = SubOp::create(builder, loc, x, mean);
  return AddOp::create(builder, loc, MulOp::create(builder, loc, centred, scale), beta);
}

//===----------------------------------------------------------------------===//
// CompareOp
//===----------------------------------------------------------------------===//

LogicalResult CompareOp::verify() { return verifyBroadcastingBinaryOp(*this); }

LogicalResult CompareOp::inferReturnTypes(MLIRContext *context, std::optional<Location> location, Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  // 1.0/0.0 in the operands' float type; f32 when comparing integers.
  Type element = getElementTypeOrSelf(adaptor.getLhs().getType());
  if (!isa<FloatType>(element))
    element = Float32Type::get(context);
  return inferBroadcastType(location, adaptor.getLhs().getType(), adaptor.getRhs().getType(), element, types);
}

bool CompareOp::isCompatibleReturnTypes(TypeRange inferred, TypeRange declared) {
  // Any float result is valid (the ODS constraint); only the shape matters.
  return inferred.size() == 1 && declared.size() == 1 && isa<FloatType>(getElementTypeOrSelf(declared[0])) &&
         succeeded(verifyCompatibleShape(inferred[0], declared[0]));
}

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::verify() {
  auto lhs = getLhs().getType(), rhs = getRhs().getType();
  for (auto [name, type] : {std::pair{"lhs", lhs}, std::pair{"rhs", rhs}})
    if (!shape::isMatmulRank(type.getRank()))
      return emitOpError() << name << " must have rank 1 or 2, got " << type;
  // Contraction: the last dimension of lhs against the first of rhs.
  if (!shape::matmulContractionMatches(lhs.getShape(), rhs.getShape(), shape::DynamicDims::Unknown))
    return emitOpError() << "contraction dimensions of " << lhs << " and " << rhs << " differ ("
                         << lhs.getShape().back() << " vs " << rhs.getShape().front() << ")";
  return verifyResultShape(*this, shape::matmulShape(lhs.getShape(), rhs.getShape()));
}

LogicalResult MatmulOp::inferReturnTypes(MLIRContext *, std::optional<Location> location, Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto lhs = dyn_cast<RankedTensorType>(adaptor.getLhs().getType());
  auto rhs = dyn_cast<RankedTensorType>(adaptor.getRhs().getType());
  if (!lhs || !rhs || !shape::isMatmulRank(lhs.getRank()) || !shape::isMatmulRank(rhs.getRank()))
    return emitOptionalError(location, "operands must have rank 1 or 2");
  types.push_back(RankedTensorType::get(shape::matmulShape(lhs.getShape(), rhs.getShape()), lhs.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Conv2DOp
//===----------------------------------------------------------------------===//

LogicalResult Conv2DOp::verify() {
  auto input = getInput().getType(), filter = getFilter().getType();
  if (input.getRank() != 4)
    return emitOpError() << "input must be a rank-4 NHWC tensor, got " << input;
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
    return emitOpError() << "input channels of " << input << " do not match the filter's cin in " << filter;
  std::optional<std::vector<int64_t>> expected = shape::conv2dShape(in, k, strides, padding);
  if (!expected)
    return emitOpError() << "filter window " << k[0] << "x" << k[1] << " does not fit in the padded input of type "
                         << input;
  return verifyResultShape(*this, *expected);
}

LogicalResult Conv2DOp::inferReturnTypes(MLIRContext *, std::optional<Location> location, Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto input = dyn_cast<RankedTensorType>(adaptor.getInput().getType());
  auto filter = dyn_cast<RankedTensorType>(adaptor.getFilter().getType());
  ArrayRef<int64_t> strides = adaptor.getStrides(), padding = adaptor.getPadding();
  if (!input || !filter || input.getRank() != 4 || filter.getRank() != 4 || !filter.hasStaticShape() ||
      strides.size() != 2 || padding.size() != 4 || llvm::any_of(strides, [](int64_t s) { return s <= 0; }))
    return emitOptionalError(location, "invalid convolution operands");
  std::optional<std::vector<int64_t>> shape = shape::conv2dShape(input.getShape(), filter.getShape(), strides, padding);
  if (!shape)
    return emitOptionalError(location, "the filter window does not fit in ", input);
  types.push_back(RankedTensorType::get(*shape, input.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// ReshapeOp
//===----------------------------------------------------------------------===//

/// Checks that only the leading dimension of `type` may be dynamic.
static LogicalResult verifyOnlyLeadingDynamic(Operation *op, StringRef what, RankedTensorType type) {
  for (int64_t i = 1; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      return op->emitOpError() << what << " type " << type << " may only have a dynamic leading dimension";
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
    return emitOpError() << "a dynamic leading (batch) dimension must be kept: " << input << " cannot be reshaped to "
                         << result;
  auto staticElements = [](RankedTensorType type, bool skipLeading) {
    int64_t n = 1;
    for (int64_t d : type.getShape().drop_front(skipLeading ? 1 : 0))
      n *= d;
    return n;
  };
  if (staticElements(input, inputBatch) != staticElements(result, resultBatch))
    return emitOpError() << "element counts of " << input << " and " << result << " differ";
  return success();
}

//===----------------------------------------------------------------------===//
// TakeOp
//===----------------------------------------------------------------------===//

LogicalResult TakeOp::verify() {
  auto input = getInput().getType(), indices = getIndices().getType();
  int64_t axis = getAxis();
  if (failed(verifyAxis(*this, axis, input.getRank())))
    return failure();
  SmallVector<int64_t> rest = dropAxis(input.getShape(), axis);
  if (failed(verifyCompatibleShape(rest, indices.getShape())))
    return emitOpError() << "indices " << indices << " must have the shape of " << input << " without dimension "
                         << axis;
  return verifyResultShape(*this, rest);
}

LogicalResult TakeOp::inferReturnTypes(MLIRContext *, std::optional<Location> location, Adaptor adaptor,
                                       SmallVectorImpl<Type> &types) {
  return inferReductionType(location, adaptor.getInput().getType(), adaptor.getAxisAttr(), /*resultElement=*/nullptr,
                            types);
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

LogicalResult CrossEntropyOp::verify() {
  auto logits = getLhs().getType(), labels = getRhs().getType();
  if (logits.getRank() != 2)
    return emitOpError() << "logits must have rank 2 ([batch, classes]), got " << logits;
  if (labels.getRank() != 1)
    return emitOpError() << "labels must have rank 1 ([batch]), got " << labels;
  int64_t lb = logits.getDimSize(0), rb = labels.getDimSize(0);
  if (!ShapedType::isDynamic(lb) && !ShapedType::isDynamic(rb) && lb != rb)
    return emitOpError() << "batch sizes of logits " << logits << " and labels " << labels << " differ";
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
    return emitOpError() << "permutation has " << permutation.size() << " entries for an input of rank "
                         << input.getRank();
  SmallVector<bool> seen(input.getRank(), false);
  SmallVector<int64_t> expected;
  for (int64_t p : permutation) {
    if (p < 0 || p >= input.getRank() || seen[p])
      return emitOpError() << "'permutation' must be a permutation of [0, " << input.getRank() << ")";
    seen[p] = true;
    expected.push_back(input.getDimSize(p));
  }
  return verifyResultShape(*this, expected);
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *, std::optional<Location> location, Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto input = dyn_cast<RankedTensorType>(adaptor.getInput().getType());
  ArrayRef<int64_t> permutation = adaptor.getPermutation();
  if (!input || int64_t(permutation.size()) != input.getRank() ||
      llvm::any_of(permutation, [&](int64_t p) { return p < 0 || p >= input.getRank(); }))
    return emitOptionalError(location, "invalid permutation");
  SmallVector<int64_t> shape;
  for (int64_t p : permutation)
    shape.push_back(input.getDimSize(p));
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

/// The shape of `lhs` and `rhs` joined along `axis`, or an error message.
static FailureOr<SmallVector<int64_t>> concatShape(RankedTensorType lhs, RankedTensorType rhs, int64_t axis,
                                                   std::string &error) {
  if (lhs.getRank() != rhs.getRank()) {
    error = "operands must have the same rank";
    return failure();
  }
  if (axis < 0 || axis >= lhs.getRank()) {
    error = "'axis' is out of range for rank " + std::to_string(lhs.getRank());
    return failure();
  }
  SmallVector<int64_t> shape(lhs.getShape());
  for (int64_t i = 0; i < lhs.getRank(); ++i) {
    if (i == axis)
      continue;
    if (lhs.getDimSize(i) != rhs.getDimSize(i)) {
      error = "operands differ in dimension " + std::to_string(i) + ", which is not the axis";
      return failure();
    }
  }
  if (lhs.isDynamicDim(axis) || rhs.isDynamicDim(axis)) {
    error = "the extents along 'axis' must be static";
    return failure();
  }
  shape[axis] = lhs.getDimSize(axis) + rhs.getDimSize(axis);
  return shape;
}

LogicalResult ConcatOp::verify() {
  std::string error;
  auto shape = concatShape(getLhs().getType(), getRhs().getType(), getAxis(), error);
  if (failed(shape))
    return emitOpError() << error;
  return verifyResultShape(*this, *shape);
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *, std::optional<Location> location, Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto lhs = dyn_cast<RankedTensorType>(adaptor.getLhs().getType());
  auto rhs = dyn_cast<RankedTensorType>(adaptor.getRhs().getType());
  if (!lhs || !rhs)
    return emitOptionalError(location, "concat needs ranked tensors");
  std::string error;
  auto shape = concatShape(lhs, rhs, adaptor.getAxis(), error);
  if (failed(shape))
    return emitOptionalError(location, error);
  types.push_back(RankedTensorType::get(*shape, lhs.getElementType()));
  return success();
}

LogicalResult SliceOp::verify() {
  RankedTensorType input = getInput().getType(), result = getResult().getType();
  int64_t axis = getAxis(), offset = getOffset();
  if (input.getRank() != result.getRank())
    return emitOpError() << "result rank differs from the input's";
  if (axis < 0 || axis >= input.getRank())
    return emitOpError() << "'axis' is out of range for rank " << input.getRank();
  if (input.isDynamicDim(axis) || result.isDynamicDim(axis))
    return emitOpError() << "the extents along 'axis' must be static";
  if (offset < 0 || offset + result.getDimSize(axis) > input.getDimSize(axis))
    return emitOpError() << "positions " << offset << " to " << offset + result.getDimSize(axis) - 1
                         << " are outside the input's " << input.getDimSize(axis) << " along axis " << axis;
  SmallVector<int64_t> expected(input.getShape());
  expected[axis] = result.getDimSize(axis);
  return verifyResultShape(*this, expected);
}

/// Checks that `small` broadcasts to `large` (ShapeRules.h).
static bool broadcastsTo(RankedTensorType small, RankedTensorType large) {
  return shape::broadcastsTo(small.getShape(), large.getShape());
}

LogicalResult BroadcastToOp::verify() {
  auto input = getInput().getType(), result = getResult().getType();
  auto like = cast<RankedTensorType>(getLike().getType());
  if (!sameShape(result.getShape(), like.getShape()))
    return emitOpError() << "result type " << result << " must have the shape of " << like;
  if (!broadcastsTo(input, result))
    return emitOpError() << "input type " << input << " does not broadcast to " << result;
  return success();
}

LogicalResult BroadcastToOp::inferReturnTypes(MLIRContext *, std::optional<Location> location, Adaptor adaptor,
                                              SmallVectorImpl<Type> &types) {
  auto like = dyn_cast<RankedTensorType>(adaptor.getLike().getType());
  if (!like)
    return emitOptionalError(location, "'like' must be a ranked tensor");
  types.push_back(RankedTensorType::get(like.getShape(), getElementTypeOrSelf(adaptor.getInput().getType())));
  return success();
}

LogicalResult SumToOp::verify() {
  auto input = getInput().getType(), result = getResult().getType();
  if (!broadcastsTo(result, input))
    return emitOpError() << "result type " << result << " does not broadcast to the input type " << input;
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
    return emitOpError() << "result type " << result << " must have one dimension more than " << indices;
  int64_t axis = getAxis();
  if (failed(verifyAxis(*this, axis, result.getRank())))
    return failure();
  if (getLike()) {
    auto like = cast<RankedTensorType>(getLike().getType());
    if (!sameShape(result.getShape(), like.getShape()))
      return emitOpError() << "result type " << result << " must have the shape of " << like;
  } else if (result.isDynamicDim(axis)) {
    return emitOpError() << "result type " << result << " needs a static dimension " << axis
                         << " (the classes) when there is no 'like'";
  }
  if (failed(verifyCompatibleShape(dropAxis(result.getShape(), axis), indices.getShape())))
    return emitOpError() << "result type " << result << " without dimension " << axis
                         << " does not match the indices' type " << indices;
  return success();
}

/// Checks that a convolution with `input` type, static HWCF `filter` type,
/// `strides` and `padding` produces `output` (the shared shape check of the
/// two convolution-gradient ops).
static LogicalResult verifyConvGradShapes(Operation *op, RankedTensorType input, RankedTensorType filter,
                                          RankedTensorType output, ArrayRef<int64_t> strides,
                                          ArrayRef<int64_t> padding) {
  for (RankedTensorType type : {input, filter, output})
    if (type.getRank() != 4)
      return op->emitOpError() << "operands and result must have rank 4, got " << type;
  if (!filter.hasStaticShape())
    return op->emitOpError() << "filter type " << filter << " must be static";
  for (int64_t i = 1; i < 4; ++i)
    if (input.isDynamicDim(i) || output.isDynamicDim(i))
      return op->emitOpError() << "only the batch dimension may be dynamic, got " << input << " and " << output;
  if (failed(verifyPositivePair(op, "strides", strides)))
    return failure();
  if (padding.size() != 4 || llvm::any_of(padding, [](int64_t p) { return p < 0; }))
    return op->emitOpError() << "'padding' must have 4 non-negative values "
                                "[top, bottom, left, right]";
  ArrayRef<int64_t> in = input.getShape(), k = filter.getShape(), out = output.getShape();
  if (in[3] != k[2] || !matchesBatched(shape::conv2dShape(in, k, strides, padding), out))
    return op->emitOpError() << "a convolution of " << input << " with " << filter << " does not produce " << output;
  return success();
}

LogicalResult Conv2DGradInputOp::verify() {
  return verifyConvGradShapes(*this, getResult().getType(), getFilter().getType(), getOutputGrad().getType(),
                              getStrides(), getPadding());
}

LogicalResult Conv2DGradFilterOp::verify() {
  return verifyConvGradShapes(*this, getInput().getType(), getResult().getType(), getOutputGrad().getType(),
                              getStrides(), getPadding());
}

/// Checks that pooling `input` with `window` and `strides` produces
/// `output` (the shared shape check of the pooling-gradient ops).
static LogicalResult verifyPoolGradShapes(Operation *op, RankedTensorType input, RankedTensorType output,
                                          ArrayRef<int64_t> window, ArrayRef<int64_t> strides, ArrayRef<int64_t> pads) {
  if (input.getRank() != 4 || output.getRank() != 4)
    return op->emitOpError() << "input and output gradient must be rank-4 "
                                "NHWC tensors, got "
                             << input << " and " << output;
  if (failed(verifyPositivePair(op, "window", window)) || failed(verifyPositivePair(op, "strides", strides)) ||
      failed(verifyPoolPadding(op, window, pads)))
    return failure();
  ArrayRef<int64_t> in = input.getShape(), out = output.getShape();
  for (int64_t i = 1; i < 4; ++i)
    if (ShapedType::isDynamic(in[i]) || ShapedType::isDynamic(out[i]))
      return op->emitOpError() << "only the batch dimension may be dynamic, got " << input << " and " << output;
  if (!matchesBatched(shape::pool2dShape(in, window, strides, pads), out))
    return op->emitOpError() << "pooling " << input << " with window [" << window[0] << ", " << window[1]
                             << "] does not produce " << output;
  return success();
}

LogicalResult MaxPoolGradOp::verify() {
  if (getInput().getType() != getResult().getType())
    return emitOpError() << "result type " << getResult().getType() << " must be the input type "
                         << getInput().getType();
  return verifyPoolGradShapes(*this, getInput().getType(), getOutputGrad().getType(), getWindow(), getStrides(),
                              getPads());
}

LogicalResult MaxPoolGradOp::inferReturnTypes(MLIRContext *, std::optional<Location>, Adaptor adaptor,
                                              SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getInput().getType());
  return success();
}

LogicalResult AvgPoolGradOp::verify() {
  return verifyPoolGradShapes(*this, getResult().getType(), getOutputGrad().getType(), getWindow(), getStrides(),
                              getPads());
}
