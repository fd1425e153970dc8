//===- TrainingMode.cpp - <Model>_loss_training: the loss as training sees it ===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-training-mode` pass (see Passes.td). Two layers compute
// something else in training than in inference: dropout draws a mask, and
// batch_norm normalises with the batch's statistics and moves its moving
// ones. `<Model>_loss` stays the inference-mode loss (what `eval`,
// gradcheck and `_grad` compute); this pass adds `<Model>_loss_training`,
// the loss that train_step differentiates, so that kiln-autodiff
// differentiates the training forward pass itself: the gradient through a
// batch's mean and variance comes from the rules of the ops below, as
// PyTorch differentiates through them.
//
// batch_norm in training, per feature c of the last axis (Keras's
// BatchNormalization; the variance is the biased one, as Keras uses for both
// the normalisation and the moving variance):
//
//   mean = mean of x over every other axis;  var = mean of (x - mean)^2
//   y = (x - mean) / sqrt(var + epsilon) * gamma + beta
//   moving_mean'     = momentum * moving_mean     + (1 - momentum) * mean
//   moving_variance' = momentum * moving_variance + (1 - momentum) * var
//
// The new moving statistics are extra results tagged `kiln.assign = @param`
// after the loss and metrics; they are not differentiated (only the loss
// is), and kiln-optimizer stores them.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/KilnDialect.h"
#include "dialect/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace kiln {
#define GEN_PASS_DEF_KILNTRAININGMODE
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using kiln::KilnDialect;

namespace {

/// The kiln.param symbol a batch_norm statistic operand binds (an argument
/// of the loss function tagged kiln.param), or null.
FlatSymbolRefAttr boundParam(func::FuncOp func, Value value) {
  auto argument = dyn_cast<BlockArgument>(value);
  if (!argument || argument.getOwner() != &func.front())
    return {};
  return func.getArgAttrOfType<FlatSymbolRefAttr>(argument.getArgNumber(), KilnDialect::getParamAttrName());
}

/// The mean of `x` over every axis but the last: one reduce_mean along the
/// leading axis per leading axis (each mean has the same count, so the mean
/// of the means is the mean).
Value meanOverLeadingAxes(OpBuilder &b, Location loc, Value x) {
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  for (int64_t i = 0; i + 1 < rank; ++i)
    x = kiln::ReduceMeanOp::create(b, loc, x, std::optional<int64_t>(0));
  return x;
}

/// `momentum * moving + (1 - momentum) * batch`, in kiln ops.
Value moveTowards(OpBuilder &b, Location loc, Value moving, Value batch, double momentum) {
  auto scalarType = RankedTensorType::get({}, cast<RankedTensorType>(moving.getType()).getElementType());
  Value keep = kiln::ConstantOp::create(b, loc, scalarType, momentum);
  Value take = kiln::ConstantOp::create(b, loc, scalarType, 1.0 - momentum);
  return kiln::AddOp::create(b, loc, kiln::MulOp::create(b, loc, keep, moving),
                             kiln::MulOp::create(b, loc, take, batch));
}

/// Rewrites every batch_norm of `func` into its training form; appends the
/// new moving statistics to `assigned` (value and parameter).
LogicalResult rewriteBatchNorms(func::FuncOp func, SmallVectorImpl<std::pair<Value, FlatSymbolRefAttr>> &assigned) {
  SmallVector<kiln::BatchNormOp> norms;
  func.walk([&](kiln::BatchNormOp op) { norms.push_back(op); });
  for (kiln::BatchNormOp op : norms) {
    FlatSymbolRefAttr meanParam = boundParam(func, op.getMean()), varianceParam = boundParam(func, op.getVariance());
    if (!meanParam || !varianceParam)
      return op.emitError("batch_norm's moving statistics must be parameters of the model");
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value x = op.getInput();
    Value mean = meanOverLeadingAxes(b, loc, x);
    Value centred = kiln::SubOp::create(b, loc, x, mean);
    Value variance = meanOverLeadingAxes(b, loc, kiln::MulOp::create(b, loc, centred, centred));
    double epsilon = op.getEpsilon().convertToDouble(), momentum = op.getMomentum().convertToDouble();
    Value y = kiln::BatchNormOp::buildNormalize(b, loc, x, op.getGamma(), op.getBeta(), mean, variance, epsilon);
    assigned.push_back({moveTowards(b, loc, op.getMean(), mean, momentum), meanParam});
    assigned.push_back({moveTowards(b, loc, op.getVariance(), variance, momentum), varianceParam});
    op.replaceAllUsesWith(y);
    op.erase();
  }
  return success();
}

struct KilnTrainingModePass : kiln::impl::KilnTrainingModeBase<KilnTrainingModePass> {
  void runOnOperation() override {
    for (ModuleOp model : kiln::collectModels(getOperation())) {
      std::string name = model.getSymName()->str();
      auto loss = model.lookupSymbol<func::FuncOp>(name + "_loss");
      if (!loss || model.lookupSymbol(name + "_loss_training"))
        continue;
      bool hasDropout = false, hasBatchNorm = false;
      loss.walk([&](Operation *op) {
        hasDropout |= isa<kiln::DropoutOp>(op);
        hasBatchNorm |= isa<kiln::BatchNormOp>(op);
      });
      if (!hasDropout && !hasBatchNorm)
        continue;
      if (failed(buildTrainingLoss(loss, name + "_loss_training", hasDropout)))
        return signalPassFailure();
    }
  }

  /// The copy of `loss` with dropout keyed by two new trailing arguments
  /// (`seed`, `step`; tagged kiln.hyper) and batch_norm in training form.
  LogicalResult buildTrainingLoss(func::FuncOp loss, StringRef symbol, bool hasDropout) {
    OpBuilder b(loss);
    b.setInsertionPointAfter(loss);
    auto training = cast<func::FuncOp>(b.clone(*loss));
    training.setSymName(symbol);
    Location loc = loss.getLoc();
    MLIRContext *context = &getContext();

    if (hasDropout) {
      unsigned seedArg = training.getNumArguments();
      auto hyper = [&](StringRef what) {
        return b.getDictionaryAttr(b.getNamedAttr(KilnDialect::getHyperAttrName(), b.getStringAttr(what)));
      };
      if (failed(training.insertArgument(seedArg, RankedTensorType::get({}, IntegerType::get(context, 32)),
                                         hyper("seed"), loc)) ||
          failed(training.insertArgument(seedArg + 1, RankedTensorType::get({}, Float32Type::get(context)),
                                         hyper("step"), loc)))
        return loss.emitError("cannot add the dropout key to the training loss");
      Value seed = training.getArgument(seedArg), step = training.getArgument(seedArg + 1);
      training.walk([&](kiln::DropoutOp op) { op.getKeyMutable().assign(ValueRange{seed, step}); });
    }

    SmallVector<std::pair<Value, FlatSymbolRefAttr>> assigned;
    if (failed(rewriteBatchNorms(training, assigned)))
      return failure();
    if (assigned.empty())
      return success();
    auto ret = cast<func::ReturnOp>(training.front().getTerminator());
    SmallVector<Value> results(ret.getOperands());
    SmallVector<DictionaryAttr> resultAttrs;
    for (unsigned i = 0, e = training.getNumResults(); i < e; ++i)
      resultAttrs.push_back(training.getResultAttrDict(i) ? training.getResultAttrDict(i)
                                                          : DictionaryAttr::get(context));
    for (auto [value, param] : assigned) {
      results.push_back(value);
      resultAttrs.push_back(b.getDictionaryAttr(b.getNamedAttr(KilnDialect::getAssignAttrName(), param)));
    }
    ret->setOperands(results);
    SmallVector<Type> resultTypes;
    for (Value value : results)
      resultTypes.push_back(value.getType());
    training.setType(FunctionType::get(context, training.getArgumentTypes(), resultTypes));
    training.setAllResultAttrs(resultAttrs);
    return success();
  }
};

} // namespace
