//===- SemaInternal.h - Sema's private interface ----------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Shared by the Sema*.cpp files only (as Clang's SemaInternal.h): the
// builtin signatures read from Builtins.def, the small helpers several of
// them use, and `ModelChecker`, the checker of one model, whose members are
// defined by concern:
//   Sema.cpp          tables, model-level rules, AST walkers, checkModule
//   SemaStmt.cpp      input/param/let/loss/metric/output statements, layer
//                     naming and parameters
//   SemaExpr.cpp      names, unary and binary operators, broadcasting
//   SemaCall.cpp      builtin function calls: binding, axes, result types
//   SemaLayer.cpp     layer calls: arguments and output shapes
//   SemaOptimizer.cpp the optimizer statement
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_SEMAINTERNAL_H
#define KILN_FRONTEND_SEMAINTERNAL_H

#include "frontend/Sema.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/LogicalResult.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln {
namespace sema {

using namespace kiln::ast;
using llvm::failure;
using llvm::LogicalResult;
using llvm::success;

//===----------------------------------------------------------------------===//
// Builtin signatures (from Builtins.def)
//===----------------------------------------------------------------------===//

/// What a formal parameter of a builtin accepts.
enum class ArgKind {
  Tensor,      ///< any expression, checked as a tensor
  PosInt,      ///< a positive integer literal
  Axis,        ///< an integer literal, possibly negative
  Activation,  ///< relu | sigmoid | tanh | softmax | linear
  Padding,     ///< valid | same
  Rate,        ///< a number in [0, 1) (dropout)
  Fraction,    ///< a number in [0, 1] (batch_norm momentum)
  PosNumber,   ///< a number > 0 (batch_norm epsilon)
  Bool,        ///< true | false
  Shape,       ///< a list of dimensions: `N` (first only) and integer literals
  Permutation, ///< a list of the axes 0 .. rank-1 in some order
};

/// The `LayerAttrs` member a layer argument sets.
enum class LayerField {
  None,
  Units,
  Filters,
  KernelSize,
  Stride,
  Activation,
  Padding,
  Rate,
  Momentum,
  Epsilon,
};

struct FormalParam {
  const char *name;
  ArgKind kind;
  bool required;
  /// What a left-out optional argument means (Builtins.def); "" if nothing.
  const char *defaultValue;
  LayerField field;
};

/// A builtin function or layer: its name, what it resolves to (for max/min
/// the reduction; the two-tensor form is chosen when checking), and its
/// formal parameters in positional order.
struct FunctionSpec {
  const char *name;
  Builtin builtin;
  std::vector<FormalParam> params;

  /// The formal named `name`, or null.
  const FormalParam *findParam(llvm::StringRef name) const;
};

/// Returns the builtin function or layer callable as `name`, or null.
const FunctionSpec *lookupFunction(llvm::StringRef name);
/// Returns the activation named `name` (Builtins.def), if any.
std::optional<Activation> lookupActivation(llvm::StringRef name);
/// Returns the init kind of the initializer a `param` may name.
std::optional<InitKind> lookupInitializer(llvm::StringRef name);
/// Returns the init kind of the `which`-th parameter of `layer`.
InitKind getLayerParamInit(Builtin layer, unsigned which);
/// Returns whether the `which`-th parameter of `layer` is trainable.
bool isLayerParamTrainable(Builtin layer, unsigned which);
/// Returns the name suffixes (".kernel") of the parameters `layer` creates.
std::vector<std::string> getLayerParamSuffixes(Builtin layer);

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Formats a number for messages: `0.001`, `1e-07`, `3`.
std::string formatNumber(double value);
/// "1 argument", "2 arguments".
std::string pluralArgs(size_t n);
/// Returns the value of an integer literal (`3`) or a negated one (`-1`), as
/// the language defines them: written without '.' or exponent. `3.0` and
/// `1e1` are not integer literals, whatever their value.
std::optional<double> getIntegerLiteralValue(const Expr &expr);
/// The expression stored for a name's target, if it has one (let, metric,
/// output); null for inputs and parameters.
const Expr *targetExpr(NameKind kind, const Stmt *target);
/// The dependencies of a name's target (for `output NAME`).
Dependencies collectTargetDependencies(NameKind kind, const Stmt *target, int paramIndex, const Model &model);
/// Finds where a value's result for one example starts to depend on other
/// examples (see BatchMixingFinder in Sema.cpp); null if nowhere, else the
/// expression, with `why` saying what it does.
const Expr *findBatchMixing(const Expr &expr, std::string &why);

//===----------------------------------------------------------------------===//
// ModelChecker
//===----------------------------------------------------------------------===//

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
  // Statements (SemaStmt.cpp).
  LogicalResult checkStmt(Stmt &stmt);
  LogicalResult checkInput(InputStmt &input);
  LogicalResult checkParam(ParamStmt &param);
  LogicalResult checkExprStmt(ExprStmt &stmt);
  LogicalResult checkLoss(LossStmt &lossStmt);
  LogicalResult checkMetric(MetricStmt &metric, Symbol symbol);
  LogicalResult checkOutput(OutputStmt &output, Symbol symbol);
  LogicalResult checkDeclaredType(const TypeSpec &spec);
  LogicalResult define(llvm::StringRef name, Location loc, Symbol symbol, bool mayShadowBuiltin);
  unsigned addParam(std::string name, TensorType type, InitKind init, Location loc);
  void nameLayers(Expr &root);

  // The optimizer (SemaOptimizer.cpp).
  LogicalResult checkOptimizer(OptimizerStmt &opt);

  // Model-level rules (Sema.cpp).
  LogicalResult finish();

  // Expressions (SemaExpr.cpp).
  LogicalResult checkExpr(Expr &expr);
  LogicalResult checkExprImpl(Expr &expr);
  LogicalResult checkName(NameExpr &name);
  LogicalResult resolveName(llvm::StringRef name, Location loc, const Symbol *&result);
  LogicalResult checkUnary(UnaryExpr &unary);
  LogicalResult checkBinary(BinaryExpr &binary);
  LogicalResult checkComparison(BinaryExpr &binary);
  LogicalResult checkMatmul(BinaryExpr &binary);
  LogicalResult requireF32(const Expr &operand, Location at, const llvm::Twine &what);
  LogicalResult broadcast(const TensorType &lhs, const TensorType &rhs, Location at, llvm::StringRef opName,
                          std::vector<int64_t> &result);
  LogicalResult normalizeAxis(int64_t axis, const TensorType &type, Location at, int64_t &result);

  // Function calls (SemaCall.cpp).
  LogicalResult checkCall(CallExpr &call);
  LogicalResult checkArity(const CallExpr &call, const FunctionSpec &spec);
  LogicalResult bindArguments(CallExpr &call, const FunctionSpec &spec, std::vector<Expr *> &bound);
  LogicalResult evalAxis(const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound, std::optional<int64_t> &axis);
  LogicalResult checkFunction(CallExpr &call, const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound);
  LogicalResult checkOneHot(CallExpr &call, const Expr &index, const Expr &classes);
  LogicalResult checkTake(CallExpr &call, const Expr &x, const Expr &index, std::optional<int64_t> axis);
  LogicalResult evalKeepDims(CallExpr &call, const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound);
  LogicalResult checkReshape(CallExpr &call, const Expr &x, const Expr &shapeArg);
  LogicalResult checkTranspose(CallExpr &call, const Expr &x, const Expr *permArg);
  LogicalResult checkConcat(CallExpr &call, const Expr &a, const Expr &b, std::optional<int64_t> axis);

  // Layer calls (SemaLayer.cpp).
  LogicalResult checkLayer(CallExpr &call, const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound);
  LogicalResult evalLayerArgs(CallExpr &call, const FunctionSpec &spec, llvm::ArrayRef<Expr *> bound);
  LogicalResult evalLayerArg(CallExpr &call, const FormalParam &formal, Expr &arg);
  void applyLayerDefault(LayerAttrs &attrs, const FunctionSpec &spec, const FormalParam &formal);
  LogicalResult checkWindowLayer(CallExpr &call, const TensorType &x);
  LogicalResult checkFlatten(CallExpr &call, const TensorType &x);
  LogicalResult evalPosInt(const Expr &arg, const llvm::Twine &what, int64_t &result);
  LogicalResult setLayerParamType(CallExpr &call, unsigned which, TensorType type);

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

} // namespace sema
} // namespace kiln

#endif // KILN_FRONTEND_SEMAINTERNAL_H
