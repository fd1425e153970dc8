//===- Autodiff.cpp - Reverse-mode automatic differentiation --------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-autodiff` pass (Passes.td): for every model's `<Model>_loss`,
// adds `<Model>_grad`, the loss function followed by its reverse sweep (and
// `<Model>_grad_training` from kiln-training-mode's `_loss_training`). The
// pass knows no op by name: each op states its vector-Jacobian product
// through `DifferentiableOpInterface` (dialect/KilnGradients.cpp), and
// `NonDifferentiable` marks ops through which nothing flows.
//
// Why this shape: the loss function is one straight-line
// block, so the forward values the backward needs are plain SSA values of
// the same function (no tape), and reverse order of the block is a valid
// order for the adjoints. Activity analysis keeps the backward to the ops
// that both depend on a parameter and reach the loss, so that an input-only
// computation (or a metric) never needs a rule, while an active op without
// one is an error at its source line rather than a silently wrong gradient.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/KilnDialect.h"
#include "dialect/KilnInterfaces.h"
#include "dialect/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace kiln {
#define GEN_PASS_DEF_KILNAUTODIFF
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using kiln::KilnDialect;

namespace {

/// A parameter argument of the loss function and the symbol it stands for.
struct Parameter {
  BlockArgument value;
  FlatSymbolRefAttr symbol;
};

/// Whether a cotangent may flow from `op`'s result into operand `index`.
bool flowsInto(Operation *op, unsigned index) {
  if (op->hasTrait<kiln::OpTrait::NonDifferentiable>())
    return false;
  if (auto differentiable = dyn_cast<kiln::DifferentiableOpInterface>(op))
    return differentiable.isOperandDifferentiable(index);
  // An op that is not differentiable at all still propagates activity, so
  // that it is reported if the loss needs a gradient through it.
  return isa<FloatType>(getElementTypeOrSelf(op->getOperand(index).getType()));
}

/// The values that depend on a parameter through differentiable operands
/// (forward) and that the loss depends on (backward); their intersection is
/// the set of active values.
DenseSet<Value> activeValues(Block &block, ArrayRef<Parameter> params, Value loss) {
  DenseSet<Value> varied;
  for (const Parameter &param : params)
    varied.insert(param.value);
  for (Operation &op : block.without_terminator()) {
    bool any = false;
    for (OpOperand &operand : op.getOpOperands())
      any |= varied.contains(operand.get()) && flowsInto(&op, operand.getOperandNumber());
    if (any)
      for (Value result : op.getResults())
        varied.insert(result);
  }
  DenseSet<Value> useful = {loss};
  for (Operation &op : llvm::reverse(block.without_terminator()))
    if (llvm::any_of(op.getResults(), [&](Value result) { return useful.contains(result); }))
      for (Value operand : op.getOperands())
        useful.insert(operand);
  DenseSet<Value> active;
  for (Value value : varied)
    if (useful.contains(value))
      active.insert(value);
  return active;
}

/// Erases the ops of `block` whose results are unused and that have no
/// side effect (the cotangents the rules built for inactive operands).
void eraseDeadOps(Block &block) {
  SmallVector<Operation *> ops;
  for (Operation &op : block.without_terminator())
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops))
    if (isOpTriviallyDead(op))
      op->erase();
}

/// Builds `gradName` next to `loss`: a copy of it whose return also yields
/// the cotangent of every parameter.
LogicalResult buildGradient(func::FuncOp loss, StringRef gradName) {
  if (!loss.getBody().hasOneBlock())
    return loss.emitError() << "kiln-autodiff: '" << loss.getSymName() << "' must be a single straight-line block";
  if (loss.getNumResults() == 0 || !isa<RankedTensorType>(loss.getResultTypes()[0]) ||
      cast<RankedTensorType>(loss.getResultTypes()[0]).getRank() != 0 ||
      !isa<FloatType>(cast<RankedTensorType>(loss.getResultTypes()[0]).getElementType()))
    return loss.emitError() << "kiln-autodiff: the first result of '" << loss.getSymName()
                            << "' must be a rank-0 float tensor (the loss)";

  auto grad = cast<func::FuncOp>(loss->clone());
  grad.setSymName(gradName);
  OpBuilder(loss).insert(grad); // before `loss`; moved after it below
  grad->moveAfter(loss);

  Block &block = grad.front();
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  Value lossValue = ret.getOperand(0);
  // The trainable parameters; a non-trainable one (batch_norm's moving
  // statistics) is a constant here: the training step sets it instead.
  SmallVector<Parameter> params;
  for (BlockArgument argument : block.getArguments())
    if (auto symbol =
            grad.getArgAttrOfType<FlatSymbolRefAttr>(argument.getArgNumber(), KilnDialect::getParamAttrName())) {
      auto param = SymbolTable::lookupNearestSymbolFrom<kiln::ParamOp>(loss, symbol);
      if (!param || !param.getNonTrainable())
        params.push_back({argument, symbol});
    }

  DenseSet<Value> active = activeValues(block, params, lossValue);
  SmallVector<Operation *> forward;
  for (Operation &op : block.without_terminator())
    forward.push_back(&op);

  // The reverse sweep, appended before the return.
  OpBuilder builder(ret);
  DenseMap<Value, Value> adjoint;
  Location lossLoc = lossValue.getDefiningOp() ? lossValue.getDefiningOp()->getLoc() : ret.getLoc();
  adjoint[lossValue] = kiln::ConstantOp::create(builder, lossLoc, cast<RankedTensorType>(lossValue.getType()), 1.0);

  for (Operation *op : llvm::reverse(forward)) {
    if (llvm::none_of(op->getResults(), [&](Value result) { return active.contains(result); }))
      continue;
    SmallVector<Value> resultCotangents;
    for (Value result : op->getResults())
      resultCotangents.push_back(adjoint.lookup(result));
    if (llvm::all_of(resultCotangents, [](Value v) { return !v; }))
      continue;
    auto differentiable = dyn_cast<kiln::DifferentiableOpInterface>(op);
    if (!differentiable)
      return op->emitError() << "'" << op->getName()
                             << "' is not differentiable, but the loss needs a gradient through it";
    SmallVector<Value> operandCotangents;
    builder.setInsertionPoint(ret);
    if (failed(differentiable.buildVectorJacobianProduct(builder, resultCotangents, operandCotangents)))
      return failure(); // the rule reported at the op
    if (operandCotangents.size() != op->getNumOperands())
      return op->emitError() << "internal error: the differentiation rule of '" << op->getName() << "' returned "
                             << operandCotangents.size() << " cotangents for " << op->getNumOperands() << " operands";
    for (OpOperand &operand : op->getOpOperands()) {
      Value cotangent = operandCotangents[operand.getOperandNumber()];
      Value value = operand.get();
      if (!cotangent || !active.contains(value) || !flowsInto(op, operand.getOperandNumber()))
        continue;
      if (cotangent.getType() != value.getType())
        return op->emitError() << "internal error: the differentiation rule of '" << op->getName()
                               << "' built a cotangent of type " << cotangent.getType() << " for operand "
                               << operand.getOperandNumber() << " of type " << value.getType();
      Value &slot = adjoint[value];
      // The second and later uses of a value add to its adjoint (one add
      // each), at the location of the use that contributes.
      slot =
          slot ? kiln::AddOp::create(builder, op->getLoc(), value.getType(), slot, cotangent).getResult() : cotangent;
    }
  }

  // One gradient per trainable parameter, in parameter order; zeros for
  // those the loss does not reach.
  SmallVector<Value> results(ret.getOperands());
  SmallVector<Type> resultTypes(grad.getResultTypes());
  SmallVector<DictionaryAttr> resultAttrs;
  for (unsigned i = 0, e = grad.getNumResults(); i < e; ++i)
    resultAttrs.push_back(grad.getResultAttrDict(i) ? grad.getResultAttrDict(i)
                                                    : DictionaryAttr::get(grad.getContext()));
  builder.setInsertionPoint(ret);
  for (const Parameter &param : params) {
    Value gradient = adjoint.lookup(param.value);
    if (!gradient)
      gradient = kiln::ConstantOp::create(builder, grad.getLoc(), cast<RankedTensorType>(param.value.getType()), 0.0);
    results.push_back(gradient);
    resultTypes.push_back(gradient.getType());
    resultAttrs.push_back(
        builder.getDictionaryAttr(builder.getNamedAttr(KilnDialect::getGradAttrName(), param.symbol)));
  }
  ret->setOperands(results);
  grad.setType(FunctionType::get(grad.getContext(), grad.getArgumentTypes(), resultTypes));
  grad.setAllResultAttrs(resultAttrs);
  eraseDeadOps(block);
  return success();
}

} // namespace

SmallVector<ModuleOp> kiln::collectModels(Operation *root) {
  SmallVector<ModuleOp> models;
  root->walk([&](ModuleOp module) {
    if (module->hasAttr(KilnDialect::getModelAttrName()) && module.getSymName())
      models.push_back(module);
  });
  return models;
}

namespace {

struct KilnAutodiffPass : kiln::impl::KilnAutodiffBase<KilnAutodiffPass> {
  void runOnOperation() override {
    for (ModuleOp model : kiln::collectModels(getOperation())) {
      std::string name = model.getSymName()->str();
      auto loss = model.lookupSymbol<func::FuncOp>(name + "_loss");
      if (!loss || model.lookupSymbol(name + "_grad"))
        continue;
      if (failed(buildGradient(loss, name + "_grad")))
        return signalPassFailure();
      // The training forward pass (kiln-training-mode), needed only as the
      // start of its gradient.
      if (auto training = model.lookupSymbol<func::FuncOp>(name + "_loss_training")) {
        if (failed(buildGradient(training, name + "_grad_training")))
          return signalPassFailure();
        training.erase();
      }
    }
  }
};

} // namespace
