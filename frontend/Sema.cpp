//===- Sema.cpp - Semantic checks for Kiln models -------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// One `ModelChecker` per model walks the statements in source order, keeping
// a single namespace (inputs, params, lets, metrics, named outputs). Calls are
// bound against the signatures of Builtins.def, which also drive the arity
// and keyword messages. Layers are named `<kind>_<index>` per kind in source
// order, which a pre-pass over each statement assigns (so that their
// parameters interleave with explicit `param`s as they appear).
//
// This file holds the tables read from Builtins.def, the AST walkers over
// checked expressions (dependencies, differentiable parameters, batch
// mixing), the model-level rules and `checkModule`; the checks of
// statements, expressions, calls, layers and the optimizer are in the
// Sema*.cpp files that SemaInternal.h lists.
//
//===----------------------------------------------------------------------===//

#include "frontend/SemaInternal.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Format.h"

using namespace kiln;
using namespace kiln::sema;

//===----------------------------------------------------------------------===//
// Builtin tables (Builtins.def)
//===----------------------------------------------------------------------===//

namespace {

const std::vector<FunctionSpec> &getFunctions() {
  static const std::vector<FunctionSpec> functions = [] {
    std::vector<FunctionSpec> f;
#define FUNCTION(Id, Name) f.push_back({Name, Builtin::Id, {}});
#define LAYER(Id, Name) FUNCTION(Id, Name)
#include "frontend/Builtins.def"
    auto specOf = [&](Builtin builtin) -> FunctionSpec & {
      return *llvm::find_if(f, [&](const FunctionSpec &spec) { return spec.builtin == builtin; });
    };
#define ARG(Builtin_, Name, Kind, Required, Default, Field)                                                            \
  specOf(Builtin::Builtin_).params.push_back({Name, ArgKind::Kind, Required, Default, LayerField::Field});
#include "frontend/Builtins.def"
    return f;
  }();
  return functions;
}

struct LayerParamSpec {
  Builtin layer;
  const char *suffix;
  InitKind init;
  bool trainable;
};

const LayerParamSpec kLayerParams[] = {
#define LAYER_PARAM(Layer, Suffix, Init, Trainable) {Builtin::Layer, Suffix, InitKind::Init, Trainable},
#include "frontend/Builtins.def"
};

} // namespace

const FormalParam *FunctionSpec::findParam(llvm::StringRef name) const {
  for (const FormalParam &param : params)
    if (name == param.name)
      return &param;
  return nullptr;
}

const FunctionSpec *sema::lookupFunction(llvm::StringRef name) {
  for (const FunctionSpec &spec : getFunctions())
    if (name == spec.name)
      return &spec;
  return nullptr;
}

std::optional<Activation> sema::lookupActivation(llvm::StringRef name) {
#define ACTIVATION(Id, Name)                                                                                           \
  if (name == Name)                                                                                                    \
    return Activation::Id;
#include "frontend/Builtins.def"
  return std::nullopt;
}

std::optional<InitKind> sema::lookupInitializer(llvm::StringRef name) {
  // `constant` is written as a number, never by name.
  if (name == getInitKindName(InitKind::Constant))
    return std::nullopt;
#define INITIALIZER(Id, Name)                                                                                          \
  if (name == Name)                                                                                                    \
    return InitKind::Id;
#include "frontend/Builtins.def"
  return std::nullopt;
}

InitKind sema::getLayerParamInit(Builtin layer, unsigned which) {
  for (const LayerParamSpec &param : kLayerParams)
    if (param.layer == layer && which-- == 0)
      return param.init;
  return InitKind::Zeros;
}

bool sema::isLayerParamTrainable(Builtin layer, unsigned which) {
  for (const LayerParamSpec &param : kLayerParams)
    if (param.layer == layer && which-- == 0)
      return param.trainable;
  return true;
}

std::vector<std::string> sema::getLayerParamSuffixes(Builtin layer) {
  std::vector<std::string> suffixes;
  for (const LayerParamSpec &param : kLayerParams)
    if (param.layer == layer)
      suffixes.push_back(std::string(".") + param.suffix);
  return suffixes;
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

std::string sema::formatNumber(double value) {
  std::string s;
  llvm::raw_string_ostream(s) << llvm::format("%g", value);
  return s;
}

std::string sema::pluralArgs(size_t n) { return std::to_string(n) + (n == 1 ? " argument" : " arguments"); }

std::optional<double> sema::getIntegerLiteralValue(const Expr &expr) {
  const Expr *inner = &expr;
  if (auto *unary = llvm::dyn_cast<UnaryExpr>(inner))
    inner = &unary->getOperand();
  auto *number = llvm::dyn_cast<NumberExpr>(inner);
  if (!number || !number->isIntegerLiteral())
    return std::nullopt;
  return getConstantValue(expr);
}

const Expr *sema::targetExpr(NameKind kind, const Stmt *target) {
  if (!target || (kind != NameKind::Let && kind != NameKind::Metric && kind != NameKind::Output))
    return nullptr;
  return llvm::cast<ExprStmt>(target)->getExpr();
}

bool kiln::isBuiltinFunctionName(llvm::StringRef name) { return lookupFunction(name) != nullptr; }

std::optional<double> kiln::getConstantValue(const Expr &expr) {
  if (auto *number = llvm::dyn_cast<NumberExpr>(&expr))
    return number->getValue();
  if (auto *unary = llvm::dyn_cast<UnaryExpr>(&expr))
    if (auto *number = llvm::dyn_cast<NumberExpr>(&unary->getOperand()))
      return -number->getValue();
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// What expressions reach
//===----------------------------------------------------------------------===//

namespace {

/// Collects the inputs and parameters a checked expression reaches, through
/// operands, names and layer parameters. One walker serves two questions
/// that differ in two places only:
/// - Dependencies (`onlyDifferentiable` false): every path counts, and a
///   name of a let, metric or output contributes the dependencies Sema
///   already stored on that statement (so each statement is walked once).
/// - Differentiable parameters (`onlyDifferentiable` true): argmax, argmin
///   and comparisons have no gradient (their result is piecewise constant)
///   and stop_gradient passes none by definition, so paths through them are
///   cut, and the stored dependencies (which count every path) cannot be
///   used: a name's defining expression is walked instead, once. (The
///   dialect says the same with its NonDifferentiable trait; the front end
///   is MLIR-free, so it keeps its own list in passesNoGradient.)
class ReachCollector {
public:
  /// The builtins through which no gradient reaches their operands.
  static bool passesNoGradient(Builtin builtin) {
    return builtin == Builtin::Argmax || builtin == Builtin::Argmin || builtin == Builtin::StopGradient;
  }

  ReachCollector(const Model &model, bool onlyDifferentiable) : model(model), onlyDifferentiable(onlyDifferentiable) {}

  void visit(const Expr &expr) {
    switch (expr.getKind()) {
    case Expr::Expr_Number:
    case Expr::Expr_List: // constants: a shape or a permutation
      return;
    case Expr::Expr_Name: {
      const auto &name = llvm::cast<NameExpr>(expr);
      if (name.target)
        addTarget(name.targetKind, name.target, name.paramIndex);
      return;
    }
    case Expr::Expr_Unary:
      visit(llvm::cast<UnaryExpr>(expr).getOperand());
      return;
    case Expr::Expr_Binary: {
      const auto &binary = llvm::cast<BinaryExpr>(expr);
      if (onlyDifferentiable && isComparison(binary.getOp()))
        return;
      visit(binary.getLHS());
      visit(binary.getRHS());
      return;
    }
    case Expr::Expr_Call: {
      const auto &call = llvm::cast<CallExpr>(expr);
      if (onlyDifferentiable && passesNoGradient(call.builtin))
        return;
      for (unsigned index : call.paramIndices)
        params.insert(index);
      // Only tensor operands carry values (activation names are not refs).
      if (call.builtin != Builtin::None) {
        for (const Expr *operand : call.operands)
          visit(*operand);
      } else {
        for (const CallArg &arg : call.getArgs())
          visit(*arg.value);
      }
      return;
    }
    }
  }

  /// Adds what a name's target reaches.
  void addTarget(NameKind kind, const Stmt *target, int paramIndex) {
    switch (kind) {
    case NameKind::Input:
      inputs.insert(llvm::cast<InputStmt>(target)->getName());
      break;
    case NameKind::Param:
      if (paramIndex >= 0)
        params.insert(static_cast<unsigned>(paramIndex));
      break;
    case NameKind::Let:
    case NameKind::Metric:
    case NameKind::Output:
      if (!onlyDifferentiable)
        addDeps(llvm::cast<ExprStmt>(target)->deps);
      else if (const Expr *source = targetExpr(kind, target))
        if (visited.insert(source).second)
          visit(*source);
      break;
    case NameKind::Unresolved:
      break;
    }
  }

  Dependencies result() const {
    Dependencies deps;
    for (const InputStmt *input : model.getInputs())
      if (inputs.contains(input->getName()) && !llvm::is_contained(deps.inputs, input->getName()))
        deps.inputs.push_back(input->getName().str());
    for (unsigned i = 0; i < model.params.size(); ++i)
      if (params.contains(i))
        deps.params.push_back(model.params[i].name);
    return deps;
  }

  llvm::StringSet<> inputs;
  llvm::DenseSet<unsigned> params;

private:
  void addDeps(const Dependencies &deps) {
    for (const std::string &name : deps.inputs)
      inputs.insert(name);
    for (const std::string &name : deps.params)
      for (unsigned i = 0; i < model.params.size(); ++i)
        if (model.params[i].name == name) {
          params.insert(i);
          break;
        }
  }

  const Model &model;
  bool onlyDifferentiable;
  llvm::DenseSet<const Expr *> visited;
};

} // namespace

Dependencies kiln::collectDependencies(const Expr &expr, const Model &model) {
  ReachCollector collector(model, /*onlyDifferentiable=*/false);
  collector.visit(expr);
  return collector.result();
}

Dependencies sema::collectTargetDependencies(NameKind kind, const Stmt *target, int paramIndex, const Model &model) {
  ReachCollector collector(model, /*onlyDifferentiable=*/false);
  collector.addTarget(kind, target, paramIndex);
  return collector.result();
}

//===----------------------------------------------------------------------===//
// Batch mixing
//===----------------------------------------------------------------------===//

namespace {

/// Finds where a value's result for one example starts to depend on other
/// examples: a reduction, softmax or argmax along the batch axis N, a loss,
/// or a matrix product contracting N. `predict` runs a batch in chunks and
/// the server batches requests from different users, so such an output
/// would change with the company its example keeps.
class BatchMixingFinder {
public:
  /// The first mixing expression `expr` reaches, with `why` saying what it
  /// does; null if every example's value depends on that example only.
  const Expr *find(const Expr &expr, std::string &why) {
    switch (expr.getKind()) {
    case Expr::Expr_Number:
    case Expr::Expr_List:
      return nullptr;
    case Expr::Expr_Name: {
      const auto &name = llvm::cast<NameExpr>(expr);
      const Expr *source = targetExpr(name.targetKind, name.target);
      if (!source)
        return nullptr;
      auto [it, inserted] = memo.try_emplace(source, Found{nullptr, ""});
      if (inserted) {
        std::string reason;
        const Expr *site = find(*source, reason);
        it = memo.find(source);
        it->second = Found{site, reason};
      }
      why = it->second.why;
      return it->second.site;
    }
    case Expr::Expr_Unary:
      return find(llvm::cast<UnaryExpr>(expr).getOperand(), why);
    case Expr::Expr_Binary: {
      const auto &binary = llvm::cast<BinaryExpr>(expr);
      if (binary.getOp() == BinaryOp::MatMul) {
        const TensorType &lhs = *binary.getLHS().type;
        const TensorType &rhs = *binary.getRHS().type;
        int64_t rhsContracted = rhs.getRank() >= 2 ? rhs.dims[rhs.getRank() - 2] : rhs.dims[0];
        if ((lhs.getRank() > 0 && lhs.dims.back() == kDynamic) || rhsContracted == kDynamic) {
          why = "this matrix product sums over the batch axis N";
          return &expr;
        }
      }
      if (const Expr *site = find(binary.getLHS(), why))
        return site;
      return find(binary.getRHS(), why);
    }
    case Expr::Expr_Call: {
      const auto &call = llvm::cast<CallExpr>(expr);
      const Expr *first = call.operands.empty() ? nullptr : call.operands[0];
      bool batched = first && first->type && first->type->hasBatchDim();
      std::string callee = call.getCallee().str();
      switch (call.builtin) {
      case Builtin::Softmax:
      case Builtin::LogSoftmax:
      case Builtin::Argmax:
      case Builtin::Argmin:
      case Builtin::Take:
        if (batched && call.axis && *call.axis == 0) {
          why = callee + " over axis 0, the batch axis N, mixes the examples";
          return &expr;
        }
        break;
      case Builtin::ReduceMax:
      case Builtin::ReduceMin:
      case Builtin::Sum:
      case Builtin::Mean:
        if (batched && (!call.axis || *call.axis == 0)) {
          why = callee +
                (call.axis ? " over axis 0, the batch axis N,"
                           : " over every axis, the batch axis N "
                             "included,") +
                " mixes the examples";
          return &expr;
        }
        break;
      case Builtin::CrossEntropy:
      case Builtin::BinaryCrossEntropy:
      case Builtin::Mse:
        if (batched) {
          why = callee + " averages over the examples of the batch";
          return &expr;
        }
        break;
      default:
        break;
      }
      for (const Expr *operand : call.operands)
        if (const Expr *site = find(*operand, why))
          return site;
      return nullptr;
    }
    }
    return nullptr;
  }

private:
  struct Found {
    const Expr *site;
    std::string why;
  };
  llvm::DenseMap<const Expr *, Found> memo;
};
} // namespace

const Expr *sema::findBatchMixing(const Expr &expr, std::string &why) { return BatchMixingFinder().find(expr, why); }

//===----------------------------------------------------------------------===//
// ModelChecker: the model
//===----------------------------------------------------------------------===//

LogicalResult ModelChecker::check() {
  for (const auto &stmt : model.getStmts()) {
    llvm::StringRef name;
    Location loc;
    if (auto *s = llvm::dyn_cast<InputStmt>(stmt.get()))
      name = s->getName(), loc = s->getNameLoc();
    else if (auto *s = llvm::dyn_cast<ParamStmt>(stmt.get()))
      name = s->getName(), loc = s->getNameLoc();
    else if (auto *s = llvm::dyn_cast<LetStmt>(stmt.get()))
      name = s->getName(), loc = s->getNameLoc();
    else if (auto *s = llvm::dyn_cast<MetricStmt>(stmt.get()))
      name = s->getName(), loc = s->getNameLoc();
    else if (auto *s = llvm::dyn_cast<OutputStmt>(stmt.get()); s && s->getExpr())
      name = s->getName(), loc = s->getNameLoc();
    if (!name.empty())
      allDefinitions.try_emplace(name, loc);
  }
  for (const auto &stmt : model.getStmts())
    if (failed(checkStmt(*stmt)))
      return failure();
  return finish();
}

//===----------------------------------------------------------------------===//
// Model-level rules
//===----------------------------------------------------------------------===//

LogicalResult ModelChecker::finish() {
  if (model.getOutputs().empty()) {
    diags.error(model.getNameLoc(), "model '" + model.getName() + "' has no output");
    return failure();
  }
  if (loss && !optimizer) {
    diags.error(loss->getLoc(), "model '" + model.getName() + "' has a loss but no optimizer");
    return failure();
  }
  if (optimizer && !loss) {
    diags.error(optimizer->getLoc(), "model '" + model.getName() + "' has an optimizer but no loss");
    return failure();
  }
  // Metrics are computed next to the loss (the `_loss` entry point), so a
  // model without a loss would silently drop them.
  if (!loss && !model.getMetrics().empty()) {
    const MetricStmt *metric = model.getMetrics().front();
    diags.error(metric->getNameLoc(), "metric '" + metric->getName() +
                                          "' needs a loss: metrics are "
                                          "computed with the loss");
    return failure();
  }
  if (loss) {
    ReachCollector differentiable(model, /*onlyDifferentiable=*/true);
    differentiable.visit(*loss->getExpr());
    for (unsigned i = 0; i < model.params.size(); ++i) {
      const ParamInfo &param = model.params[i];
      if (!llvm::is_contained(loss->deps.params, param.name)) {
        diags.error(param.loc, "parameter '" + param.name + "' does not affect the loss");
        return failure();
      }
      if (!differentiable.params.contains(i)) {
        diags.error(param.loc, "parameter '" + param.name +
                                   "' reaches the loss only through argmax, argmin, "
                                   "stop_gradient or a comparison, which pass no "
                                   "gradient: training would never change it");
        return failure();
      }
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Module
//===----------------------------------------------------------------------===//

LogicalResult kiln::checkModule(Module &module, Diagnostics &diags) {
  if (module.getModels().empty()) {
    Location loc;
    if (const llvm::SourceMgr *srcMgr = module.getSourceMgr())
      loc =
          Location(llvm::SMLoc::getFromPointer(srcMgr->getMemoryBuffer(srcMgr->getMainFileID())->getBufferStart()), 0);
    diags.error(loc, "the file contains no model");
    return failure();
  }
  llvm::StringMap<Location> modelNames;
  for (const auto &model : module.getModels()) {
    auto [it, inserted] = modelNames.try_emplace(model->getName(), model->getNameLoc());
    if (!inserted) {
      diags.error(model->getNameLoc(), "redefinition of model '" + model->getName() + "'");
      diags.note(it->second, "the first model '" + model->getName() + "' is here");
      return failure();
    }
  }
  for (const auto &model : module.getModels())
    if (failed(ModelChecker(*model, diags).check()))
      return failure();
  return success();
}
