//===- SemaLayer.cpp - Sema: layer calls ----------------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Layer calls (dense, conv2d, maxpool, avgpool, flatten, dropout,
// batch_norm), after
// SemaCall.cpp has bound their arguments: the constant arguments become
// `LayerAttrs` (the field each sets, and the default of a left-out one, come
// from Builtins.def), then the output shape is inferred (window sizes by
// ShapeRules.h, as the dialect verifies them) and the layer's parameters get
// their types.
//
//===----------------------------------------------------------------------===//

#include "frontend/SemaInternal.h"
#include "frontend/ShapeRules.h"

#include <cmath>

using namespace kiln;
using namespace kiln::sema;

/// The integer `LayerAttrs` member `field` names, or null.
static int64_t *intField(LayerAttrs &attrs, LayerField field) {
  switch (field) {
  case LayerField::Units:
    return &attrs.units;
  case LayerField::Filters:
    return &attrs.filters;
  case LayerField::KernelSize:
    return &attrs.kernelSize;
  case LayerField::Stride:
    return &attrs.stride;
  default:
    return nullptr;
  }
}

static std::optional<Padding> lookupPadding(llvm::StringRef name) {
#define PADDING(Id, Name)                                                                                              \
  if (name == Name)                                                                                                    \
    return Padding::Id;
#include "frontend/Builtins.def"
  return std::nullopt;
}

LogicalResult ModelChecker::checkLayer(CallExpr &call, const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound) {
  llvm::StringRef callee = call.getCallee();
  const TensorType &x = bound[0]->getType();
  if (x.dtype != DType::F32) {
    diags.error(bound[0]->getLoc(), llvm::Twine(callee) + " expects an f32 input, got " + x.str());
    return failure();
  }
  if (failed(evalLayerArgs(call, spec, bound)))
    return failure();

  auto needRank = [&](unsigned rank, const char *layout) -> LogicalResult {
    if (x.getRank() == rank)
      return success();
    diags.error(call.getLoc(), llvm::Twine(callee) +
                                   " expects an input of "
                                   "rank " +
                                   llvm::Twine(rank) + " (" + layout + "), got " + x.str());
    return failure();
  };
  const LayerAttrs &attrs = call.layer;
  switch (spec.builtin) {
  case Builtin::Dense: {
    if (failed(needRank(2, "[N, features]; flatten images first")))
      return failure();
    int64_t in = x.dims[1];
    if (failed(setLayerParamType(call, 0, TensorType(DType::F32, {in, attrs.units}))) ||
        failed(setLayerParamType(call, 1, TensorType(DType::F32, {attrs.units}))))
      return failure();
    call.type = TensorType(DType::F32, {x.dims[0], attrs.units});
    return success();
  }
  case Builtin::Conv2D:
  case Builtin::MaxPool:
  case Builtin::AvgPool:
    if (failed(needRank(4, "NHWC: [N, height, width, channels]")))
      return failure();
    return checkWindowLayer(call, x);
  case Builtin::Flatten:
    return checkFlatten(call, x);
  case Builtin::Dropout:
    call.type = x;
    return success();
  case Builtin::BatchNorm: {
    // Keras's axis = -1: one mean, variance, scale and offset per feature
    // of the last axis, which must be known (the batch axis `N` is not).
    if (x.getRank() < 2) {
      diags.error(call.getLoc(), "batch_norm expects an input of rank 2 or more ([N, ..., features]), got " + x.str());
      return failure();
    }
    TensorType perFeature(DType::F32, {x.dims.back()});
    for (unsigned which = 0; which < 4; ++which)
      if (failed(setLayerParamType(call, which, perFeature)))
        return failure();
    call.type = x;
    return success();
  }
  default:
    break;
  }
  diags.error(call.getLoc(), "internal error: unhandled layer " + callee);
  return failure();
}

/// The floating-point `LayerAttrs` member `field` names, or null.
static double *numberField(LayerAttrs &attrs, LayerField field) {
  switch (field) {
  case LayerField::Rate:
    return &attrs.rate;
  case LayerField::Momentum:
    return &attrs.momentum;
  case LayerField::Epsilon:
    return &attrs.epsilon;
  default:
    return nullptr;
  }
}

/// Evaluates the constant arguments into `call.layer`, then the defaults of
/// those left out (after, since a default may name another argument).
LogicalResult ModelChecker::evalLayerArgs(CallExpr &call, const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound) {
  for (size_t i = 1; i < spec.params.size(); ++i)
    if (bound[i] && failed(evalLayerArg(call, spec.params[i], *bound[i])))
      return failure();
  for (size_t i = 1; i < spec.params.size(); ++i)
    if (!bound[i])
      applyLayerDefault(call.layer, spec, spec.params[i]);
  return success();
}

/// Evaluates one constant argument of a layer into its `LayerAttrs` field.
LogicalResult ModelChecker::evalLayerArg(CallExpr &call, const FormalParam &formal, Expr &arg) {
  llvm::StringRef callee = call.getCallee();
  LayerAttrs &attrs = call.layer;
  switch (formal.kind) {
  case ArgKind::Tensor:
  case ArgKind::Axis:
  case ArgKind::Bool:        // functions only
  case ArgKind::Shape:       // functions only
  case ArgKind::Permutation: // functions only
    return success();
  case ArgKind::PosInt: {
    int64_t value = 0;
    if (failed(evalPosInt(arg, "'" + llvm::Twine(formal.name) + "' of " + callee, value)))
      return failure();
    if (int64_t *field = intField(attrs, formal.field))
      *field = value;
    return success();
  }
  case ArgKind::Activation: {
    auto *name = llvm::dyn_cast<NameExpr>(&arg);
    std::optional<Activation> activation = name ? lookupActivation(name->getName()) : std::nullopt;
    if (!activation) {
      std::string what =
          name ? ("unknown activation '" + name->getName() + "'").str() : std::string("unknown activation");
      diags.error(arg.getLoc(), what + " for " + callee + "; expected " + getActivationNameList());
      return failure();
    }
    attrs.activation = *activation;
    return success();
  }
  case ArgKind::Padding: {
    auto *name = llvm::dyn_cast<NameExpr>(&arg);
    std::optional<Padding> padding = name ? lookupPadding(name->getName()) : std::nullopt;
    if (!padding) {
      diags.error(arg.getLoc(), "padding must be " + getPaddingNameList());
      return failure();
    }
    attrs.padding = *padding;
    return success();
  }
  case ArgKind::Rate:
  case ArgKind::Fraction:
  case ArgKind::PosNumber: {
    // "dropout rate", "'momentum' of batch_norm": what the message names.
    std::string what =
        formal.kind == ArgKind::Rate ? "dropout rate" : "'" + std::string(formal.name) + "' of " + callee.str();
    const char *range = formal.kind == ArgKind::Rate       ? "a number in [0, 1)"
                        : formal.kind == ArgKind::Fraction ? "a number in [0, 1]"
                                                           : "a number greater than 0";
    std::optional<double> value = getConstantValue(arg);
    if (!value) {
      diags.error(arg.getLoc(), what + " must be " + range);
      return failure();
    }
    bool inRange = formal.kind == ArgKind::Rate       ? *value >= 0 && *value < 1
                   : formal.kind == ArgKind::Fraction ? *value >= 0 && *value <= 1
                                                      : *value > 0 && std::isfinite(*value);
    if (!inRange) {
      diags.error(arg.getLoc(), what + " must be " + range + ", got " + formatNumber(*value));
      return failure();
    }
    if (double *field = numberField(attrs, formal.field))
      *field = *value;
    return success();
  }
  }
  return success();
}

/// Sets the field of a left-out layer argument to its default
/// (Builtins.def): a number, an activation or padding name, or the name of
/// another argument whose value it takes (a pooling's stride is its size).
void ModelChecker::applyLayerDefault(LayerAttrs &attrs, const FunctionSpec &spec, const FormalParam &formal) {
  llvm::StringRef value = formal.defaultValue;
  if (value.empty())
    return;
  switch (formal.kind) {
  case ArgKind::PosInt: {
    int64_t *field = intField(attrs, formal.field);
    if (!field)
      return;
    int64_t number = 0;
    if (!value.getAsInteger(10, number))
      *field = number;
    else if (const FormalParam *other = spec.findParam(value))
      if (int64_t *source = intField(attrs, other->field))
        *field = *source;
    return;
  }
  case ArgKind::Activation:
    if (std::optional<Activation> activation = lookupActivation(value))
      attrs.activation = *activation;
    return;
  case ArgKind::Padding:
    if (std::optional<Padding> padding = lookupPadding(value))
      attrs.padding = *padding;
    return;
  case ArgKind::Fraction:
  case ArgKind::PosNumber:
    if (double *field = numberField(attrs, formal.field))
      (void)value.getAsDouble(*field); // Builtins.def's defaults are numbers
    return;
  default:
    return;
  }
}

/// conv2d, maxpool, avgpool on an NHWC input: the window must fit (valid
/// padding) or is padded TensorFlow's way (same); conv2d's kernel and bias
/// follow from the input channels.
LogicalResult ModelChecker::checkWindowLayer(CallExpr &call, const TensorType &x) {
  LayerAttrs &attrs = call.layer;
  int64_t h = x.dims[1], w = x.dims[2], c = x.dims[3];
  int64_t k = attrs.kernelSize, s = attrs.stride;
  if (attrs.padding == Padding::Same) {
    // TensorFlow's 'same': out = ceil(in / s), padding split top/bottom.
    auto [top, bottom] = shape::samePadding(h, k, s);
    auto [left, right] = shape::samePadding(w, k, s);
    attrs.pads = {top, bottom, left, right};
  }
  std::optional<int64_t> outH = shape::windowOutputSize(h, k, s, attrs.pads[0], attrs.pads[1]);
  std::optional<int64_t> outW = shape::windowOutputSize(w, k, s, attrs.pads[2], attrs.pads[3]);
  if (!outH || !outW) { // Only with padding=valid: 'same' always fits.
    diags.error(call.getLoc(), llvm::Twine(call.getCallee()) + " window " + llvm::Twine(k) + "x" + llvm::Twine(k) +
                                   " does not fit in the input " + x.str() + " (padding=valid)");
    return failure();
  }
  if (call.builtin == Builtin::Conv2D) {
    if (failed(setLayerParamType(call, 0, TensorType(DType::F32, {k, k, c, attrs.filters}))) ||
        failed(setLayerParamType(call, 1, TensorType(DType::F32, {attrs.filters}))))
      return failure();
    c = attrs.filters;
  }
  call.type = TensorType(DType::F32, {x.dims[0], *outH, *outW, c});
  return success();
}

/// flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...].
LogicalResult ModelChecker::checkFlatten(CallExpr &call, const TensorType &x) {
  if (x.getRank() < 2) {
    diags.error(call.getLoc(), "flatten expects an input of rank 2 or "
                               "more, got " +
                                   x.str());
    return failure();
  }
  int64_t product = 1;
  for (size_t i = 1; i < x.dims.size(); ++i) {
    if (x.dims[i] <= 0 || product > kMaxElements / x.dims[i]) {
      diags.error(call.getLoc(), "flatten of " + x.str() + " has more than 2^40 elements");
      return failure();
    }
    product *= x.dims[i];
  }
  call.type = TensorType(DType::F32, {x.dims[0], product});
  return success();
}

LogicalResult ModelChecker::evalPosInt(const Expr &arg, const llvm::Twine &what, int64_t &result) {
  // Layer sizes must be written as integers: `dense(64)`, not `dense(64.0)`.
  auto *number = llvm::dyn_cast<NumberExpr>(&arg);
  double v = number ? number->getValue() : 0.0;
  if (!number || !number->isIntegerLiteral() || v < 1 || v > static_cast<double>(kMaxDimSize)) {
    diags.error(arg.getLoc(), what + " must be a positive integer literal "
                                     "(at most 2147483647)");
    return failure();
  }
  result = static_cast<int64_t>(v);
  return success();
}
