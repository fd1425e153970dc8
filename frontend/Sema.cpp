//===- Sema.cpp - Semantic checks for Kiln models -------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// One `ModelChecker` per model walks the statements in source order, keeping
// a single namespace (inputs, params, lets, metrics, named outputs). Calls are
// bound against a small signature table (`kFunctions`) that also drives the
// arity and keyword messages. Layers are named `<kind>_<index>` per kind in
// source order, which a pre-pass over each statement assigns (so that their
// parameters interleave with explicit `param`s as they appear).
//
//===----------------------------------------------------------------------===//

#include "frontend/Sema.h"
#include "frontend/ShapeRules.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Format.h"

#include <algorithm>
#include <cmath>
#include <functional>

using namespace kiln;
using namespace kiln::ast;
using llvm::failure;
using llvm::LogicalResult;
using llvm::success;

//===----------------------------------------------------------------------===//
// Builtin signatures
//===----------------------------------------------------------------------===//

namespace {

/// What a formal parameter of a builtin accepts.
enum class ArgKind {
  Tensor,     ///< any expression, checked as a tensor
  PosInt,     ///< a positive integer literal
  Axis,       ///< an integer literal, possibly negative
  Activation, ///< relu | sigmoid | tanh | softmax | linear
  Padding,    ///< valid | same
  Rate,       ///< a number in [0, 1)
};

struct FormalParam {
  const char *name;
  ArgKind kind;
  bool required;
};

/// A builtin function or layer: its name, what it resolves to (for max/min the
/// reduction; the two-tensor form is chosen when checking), whether it is a
/// layer, and its formal parameters in positional order.
struct FunctionSpec {
  const char *name;
  Builtin builtin;
  std::vector<FormalParam> params;
};

const std::vector<FunctionSpec> &getFunctions() {
  static const std::vector<FunctionSpec> functions = [] {
    const FormalParam x{"x", ArgKind::Tensor, true};
    const FormalParam input{"input", ArgKind::Tensor, true};
    const FormalParam axis{"axis", ArgKind::Axis, false};
    const FormalParam activation{"activation", ArgKind::Activation, false};
    std::vector<FunctionSpec> f;
    for (auto [name, b] : {std::pair{"relu", Builtin::Relu},
                           {"sigmoid", Builtin::Sigmoid},
                           {"tanh", Builtin::Tanh},
                           {"exp", Builtin::Exp},
                           {"log", Builtin::Log},
                           {"sqrt", Builtin::Sqrt},
                           {"abs", Builtin::Abs}})
      f.push_back({name, b, {x}});
    f.push_back({"softmax", Builtin::Softmax, {x, axis}});
    f.push_back({"log_softmax", Builtin::LogSoftmax, {x, axis}});
    f.push_back(
        {"max", Builtin::ReduceMax, {x, {"y", ArgKind::Tensor, false}, axis}});
    f.push_back(
        {"min", Builtin::ReduceMin, {x, {"y", ArgKind::Tensor, false}, axis}});
    f.push_back({"sum", Builtin::Sum, {x, axis}});
    f.push_back({"mean", Builtin::Mean, {x, axis}});
    f.push_back({"argmax", Builtin::Argmax, {x, axis}});
    f.push_back({"cross_entropy",
                 Builtin::CrossEntropy,
                 {{"logits", ArgKind::Tensor, true},
                  {"labels", ArgKind::Tensor, true}}});
    f.push_back({"binary_cross_entropy",
                 Builtin::BinaryCrossEntropy,
                 {{"predictions", ArgKind::Tensor, true},
                  {"targets", ArgKind::Tensor, true}}});
    f.push_back({"mse",
                 Builtin::Mse,
                 {{"predictions", ArgKind::Tensor, true},
                  {"targets", ArgKind::Tensor, true}}});
    f.push_back({"dense",
                 Builtin::Dense,
                 {input, {"units", ArgKind::PosInt, true}, activation}});
    f.push_back({"conv2d",
                 Builtin::Conv2D,
                 {input,
                  {"filters", ArgKind::PosInt, true},
                  {"kernel", ArgKind::PosInt, true},
                  activation,
                  {"stride", ArgKind::PosInt, false},
                  {"padding", ArgKind::Padding, false}}});
    for (auto [name, b] : {std::pair{"maxpool", Builtin::MaxPool},
                           {"avgpool", Builtin::AvgPool}})
      f.push_back({name,
                   b,
                   {input,
                    {"size", ArgKind::PosInt, true},
                    {"stride", ArgKind::PosInt, false}}});
    f.push_back({"flatten", Builtin::Flatten, {input}});
    f.push_back(
        {"dropout", Builtin::Dropout, {input, {"rate", ArgKind::Rate, true}}});
    return f;
  }();
  return functions;
}

const FunctionSpec *lookupFunction(llvm::StringRef name) {
  for (const FunctionSpec &spec : getFunctions())
    if (name == spec.name)
      return &spec;
  return nullptr;
}

std::optional<Activation> lookupActivation(llvm::StringRef name) {
  if (name == "linear")
    return Activation::Linear;
  if (name == "relu")
    return Activation::Relu;
  if (name == "sigmoid")
    return Activation::Sigmoid;
  if (name == "tanh")
    return Activation::Tanh;
  if (name == "softmax")
    return Activation::Softmax;
  return std::nullopt;
}

/// Formats a number for messages: `0.001`, `1e-07`, `3`.
std::string formatNumber(double value) {
  std::string s;
  llvm::raw_string_ostream(s) << llvm::format("%g", value);
  return s;
}

/// "1 argument", "2 arguments".
std::string pluralArgs(size_t n) {
  return std::to_string(n) + (n == 1 ? " argument" : " arguments");
}

/// Returns the value of an integer literal (`3`) or a negated one (`-1`), as
/// the language defines them: written without '.' or exponent. `3.0` and
/// `1e1` are not integer literals, whatever their value.
std::optional<double> getIntegerLiteralValue(const Expr &expr) {
  const Expr *inner = &expr;
  if (auto *unary = llvm::dyn_cast<UnaryExpr>(inner))
    inner = &unary->getOperand();
  auto *number = llvm::dyn_cast<NumberExpr>(inner);
  if (!number || !number->isIntegerLiteral())
    return std::nullopt;
  return getConstantValue(expr);
}

} // namespace

bool kiln::isBuiltinFunctionName(llvm::StringRef name) {
  return lookupFunction(name) != nullptr;
}

std::optional<double> kiln::getConstantValue(const Expr &expr) {
  if (auto *number = llvm::dyn_cast<NumberExpr>(&expr))
    return number->getValue();
  if (auto *unary = llvm::dyn_cast<UnaryExpr>(&expr))
    if (auto *number = llvm::dyn_cast<NumberExpr>(&unary->getOperand()))
      return -number->getValue();
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Dependencies
//===----------------------------------------------------------------------===//

namespace {

/// Collects input names and parameter indices reached by expressions.
struct DependencyCollector {
  llvm::StringSet<> inputs;
  llvm::DenseSet<unsigned> params;
  const Model &model;

  explicit DependencyCollector(const Model &model) : model(model) {}

  void addParamName(llvm::StringRef name) {
    for (unsigned i = 0; i < model.params.size(); ++i)
      if (model.params[i].name == name) {
        params.insert(i);
        return;
      }
  }

  void addDeps(const Dependencies &deps) {
    for (const std::string &name : deps.inputs)
      inputs.insert(name);
    for (const std::string &name : deps.params)
      addParamName(name);
  }

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
      addDeps(llvm::cast<ExprStmt>(target)->deps);
      break;
    case NameKind::Unresolved:
      break;
    }
  }

  void visit(const Expr &expr) {
    switch (expr.getKind()) {
    case Expr::Expr_Number:
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
    case Expr::Expr_Binary:
      visit(llvm::cast<BinaryExpr>(expr).getLHS());
      visit(llvm::cast<BinaryExpr>(expr).getRHS());
      return;
    case Expr::Expr_Call: {
      const auto &call = llvm::cast<CallExpr>(expr);
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

  Dependencies result() const {
    Dependencies deps;
    for (const InputStmt *input : model.getInputs())
      if (inputs.contains(input->getName()) &&
          !llvm::is_contained(deps.inputs, input->getName()))
        deps.inputs.push_back(input->getName().str());
    for (unsigned i = 0; i < model.params.size(); ++i)
      if (params.contains(i))
        deps.params.push_back(model.params[i].name);
    return deps;
  }
};

} // namespace

Dependencies kiln::collectDependencies(const Expr &expr, const Model &model) {
  DependencyCollector collector(model);
  collector.visit(expr);
  return collector.result();
}

//===----------------------------------------------------------------------===//
// Batch mixing and differentiability
//===----------------------------------------------------------------------===//

namespace {

/// The expression stored for a name's target, if it has one (let, metric,
/// output); null for inputs and parameters.
const Expr *targetExpr(NameKind kind, const Stmt *target) {
  if (!target || (kind != NameKind::Let && kind != NameKind::Metric &&
                  kind != NameKind::Output))
    return nullptr;
  return llvm::cast<ExprStmt>(target)->getExpr();
}

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
        int64_t rhsContracted =
            rhs.getRank() >= 2 ? rhs.dims[rhs.getRank() - 2] : rhs.dims[0];
        if ((lhs.getRank() > 0 && lhs.dims.back() == kDynamic) ||
            rhsContracted == kDynamic) {
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
          why = callee + (call.axis ? " over axis 0, the batch axis N,"
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

/// Collects the parameters an expression reaches through operations that
/// have a gradient: argmax and comparisons have none (their result is
/// piecewise constant), so a parameter seen only through them would never
/// change in training.
class DifferentiableParamCollector {
public:
  explicit DifferentiableParamCollector(const Model &model) : model(model) {}

  void visit(const Expr &expr) {
    switch (expr.getKind()) {
    case Expr::Expr_Number:
      return;
    case Expr::Expr_Name: {
      const auto &name = llvm::cast<NameExpr>(expr);
      if (name.targetKind == NameKind::Param && name.paramIndex >= 0)
        params.insert(static_cast<unsigned>(name.paramIndex));
      if (const Expr *source = targetExpr(name.targetKind, name.target))
        if (visited.insert(source).second)
          visit(*source);
      return;
    }
    case Expr::Expr_Unary:
      visit(llvm::cast<UnaryExpr>(expr).getOperand());
      return;
    case Expr::Expr_Binary: {
      const auto &binary = llvm::cast<BinaryExpr>(expr);
      if (isComparison(binary.getOp()))
        return;
      visit(binary.getLHS());
      visit(binary.getRHS());
      return;
    }
    case Expr::Expr_Call: {
      const auto &call = llvm::cast<CallExpr>(expr);
      if (call.builtin == Builtin::Argmax)
        return;
      for (unsigned index : call.paramIndices)
        params.insert(index);
      for (const Expr *operand : call.operands)
        visit(*operand);
      return;
    }
    }
  }

  llvm::DenseSet<unsigned> params;

private:
  const Model &model;
  llvm::DenseSet<const Expr *> visited;
};

} // namespace

//===----------------------------------------------------------------------===//
// ModelChecker
//===----------------------------------------------------------------------===//

namespace {

/// A named value in a model's namespace.
struct Symbol {
  NameKind kind = NameKind::Unresolved;
  Stmt *stmt = nullptr;
  Location defLoc;
  TensorType type;
  int paramIndex = -1;
};

/// Checks one model.
class ModelChecker {
public:
  ModelChecker(Model &model, Diagnostics &diags) : model(model), diags(diags) {}

  LogicalResult check();

private:
  // Statements.
  LogicalResult checkStmt(Stmt &stmt);
  LogicalResult checkInput(InputStmt &input);
  LogicalResult checkParam(ParamStmt &param);
  LogicalResult checkExprStmt(ExprStmt &stmt);
  LogicalResult checkOptimizer(OptimizerStmt &opt);
  LogicalResult checkDeclaredType(const TypeSpec &spec);
  LogicalResult define(llvm::StringRef name, Location loc, Symbol symbol,
                       bool mayShadowBuiltin);
  LogicalResult finish();

  // Layers.
  void nameLayers(Expr &root);

  // Expressions.
  LogicalResult checkExpr(Expr &expr);
  LogicalResult checkExprImpl(Expr &expr);
  LogicalResult checkName(NameExpr &name);
  LogicalResult resolveName(llvm::StringRef name, Location loc,
                            const Symbol *&result);
  LogicalResult checkUnary(UnaryExpr &unary);
  LogicalResult checkBinary(BinaryExpr &binary);
  LogicalResult checkCall(CallExpr &call);
  LogicalResult checkLayer(CallExpr &call, const FunctionSpec &spec,
                           llvm::ArrayRef<Expr *> bound);
  LogicalResult requireF32(const Expr &operand, Location at,
                           const llvm::Twine &what);
  LogicalResult broadcast(const TensorType &lhs, const TensorType &rhs,
                          Location at, llvm::StringRef opName,
                          std::vector<int64_t> &result);
  LogicalResult normalizeAxis(int64_t axis, const TensorType &type,
                              Location at, int64_t &result);
  LogicalResult evalPosInt(const Expr &arg, const llvm::Twine &what,
                           int64_t &result);
  unsigned addParam(std::string name, TensorType type, InitKind init,
                    Location loc);
  LogicalResult setLayerParamType(CallExpr &call, unsigned which,
                                  TensorType type);

  Model &model;
  Diagnostics &diags;
  llvm::StringMap<Symbol> symbols;
  /// Every name the model defines, with its first definition (to tell "used
  /// before its definition" from "unknown").
  llvm::StringMap<Location> allDefinitions;
  llvm::StringMap<Location> outputNames;
  llvm::StringMap<unsigned> layerCounters;
  LossStmt *loss = nullptr;
  OptimizerStmt *optimizer = nullptr;
};

} // namespace

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
    else if (auto *s = llvm::dyn_cast<OutputStmt>(stmt.get());
             s && s->getExpr())
      name = s->getName(), loc = s->getNameLoc();
    if (!name.empty())
      allDefinitions.try_emplace(name, loc);
  }
  for (const auto &stmt : model.getStmts())
    if (failed(checkStmt(*stmt)))
      return failure();
  return finish();
}

LogicalResult ModelChecker::define(llvm::StringRef name, Location loc,
                                   Symbol symbol, bool mayShadowBuiltin) {
  if (name == "N") {
    diags.error(loc, "'N' is reserved for the batch dimension");
    return failure();
  }
  if (!mayShadowBuiltin &&
      (isBuiltinFunctionName(name) || lookupActivation(name))) {
    diags.error(loc, "'" + name + "' is the name of a builtin function; " +
                         "choose another name");
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
                              getDTypeName(spec.type.dtype) +
                              "[N, ...]), but has type " + spec.type.str());
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
    diags.error(spec.loc, "parameters must be f32, but '" + param.getName() +
                              "' has type " + spec.type.str());
    return failure();
  }
  if (!spec.type.dims.empty() && spec.type.dims[0] == kDynamic) {
    diags.error(spec.loc, "a parameter cannot have the batch dimension N");
    return failure();
  }
  const InitializerSpec &initSpec = param.getInitializer();
  InitKind init = spec.type.getRank() >= 2 ? InitKind::GlorotUniform
                                           : InitKind::Zeros;
  double value = 0.0;
  if (initSpec.present) {
    if (initSpec.name.empty()) {
      init = InitKind::Constant;
      value = initSpec.value;
    } else if (initSpec.name == "zeros") {
      init = InitKind::Zeros;
    } else if (initSpec.name == "ones") {
      init = InitKind::Ones;
    } else if (initSpec.name == "glorot_uniform") {
      if (spec.type.isScalar()) {
        diags.error(initSpec.loc,
                    "glorot_uniform needs a parameter of rank 1 or more");
        return failure();
      }
      init = InitKind::GlorotUniform;
    } else {
      diags.error(initSpec.loc, "unknown initializer '" + initSpec.name +
                                    "'; expected zeros, ones, glorot_uniform "
                                    "or a number");
      return failure();
    }
  }
  Symbol symbol;
  symbol.kind = NameKind::Param;
  symbol.stmt = &param;
  symbol.type = spec.type;
  if (failed(define(param.getName(), param.getNameLoc(), symbol,
                    /*mayShadowBuiltin=*/false)))
    return failure();
  unsigned index =
      addParam(param.getName().str(), spec.type, init, param.getNameLoc());
  model.params[index].initValue = value;
  param.paramIndex = static_cast<int>(index);
  symbols[param.getName()].paramIndex = static_cast<int>(index);
  return success();
}

unsigned ModelChecker::addParam(std::string name, TensorType type,
                                InitKind init, Location loc) {
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
    if (kind == "dense" || kind == "conv2d") {
      for (const char *suffix : {".kernel", ".bias"}) {
        std::string name = call->instanceName + suffix;
        call->paramIndices.push_back(
            addParam(name, TensorType(), InitKind::Zeros, call->getLoc()));
        call->paramNames.push_back(name);
      }
    }
  }
}

LogicalResult ModelChecker::setLayerParamType(CallExpr &call, unsigned which,
                                              TensorType type) {
  ParamInfo &param = model.params[call.paramIndices[which]];
  if (type.getStaticElementCount() < 0) {
    diags.error(call.getLoc(), "parameter '" + param.name + "' of type " +
                                   type.str() +
                                   " would have more than 2^40 elements");
    return failure();
  }
  param.type = std::move(type);
  param.init = which == 0 ? InitKind::GlorotUniform : InitKind::Zeros;
  return success();
}

/// let, loss, metric and output statements.
LogicalResult ModelChecker::checkExprStmt(ExprStmt &stmt) {
  Expr *expr = stmt.getExpr();
  if (expr) {
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
  case Stmt::Stmt_Loss: {
    auto &lossStmt = llvm::cast<LossStmt>(stmt);
    if (loss) {
      diags.error(stmt.getLoc(), "a model has at most one loss");
      diags.note(loss->getLoc(), "the first loss is here");
      return failure();
    }
    loss = &lossStmt;
    if (!stmt.type.isScalar()) {
      diags.error(expr->getLoc(), "loss must be a scalar, but has type " +
                                      stmt.type.str());
      return failure();
    }
    // A scalar i32 (`argmax` of a vector) is a scalar, but not a loss.
    if (stmt.type.dtype != DType::F32) {
      diags.error(expr->getLoc(), "loss must be f32, but has type " +
                                      stmt.type.str());
      return failure();
    }
    return success();
  }
  case Stmt::Stmt_Metric: {
    auto &metric = llvm::cast<MetricStmt>(stmt);
    if (!stmt.type.isScalar()) {
      diags.error(expr->getLoc(), "metric '" + metric.getName() +
                                      "' must be a scalar, but has type " +
                                      stmt.type.str());
      return failure();
    }
    if (stmt.type.dtype != DType::F32) {
      diags.error(expr->getLoc(), "metric '" + metric.getName() +
                                      "' must be f32, but has type " +
                                      stmt.type.str());
      return failure();
    }
    symbol.kind = NameKind::Metric;
    // Metric names are exported (Keras style, e.g. `metric mse = ...`), so
    // they may coincide with a builtin's name: calls always mean the builtin.
    return define(metric.getName(), metric.getNameLoc(), symbol,
                  /*mayShadowBuiltin=*/true);
  }
  case Stmt::Stmt_Output: {
    auto &output = llvm::cast<OutputStmt>(stmt);
    auto [it, inserted] =
        outputNames.try_emplace(output.getName(), output.getNameLoc());
    if (!inserted) {
      diags.error(output.getNameLoc(),
                  "'" + output.getName() + "' is already an output");
      diags.note(it->second, "first declared as an output here");
      return failure();
    }
    if (!expr) {
      const Symbol *source = nullptr;
      if (failed(resolveName(output.getName(), output.getNameLoc(), source)))
        return failure();
      output.sourceKind = source->kind;
      output.source = source->stmt;
      stmt.type = source->type;
      DependencyCollector collector(model);
      collector.addTarget(source->kind, source->stmt, source->paramIndex);
      stmt.deps = collector.result();
    }
    if (!stmt.type.hasBatchDim()) {
      diags.error(expr ? expr->getLoc() : output.getNameLoc(),
                  "output '" + output.getName() +
                      "' must have the batch dimension N first, but has "
                      "type " +
                      stmt.type.str());
      return failure();
    }
    // Each example's output must depend on that example alone.
    std::string why;
    const Expr *mixing = nullptr;
    if (expr)
      mixing = BatchMixingFinder().find(*expr, why);
    else if (const Expr *source = targetExpr(output.sourceKind, output.source))
      mixing = BatchMixingFinder().find(*source, why);
    if (mixing) {
      diags.error(output.getNameLoc(),
                  "output '" + output.getName() +
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
  default:
    return failure();
  }
}

//===----------------------------------------------------------------------===//
// Optimizer
//===----------------------------------------------------------------------===//

namespace {

enum class HyperRange { Positive, UnitInterval, NonNegative, Bool };

struct HyperParamSpec {
  const char *name;
  double defaultValue;
  HyperRange range;
};

struct OptimizerSpec {
  const char *name;
  std::vector<HyperParamSpec> params;
};

const std::vector<OptimizerSpec> &getOptimizers() {
  static const std::vector<OptimizerSpec> optimizers = {
      {"sgd",
       {{"lr", 0.01, HyperRange::Positive},
        {"momentum", 0.0, HyperRange::UnitInterval},
        {"nesterov", 0.0, HyperRange::Bool}}},
      {"adagrad",
       {{"lr", 0.001, HyperRange::Positive},
        {"initial_accumulator", 0.1, HyperRange::NonNegative},
        {"epsilon", 1e-7, HyperRange::Positive}}},
      {"rmsprop",
       {{"lr", 0.001, HyperRange::Positive},
        {"rho", 0.9, HyperRange::UnitInterval},
        {"momentum", 0.0, HyperRange::UnitInterval},
        {"epsilon", 1e-7, HyperRange::Positive}}},
      {"adam",
       {{"lr", 0.001, HyperRange::Positive},
        {"beta_1", 0.9, HyperRange::UnitInterval},
        {"beta_2", 0.999, HyperRange::UnitInterval},
        {"epsilon", 1e-7, HyperRange::Positive}}},
  };
  return optimizers;
}

} // namespace

/// 'optimizer' IDENT '(' kwargs ')': known name, known hyper-parameters,
/// values in range; defaults filled in.
LogicalResult ModelChecker::checkOptimizer(OptimizerStmt &opt) {
  if (optimizer) {
    diags.error(opt.getLoc(), "a model has at most one optimizer");
    diags.note(optimizer->getLoc(), "the first optimizer is here");
    return failure();
  }
  optimizer = &opt;
  const OptimizerSpec *spec = nullptr;
  for (const OptimizerSpec &candidate : getOptimizers())
    if (opt.getName() == candidate.name)
      spec = &candidate;
  if (!spec) {
    diags.error(opt.getNameLoc(), "unknown optimizer '" + opt.getName() +
                                      "'; expected sgd, adagrad, rmsprop or "
                                      "adam");
    return failure();
  }
  OptimizerInfo info;
  info.name = spec->name;
  for (const HyperParamSpec &hp : spec->params)
    info.hyperParams.push_back({hp.name, hp.defaultValue});
  std::vector<Location> givenAt(spec->params.size());

  for (const CallArg &arg : opt.getArgs()) {
    llvm::StringRef key = arg.keyword;
    if (key == "learning_rate")
      key = "lr";
    size_t index = spec->params.size();
    for (size_t i = 0; i < spec->params.size(); ++i)
      if (key == spec->params[i].name)
        index = i;
    if (index == spec->params.size()) {
      std::string expected;
      for (size_t i = 0; i < spec->params.size(); ++i) {
        if (i)
          expected += i + 1 == spec->params.size() ? " or " : ", ";
        expected += spec->params[i].name;
      }
      diags.error(arg.keywordLoc, "unknown hyper-parameter '" + arg.keyword +
                                      "' for " + spec->name + "; expected " +
                                      expected);
      return failure();
    }
    if (givenAt[index].isValid()) {
      diags.error(arg.keywordLoc,
                  "hyper-parameter '" + key + "' is given more than once");
      diags.note(givenAt[index], "first given here");
      return failure();
    }
    givenAt[index] = arg.keywordLoc;

    const HyperParamSpec &hp = spec->params[index];
    const Expr &value = *arg.value;
    double v = 0.0;
    if (hp.range == HyperRange::Bool) {
      auto *name = llvm::dyn_cast<NameExpr>(&value);
      if (!name || (name->getName() != "true" && name->getName() != "false")) {
        diags.error(value.getLoc(),
                    "'" + key + "' must be true or false");
        return failure();
      }
      v = name->getName() == "true" ? 1.0 : 0.0;
    } else {
      std::optional<double> constant = getConstantValue(value);
      if (!constant) {
        diags.error(value.getLoc(),
                    "'" + key + "' must be a number literal");
        return failure();
      }
      v = *constant;
      const char *requirement = nullptr;
      switch (hp.range) {
      case HyperRange::Positive:
        if (!(v > 0))
          requirement = "greater than 0";
        break;
      case HyperRange::UnitInterval:
        if (!(v >= 0 && v < 1))
          requirement = "in [0, 1)";
        break;
      case HyperRange::NonNegative:
        if (!(v >= 0))
          requirement = "at least 0";
        break;
      case HyperRange::Bool:
        break;
      }
      if (requirement) {
        diags.error(value.getLoc(), "'" + key + "' must be " + requirement +
                                        ", got " + formatNumber(v));
        return failure();
      }
    }
    info.hyperParams[index].second = v;
  }
  model.optimizer = std::move(info);
  return success();
}

//===----------------------------------------------------------------------===//
// Model-level rules
//===----------------------------------------------------------------------===//

LogicalResult ModelChecker::finish() {
  if (model.getOutputs().empty()) {
    diags.error(model.getNameLoc(),
                "model '" + model.getName() + "' has no output");
    return failure();
  }
  if (loss && !optimizer) {
    diags.error(loss->getLoc(), "model '" + model.getName() +
                                    "' has a loss but no optimizer");
    return failure();
  }
  if (optimizer && !loss) {
    diags.error(optimizer->getLoc(), "model '" + model.getName() +
                                         "' has an optimizer but no loss");
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
    DifferentiableParamCollector differentiable(model);
    differentiable.visit(*loss->getExpr());
    for (unsigned i = 0; i < model.params.size(); ++i) {
      const ParamInfo &param = model.params[i];
      if (!llvm::is_contained(loss->deps.params, param.name)) {
        diags.error(param.loc, "parameter '" + param.name +
                                   "' does not affect the loss");
        return failure();
      }
      if (!differentiable.params.contains(i)) {
        diags.error(param.loc,
                    "parameter '" + param.name +
                        "' reaches the loss only through argmax or a "
                        "comparison, which have no gradient: training "
                        "would never change it");
        return failure();
      }
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

LogicalResult ModelChecker::checkExpr(Expr &expr) {
  if (failed(checkExprImpl(expr)))
    return failure();
  if (expr.type && expr.type->getStaticElementCount() < 0) {
    diags.error(expr.getLoc(), "the result type " + expr.type->str() +
                                   " has more than 2^40 elements");
    return failure();
  }
  return success();
}

LogicalResult ModelChecker::checkExprImpl(Expr &expr) {
  switch (expr.getKind()) {
  case Expr::Expr_Number:
    expr.type = TensorType::scalar(DType::F32);
    return success();
  case Expr::Expr_Name:
    return checkName(llvm::cast<NameExpr>(expr));
  case Expr::Expr_Unary:
    return checkUnary(llvm::cast<UnaryExpr>(expr));
  case Expr::Expr_Binary:
    return checkBinary(llvm::cast<BinaryExpr>(expr));
  case Expr::Expr_Call:
    return checkCall(llvm::cast<CallExpr>(expr));
  }
  return failure();
}

LogicalResult ModelChecker::resolveName(llvm::StringRef name, Location loc,
                                        const Symbol *&result) {
  auto it = symbols.find(name);
  if (it != symbols.end()) {
    result = &it->second;
    return success();
  }
  auto later = allDefinitions.find(name);
  if (later != allDefinitions.end()) {
    diags.error(loc, "'" + name + "' is used before its definition");
    diags.note(later->second, "'" + name + "' is defined here");
    return failure();
  }
  if (isBuiltinFunctionName(name)) {
    diags.error(loc, "'" + name + "' is a function; call it, as in " + name +
                         "(x) or x |> " + name);
    return failure();
  }
  diags.error(loc, "unknown name '" + name + "'");
  return failure();
}

LogicalResult ModelChecker::checkName(NameExpr &name) {
  const Symbol *symbol = nullptr;
  if (failed(resolveName(name.getName(), name.getLoc(), symbol)))
    return failure();
  name.targetKind = symbol->kind;
  name.target = symbol->stmt;
  name.paramIndex = symbol->paramIndex;
  name.type = symbol->type;
  return success();
}

LogicalResult ModelChecker::requireF32(const Expr &operand, Location at,
                                       const llvm::Twine &what) {
  if (operand.getType().dtype == DType::F32)
    return success();
  diags.error(at, what + " on " + operand.getType().str() +
                      ": arithmetic on i32 is not supported (i32 is for "
                      "labels)");
  return failure();
}

LogicalResult ModelChecker::checkUnary(UnaryExpr &unary) {
  if (failed(checkExpr(unary.getOperand())))
    return failure();
  if (failed(requireF32(unary.getOperand(), unary.getOpLoc(), "unary '-'")))
    return failure();
  unary.type = unary.getOperand().getType();
  return success();
}

LogicalResult ModelChecker::broadcast(const TensorType &lhs,
                                      const TensorType &rhs, Location at,
                                      llvm::StringRef opName,
                                      std::vector<int64_t> &result) {
  auto fail = [&](llvm::StringRef why) {
    diags.error(at, "cannot broadcast " + lhs.str() + " and " + rhs.str() +
                        " in '" + opName + "'" + why);
    return failure();
  };
  std::optional<std::vector<int64_t>> dims =
      shape::broadcastShapes(lhs.dims, rhs.dims, shape::DynamicDims::Symbolic);
  if (!dims)
    return fail("");
  result = std::move(*dims);
  size_t rank = result.size();
  for (size_t i = 1; i < rank; ++i)
    if (result[i] == kDynamic)
      return fail(": the batch dimension N would not be the first dimension");
  return success();
}

LogicalResult ModelChecker::checkBinary(BinaryExpr &binary) {
  Expr &lhs = binary.getLHS();
  Expr &rhs = binary.getRHS();
  if (failed(checkExpr(lhs)) || failed(checkExpr(rhs)))
    return failure();
  BinaryOp op = binary.getOp();
  llvm::StringRef spelling = getBinaryOpSpelling(op);
  const TensorType &lt = lhs.getType();
  const TensorType &rt = rhs.getType();

  if (isComparison(op)) {
    // A numeric literal adopts the other side's element type.
    auto adopt = [&](Expr &literal, DType dtype) -> LogicalResult {
      std::optional<double> value = getConstantValue(literal);
      if (!value || dtype == DType::F32)
        return success();
      if (*value != std::floor(*value) || std::fabs(*value) > 2147483647.0) {
        diags.error(literal.getLoc(),
                    "comparing with i32 needs an integer, got " +
                        formatNumber(*value));
        return failure();
      }
      literal.type = TensorType::scalar(DType::I32);
      if (auto *unary = llvm::dyn_cast<UnaryExpr>(&literal))
        unary->getOperand().type = TensorType::scalar(DType::I32);
      return success();
    };
    bool lhsLiteral = getConstantValue(lhs).has_value();
    bool rhsLiteral = getConstantValue(rhs).has_value();
    if (lhsLiteral && !rhsLiteral) {
      if (failed(adopt(lhs, rt.dtype)))
        return failure();
    } else if (rhsLiteral && !lhsLiteral) {
      if (failed(adopt(rhs, lt.dtype)))
        return failure();
    }
    if (lhs.getType().dtype != rhs.getType().dtype) {
      diags.error(binary.getOpLoc(),
                  "cannot compare " + lt.str() + " and " + rt.str() +
                      " with '" + spelling +
                      "': both sides need the same element type");
      return failure();
    }
    std::vector<int64_t> dims;
    if (failed(broadcast(lt, rt, binary.getOpLoc(), spelling, dims)))
      return failure();
    binary.type = TensorType(DType::F32, std::move(dims));
    return success();
  }

  std::string what = ("'" + spelling + "'").str();
  if (failed(requireF32(lhs, binary.getOpLoc(), what)) ||
      failed(requireF32(rhs, binary.getOpLoc(), what)))
    return failure();

  if (op != BinaryOp::MatMul) {
    std::vector<int64_t> dims;
    if (failed(broadcast(lt, rt, binary.getOpLoc(), spelling, dims)))
      return failure();
    binary.type = TensorType(DType::F32, std::move(dims));
    return success();
  }

  // [a,k]@[k,b] -> [a,b]; [a,k]@[k] -> [a]; [k]@[k,b] -> [b]; [k]@[k] -> f32.
  if (!shape::isMatmulRank(lt.getRank()) || !shape::isMatmulRank(rt.getRank())) {
    diags.error(binary.getOpLoc(), "matmul '@' needs operands of rank 1 or "
                                   "2: " +
                                       lt.str() + " @ " + rt.str());
    return failure();
  }
  if (!shape::matmulContractionMatches(lt.dims, rt.dims,
                                       shape::DynamicDims::Symbolic)) {
    diags.error(binary.getOpLoc(), "matmul '@' inner dimensions differ: " +
                                       lt.str() + " @ " + rt.str());
    return failure();
  }
  std::vector<int64_t> dims = shape::matmulShape(lt.dims, rt.dims);
  for (size_t i = 1; i < dims.size(); ++i) {
    if (dims[i] == kDynamic) {
      diags.error(binary.getOpLoc(),
                  "matmul '@' would put the batch dimension N second: " +
                      lt.str() + " @ " + rt.str());
      return failure();
    }
  }
  binary.type = TensorType(DType::F32, std::move(dims));
  return success();
}

LogicalResult ModelChecker::normalizeAxis(int64_t axis, const TensorType &type,
                                          Location at, int64_t &result) {
  int64_t rank = type.getRank();
  if (axis < -rank || axis >= rank) {
    diags.error(at, "axis " + llvm::Twine(axis) + " is out of range for " +
                        type.str() + " (rank " + llvm::Twine(rank) + ")");
    return failure();
  }
  result = axis < 0 ? axis + rank : axis;
  return success();
}

LogicalResult ModelChecker::evalPosInt(const Expr &arg,
                                       const llvm::Twine &what,
                                       int64_t &result) {
  // Layer sizes must be written as integers: `dense(64)`, not `dense(64.0)`.
  auto *number = llvm::dyn_cast<NumberExpr>(&arg);
  double v = number ? number->getValue() : 0.0;
  if (!number || !number->isIntegerLiteral() || v < 1 ||
      v > static_cast<double>(kMaxDimSize)) {
    diags.error(arg.getLoc(), what + " must be a positive integer literal "
                                     "(at most 2147483647)");
    return failure();
  }
  result = static_cast<int64_t>(v);
  return success();
}

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
  bool layer = isLayer(spec->builtin);
  size_t numFormals = spec->params.size();
  std::vector<CallArg> &args = call.getArgs();

  // Arity.
  if (args.size() > numFormals) {
    size_t minArgs = 0;
    for (const FormalParam &p : spec->params)
      minArgs += p.required;
    size_t skip = layer ? 1 : 0;
    size_t lo = minArgs - skip, hi = numFormals - skip;
    std::string expected =
        lo == hi ? pluralArgs(hi)
                 : std::to_string(lo) + " to " + pluralArgs(hi);
    diags.error(call.getLoc(), llvm::Twine(callee) + " expects " + expected +
                                   (layer ? " after its input" : "") +
                                   ", got " +
                                   llvm::Twine(args.size() - skip));
    return failure();
  }

  // Bind arguments to formals.
  std::vector<Expr *> bound(numFormals, nullptr);
  size_t position = 0;
  for (CallArg &arg : args) {
    size_t index = position;
    if (arg.isKeyword()) {
      index = numFormals;
      for (size_t i = 0; i < numFormals; ++i)
        if (arg.keyword == spec->params[i].name)
          index = i;
      if (index == numFormals) {
        std::string expected;
        for (size_t i = layer ? 1 : 0; i < numFormals; ++i) {
          if (!expected.empty())
            expected += ", ";
          expected += spec->params[i].name;
        }
        diags.error(arg.keywordLoc, "unknown keyword argument '" +
                                        arg.keyword + "' for " + callee +
                                        (expected.empty()
                                             ? std::string()
                                             : "; expected one of " +
                                                   expected));
        return failure();
      }
      if (bound[index]) {
        diags.error(arg.keywordLoc, "argument '" + arg.keyword + "' of " +
                                        callee +
                                        " is already given by position");
        return failure();
      }
    } else {
      ++position;
    }
    bound[index] = arg.value.get();
  }
  if (layer && bound[0] && getConstantValue(*bound[0])) {
    diags.error(call.getLoc(),
                callee + " needs its input first: write 'x |> " + callee +
                    "(...)' or '" + callee + "(x, ...)'");
    return failure();
  }
  for (size_t i = 0; i < numFormals; ++i) {
    if (!bound[i] && spec->params[i].required) {
      if (layer && i == 0)
        diags.error(call.getLoc(),
                    callee + " needs its input first: write 'x |> " + callee +
                        "(...)' or '" + callee + "(x, ...)'");
      else
        diags.error(call.getLoc(), llvm::Twine(callee) +
                                       " is missing its argument '" +
                                       spec->params[i].name + "'");
      return failure();
    }
  }

  // Check the tensor operands, then evaluate the constant arguments.
  for (size_t i = 0; i < numFormals; ++i) {
    if (!bound[i] || spec->params[i].kind != ArgKind::Tensor)
      continue;
    if (failed(checkExpr(*bound[i])))
      return failure();
    call.operands.push_back(bound[i]);
  }
  call.builtin = spec->builtin;
  if (layer)
    return checkLayer(call, *spec, bound);

  const TensorType &x = bound[0]->getType();
  auto needF32 = [&](const Expr &operand) -> LogicalResult {
    if (operand.getType().dtype == DType::F32)
      return success();
    diags.error(operand.getLoc(), llvm::Twine(callee) +
                                      " expects an f32 tensor, got " +
                                      operand.getType().str());
    return failure();
  };
  // The axis argument, if the formal list has one.
  std::optional<int64_t> axis;
  for (size_t i = 0; i < numFormals; ++i) {
    if (!bound[i] || spec->params[i].kind != ArgKind::Axis)
      continue;
    std::optional<double> value = getIntegerLiteralValue(*bound[i]);
    if (!value) {
      diags.error(bound[i]->getLoc(),
                  "axis must be an integer literal (such as 1 or -1)");
      return failure();
    }
    if (std::fabs(*value) > kMaxRank) {
      diags.error(bound[i]->getLoc(), "axis " + formatNumber(*value) +
                                          " is out of range for " + x.str() +
                                          " (rank " +
                                          llvm::Twine(x.getRank()) + ")");
      return failure();
    }
    int64_t normalized = 0;
    if (failed(normalizeAxis(static_cast<int64_t>(*value), x,
                             bound[i]->getLoc(), normalized)))
      return failure();
    axis = normalized;
  }

  switch (spec->builtin) {
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

  case Builtin::Softmax:
  case Builtin::LogSoftmax:
  case Builtin::Argmax: {
    if (failed(needF32(*bound[0])))
      return failure();
    if (x.isScalar()) {
      diags.error(bound[0]->getLoc(), llvm::Twine(callee) +
                                          " needs a tensor of rank 1 or "
                                          "more, got " +
                                          x.str());
      return failure();
    }
    call.axis = axis ? *axis : static_cast<int64_t>(x.getRank()) - 1;
    if (spec->builtin != Builtin::Argmax) {
      call.type = x;
      return success();
    }
    call.type =
        TensorType(DType::I32, shape::reduceShape(x.dims, call.axis));
    return success();
  }

  case Builtin::ReduceMax:
  case Builtin::ReduceMin:
    if (bound[1]) {
      // Two tensors: elementwise maximum/minimum with broadcasting.
      if (bound[2]) {
        diags.error(bound[2]->getLoc(), llvm::Twine(callee) +
                                            " of two tensors takes no axis");
        return failure();
      }
      if (failed(needF32(*bound[0])) || failed(needF32(*bound[1])))
        return failure();
      call.builtin = spec->builtin == Builtin::ReduceMax ? Builtin::Maximum
                                                         : Builtin::Minimum;
      std::vector<int64_t> dims;
      if (failed(broadcast(x, bound[1]->getType(), call.getCalleeLoc(),
                           callee, dims)))
        return failure();
      call.type = TensorType(DType::F32, std::move(dims));
      return success();
    }
    [[fallthrough]];
  case Builtin::Sum:
  case Builtin::Mean: {
    if (failed(needF32(*bound[0])))
      return failure();
    call.axis = axis;
    call.type = TensorType(DType::F32, shape::reduceShape(x.dims, axis));
    return success();
  }

  case Builtin::CrossEntropy: {
    const TensorType &labels = bound[1]->getType();
    if (x.dtype != DType::F32 || x.getRank() != 2 ||
        labels.dtype != DType::I32 || labels.getRank() != 1 ||
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

LogicalResult ModelChecker::checkLayer(CallExpr &call, const FunctionSpec &spec,
                                       llvm::ArrayRef<Expr *> bound) {
  llvm::StringRef callee = call.getCallee();
  const TensorType &x = bound[0]->getType();
  LayerAttrs &attrs = call.layer;
  if (x.dtype != DType::F32) {
    diags.error(bound[0]->getLoc(), llvm::Twine(callee) +
                                        " expects an f32 input, got " +
                                        x.str());
    return failure();
  }

  // Evaluate the constant arguments.
  for (size_t i = 1; i < spec.params.size(); ++i) {
    const FormalParam &formal = spec.params[i];
    Expr *arg = bound[i];
    if (!arg)
      continue;
    llvm::StringRef formalName = formal.name;
    switch (formal.kind) {
    case ArgKind::Tensor:
    case ArgKind::Axis:
      break;
    case ArgKind::PosInt: {
      int64_t value = 0;
      if (failed(evalPosInt(*arg, "'" + formalName + "' of " + callee, value)))
        return failure();
      if (formalName == "units")
        attrs.units = value;
      else if (formalName == "filters")
        attrs.filters = value;
      else if (formalName == "kernel" || formalName == "size")
        attrs.kernelSize = value;
      else if (formalName == "stride")
        attrs.stride = value;
      break;
    }
    case ArgKind::Activation: {
      auto *name = llvm::dyn_cast<NameExpr>(arg);
      std::optional<Activation> activation =
          name ? lookupActivation(name->getName()) : std::nullopt;
      if (!activation) {
        std::string what =
            name ? ("unknown activation '" + name->getName() + "'").str()
                 : std::string("unknown activation");
        diags.error(arg->getLoc(),
                    what + " for " + callee +
                        "; expected relu, sigmoid, tanh, softmax or linear");
        return failure();
      }
      attrs.activation = *activation;
      break;
    }
    case ArgKind::Padding: {
      auto *name = llvm::dyn_cast<NameExpr>(arg);
      if (!name || (name->getName() != "valid" && name->getName() != "same")) {
        diags.error(arg->getLoc(), "padding must be valid or same");
        return failure();
      }
      attrs.padding =
          name->getName() == "same" ? Padding::Same : Padding::Valid;
      break;
    }
    case ArgKind::Rate: {
      std::optional<double> value = getConstantValue(*arg);
      if (!value) {
        diags.error(arg->getLoc(),
                    "dropout rate must be a number in [0, 1)");
        return failure();
      }
      if (!(*value >= 0 && *value < 1)) {
        diags.error(arg->getLoc(), "dropout rate must be a number in [0, 1), "
                                   "got " +
                                       formatNumber(*value));
        return failure();
      }
      attrs.rate = *value;
      break;
    }
    }
  }

  auto needRank = [&](unsigned rank, const char *layout) -> LogicalResult {
    if (x.getRank() == rank)
      return success();
    diags.error(call.getLoc(), llvm::Twine(callee) + " expects an input of "
                                                     "rank " +
                                   llvm::Twine(rank) + " (" + layout +
                                   "), got " + x.str());
    return failure();
  };

  switch (spec.builtin) {
  case Builtin::Dense: {
    if (failed(needRank(2, "[N, features]; flatten images first")))
      return failure();
    int64_t in = x.dims[1];
    if (failed(setLayerParamType(call, 0,
                                 TensorType(DType::F32, {in, attrs.units}))) ||
        failed(setLayerParamType(call, 1, TensorType(DType::F32, {attrs.units}))))
      return failure();
    call.type = TensorType(DType::F32, {x.dims[0], attrs.units});
    return success();
  }
  case Builtin::Conv2D:
  case Builtin::MaxPool:
  case Builtin::AvgPool: {
    if (failed(needRank(4, "NHWC: [N, height, width, channels]")))
      return failure();
    if (spec.builtin != Builtin::Conv2D && !bound[2])
      attrs.stride = attrs.kernelSize; // Keras: stride defaults to the size.
    int64_t h = x.dims[1], w = x.dims[2], c = x.dims[3];
    int64_t k = attrs.kernelSize, s = attrs.stride;
    if (attrs.padding == Padding::Same) {
      // TensorFlow's 'same': out = ceil(in / s), padding split top/bottom.
      auto [top, bottom] = shape::samePadding(h, k, s);
      auto [left, right] = shape::samePadding(w, k, s);
      attrs.pads = {top, bottom, left, right};
    }
    std::optional<int64_t> outH =
        shape::windowOutputSize(h, k, s, attrs.pads[0], attrs.pads[1]);
    std::optional<int64_t> outW =
        shape::windowOutputSize(w, k, s, attrs.pads[2], attrs.pads[3]);
    if (!outH || !outW) { // Only with padding=valid: 'same' always fits.
      diags.error(call.getLoc(),
                  llvm::Twine(callee) + " window " + llvm::Twine(k) + "x" +
                      llvm::Twine(k) + " does not fit in the input " +
                      x.str() + " (padding=valid)");
      return failure();
    }
    if (spec.builtin == Builtin::Conv2D) {
      if (failed(setLayerParamType(
              call, 0, TensorType(DType::F32, {k, k, c, attrs.filters}))) ||
          failed(setLayerParamType(call, 1,
                                   TensorType(DType::F32, {attrs.filters}))))
        return failure();
      c = attrs.filters;
    }
    call.type = TensorType(DType::F32, {x.dims[0], *outH, *outW, c});
    return success();
  }
  case Builtin::Flatten: {
    if (x.getRank() < 2) {
      diags.error(call.getLoc(), "flatten expects an input of rank 2 or "
                                 "more, got " +
                                     x.str());
      return failure();
    }
    int64_t product = 1;
    for (size_t i = 1; i < x.dims.size(); ++i) {
      if (x.dims[i] <= 0 || product > kMaxElements / x.dims[i]) {
        diags.error(call.getLoc(),
                    "flatten of " + x.str() + " has more than 2^40 elements");
        return failure();
      }
      product *= x.dims[i];
    }
    call.type = TensorType(DType::F32, {x.dims[0], product});
    return success();
  }
  case Builtin::Dropout:
    call.type = x;
    return success();
  default:
    break;
  }
  diags.error(call.getLoc(), "internal error: unhandled layer " + callee);
  return failure();
}

//===----------------------------------------------------------------------===//
// Module
//===----------------------------------------------------------------------===//

LogicalResult kiln::checkModule(Module &module, Diagnostics &diags) {
  if (module.getModels().empty()) {
    Location loc;
    if (const llvm::SourceMgr *srcMgr = module.getSourceMgr())
      loc = Location(llvm::SMLoc::getFromPointer(
                         srcMgr->getMemoryBuffer(srcMgr->getMainFileID())
                             ->getBufferStart()),
                     0);
    diags.error(loc, "the file contains no model");
    return failure();
  }
  llvm::StringMap<Location> modelNames;
  for (const auto &model : module.getModels()) {
    auto [it, inserted] =
        modelNames.try_emplace(model->getName(), model->getNameLoc());
    if (!inserted) {
      diags.error(model->getNameLoc(),
                  "redefinition of model '" + model->getName() + "'");
      diags.note(it->second, "the first model '" + model->getName() +
                                 "' is here");
      return failure();
    }
  }
  for (const auto &model : module.getModels())
    if (failed(ModelChecker(*model, diags).check()))
      return failure();
  return success();
}
