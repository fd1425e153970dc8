//===- Optimizer.cpp - <Model>_train_step: gradients + optimizer update ---===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-optimizer` pass (see Passes.td). The update rules are Keras's,
// as docs/language.md (Optimizers) writes them (defaults filled in by Sema):
//
//   sgd      momentum = 0:  w -= lr g
//            momentum > 0:  v = mu v - lr g;  w += v   (nesterov: w += mu v - lr g)
//   adagrad  acc += g^2;  w -= lr g / sqrt(acc + eps)       (acc starts at
//                                                            initial_accumulator)
//   rmsprop  s = rho s + (1 - rho) g^2;  w -= lr g / sqrt(s + eps)
//            momentum > 0:  m = momentum m + lr g / sqrt(s + eps);  w -= m
//   adam     a = lr sqrt(1 - b2^t) / (1 - b1^t);  m += (g - m)(1 - b1);
//            v += (g^2 - v)(1 - b2);  w -= a m / (sqrt(v) + eps)
//
// They are written in kiln elementwise ops, so that they lower and fuse like
// any other elementwise chain.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/KilnDialect.h"
#include "dialect/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace kiln {
#define GEN_PASS_DEF_KILNOPTIMIZER
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using kiln::KilnDialect;

namespace {

/// Builds scalar-and-tensor elementwise arithmetic in kiln ops. Operands
/// are rank-0 scalars or tensors of one shape; the result takes the shape
/// of the tensor operand.
class UpdateBuilder {
public:
  UpdateBuilder(OpBuilder &builder, Location loc, Type elementType)
      : b(builder), loc(loc), scalarType(RankedTensorType::get({}, elementType)) {}

  Value constant(double value) { return kiln::ConstantOp::create(b, loc, scalarType, value); }
  Value add(Value x, Value y) { return kiln::AddOp::create(b, loc, resultType(x, y), x, y); }
  Value sub(Value x, Value y) { return kiln::SubOp::create(b, loc, resultType(x, y), x, y); }
  Value mul(Value x, Value y) { return kiln::MulOp::create(b, loc, resultType(x, y), x, y); }
  Value div(Value x, Value y) { return kiln::DivOp::create(b, loc, resultType(x, y), x, y); }
  Value pow(Value x, Value y) { return kiln::PowOp::create(b, loc, resultType(x, y), x, y); }
  Value sqrt(Value x) { return kiln::SqrtOp::create(b, loc, x); }

private:
  static Type resultType(Value x, Value y) {
    auto type = cast<RankedTensorType>(x.getType());
    return type.getRank() > 0 ? type : cast<RankedTensorType>(y.getType());
  }
  OpBuilder &b;
  Location loc;
  RankedTensorType scalarType;
};

/// One slot of optimizer state per parameter: its name and initial value.
struct Slot {
  std::string name;
  double init;
};

double hyper(DictionaryAttr optimizer, StringRef name, double fallback) {
  if (auto value = optimizer.getAs<FloatAttr>(name))
    return value.getValueAsDouble();
  if (auto flag = optimizer.getAs<BoolAttr>(name))
    return flag.getValue() ? 1.0 : 0.0;
  return fallback;
}

/// The state slots of `optimizer`, per parameter.
SmallVector<Slot> stateSlots(StringRef name, DictionaryAttr optimizer) {
  if (name == "sgd")
    return hyper(optimizer, "momentum", 0) > 0 ? SmallVector<Slot>{{"momentum", 0.0}} : SmallVector<Slot>{};
  if (name == "adagrad")
    return {{"accumulator", hyper(optimizer, "initial_accumulator", 0.1)}};
  if (name == "rmsprop") {
    SmallVector<Slot> slots = {{"rms", 0.0}};
    if (hyper(optimizer, "momentum", 0) > 0)
      slots.push_back({"momentum", 0.0});
    return slots;
  }
  if (name == "adam")
    return {{"m", 0.0}, {"v", 0.0}};
  return {};
}

/// Computes the new parameter and the new state of one parameter.
void buildUpdate(UpdateBuilder &u, StringRef name, DictionaryAttr optimizer, Value w, Value g, ValueRange state,
                 Value lr, Value step, Value &newW, SmallVectorImpl<Value> &newState) {
  if (name == "sgd") {
    double mu = hyper(optimizer, "momentum", 0);
    Value lrG = u.mul(lr, g);
    if (mu <= 0) {
      newW = u.sub(w, lrG);
      return;
    }
    Value v = u.sub(u.mul(u.constant(mu), state[0]), lrG);
    newState.push_back(v);
    newW = hyper(optimizer, "nesterov", 0) != 0 ? u.sub(u.add(w, u.mul(u.constant(mu), v)), lrG) : u.add(w, v);
  } else if (name == "adagrad") {
    Value acc = u.add(state[0], u.mul(g, g));
    newState.push_back(acc);
    newW = u.sub(w, u.div(u.mul(lr, g), u.sqrt(u.add(acc, u.constant(hyper(optimizer, "epsilon", 1e-7))))));
  } else if (name == "rmsprop") {
    double rho = hyper(optimizer, "rho", 0.9), momentum = hyper(optimizer, "momentum", 0);
    Value s = u.add(u.mul(u.constant(rho), state[0]), u.mul(u.constant(1 - rho), u.mul(g, g)));
    newState.push_back(s);
    Value step = u.div(u.mul(lr, g), u.sqrt(u.add(s, u.constant(hyper(optimizer, "epsilon", 1e-7)))));
    if (momentum > 0) {
      Value m = u.add(u.mul(u.constant(momentum), state[1]), step);
      newState.push_back(m);
      newW = u.sub(w, m);
    } else {
      newW = u.sub(w, step);
    }
  } else if (name == "adam") {
    double b1 = hyper(optimizer, "beta_1", 0.9), b2 = hyper(optimizer, "beta_2", 0.999);
    Value one = u.constant(1.0);
    Value alpha =
        u.div(u.mul(lr, u.sqrt(u.sub(one, u.pow(u.constant(b2), step)))), u.sub(one, u.pow(u.constant(b1), step)));
    Value m = u.add(state[0], u.mul(u.sub(g, state[0]), u.constant(1 - b1)));
    Value v = u.add(state[1], u.mul(u.sub(u.mul(g, g), state[1]), u.constant(1 - b2)));
    newState.push_back(m);
    newState.push_back(v);
    newW = u.sub(w, u.div(u.mul(alpha, m), u.add(u.sqrt(v), u.constant(hyper(optimizer, "epsilon", 1e-7)))));
  }
}

/// What `_train_step` and `_apply` share: the grad function's layout, the
/// optimizer, and the leading arguments both take (every parameter, the
/// state slots of every trainable one, `lr`, `step`), with their attributes.
struct UpdatePlan {
  mutable func::FuncOp grad; // (op handles have no const accessors)
  StringRef name;
  DictionaryAttr optimizer;
  SmallVector<Slot> slots;
  /// The grad function's parameter and data-input arguments, and its
  /// results that are neither a gradient nor a non-trainable parameter's
  /// new value: the loss and the metrics.
  SmallVector<unsigned> paramArgs, inputArgs, otherResults;
  /// The grad function's dropout key arguments (kiln.hyper "seed" and
  /// "step"; _grad_training of a model with dropout), or -1.
  int seedArg = -1, stepArg = -1;
  /// Per parameter: the leading argument of its first state slot, or -1
  /// for a non-trainable parameter (no gradient, no state).
  SmallVector<int> firstSlot;
  SmallVector<Type> leadingTypes;
  SmallVector<DictionaryAttr> leadingAttrs;
  unsigned lrIndex = 0;

  unsigned numParams() const { return paramArgs.size(); }
  FlatSymbolRefAttr param(unsigned p) const {
    return grad.getArgAttrOfType<FlatSymbolRefAttr>(paramArgs[p], KilnDialect::getParamAttrName());
  }
  bool trainable(unsigned p) const { return firstSlot[p] >= 0; }
  /// The grad result tagged `attrName` = parameter p (its gradient or its
  /// assigned value), or -1.
  int resultFor(unsigned p, StringRef attrName) const {
    for (unsigned r = 0, e = grad.getNumResults(); r < e; ++r)
      if (grad.getResultAttrOfType<FlatSymbolRefAttr>(r, attrName) == param(p))
        return int(r);
    return -1;
  }
};

FailureOr<UpdatePlan> planUpdates(ModuleOp model, func::FuncOp grad, DictionaryAttr optimizer) {
  UpdatePlan plan;
  plan.grad = grad;
  plan.optimizer = optimizer;
  auto nameAttr = optimizer.getAs<StringAttr>("name");
  if (!nameAttr)
    return model.emitError("kiln.optimizer has no name");
  plan.name = nameAttr.getValue();
  if (plan.name != "sgd" && plan.name != "adagrad" && plan.name != "rmsprop" && plan.name != "adam")
    return model.emitError("unknown optimizer '") << plan.name << "'";
  plan.slots = stateSlots(plan.name, optimizer);

  // The grad function: parameters (kiln.param), inputs, the dropout key
  // (kiln.hyper); results: loss, metrics, new values of non-trainable
  // parameters (kiln.assign), one gradient per trainable parameter
  // (kiln.grad = @param).
  for (unsigned i = 0, e = grad.getNumArguments(); i < e; ++i) {
    if (grad.getArgAttr(i, KilnDialect::getParamAttrName()))
      plan.paramArgs.push_back(i);
    else if (auto hyper = grad.getArgAttrOfType<StringAttr>(i, KilnDialect::getHyperAttrName()))
      (hyper.getValue() == "seed" ? plan.seedArg : plan.stepArg) = int(i);
    else
      plan.inputArgs.push_back(i);
  }
  unsigned numGradients = 0;
  for (unsigned i = 0, e = grad.getNumResults(); i < e; ++i) {
    if (grad.getResultAttr(i, KilnDialect::getGradAttrName()))
      ++numGradients;
    else if (!grad.getResultAttr(i, KilnDialect::getAssignAttrName()))
      plan.otherResults.push_back(i);
  }

  Builder b(grad.getContext());
  for (unsigned i : plan.paramArgs) {
    plan.leadingTypes.push_back(grad.getArgument(i).getType());
    plan.leadingAttrs.push_back(grad.getArgAttrDict(i));
  }
  unsigned numTrainable = 0;
  for (unsigned p = 0; p < plan.numParams(); ++p) {
    auto param = model.lookupSymbol<kiln::ParamOp>(plan.param(p).getAttr());
    if (param && param.getNonTrainable()) {
      plan.firstSlot.push_back(-1);
      continue;
    }
    if (plan.resultFor(p, KilnDialect::getGradAttrName()) < 0)
      return grad.emitError("no gradient for parameter ") << plan.param(p);
    ++numTrainable;
    plan.firstSlot.push_back(int(plan.leadingTypes.size()));
    for (const Slot &slot : plan.slots) {
      plan.leadingTypes.push_back(grad.getArgument(plan.paramArgs[p]).getType());
      plan.leadingAttrs.push_back(b.getDictionaryAttr(
          b.getNamedAttr(KilnDialect::getStateAttrName(),
                         b.getDictionaryAttr({b.getNamedAttr("param", plan.param(p)),
                                              b.getNamedAttr("slot", b.getStringAttr(slot.name)),
                                              b.getNamedAttr("init", b.getF64FloatAttr(slot.init))}))));
    }
  }
  if (numGradients != numTrainable)
    return grad.emitError("expected one gradient per trainable parameter, got ")
           << numGradients << " for " << numTrainable << " parameters";
  Type scalarType = RankedTensorType::get({}, b.getF32Type());
  plan.lrIndex = plan.leadingTypes.size();
  for (StringRef hyper : {"lr", "step"}) {
    plan.leadingTypes.push_back(scalarType);
    plan.leadingAttrs.push_back(
        b.getDictionaryAttr(b.getNamedAttr(KilnDialect::getHyperAttrName(), b.getStringAttr(hyper))));
  }
  return plan;
}

/// Creates function `symbol` after `grad` with `argTypes`/`argAttrs`, its
/// entry block, and the builder at its end.
func::FuncOp createFunction(OpBuilder &b, func::FuncOp grad, StringRef symbol, ArrayRef<Type> argTypes,
                            ArrayRef<DictionaryAttr> argAttrs) {
  b.setInsertionPointAfter(grad);
  auto func = func::FuncOp::create(b, grad.getLoc(), symbol, b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, attrs] : llvm::enumerate(argAttrs))
    if (attrs)
      func.setArgAttrs(i, attrs);
  b.setInsertionPointToEnd(entry);
  return func;
}

/// Ends `func` with `results`: `leading` (with their attributes), then the
/// new parameters and state, each tagged kiln.update with the leading
/// argument it replaces: a trainable parameter p's from the optimizer
/// update with `grads[p]`, a non-trainable one's `assigned[p]` where given
/// (else it is left as it is).
void finishWithUpdates(OpBuilder &b, func::FuncOp func, const UpdatePlan &plan, ArrayRef<Value> grads,
                       ArrayRef<Value> assigned, SmallVector<Value> results, SmallVector<DictionaryAttr> resultAttrs) {
  Location loc = func.getLoc();
  Block *entry = &func.getBody().front();
  unsigned numParams = plan.numParams(), numSlots = plan.slots.size();
  Value lr = entry->getArgument(plan.lrIndex), step = entry->getArgument(plan.lrIndex + 1);
  auto updates = [&](int64_t target) {
    return b.getDictionaryAttr(b.getNamedAttr(KilnDialect::getUpdateAttrName(), b.getI64IntegerAttr(target)));
  };
  SmallVector<Value> newStates;
  SmallVector<int64_t> stateTargets;
  for (unsigned p = 0; p < numParams; ++p) {
    if (!plan.trainable(p)) {
      if (assigned[p]) {
        results.push_back(assigned[p]);
        resultAttrs.push_back(updates(p));
      }
      continue;
    }
    Value w = entry->getArgument(p);
    UpdateBuilder u(b, loc, cast<RankedTensorType>(w.getType()).getElementType());
    ValueRange state = entry->getArguments().slice(plan.firstSlot[p], numSlots);
    Value newW;
    SmallVector<Value> newState;
    buildUpdate(u, plan.name, plan.optimizer, w, grads[p], state, lr, step, newW, newState);
    results.push_back(newW);
    resultAttrs.push_back(updates(p));
    for (unsigned s = 0; s < numSlots; ++s) {
      newStates.push_back(newState[s]);
      stateTargets.push_back(plan.firstSlot[p] + s);
    }
  }
  for (auto [value, target] : llvm::zip(newStates, stateTargets)) {
    results.push_back(value);
    resultAttrs.push_back(updates(target));
  }
  func::ReturnOp::create(b, loc, results);
  SmallVector<Type> resultTypes;
  for (Value value : results)
    resultTypes.push_back(value.getType());
  func.setFunctionType(b.getFunctionType(func.getArgumentTypes(), resultTypes));
  for (auto [i, attrs] : llvm::enumerate(resultAttrs))
    if (attrs)
      func.setResultAttrs(i, attrs);
}

struct KilnOptimizerPass : kiln::impl::KilnOptimizerBase<KilnOptimizerPass> {
  void runOnOperation() override {
    for (ModuleOp model : getOperation().getOps<ModuleOp>()) {
      auto optimizer = model->getAttrOfType<DictionaryAttr>(KilnDialect::getOptimizerAttrName());
      if (!optimizer || !model.getSymName())
        continue;
      auto grad = model.lookupSymbol<func::FuncOp>((*model.getSymName() + "_grad").str());
      if (!grad)
        continue;
      // The training gradient where the model has one (dropout masks, batch
      // statistics: kiln-training-mode); _grad itself stays the
      // inference-mode gradient that gradcheck and kiln-run compare with
      // finite differences.
      if (auto training = model.lookupSymbol<func::FuncOp>((*model.getSymName() + "_grad_training").str()))
        grad = training;
      FailureOr<UpdatePlan> plan = planUpdates(model, grad, optimizer);
      if (failed(plan) || failed(buildTrainStep(model, *plan)))
        return signalPassFailure();
      buildApply(model, *plan);
    }
  }

  /// `<Model>_train_step(params, state, lr, step, [seed,] inputs)`: the
  /// gradient and the update in one function, so that they fuse.
  LogicalResult buildTrainStep(ModuleOp model, const UpdatePlan &plan) {
    MLIRContext *context = &getContext();
    func::FuncOp grad = plan.grad;
    OpBuilder b(context);
    SmallVector<Type> argTypes(plan.leadingTypes);
    SmallVector<DictionaryAttr> argAttrs(plan.leadingAttrs);
    // A model with dropout takes the masks' seed after `step`.
    bool seeded = plan.seedArg >= 0;
    if (seeded) {
      argTypes.push_back(grad.getArgument(plan.seedArg).getType());
      argAttrs.push_back(grad.getArgAttrDict(plan.seedArg));
    }
    for (unsigned i : plan.inputArgs) {
      argTypes.push_back(grad.getArgument(i).getType());
      argAttrs.push_back(grad.getArgAttrDict(i));
    }

    Location loc = grad.getLoc();
    func::FuncOp func = createFunction(b, grad, (*model.getSymName() + "_train_step").str(), argTypes, argAttrs);
    Block *entry = &func.getBody().front();
    unsigned firstInput = plan.lrIndex + (seeded ? 3 : 2);
    SmallVector<Value> callArgs(grad.getNumArguments());
    for (unsigned p = 0; p < plan.numParams(); ++p)
      callArgs[plan.paramArgs[p]] = entry->getArgument(p);
    for (unsigned k = 0; k < plan.inputArgs.size(); ++k)
      callArgs[plan.inputArgs[k]] = entry->getArgument(firstInput + k);
    if (seeded)
      callArgs[plan.seedArg] = entry->getArgument(plan.lrIndex + 2);
    if (plan.stepArg >= 0)
      callArgs[plan.stepArg] = entry->getArgument(plan.lrIndex + 1);
    auto call = func::CallOp::create(b, loc, grad, callArgs);

    SmallVector<Value> results, grads, assigned;
    SmallVector<DictionaryAttr> resultAttrs;
    for (unsigned i : plan.otherResults) {
      results.push_back(call.getResult(i));
      resultAttrs.push_back(grad.getResultAttrDict(i));
    }
    for (unsigned p = 0; p < plan.numParams(); ++p) {
      int g = plan.resultFor(p, KilnDialect::getGradAttrName());
      int a = plan.resultFor(p, KilnDialect::getAssignAttrName());
      grads.push_back(g >= 0 ? call.getResult(g) : Value());
      assigned.push_back(a >= 0 ? call.getResult(a) : Value());
    }
    finishWithUpdates(b, func, plan, grads, assigned, std::move(results), std::move(resultAttrs));
    return success();
  }

  /// `<Model>_apply(params, state, lr, step, grads)`: the update alone, for
  /// callers that compute (and combine) the gradients themselves, such as
  /// data-parallel training (docs/distributed.md). Gradient arguments are
  /// inputs named `grad_<param>`, one per trainable parameter; the caller
  /// stores non-trainable parameters itself.
  void buildApply(ModuleOp model, const UpdatePlan &plan) {
    OpBuilder b(&getContext());
    SmallVector<Type> argTypes(plan.leadingTypes);
    SmallVector<DictionaryAttr> argAttrs(plan.leadingAttrs);
    SmallVector<int> gradArg(plan.numParams(), -1);
    for (unsigned p = 0; p < plan.numParams(); ++p) {
      if (!plan.trainable(p))
        continue;
      gradArg[p] = int(argTypes.size());
      argTypes.push_back(plan.grad.getArgument(plan.paramArgs[p]).getType());
      argAttrs.push_back(b.getDictionaryAttr(
          b.getNamedAttr(KilnDialect::getInputAttrName(), b.getStringAttr("grad_" + plan.param(p).getValue().str()))));
    }
    func::FuncOp func = createFunction(b, plan.grad, (*model.getSymName() + "_apply").str(), argTypes, argAttrs);
    SmallVector<Value> grads, none(plan.numParams());
    for (int arg : gradArg)
      grads.push_back(arg >= 0 ? func.getArgument(arg) : Value());
    finishWithUpdates(b, func, plan, grads, none, {}, {});
  }
};

} // namespace
