//===- AST.h - Abstract syntax tree of the Kiln language --------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The tree the parser builds and Sema annotates in place. A `Module` holds
// `Model`s; a model holds statements (`Stmt` subclasses) in source order;
// statements hold expressions (`Expr` subclasses). Both class families use
// LLVM-style RTTI (a kind enum plus `classof`), as in MLIR Toy's AST.h, so
// that `llvm::isa`/`llvm::dyn_cast` work without C++ RTTI.
//
// Every node carries a `Location` covering its source text. Members in the
// sections marked "Set by Sema" are empty until `checkModule` succeeds; after
// that MLIRGen reads them and never re-derives a shape (docs/internals.md).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_AST_H
#define KILN_FRONTEND_AST_H

#include "frontend/Diagnostics.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Casting.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kiln {
namespace ast {

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

/// The size of the symbolic batch dimension `N`.
constexpr int64_t kDynamic = -1;
/// The largest rank a tensor type may have.
constexpr unsigned kMaxRank = 8;
/// The largest static extent of one dimension (2^31 - 1).
constexpr int64_t kMaxDimSize = 2147483647;
/// The largest number of elements of a tensor, not counting `N` (2^40).
constexpr int64_t kMaxElements = int64_t(1) << 40;

/// Element types.
enum class DType { F32, I32 };

/// Returns "f32" or "i32".
llvm::StringRef getDTypeName(DType dtype);

/// A tensor type: an element type and dims, `kDynamic` standing for `N`
/// (only ever the leading dim). Rank 0 is a scalar.
struct TensorType {
  DType dtype = DType::F32;
  std::vector<int64_t> dims;

  TensorType() = default;
  TensorType(DType dtype, std::vector<int64_t> dims) : dtype(dtype), dims(std::move(dims)) {}
  static TensorType scalar(DType dtype = DType::F32) { return {dtype, {}}; }

  unsigned getRank() const { return static_cast<unsigned>(dims.size()); }
  bool isScalar() const { return dims.empty(); }
  /// Returns true if the leading dimension is the batch dimension `N`.
  bool hasBatchDim() const { return !dims.empty() && dims[0] == kDynamic; }
  /// Returns the number of elements per batch row: the product of the static
  /// dims, or -1 if it exceeds `kMaxElements` (or overflows).
  int64_t getStaticElementCount() const;
  /// Prints as `f32[N, 28, 28, 1]`, or `f32` for a scalar.
  std::string str() const;

  bool operator==(const TensorType &other) const { return dtype == other.dtype && dims == other.dims; }
  bool operator!=(const TensorType &other) const { return !(*this == other); }
};

llvm::raw_ostream &operator<<(llvm::raw_ostream &os, const TensorType &type);

//===----------------------------------------------------------------------===//
// Resolved builtins and layer attributes
//===----------------------------------------------------------------------===//

/// What a call resolves to: the FUNCTION, LAYER and RESOLVED entries of
/// Builtins.def, in that file's order.
enum class Builtin {
  None, ///< Not resolved (before Sema).
#define FUNCTION(Id, Name) Id,
#define LAYER(Id, Name) Id,
#define RESOLVED(Id, Name) Id,
#include "frontend/Builtins.def"
};

/// Returns the source-level name of a builtin ("relu", "max", "conv2d"...).
llvm::StringRef getBuiltinName(Builtin builtin);
/// Returns true for the layers (dense, conv2d, maxpool, avgpool, flatten,
/// dropout, batch_norm), which get instance names.
bool isLayer(Builtin builtin);

/// Activation of a dense/conv2d layer (the ACTIVATION entries of
/// Builtins.def).
enum class Activation {
#define ACTIVATION(Id, Name) Id,
#include "frontend/Builtins.def"
};
llvm::StringRef getActivationName(Activation activation);

/// Padding mode of conv2d and the pools (the PADDING entries of
/// Builtins.def).
enum class Padding {
#define PADDING(Id, Name) Id,
#include "frontend/Builtins.def"
};
llvm::StringRef getPaddingName(Padding padding);

/// For messages, the names a user may write, from Builtins.def:
/// "relu, sigmoid, tanh, softmax or linear", "valid or same", "sgd,
/// adagrad, rmsprop or adam", and the named initializers "zeros, ones,
/// glorot_uniform" (no "or": a number may follow).
std::string getActivationNameList();
std::string getPaddingNameList();
std::string getOptimizerNameList();
std::string getNamedInitializerList();

/// Layer attributes, normalised by Sema. Only the fields of the call's layer
/// kind are meaningful.
struct LayerAttrs {
  int64_t units = 0;      ///< dense
  int64_t filters = 0;    ///< conv2d
  int64_t kernelSize = 0; ///< conv2d kernel, pool window (square)
  int64_t stride = 1;     ///< conv2d, pools
  Padding padding = Padding::Valid;
  /// Explicit zero padding of conv2d: {top, bottom, left, right}.
  std::array<int64_t, 4> pads = {0, 0, 0, 0};
  Activation activation = Activation::Linear; ///< dense, conv2d
  double rate = 0.0;                          ///< dropout
  double momentum = 0.99;                     ///< batch_norm (Keras's default)
  double epsilon = 1e-3;                      ///< batch_norm (Keras's default)
};

/// How a parameter is initialised (the INITIALIZER entries of Builtins.def).
enum class InitKind {
#define INITIALIZER(Id, Name) Id,
#include "frontend/Builtins.def"
};
llvm::StringRef getInitKindName(InitKind kind);

/// One parameter of a model (explicit `param` or created by a layer).
struct ParamInfo {
  std::string name; ///< "w", or "dense_0.kernel"
  TensorType type;  ///< f32, no `N`
  InitKind init = InitKind::Zeros;
  double initValue = 0.0; ///< for InitKind::Constant
  Location loc;           ///< the param declaration or the layer call
  /// False for what the training step sets instead of the optimizer
  /// (batch_norm's moving statistics): no gradient, no optimizer state.
  bool trainable = true;
};

/// Whether the optimizer hyper-parameter `name` is a boolean (its
/// HYPER_PARAM range in Builtins.def is Bool), stored as 0 or 1.
bool isBooleanHyperParam(llvm::StringRef name);

/// The resolved optimizer: Keras name and every hyper-parameter, defaults
/// filled in, in the fixed order of its HYPER_PARAM entries in Builtins.def
/// (booleans as 0 or 1).
struct OptimizerInfo {
  std::string name;
  std::vector<std::pair<std::string, double>> hyperParams;
};

/// The inputs and parameters an expression reaches, by name, each list in
/// declaration order.
struct Dependencies {
  std::vector<std::string> inputs;
  std::vector<std::string> params;
};

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

class Stmt;

/// Base class of all expressions.
class Expr {
public:
  enum ExprKind { Expr_Number, Expr_Name, Expr_Unary, Expr_Binary, Expr_Call, Expr_List };

  Expr(ExprKind kind, Location loc, unsigned height = 1) : kind(kind), loc(loc), height(height) {}
  virtual ~Expr() = default;

  ExprKind getKind() const { return kind; }
  /// The whole text of the expression.
  const Location &getLoc() const { return loc; }
  /// The height of the tree below and including this node (a leaf is 1).
  /// The parser bounds it, so recursive walks cannot exhaust the stack.
  unsigned getHeight() const { return height; }

  /// Set by Sema: the type of the value. Not set on the non-tensor arguments
  /// of calls (layer sizes, activations, axes).
  std::optional<TensorType> type;
  /// Returns the type Sema set (it must have been set).
  const TensorType &getType() const { return *type; }

private:
  const ExprKind kind;
  Location loc;
  unsigned height;
};

/// A number literal, e.g. `1e-4`.
class NumberExpr : public Expr {
public:
  NumberExpr(Location loc, double value, bool isIntegerLiteral)
      : Expr(Expr_Number, loc), value(value), integerLiteral(isIntegerLiteral) {}
  double getValue() const { return value; }
  /// True if written without '.' or exponent.
  bool isIntegerLiteral() const { return integerLiteral; }
  static bool classof(const Expr *e) { return e->getKind() == Expr_Number; }

private:
  double value;
  bool integerLiteral;
};

/// What a name refers to.
enum class NameKind { Unresolved, Input, Param, Let, Metric, Output };
llvm::StringRef getNameKindName(NameKind kind);

/// A reference to a named value.
class NameExpr : public Expr {
public:
  NameExpr(Location loc, llvm::StringRef name) : Expr(Expr_Name, loc), name(name.str()) {}
  llvm::StringRef getName() const { return name; }
  static bool classof(const Expr *e) { return e->getKind() == Expr_Name; }

  /// Set by Sema: the kind of the target and its defining statement
  /// (`InputStmt`, `ParamStmt`, `LetStmt`, `MetricStmt` or `OutputStmt`).
  NameKind targetKind = NameKind::Unresolved;
  Stmt *target = nullptr;
  /// Set by Sema for NameKind::Param: the index into `Model::params`.
  int paramIndex = -1;

private:
  std::string name;
};

/// Unary minus.
class UnaryExpr : public Expr {
public:
  UnaryExpr(Location loc, Location opLoc, std::unique_ptr<Expr> operand)
      : Expr(Expr_Unary, loc, operand->getHeight() + 1), opLoc(opLoc), operand(std::move(operand)) {}
  /// The '-' token.
  const Location &getOpLoc() const { return opLoc; }
  Expr &getOperand() const { return *operand; }
  static bool classof(const Expr *e) { return e->getKind() == Expr_Unary; }

private:
  Location opLoc;
  std::unique_ptr<Expr> operand;
};

/// Binary operators.
enum class BinaryOp {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  MatMul,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
};
/// Returns the operator's spelling, e.g. "**".
llvm::StringRef getBinaryOpSpelling(BinaryOp op);
/// Returns true for == != < <= > >=.
bool isComparison(BinaryOp op);

/// A binary operation. Its location spans both operands; `getOpLoc()` is the
/// operator token, where shape errors point.
class BinaryExpr : public Expr {
public:
  BinaryExpr(Location loc, BinaryOp op, Location opLoc, std::unique_ptr<Expr> lhs, std::unique_ptr<Expr> rhs)
      : Expr(Expr_Binary, loc, std::max(lhs->getHeight(), rhs->getHeight()) + 1), op(op), opLoc(opLoc),
        lhs(std::move(lhs)), rhs(std::move(rhs)) {}
  BinaryOp getOp() const { return op; }
  const Location &getOpLoc() const { return opLoc; }
  Expr &getLHS() const { return *lhs; }
  Expr &getRHS() const { return *rhs; }
  static bool classof(const Expr *e) { return e->getKind() == Expr_Binary; }

private:
  BinaryOp op;
  Location opLoc;
  std::unique_ptr<Expr> lhs, rhs;
};

/// A bracketed list `[N, 4, 6]`: only the shape of `reshape` and the
/// permutation of `transpose` take one (Sema rejects it anywhere else, and
/// reads its elements as constants: integer literals, and `N` in a shape).
class ListExpr : public Expr {
public:
  ListExpr(Location loc, std::vector<std::unique_ptr<Expr>> elements)
      : Expr(Expr_List, loc, elementsHeight(elements) + 1), elements(std::move(elements)) {}
  const std::vector<std::unique_ptr<Expr>> &getElements() const { return elements; }
  static bool classof(const Expr *e) { return e->getKind() == Expr_List; }

private:
  static unsigned elementsHeight(const std::vector<std::unique_ptr<Expr>> &elements) {
    unsigned h = 0;
    for (const auto &element : elements)
      h = std::max(h, element->getHeight());
    return h;
  }

  std::vector<std::unique_ptr<Expr>> elements;
};

/// One argument of a call: positional (empty keyword) or `keyword = value`.
struct CallArg {
  std::string keyword;
  Location keywordLoc;
  std::unique_ptr<Expr> value;

  bool isKeyword() const { return !keyword.empty(); }
};

/// A call `f(args)`, or the desugared pipe `a |> f(args)` = `f(a, args)`.
/// Its location is the callee name through the closing parenthesis.
class CallExpr : public Expr {
public:
  CallExpr(Location loc, llvm::StringRef callee, Location calleeLoc, std::vector<CallArg> args, bool piped)
      : Expr(Expr_Call, loc, argsHeight(args) + 1), callee(callee.str()), calleeLoc(calleeLoc), args(std::move(args)),
        piped(piped) {}
  llvm::StringRef getCallee() const { return callee; }
  const Location &getCalleeLoc() const { return calleeLoc; }
  /// The arguments as written (after pipe desugaring: the piped value is the
  /// first, positional argument).
  std::vector<CallArg> &getArgs() { return args; }
  const std::vector<CallArg> &getArgs() const { return args; }
  /// True if written as `a |> f(...)`.
  bool isPiped() const { return piped; }
  static bool classof(const Expr *e) { return e->getKind() == Expr_Call; }

  //--- Set by Sema --------------------------------------------------------//
  /// The resolved builtin or layer.
  Builtin builtin = Builtin::None;
  /// The tensor operands in signature order (e.g. the layer input; both
  /// sides of max(a, b); logits then labels). MLIRGen reads only these; the
  /// other arguments are folded into the attributes below.
  std::vector<Expr *> operands;
  /// Softmax, LogSoftmax, Argmax: the axis, non-negative. Reductions: the
  /// axis, or unset to reduce everything to a scalar.
  std::optional<int64_t> axis;
  /// Reductions, Argmax, Argmin: `keepdims = true` keeps the reduced axes as
  /// dimensions of size 1 (the type says so; `axis` is as without it).
  bool keepDims = false;
  /// Transpose: result dimension i is operand dimension permutation[i].
  std::vector<int64_t> permutation;
  /// Layers only.
  LayerAttrs layer;
  /// Layers only: instance name, e.g. "conv2d_0".
  std::string instanceName;
  /// Layers with parameters: their names, e.g. {"dense_0.kernel",
  /// "dense_0.bias"}, and their indices into `Model::params`.
  std::vector<std::string> paramNames;
  std::vector<unsigned> paramIndices;

private:
  static unsigned argsHeight(const std::vector<CallArg> &args) {
    unsigned h = 0;
    for (const CallArg &arg : args)
      h = std::max(h, arg.value->getHeight());
    return h;
  }

  std::string callee;
  Location calleeLoc;
  std::vector<CallArg> args;
  bool piped;
};

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

/// A type as written: the type and its location.
struct TypeSpec {
  TensorType type;
  Location loc;
};

/// Base class of the statements of a model.
class Stmt {
public:
  enum StmtKind {
    Stmt_Input,
    Stmt_Param,
    Stmt_Let,
    Stmt_Loss,
    Stmt_Optimizer,
    Stmt_Metric,
    Stmt_Output,
  };

  Stmt(StmtKind kind, Location loc) : kind(kind), loc(loc) {}
  virtual ~Stmt() = default;
  StmtKind getKind() const { return kind; }
  /// The whole statement.
  const Location &getLoc() const { return loc; }

private:
  const StmtKind kind;
  Location loc;
};

/// `input IDENT ':' type`
class InputStmt : public Stmt {
public:
  InputStmt(Location loc, llvm::StringRef name, Location nameLoc, TypeSpec typeSpec)
      : Stmt(Stmt_Input, loc), name(name.str()), nameLoc(nameLoc), typeSpec(std::move(typeSpec)) {}
  llvm::StringRef getName() const { return name; }
  const Location &getNameLoc() const { return nameLoc; }
  const TypeSpec &getTypeSpec() const { return typeSpec; }
  const TensorType &getType() const { return typeSpec.type; }
  static bool classof(const Stmt *s) { return s->getKind() == Stmt_Input; }

private:
  std::string name;
  Location nameLoc;
  TypeSpec typeSpec;
};

/// The initializer of a param as written: a name or a number.
struct InitializerSpec {
  bool present = false;
  std::string name; ///< zeros, ones, glorot_uniform (empty for a number)
  double value = 0.0;
  Location loc;
};

/// `param IDENT ':' type ('=' initializer)?`
class ParamStmt : public Stmt {
public:
  ParamStmt(Location loc, llvm::StringRef name, Location nameLoc, TypeSpec typeSpec, InitializerSpec init)
      : Stmt(Stmt_Param, loc), name(name.str()), nameLoc(nameLoc), typeSpec(std::move(typeSpec)),
        init(std::move(init)) {}
  llvm::StringRef getName() const { return name; }
  const Location &getNameLoc() const { return nameLoc; }
  const TypeSpec &getTypeSpec() const { return typeSpec; }
  const TensorType &getType() const { return typeSpec.type; }
  const InitializerSpec &getInitializer() const { return init; }
  static bool classof(const Stmt *s) { return s->getKind() == Stmt_Param; }

  /// Set by Sema: index into `Model::params`.
  int paramIndex = -1;

private:
  std::string name;
  Location nameLoc;
  TypeSpec typeSpec;
  InitializerSpec init;
};

/// Base of the statements that hold an expression (let, loss, metric,
/// output): the expression and, after Sema, what it depends on.
class ExprStmt : public Stmt {
public:
  ExprStmt(StmtKind kind, Location loc, std::unique_ptr<Expr> expr) : Stmt(kind, loc), expr(std::move(expr)) {}
  /// The expression; null only for `output NAME` without '='.
  Expr *getExpr() const { return expr.get(); }
  static bool classof(const Stmt *s) {
    return s->getKind() == Stmt_Let || s->getKind() == Stmt_Loss || s->getKind() == Stmt_Metric ||
           s->getKind() == Stmt_Output;
  }

  /// Set by Sema: the type of the value.
  TensorType type;
  /// Set by Sema: the inputs and parameters the value reaches.
  Dependencies deps;

private:
  std::unique_ptr<Expr> expr;
};

/// `IDENT '=' expr`
class LetStmt : public ExprStmt {
public:
  LetStmt(Location loc, llvm::StringRef name, Location nameLoc, std::unique_ptr<Expr> expr)
      : ExprStmt(Stmt_Let, loc, std::move(expr)), name(name.str()), nameLoc(nameLoc) {}
  llvm::StringRef getName() const { return name; }
  const Location &getNameLoc() const { return nameLoc; }
  static bool classof(const Stmt *s) { return s->getKind() == Stmt_Let; }

private:
  std::string name;
  Location nameLoc;
};

/// `'loss' expr`
class LossStmt : public ExprStmt {
public:
  LossStmt(Location loc, std::unique_ptr<Expr> expr) : ExprStmt(Stmt_Loss, loc, std::move(expr)) {}
  static bool classof(const Stmt *s) { return s->getKind() == Stmt_Loss; }
};

/// `'metric' IDENT '=' expr`
class MetricStmt : public ExprStmt {
public:
  MetricStmt(Location loc, llvm::StringRef name, Location nameLoc, std::unique_ptr<Expr> expr)
      : ExprStmt(Stmt_Metric, loc, std::move(expr)), name(name.str()), nameLoc(nameLoc) {}
  llvm::StringRef getName() const { return name; }
  const Location &getNameLoc() const { return nameLoc; }
  static bool classof(const Stmt *s) { return s->getKind() == Stmt_Metric; }

private:
  std::string name;
  Location nameLoc;
};

/// `'output' IDENT ('=' expr)?`. Without an expression it exports the
/// existing value of that name (`output pred`).
class OutputStmt : public ExprStmt {
public:
  OutputStmt(Location loc, llvm::StringRef name, Location nameLoc, std::unique_ptr<Expr> expr)
      : ExprStmt(Stmt_Output, loc, std::move(expr)), name(name.str()), nameLoc(nameLoc) {}
  llvm::StringRef getName() const { return name; }
  const Location &getNameLoc() const { return nameLoc; }
  static bool classof(const Stmt *s) { return s->getKind() == Stmt_Output; }

  /// Set by Sema for `output NAME` without an expression: what NAME is.
  NameKind sourceKind = NameKind::Unresolved;
  Stmt *source = nullptr;

private:
  std::string name;
  Location nameLoc;
};

/// `'optimizer' IDENT '(' (kwarg (',' kwarg)*)? ')'`
class OptimizerStmt : public Stmt {
public:
  OptimizerStmt(Location loc, llvm::StringRef name, Location nameLoc, std::vector<CallArg> args)
      : Stmt(Stmt_Optimizer, loc), name(name.str()), nameLoc(nameLoc), args(std::move(args)) {}
  llvm::StringRef getName() const { return name; }
  const Location &getNameLoc() const { return nameLoc; }
  /// The keyword arguments as written.
  const std::vector<CallArg> &getArgs() const { return args; }
  static bool classof(const Stmt *s) { return s->getKind() == Stmt_Optimizer; }

private:
  std::string name;
  Location nameLoc;
  std::vector<CallArg> args;
};

//===----------------------------------------------------------------------===//
// Models and files
//===----------------------------------------------------------------------===//

/// `'model' IDENT '{' statement* '}'`
class Model {
public:
  Model(Location loc, llvm::StringRef name, Location nameLoc, std::vector<std::unique_ptr<Stmt>> stmts)
      : loc(loc), name(name.str()), nameLoc(nameLoc), stmts(std::move(stmts)) {}

  const Location &getLoc() const { return loc; }
  llvm::StringRef getName() const { return name; }
  const Location &getNameLoc() const { return nameLoc; }
  /// All statements in source order.
  llvm::ArrayRef<std::unique_ptr<Stmt>> getStmts() const { return stmts; }

  /// The statements of one kind, in source order.
  std::vector<InputStmt *> getInputs() const { return collect<InputStmt>(); }
  std::vector<LetStmt *> getLets() const { return collect<LetStmt>(); }
  std::vector<MetricStmt *> getMetrics() const { return collect<MetricStmt>(); }
  std::vector<OutputStmt *> getOutputs() const { return collect<OutputStmt>(); }
  /// The loss statement, or null.
  LossStmt *getLoss() const { return first<LossStmt>(); }
  /// The optimizer statement, or null.
  OptimizerStmt *getOptimizerStmt() const { return first<OptimizerStmt>(); }

  //--- Set by Sema --------------------------------------------------------//
  /// Every parameter in declaration order (explicit params and layer params
  /// interleaved as they appear in the source).
  std::vector<ParamInfo> params;
  /// The optimizer, if the model has one.
  std::optional<OptimizerInfo> optimizer;

private:
  template <typename T> std::vector<T *> collect() const {
    std::vector<T *> result;
    for (const auto &stmt : stmts)
      if (auto *s = llvm::dyn_cast<T>(stmt.get()))
        result.push_back(s);
    return result;
  }
  template <typename T> T *first() const {
    for (const auto &stmt : stmts)
      if (auto *s = llvm::dyn_cast<T>(stmt.get()))
        return s;
    return nullptr;
  }

  Location loc;
  std::string name;
  Location nameLoc;
  std::vector<std::unique_ptr<Stmt>> stmts;
};

/// A parsed file: its models in source order.
class Module {
public:
  Module(std::vector<std::unique_ptr<Model>> models, const llvm::SourceMgr *srcMgr)
      : models(std::move(models)), srcMgr(srcMgr) {}
  llvm::ArrayRef<std::unique_ptr<Model>> getModels() const { return models; }
  /// The source manager holding the text the locations point into.
  const llvm::SourceMgr *getSourceMgr() const { return srcMgr; }

private:
  std::vector<std::unique_ptr<Model>> models;
  const llvm::SourceMgr *srcMgr;
};

/// Prints the module as an indented tree, one node per line with its kind,
/// key data, its type once Sema has set it, and `@line:col` (for
/// `kilnc --emit=ast`).
void printModule(const Module &module, llvm::raw_ostream &os);

} // namespace ast
} // namespace kiln

#endif // KILN_FRONTEND_AST_H
