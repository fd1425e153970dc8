//===- SemaCall.cpp - Sema: builtin function calls ------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Calls of builtin functions and layers: the callee is looked up in the
// signatures of Builtins.def, the arguments are counted and bound to the
// formals (positional, then keyword), the tensor operands are checked, and
// the function's result type is inferred. Layers continue in SemaLayer.cpp.
//
//===----------------------------------------------------------------------===//

#include "frontend/SemaInternal.h"
#include "frontend/ShapeRules.h"

#include <cmath>

using namespace kiln;
using namespace kiln::sema;

LogicalResult ModelChecker::checkCall(CallExpr &call) {
  llvm::StringRef callee = call.getCallee();
  const FunctionSpec *spec = lookupFunction(callee);
  if (!spec) {
    if (symbols.count(callee) || allDefinitions.count(callee))
      diags.error(call.getCalleeLoc(), "'" + callee + "' is not a function");
    else
      diags.error(call.getCalleeLoc(), "unknown function '" + callee + "'");
    return failure();
  }
  std::vector<Expr *> bound;
  if (failed(checkArity(call, *spec)) || failed(bindArguments(call, *spec, bound)))
    return failure();

  // Check the tensor operands; the other arguments are constants.
  for (size_t i = 0; i < spec->params.size(); ++i) {
    if (!bound[i] || spec->params[i].kind != ArgKind::Tensor)
      continue;
    if (failed(checkExpr(*bound[i])))
      return failure();
    call.operands.push_back(bound[i]);
  }
  call.builtin = spec->builtin;
  if (isLayer(spec->builtin))
    return checkLayer(call, *spec, bound);
  return checkFunction(call, *spec, bound);
}

/// At most as many arguments as formals (a layer's input not counted in
/// the message).
LogicalResult ModelChecker::checkArity(const CallExpr &call, const FunctionSpec &spec) {
  size_t numFormals = spec.params.size();
  size_t numArgs = call.getArgs().size();
  if (numArgs <= numFormals)
    return success();
  bool layer = isLayer(spec.builtin);
  size_t minArgs = 0;
  for (const FormalParam &p : spec.params)
    minArgs += p.required;
  size_t skip = layer ? 1 : 0;
  size_t lo = minArgs - skip, hi = numFormals - skip;
  std::string expected = lo == hi ? pluralArgs(hi) : std::to_string(lo) + " to " + pluralArgs(hi);
  diags.error(call.getLoc(), llvm::Twine(call.getCallee()) + " expects " + expected +
                                 (layer ? " after its input" : "") + ", got " + llvm::Twine(numArgs - skip));
  return failure();
}

/// Binds the arguments to the formals in `bound` (null where left out) and
/// checks that every required formal is given.
LogicalResult ModelChecker::bindArguments(CallExpr &call, const FunctionSpec &spec, std::vector<Expr *> &bound) {
  llvm::StringRef callee = call.getCallee();
  bool layer = isLayer(spec.builtin);
  size_t numFormals = spec.params.size();
  bound.assign(numFormals, nullptr);
  size_t position = 0;
  for (CallArg &arg : call.getArgs()) {
    size_t index = position;
    if (arg.isKeyword()) {
      index = numFormals;
      for (size_t i = 0; i < numFormals; ++i)
        if (arg.keyword == spec.params[i].name)
          index = i;
      if (index == numFormals) {
        std::string expected;
        for (size_t i = layer ? 1 : 0; i < numFormals; ++i) {
          if (!expected.empty())
            expected += ", ";
          expected += spec.params[i].name;
        }
        diags.error(arg.keywordLoc, "unknown keyword argument '" + arg.keyword + "' for " + callee +
                                        (expected.empty() ? std::string() : "; expected one of " + expected));
        return failure();
      }
      if (bound[index]) {
        diags.error(arg.keywordLoc, "argument '" + arg.keyword + "' of " + callee + " is already given by position");
        return failure();
      }
    } else {
      ++position;
    }
    bound[index] = arg.value.get();
  }
  auto needsInputFirst = [&] {
    diags.error(call.getLoc(),
                callee + " needs its input first: write 'x |> " + callee + "(...)' or '" + callee + "(x, ...)'");
    return failure();
  };
  if (layer && bound[0] && getConstantValue(*bound[0]))
    return needsInputFirst();
  for (size_t i = 0; i < numFormals; ++i) {
    if (bound[i] || !spec.params[i].required)
      continue;
    if (layer && i == 0)
      return needsInputFirst();
    diags.error(call.getLoc(), llvm::Twine(callee) + " is missing its argument '" + spec.params[i].name + "'");
    return failure();
  }
  return success();
}

/// Evaluates the axis argument, if the formals have one and it is given,
/// normalised to [0, rank) of the first operand.
LogicalResult ModelChecker::evalAxis(const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound,
                                     std::optional<int64_t> &axis) {
  const TensorType &x = bound[0]->getType();
  for (size_t i = 0; i < spec.params.size(); ++i) {
    if (!bound[i] || spec.params[i].kind != ArgKind::Axis)
      continue;
    std::optional<double> value = getIntegerLiteralValue(*bound[i]);
    if (!value) {
      diags.error(bound[i]->getLoc(), "axis must be an integer literal (such as 1 or -1)");
      return failure();
    }
    if (std::fabs(*value) > kMaxRank) {
      diags.error(bound[i]->getLoc(), "axis " + formatNumber(*value) + " is out of range for " + x.str() + " (rank " +
                                          llvm::Twine(x.getRank()) + ")");
      return failure();
    }
    int64_t normalized = 0;
    if (failed(normalizeAxis(static_cast<int64_t>(*value), x, bound[i]->getLoc(), normalized)))
      return failure();
    axis = normalized;
  }
  return success();
}

/// Returns the axis a left-out axis argument means (Builtins.def): "-1" the
/// last of `type`, "all" none.
static std::optional<int64_t> defaultAxis(const FunctionSpec &spec, const TensorType &type) {
  const FormalParam *formal = spec.findParam("axis");
  if (formal && llvm::StringRef(formal->defaultValue) == "-1")
    return static_cast<int64_t>(type.getRank()) - 1;
  return std::nullopt;
}

/// The result type of a builtin function (not a layer).
LogicalResult ModelChecker::checkFunction(CallExpr &call, const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound) {
  llvm::StringRef callee = call.getCallee();
  const TensorType &x = bound[0]->getType();
  auto needF32 = [&](const Expr &operand) -> LogicalResult {
    if (operand.getType().dtype == DType::F32)
      return success();
    diags.error(operand.getLoc(), llvm::Twine(callee) + " expects an f32 tensor, got " + operand.getType().str());
    return failure();
  };
  std::optional<int64_t> axis;
  if (failed(evalAxis(spec, bound, axis)))
    return failure();

  switch (spec.builtin) {
  case Builtin::Relu:
  case Builtin::Sigmoid:
  case Builtin::Tanh:
  case Builtin::Exp:
  case Builtin::Log:
  case Builtin::Sqrt:
  case Builtin::Abs:
    if (failed(needF32(*bound[0])))
      return failure();
    call.type = x;
    return success();

  case Builtin::StopGradient:
    if (failed(needF32(*bound[0])))
      return failure();
    call.type = x;
    return success();

  case Builtin::Softmax:
  case Builtin::LogSoftmax:
  case Builtin::Argmax:
  case Builtin::Argmin: {
    if (failed(needF32(*bound[0])))
      return failure();
    if (x.isScalar()) {
      diags.error(bound[0]->getLoc(), llvm::Twine(callee) +
                                          " needs a tensor of rank 1 or "
                                          "more, got " +
                                          x.str());
      return failure();
    }
    call.axis = axis ? axis : defaultAxis(spec, x);
    if (spec.builtin != Builtin::Argmax && spec.builtin != Builtin::Argmin) {
      call.type = x;
      return success();
    }
    call.type = TensorType(DType::I32, shape::reduceShape(x.dims, call.axis));
    return evalKeepDims(call, spec, bound);
  }

  case Builtin::ReduceMax:
  case Builtin::ReduceMin:
    if (bound[1]) {
      // Two tensors: elementwise maximum/minimum with broadcasting.
      if (bound[2] || bound[3]) {
        diags.error((bound[2] ? bound[2] : bound[3])->getLoc(),
                    llvm::Twine(callee) + " of two tensors takes no " + (bound[2] ? "axis" : "keepdims"));
        return failure();
      }
      if (failed(needF32(*bound[0])) || failed(needF32(*bound[1])))
        return failure();
      call.builtin = spec.builtin == Builtin::ReduceMax ? Builtin::Maximum : Builtin::Minimum;
      std::vector<int64_t> dims;
      if (failed(broadcast(x, bound[1]->getType(), call.getCalleeLoc(), callee, dims)))
        return failure();
      call.type = TensorType(DType::F32, std::move(dims));
      return success();
    }
    [[fallthrough]];
  case Builtin::Sum:
  case Builtin::Mean: {
    if (failed(needF32(*bound[0])))
      return failure();
    call.axis = axis ? axis : defaultAxis(spec, x);
    call.type = TensorType(DType::F32, shape::reduceShape(x.dims, call.axis));
    return evalKeepDims(call, spec, bound);
  }

  case Builtin::Reshape:
    return checkReshape(call, *bound[0], *bound[1]);
  case Builtin::Transpose:
    if (failed(needF32(*bound[0])))
      return failure();
    return checkTranspose(call, *bound[0], bound[1]);
  case Builtin::Concat:
    if (failed(needF32(*bound[0])) || failed(needF32(*bound[1])))
      return failure();
    return checkConcat(call, *bound[0], *bound[1], axis ? axis : defaultAxis(spec, x));

  case Builtin::OneHot:
    return checkOneHot(call, *bound[0], *bound[1]);
  case Builtin::Take:
    if (failed(needF32(*bound[0])))
      return failure();
    return checkTake(call, *bound[0], *bound[1], axis ? axis : defaultAxis(spec, x));

  case Builtin::CrossEntropy: {
    const TensorType &labels = bound[1]->getType();
    if (x.dtype != DType::F32 || x.getRank() != 2 || labels.dtype != DType::I32 || labels.getRank() != 1 ||
        labels.dims[0] != x.dims[0]) {
      diags.error(call.getLoc(), "cross_entropy expects logits f32[N, C] and "
                                 "labels i32[N], got " +
                                     x.str() + " and " + labels.str());
      return failure();
    }
    call.type = TensorType::scalar(DType::F32);
    return success();
  }

  case Builtin::BinaryCrossEntropy:
  case Builtin::Mse: {
    const TensorType &y = bound[1]->getType();
    if (x.dtype != DType::F32 || y != x) {
      diags.error(call.getLoc(), llvm::Twine(callee) +
                                     " expects two f32 tensors of the same "
                                     "shape, got " +
                                     x.str() + " and " + y.str());
      return failure();
    }
    call.type = TensorType::scalar(DType::F32);
    return success();
  }

  default:
    break;
  }
  diags.error(call.getLoc(), "internal error: unhandled builtin " + callee);
  return failure();
}

/// one_hot(index i32[...], classes) -> f32[..., classes]: the class axis is
/// appended last, as in torch.nn.functional.one_hot and tf.one_hot.
LogicalResult ModelChecker::checkOneHot(CallExpr &call, const Expr &index, const Expr &classes) {
  const TensorType &type = index.getType();
  if (type.dtype != DType::I32) {
    diags.error(index.getLoc(), "one_hot expects an i32 index (class numbers), got " + type.str());
    return failure();
  }
  int64_t count = 0;
  if (failed(evalPosInt(classes, "'classes' of one_hot", count)))
    return failure();
  std::vector<int64_t> dims = type.dims;
  dims.push_back(count);
  TensorType result(DType::F32, std::move(dims));
  std::string tooLarge;
  if (result.getRank() > kMaxRank)
    tooLarge = "more than " + std::to_string(kMaxRank) + " dimensions";
  else if (result.getStaticElementCount() < 0)
    tooLarge = "more than 2^40 elements";
  if (!tooLarge.empty()) {
    diags.error(call.getLoc(),
                "one_hot of " + type.str() + " with " + std::to_string(count) + " classes would have " + tooLarge);
    return failure();
  }
  call.type = std::move(result);
  return success();
}

/// take(x, index, axis): the entry of `x` that `index` names along `axis`,
/// for every position of the other axes; `index` has the shape of `x`
/// without `axis` (numpy.take_along_axis with that axis dropped).
LogicalResult ModelChecker::checkTake(CallExpr &call, const Expr &x, const Expr &index, std::optional<int64_t> axis) {
  const TensorType &xType = x.getType(), &indexType = index.getType();
  if (xType.isScalar() || !axis) {
    diags.error(x.getLoc(), "take needs a tensor of rank 1 or more, got " + xType.str());
    return failure();
  }
  call.axis = axis;
  TensorType expected(DType::I32, shape::reduceShape(xType.dims, axis));
  if (indexType != expected) {
    diags.error(index.getLoc(), "take along axis " + llvm::Twine(*axis) + " of " + xType.str() +
                                    " needs an index of type " + expected.str() + ", got " + indexType.str());
    return failure();
  }
  call.type = TensorType(DType::F32, expected.dims);
  return success();
}

/// `keepdims = true` on a reduction or argmax/argmin (already typed without
/// it): the reduced axis, or every axis when there is none, comes back with
/// size 1, as numpy's keepdims, so the result broadcasts against `x`.
LogicalResult ModelChecker::evalKeepDims(CallExpr &call, const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound) {
  const Expr *arg = nullptr;
  for (size_t i = 0; i < spec.params.size(); ++i)
    if (spec.params[i].kind == ArgKind::Bool && llvm::StringRef(spec.params[i].name) == "keepdims")
      arg = bound[i];
  if (!arg)
    return success();
  auto *name = llvm::dyn_cast<NameExpr>(arg);
  if (!name || (name->getName() != "true" && name->getName() != "false")) {
    diags.error(arg->getLoc(), "'keepdims' of " + call.getCallee() + " must be true or false");
    return failure();
  }
  call.keepDims = name->getName() == "true";
  if (!call.keepDims)
    return success();
  std::vector<int64_t> dims = bound[0]->getType().dims;
  for (size_t i = 0; i < dims.size(); ++i)
    if (!call.axis || int64_t(i) == *call.axis)
      dims[i] = 1;
  call.type = TensorType(call.type->dtype, std::move(dims));
  return success();
}

/// reshape(x, [N, d1, ...]): x's elements, row-major, in the listed shape.
/// The batch dimension stays where it is: a batched x needs a shape that
/// starts with N, an unbatched one a shape without N; the other dimensions
/// are integer literals whose product is x's number of elements per
/// example.
LogicalResult ModelChecker::checkReshape(CallExpr &call, const Expr &x, const Expr &shapeArg) {
  const TensorType &xType = x.getType();
  auto *list = llvm::dyn_cast<ListExpr>(&shapeArg);
  if (!list) {
    diags.error(shapeArg.getLoc(), "the shape of reshape must be a list such as [N, 4, 6]");
    return failure();
  }
  std::vector<int64_t> dims;
  const auto &elements = list->getElements();
  for (size_t i = 0; i < elements.size(); ++i) {
    const Expr &element = *elements[i];
    if (auto *name = llvm::dyn_cast<NameExpr>(&element); name && name->getName() == "N") {
      if (i != 0) {
        diags.error(element.getLoc(), "N may only be the first dimension of reshape's shape");
        return failure();
      }
      dims.push_back(kDynamic);
      continue;
    }
    std::optional<double> value = getIntegerLiteralValue(element);
    if (!value || *value < 1 || *value > double(kMaxDimSize)) {
      diags.error(element.getLoc(),
                  "a dimension of reshape's shape must be N or an integer from 1 to " + llvm::Twine(kMaxDimSize));
      return failure();
    }
    dims.push_back(static_cast<int64_t>(*value));
  }
  TensorType result(xType.dtype, std::move(dims));
  if (xType.hasBatchDim() != result.hasBatchDim()) {
    diags.error(shapeArg.getLoc(),
                xType.hasBatchDim()
                    ? "reshape keeps the batch dimension: the shape for " + xType.str() + " must start with N"
                    : "reshape of " + xType.str() + ", which has no batch dimension, cannot give a shape with N");
    return failure();
  }
  int64_t from = xType.getStaticElementCount(), to = result.getStaticElementCount();
  if (to < 0 || from != to) {
    std::string per = xType.hasBatchDim() ? " per example" : "";
    diags.error(shapeArg.getLoc(), "reshape of " + xType.str() + " to " + result.str() +
                                       " changes the number of elements" + per + " from " + llvm::Twine(from) + " to " +
                                       (to < 0 ? std::string("more than 2^40") : std::to_string(to)));
    return failure();
  }
  call.type = std::move(result);
  return success();
}

/// transpose(x, perm): result axis i is x's axis perm[i] (numpy.transpose);
/// without perm the axes are reversed. The batch dimension must stay first
/// (it is the first axis of every batched value).
LogicalResult ModelChecker::checkTranspose(CallExpr &call, const Expr &x, const Expr *permArg) {
  const TensorType &xType = x.getType();
  int64_t rank = xType.getRank();
  if (rank == 0) {
    diags.error(x.getLoc(), "transpose needs a tensor of rank 1 or more, got " + xType.str());
    return failure();
  }
  std::vector<int64_t> permutation;
  if (!permArg) {
    for (int64_t i = rank - 1; i >= 0; --i)
      permutation.push_back(i);
  } else {
    auto *list = llvm::dyn_cast<ListExpr>(permArg);
    if (!list) {
      diags.error(permArg->getLoc(), "the permutation of transpose must be a list such as [0, 2, 1]");
      return failure();
    }
    for (const auto &element : list->getElements()) {
      std::optional<double> value = getIntegerLiteralValue(*element);
      if (!value || *value < 0 || *value >= double(rank)) {
        diags.error(element->getLoc(), "an entry of transpose's permutation must be an axis from 0 to " +
                                           llvm::Twine(rank - 1) + " of " + xType.str());
        return failure();
      }
      if (llvm::is_contained(permutation, int64_t(*value))) {
        diags.error(element->getLoc(),
                    "axis " + llvm::Twine(int64_t(*value)) + " appears twice in transpose's permutation");
        return failure();
      }
      permutation.push_back(static_cast<int64_t>(*value));
    }
    if (int64_t(permutation.size()) != rank) {
      diags.error(permArg->getLoc(), "the permutation of transpose has " + llvm::Twine(permutation.size()) +
                                         " entries, but " + xType.str() + " has rank " + llvm::Twine(rank));
      return failure();
    }
  }
  if (xType.hasBatchDim() && permutation[0] != 0) {
    if (permArg)
      diags.error(permArg->getLoc(), "transpose of " + xType.str() +
                                         " must keep the batch dimension N first (the permutation starts with 0)");
    else
      diags.error(call.getLoc(), "transpose of " + xType.str() +
                                     " without a permutation reverses the axes, which would move the batch dimension "
                                     "N; give a permutation that starts with 0");
    return failure();
  }
  std::vector<int64_t> dims;
  for (int64_t p : permutation)
    dims.push_back(xType.dims[p]);
  call.permutation = std::move(permutation);
  call.type = TensorType(DType::F32, std::move(dims));
  return success();
}

/// concat(a, b, axis): a then b along `axis`; every other dimension must
/// agree. Not along the batch axis: the result's first dimension would be
/// 2N, which no type can say (and it would mix the examples).
LogicalResult ModelChecker::checkConcat(CallExpr &call, const Expr &a, const Expr &b, std::optional<int64_t> axis) {
  const TensorType &aType = a.getType(), &bType = b.getType();
  if (aType.isScalar() || !axis) {
    diags.error(a.getLoc(), "concat needs tensors of rank 1 or more, got " + aType.str());
    return failure();
  }
  bool agree = aType.getRank() == bType.getRank();
  for (unsigned i = 0; agree && i < aType.getRank(); ++i)
    agree = int64_t(i) == *axis || aType.dims[i] == bType.dims[i];
  if (!agree || aType.hasBatchDim() != bType.hasBatchDim()) {
    diags.error(call.getLoc(), "concat along axis " + llvm::Twine(*axis) +
                                   " needs the other dimensions to agree, got " + aType.str() + " and " + bType.str());
    return failure();
  }
  if (aType.hasBatchDim() && *axis == 0) {
    diags.error(call.getLoc(), "concat along axis 0, the batch axis N, is not supported (it would mix the examples)");
    return failure();
  }
  std::vector<int64_t> dims = aType.dims;
  dims[*axis] += bType.dims[*axis];
  TensorType result(DType::F32, std::move(dims));
  if (result.dims[*axis] > kMaxDimSize || result.getStaticElementCount() < 0) {
    diags.error(call.getLoc(), "concat of " + aType.str() + " and " + bType.str() + " would be too large");
    return failure();
  }
  call.axis = axis;
  call.type = std::move(result);
  return success();
}
