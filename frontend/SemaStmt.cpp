//===- SemaStmt.cpp - Sema: statements and layer parameters ---------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The statements of a model: inputs and params (declared types,
// initializers), let/loss/metric/output (their expression, then the rules of
// each kind), the one namespace they share, and the naming of layer calls
// with the reservation of their parameters in declaration order.
//
//===----------------------------------------------------------------------===//

#include "frontend/SemaInternal.h"

#include "llvm/ADT/STLExtras.h"

#include <functional>

using namespace kiln;
using namespace kiln::sema;

LogicalResult ModelChecker::define(llvm::StringRef name, Location loc, Symbol symbol, bool mayShadowBuiltin) {
  if (name == "N") {
    diags.error(loc, "'N' is reserved for the batch dimension");
    return failure();
  }
  if (!mayShadowBuiltin && (isBuiltinFunctionName(name) || lookupActivation(name))) {
    diags.error(loc, "'" + name + "' is the name of a builtin function; " + "choose another name");
    return failure();
  }
  auto it = symbols.find(name);
  if (it != symbols.end()) {
    diags.error(loc, "redefinition of '" + name + "'");
    diags.note(it->second.defLoc, "'" + name + "' was first defined here");
    return failure();
  }
  symbol.defLoc = loc;
  symbols.try_emplace(name, std::move(symbol));
  return success();
}

LogicalResult ModelChecker::checkStmt(Stmt &stmt) {
  switch (stmt.getKind()) {
  case Stmt::Stmt_Input:
    return checkInput(llvm::cast<InputStmt>(stmt));
  case Stmt::Stmt_Param:
    return checkParam(llvm::cast<ParamStmt>(stmt));
  case Stmt::Stmt_Optimizer:
    return checkOptimizer(llvm::cast<OptimizerStmt>(stmt));
  case Stmt::Stmt_Let:
  case Stmt::Stmt_Loss:
  case Stmt::Stmt_Metric:
  case Stmt::Stmt_Output:
    return checkExprStmt(llvm::cast<ExprStmt>(stmt));
  }
  return failure();
}

LogicalResult ModelChecker::checkDeclaredType(const TypeSpec &spec) {
  const TensorType &type = spec.type;
  for (size_t i = 1; i < type.dims.size(); ++i) {
    if (type.dims[i] == kDynamic) {
      diags.error(spec.loc, "the batch dimension 'N' may only be the first "
                            "dimension, in " +
                                type.str());
      return failure();
    }
  }
  if (type.getStaticElementCount() < 0) {
    diags.error(spec.loc, "type " + type.str() + " has more than 2^40 elements");
    return failure();
  }
  return success();
}

/// 'input' IDENT ':' type: the batch dimension N must come first.
LogicalResult ModelChecker::checkInput(InputStmt &input) {
  const TypeSpec &spec = input.getTypeSpec();
  if (failed(checkDeclaredType(spec)))
    return failure();
  if (!spec.type.hasBatchDim()) {
    diags.error(spec.loc, "input '" + input.getName() +
                              "' must have the batch dimension N first "
                              "(as in " +
                              getDTypeName(spec.type.dtype) + "[N, ...]), but has type " + spec.type.str());
    return failure();
  }
  Symbol symbol;
  symbol.kind = NameKind::Input;
  symbol.stmt = &input;
  symbol.type = spec.type;
  return define(input.getName(), input.getNameLoc(), symbol,
                /*mayShadowBuiltin=*/false);
}

/// 'param' IDENT ':' type ('=' initializer)?: f32, no N.
LogicalResult ModelChecker::checkParam(ParamStmt &param) {
  const TypeSpec &spec = param.getTypeSpec();
  if (failed(checkDeclaredType(spec)))
    return failure();
  if (spec.type.dtype != DType::F32) {
    diags.error(spec.loc, "parameters must be f32, but '" + param.getName() + "' has type " + spec.type.str());
    return failure();
  }
  if (!spec.type.dims.empty() && spec.type.dims[0] == kDynamic) {
    diags.error(spec.loc, "a parameter cannot have the batch dimension N");
    return failure();
  }
  const InitializerSpec &initSpec = param.getInitializer();
  InitKind init = spec.type.getRank() >= 2 ? InitKind::GlorotUniform : InitKind::Zeros;
  double value = 0.0;
  if (initSpec.present) {
    std::optional<InitKind> named = lookupInitializer(initSpec.name);
    if (initSpec.name.empty()) {
      init = InitKind::Constant;
      value = initSpec.value;
    } else if (!named) {
      diags.error(initSpec.loc, "unknown initializer '" + initSpec.name + "'; expected " + getNamedInitializerList() +
                                    " or a number");
      return failure();
    } else if (*named == InitKind::GlorotUniform && spec.type.isScalar()) {
      diags.error(initSpec.loc, "glorot_uniform needs a parameter of rank 1 or more");
      return failure();
    } else {
      init = *named;
    }
  }
  Symbol symbol;
  symbol.kind = NameKind::Param;
  symbol.stmt = &param;
  symbol.type = spec.type;
  if (failed(define(param.getName(), param.getNameLoc(), symbol,
                    /*mayShadowBuiltin=*/false)))
    return failure();
  unsigned index = addParam(param.getName().str(), spec.type, init, param.getNameLoc());
  model.params[index].initValue = value;
  param.paramIndex = static_cast<int>(index);
  symbols[param.getName()].paramIndex = static_cast<int>(index);
  return success();
}

unsigned ModelChecker::addParam(std::string name, TensorType type, InitKind init, Location loc) {
  ParamInfo info;
  info.name = std::move(name);
  info.type = std::move(type);
  info.init = init;
  info.loc = loc;
  model.params.push_back(std::move(info));
  return static_cast<unsigned>(model.params.size() - 1);
}

/// Names the layer calls of one statement in source order and reserves their
/// parameters, so that parameters appear in declaration order.
void ModelChecker::nameLayers(Expr &root) {
  std::vector<CallExpr *> layers;
  // The tree height is bounded by the parser; recursion is safe.
  std::function<void(Expr &)> walk = [&](Expr &expr) {
    if (auto *unary = llvm::dyn_cast<UnaryExpr>(&expr)) {
      walk(unary->getOperand());
    } else if (auto *binary = llvm::dyn_cast<BinaryExpr>(&expr)) {
      walk(binary->getLHS());
      walk(binary->getRHS());
    } else if (auto *call = llvm::dyn_cast<CallExpr>(&expr)) {
      const FunctionSpec *spec = lookupFunction(call->getCallee());
      if (spec && isLayer(spec->builtin))
        layers.push_back(call);
      for (CallArg &arg : call->getArgs())
        walk(*arg.value);
    }
  };
  walk(root);
  llvm::sort(layers, [](const CallExpr *a, const CallExpr *b) {
    return a->getCalleeLoc().begin() < b->getCalleeLoc().begin();
  });
  for (CallExpr *call : layers) {
    llvm::StringRef kind = call->getCallee();
    unsigned index = layerCounters[kind]++;
    call->instanceName = (kind + "_" + llvm::Twine(index)).str();
    // The type and initializer are set once the input type is known
    // (setLayerParamType).
    for (const std::string &suffix : getLayerParamSuffixes(lookupFunction(kind)->builtin)) {
      std::string name = call->instanceName + suffix;
      call->paramIndices.push_back(addParam(name, TensorType(), InitKind::Zeros, call->getLoc()));
      call->paramNames.push_back(name);
    }
  }
}

LogicalResult ModelChecker::setLayerParamType(CallExpr &call, unsigned which, TensorType type) {
  ParamInfo &param = model.params[call.paramIndices[which]];
  if (type.getStaticElementCount() < 0) {
    diags.error(call.getLoc(),
                "parameter '" + param.name + "' of type " + type.str() + " would have more than 2^40 elements");
    return failure();
  }
  param.type = std::move(type);
  param.init = getLayerParamInit(call.builtin, which);
  param.trainable = isLayerParamTrainable(call.builtin, which);
  return success();
}

/// let, loss, metric and output statements: the expression, then the rules
/// of the statement's kind.
LogicalResult ModelChecker::checkExprStmt(ExprStmt &stmt) {
  if (Expr *expr = stmt.getExpr()) {
    nameLayers(*expr);
    if (failed(checkExpr(*expr)))
      return failure();
    stmt.type = expr->getType();
    stmt.deps = collectDependencies(*expr, model);
  }

  Symbol symbol;
  symbol.stmt = &stmt;
  symbol.type = stmt.type;
  switch (stmt.getKind()) {
  case Stmt::Stmt_Let: {
    auto &let = llvm::cast<LetStmt>(stmt);
    symbol.kind = NameKind::Let;
    return define(let.getName(), let.getNameLoc(), symbol,
                  /*mayShadowBuiltin=*/false);
  }
  case Stmt::Stmt_Loss:
    return checkLoss(llvm::cast<LossStmt>(stmt));
  case Stmt::Stmt_Metric:
    return checkMetric(llvm::cast<MetricStmt>(stmt), symbol);
  case Stmt::Stmt_Output:
    return checkOutput(llvm::cast<OutputStmt>(stmt), symbol);
  default:
    return failure();
  }
}

/// 'loss' expr: at most one, an f32 scalar.
LogicalResult ModelChecker::checkLoss(LossStmt &lossStmt) {
  if (loss) {
    diags.error(lossStmt.getLoc(), "a model has at most one loss");
    diags.note(loss->getLoc(), "the first loss is here");
    return failure();
  }
  loss = &lossStmt;
  const Expr *expr = lossStmt.getExpr();
  if (!lossStmt.type.isScalar()) {
    diags.error(expr->getLoc(), "loss must be a scalar, but has type " + lossStmt.type.str());
    return failure();
  }
  // A scalar i32 (`argmax` of a vector) is a scalar, but not a loss.
  if (lossStmt.type.dtype != DType::F32) {
    diags.error(expr->getLoc(), "loss must be f32, but has type " + lossStmt.type.str());
    return failure();
  }
  return success();
}

/// 'metric' IDENT '=' expr: an f32 scalar.
LogicalResult ModelChecker::checkMetric(MetricStmt &metric, Symbol symbol) {
  const Expr *expr = metric.getExpr();
  if (!metric.type.isScalar()) {
    diags.error(expr->getLoc(),
                "metric '" + metric.getName() + "' must be a scalar, but has type " + metric.type.str());
    return failure();
  }
  if (metric.type.dtype != DType::F32) {
    diags.error(expr->getLoc(), "metric '" + metric.getName() + "' must be f32, but has type " + metric.type.str());
    return failure();
  }
  symbol.kind = NameKind::Metric;
  // Metric names are exported (Keras style, e.g. `metric mse = ...`), so
  // they may coincide with a builtin's name: calls always mean the builtin.
  return define(metric.getName(), metric.getNameLoc(), symbol,
                /*mayShadowBuiltin=*/true);
}

/// 'output' IDENT ('=' expr)?: once per name, batched, and each example's
/// value depending on that example alone.
LogicalResult ModelChecker::checkOutput(OutputStmt &output, Symbol symbol) {
  const Expr *expr = output.getExpr();
  auto [it, inserted] = outputNames.try_emplace(output.getName(), output.getNameLoc());
  if (!inserted) {
    diags.error(output.getNameLoc(), "'" + output.getName() + "' is already an output");
    diags.note(it->second, "first declared as an output here");
    return failure();
  }
  if (!expr) {
    const Symbol *source = nullptr;
    if (failed(resolveName(output.getName(), output.getNameLoc(), source)))
      return failure();
    output.sourceKind = source->kind;
    output.source = source->stmt;
    output.type = source->type;
    output.deps = collectTargetDependencies(source->kind, source->stmt, source->paramIndex, model);
  }
  if (!output.type.hasBatchDim()) {
    diags.error(expr ? expr->getLoc() : output.getNameLoc(), "output '" + output.getName() +
                                                                 "' must have the batch dimension N first, but has "
                                                                 "type " +
                                                                 output.type.str());
    return failure();
  }
  // Each example's output must depend on that example alone.
  std::string why;
  const Expr *mixing = nullptr;
  if (expr)
    mixing = findBatchMixing(*expr, why);
  else if (const Expr *source = targetExpr(output.sourceKind, output.source))
    mixing = findBatchMixing(*source, why);
  if (mixing) {
    diags.error(output.getNameLoc(), "output '" + output.getName() +
                                         "' depends on other examples of the batch: an "
                                         "example's value would change with the batch it is "
                                         "computed in");
    diags.note(mixing->getLoc(), why);
    return failure();
  }
  if (!expr)
    return success();
  symbol.kind = NameKind::Output;
  return define(output.getName(), output.getNameLoc(), symbol,
                /*mayShadowBuiltin=*/true);
}
