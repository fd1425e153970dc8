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

  Value constant(double value) {
    auto attr = DenseElementsAttr::get(scalarType, b.getFloatAttr(scalarType.getElementType(), value));
    return kiln::ConstantOp::create(b, loc, attr);
  }
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

struct KilnOptimizerPass : kiln::impl::KilnOptimizerBase<KilnOptimizerPass> {
  void runOnOperation() override {
    for (ModuleOp model : getOperation().getOps<ModuleOp>()) {
      auto optimizer = model->getAttrOfType<DictionaryAttr>(KilnDialect::getOptimizerAttrName());
      if (!optimizer || !model.getSymName())
        continue;
      auto grad = model.lookupSymbol<func::FuncOp>((*model.getSymName() + "_grad").str());
      if (!grad)
        continue;
      if (failed(buildTrainStep(model, grad, optimizer)))
        return signalPassFailure();
    }
  }

  LogicalResult buildTrainStep(ModuleOp model, func::FuncOp grad, DictionaryAttr optimizer) {
    MLIRContext *context = &getContext();
    auto nameAttr = optimizer.getAs<StringAttr>("name");
    if (!nameAttr)
      return model.emitError("kiln.optimizer has no name");
    StringRef name = nameAttr.getValue();
    if (name != "sgd" && name != "adagrad" && name != "rmsprop" && name != "adam")
      return model.emitError("unknown optimizer '") << name << "'";
    SmallVector<Slot> slots = stateSlots(name, optimizer);

    // The grad function: parameters (kiln.param), then inputs; results: loss,
    // metrics, then one gradient per parameter (kiln.grad = @param).
    SmallVector<unsigned> paramArgs, inputArgs;
    for (unsigned i = 0, e = grad.getNumArguments(); i < e; ++i)
      (grad.getArgAttr(i, KilnDialect::getParamAttrName()) ? paramArgs : inputArgs).push_back(i);
    SmallVector<unsigned> gradResults, otherResults;
    for (unsigned i = 0, e = grad.getNumResults(); i < e; ++i)
      (grad.getResultAttr(i, KilnDialect::getGradAttrName()) ? gradResults : otherResults).push_back(i);
    if (gradResults.size() != paramArgs.size())
      return grad.emitError("expected one gradient per parameter, got ")
             << gradResults.size() << " for " << paramArgs.size() << " parameters";

    Type scalarType = RankedTensorType::get({}, Float32Type::get(context));
    SmallVector<Type> argTypes;
    SmallVector<DictionaryAttr> argAttrs;
    OpBuilder b(context);
    for (unsigned i : paramArgs) {
      argTypes.push_back(grad.getArgument(i).getType());
      argAttrs.push_back(grad.getArgAttrDict(i));
    }
    for (unsigned p = 0; p < paramArgs.size(); ++p) {
      auto param = grad.getArgAttrOfType<FlatSymbolRefAttr>(paramArgs[p], KilnDialect::getParamAttrName());
      for (const Slot &slot : slots) {
        argTypes.push_back(grad.getArgument(paramArgs[p]).getType());
        argAttrs.push_back(b.getDictionaryAttr(b.getNamedAttr(
            KilnDialect::getStateAttrName(),
            b.getDictionaryAttr({b.getNamedAttr("param", param), b.getNamedAttr("slot", b.getStringAttr(slot.name)),
                                 b.getNamedAttr("init", b.getF64FloatAttr(slot.init))}))));
      }
    }
    unsigned lrIndex = argTypes.size();
    argTypes.push_back(scalarType);
    argAttrs.push_back(b.getDictionaryAttr(b.getNamedAttr(KilnDialect::getHyperAttrName(), b.getStringAttr("lr"))));
    argTypes.push_back(scalarType);
    argAttrs.push_back(b.getDictionaryAttr(b.getNamedAttr(KilnDialect::getHyperAttrName(), b.getStringAttr("step"))));
    // A model with dropout trains through a copy of _grad whose dropouts have
    // the key (seed, step); _grad itself stays the inference-mode gradient
    // that gradcheck and kiln-run compare with finite differences.
    bool hasDropout = false;
    grad.walk([&](kiln::DropoutOp) { hasDropout = true; });
    Type seedType = RankedTensorType::get({}, IntegerType::get(context, 32));
    if (hasDropout) {
      argTypes.push_back(seedType);
      argAttrs.push_back(b.getDictionaryAttr(b.getNamedAttr(KilnDialect::getHyperAttrName(), b.getStringAttr("seed"))));
    }
    for (unsigned i : inputArgs) {
      argTypes.push_back(grad.getArgument(i).getType());
      argAttrs.push_back(grad.getArgAttrDict(i));
    }

    std::string symbol = (*model.getSymName() + "_train_step").str();
    b.setInsertionPointAfter(grad);
    Location loc = grad.getLoc();
    auto func = func::FuncOp::create(b, loc, symbol, b.getFunctionType(argTypes, {}));
    Block *entry = func.addEntryBlock();
    for (auto [i, attrs] : llvm::enumerate(argAttrs))
      if (attrs)
        func.setArgAttrs(i, attrs);
    b.setInsertionPointToEnd(entry);

    unsigned numParams = paramArgs.size(), numSlots = slots.size();
    unsigned firstInput = lrIndex + (hasDropout ? 3 : 2);
    func::FuncOp callee = grad;
    if (hasDropout) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(func);
      callee = cast<func::FuncOp>(b.clone(*grad));
      callee.setSymName((grad.getSymName() + "_training").str());
      callee.setPrivate();
      unsigned seedArg = callee.getNumArguments();
      if (failed(callee.insertArgument(seedArg, seedType, {}, loc)) ||
          failed(callee.insertArgument(seedArg + 1, scalarType, {}, loc)))
        return grad.emitError("cannot add the dropout key to the training gradient");
      Value seed = callee.getArgument(seedArg), stepArg = callee.getArgument(seedArg + 1);
      callee.walk([&](kiln::DropoutOp op) { op.getKeyMutable().assign(ValueRange{seed, stepArg}); });
    }
    SmallVector<Value> callArgs(callee.getNumArguments());
    for (unsigned p = 0; p < numParams; ++p)
      callArgs[paramArgs[p]] = entry->getArgument(p);
    for (unsigned k = 0; k < inputArgs.size(); ++k)
      callArgs[inputArgs[k]] = entry->getArgument(firstInput + k);
    if (hasDropout) {
      callArgs[grad.getNumArguments()] = entry->getArgument(lrIndex + 2);
      callArgs[grad.getNumArguments() + 1] = entry->getArgument(lrIndex + 1);
    }
    auto call = func::CallOp::create(b, loc, callee, callArgs);

    SmallVector<Value> results;
    SmallVector<DictionaryAttr> resultAttrs;
    for (unsigned i : otherResults) {
      results.push_back(call.getResult(i));
      resultAttrs.push_back(grad.getResultAttrDict(i));
    }
    Value lr = entry->getArgument(lrIndex), step = entry->getArgument(lrIndex + 1);
    SmallVector<Value> newStates;
    SmallVector<int64_t> stateTargets;
    for (unsigned p = 0; p < numParams; ++p) {
      Value w = entry->getArgument(p);
      // The gradient of parameter p: the grad result naming its symbol.
      auto param = grad.getArgAttrOfType<FlatSymbolRefAttr>(paramArgs[p], KilnDialect::getParamAttrName());
      Value g;
      for (unsigned r : gradResults)
        if (grad.getResultAttrOfType<FlatSymbolRefAttr>(r, KilnDialect::getGradAttrName()) == param)
          g = call.getResult(r);
      if (!g)
        return grad.emitError("no gradient for parameter ") << param;
      UpdateBuilder u(b, loc, cast<RankedTensorType>(w.getType()).getElementType());
      ValueRange state = entry->getArguments().slice(numParams + p * numSlots, numSlots);
      Value newW;
      SmallVector<Value> newState;
      buildUpdate(u, name, optimizer, w, g, state, lr, step, newW, newState);
      results.push_back(newW);
      resultAttrs.push_back(
          b.getDictionaryAttr(b.getNamedAttr(KilnDialect::getUpdateAttrName(), b.getI64IntegerAttr(p))));
      for (unsigned s = 0; s < numSlots; ++s) {
        newStates.push_back(newState[s]);
        stateTargets.push_back(numParams + p * numSlots + s);
      }
    }
    for (auto [value, target] : llvm::zip(newStates, stateTargets)) {
      results.push_back(value);
      resultAttrs.push_back(
          b.getDictionaryAttr(b.getNamedAttr(KilnDialect::getUpdateAttrName(), b.getI64IntegerAttr(target))));
    }
    func::ReturnOp::create(b, loc, results);
    SmallVector<Type> resultTypes;
    for (Value value : results)
      resultTypes.push_back(value.getType());
    func.setFunctionType(b.getFunctionType(argTypes, resultTypes));
    for (auto [i, attrs] : llvm::enumerate(resultAttrs))
      if (attrs)
        func.setResultAttrs(i, attrs);
    return success();
  }
};

} // namespace
