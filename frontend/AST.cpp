//===- AST.cpp - Kiln AST helpers and printer -----------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Names of the AST enums, tensor-type printing, and the indented tree printer
// behind `kilnc --emit=ast`: one node per line, its kind, key data, its type
// once Sema has set it, and `@line:col`, e.g.
//
//   Call conv2d (layer conv2d_0) : f32[N, 26, 26, 32] @7:8 {piped, ...}
//
//===----------------------------------------------------------------------===//

#include "frontend/AST.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace kiln;
using namespace kiln::ast;

//===----------------------------------------------------------------------===//
// Types and enums
//===----------------------------------------------------------------------===//

llvm::StringRef ast::getDTypeName(DType dtype) { return dtype == DType::F32 ? "f32" : "i32"; }

int64_t TensorType::getStaticElementCount() const {
  int64_t count = 1;
  for (int64_t dim : dims) {
    if (dim == kDynamic)
      continue;
    if (dim <= 0)
      return -1;
    if (count > kMaxElements / dim)
      return -1;
    count *= dim;
  }
  return count;
}

std::string TensorType::str() const {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << *this;
  return s;
}

llvm::raw_ostream &ast::operator<<(llvm::raw_ostream &os, const TensorType &type) {
  os << getDTypeName(type.dtype);
  if (type.dims.empty())
    return os;
  os << '[';
  for (size_t i = 0; i < type.dims.size(); ++i) {
    if (i)
      os << ", ";
    if (type.dims[i] == kDynamic)
      os << 'N';
    else
      os << type.dims[i];
  }
  return os << ']';
}

llvm::StringRef ast::getBuiltinName(Builtin builtin) {
  switch (builtin) {
  case Builtin::None:
    return "<none>";
#define FUNCTION(Id, Name)                                                                                             \
  case Builtin::Id:                                                                                                    \
    return Name;
#define LAYER(Id, Name) FUNCTION(Id, Name)
#define RESOLVED(Id, Name) FUNCTION(Id, Name)
#include "frontend/Builtins.def"
  }
  return "<unknown>";
}

bool ast::isLayer(Builtin builtin) {
  switch (builtin) {
#define LAYER(Id, Name)                                                                                                \
  case Builtin::Id:                                                                                                    \
    return true;
#include "frontend/Builtins.def"
  default:
    return false;
  }
}

llvm::StringRef ast::getActivationName(Activation activation) {
  switch (activation) {
#define ACTIVATION(Id, Name)                                                                                           \
  case Activation::Id:                                                                                                 \
    return Name;
#include "frontend/Builtins.def"
  }
  return "linear";
}

llvm::StringRef ast::getPaddingName(Padding padding) {
  switch (padding) {
#define PADDING(Id, Name)                                                                                              \
  case Padding::Id:                                                                                                    \
    return Name;
#include "frontend/Builtins.def"
  }
  return "valid";
}

/// `a, b, c` and, with `lastSeparator` " or ", `a, b or c`.
static std::string joinNames(llvm::ArrayRef<llvm::StringRef> names, llvm::StringRef lastSeparator) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i)
      text += i + 1 == names.size() ? lastSeparator.str() : ", ";
    text += names[i].str();
  }
  return text;
}

std::string ast::getActivationNameList() {
  return joinNames(
      {
#define ACTIVATION(Id, Name) Name,
#include "frontend/Builtins.def"
      },
      " or ");
}

std::string ast::getPaddingNameList() {
  return joinNames(
      {
#define PADDING(Id, Name) Name,
#include "frontend/Builtins.def"
      },
      " or ");
}

std::string ast::getOptimizerNameList() {
  return joinNames(
      {
#define OPTIMIZER(Id, Name) Name,
#include "frontend/Builtins.def"
      },
      " or ");
}

std::string ast::getNamedInitializerList() {
  std::vector<llvm::StringRef> names;
#define INITIALIZER(Id, Name)                                                                                          \
  if (InitKind::Id != InitKind::Constant) /* written as a number */                                                    \
    names.push_back(Name);
#include "frontend/Builtins.def"
  return joinNames(names, ", ");
}

bool ast::isBooleanHyperParam(llvm::StringRef name) {
#define HYPER_PARAM(Optimizer, Name, Default, Range)                                                                   \
  if (name == Name && llvm::StringRef(#Range) == "Bool")                                                               \
    return true;
#include "frontend/Builtins.def"
  return false;
}

llvm::StringRef ast::getInitKindName(InitKind kind) {
  switch (kind) {
#define INITIALIZER(Id, Name)                                                                                          \
  case InitKind::Id:                                                                                                   \
    return Name;
#include "frontend/Builtins.def"
  }
  return "zeros";
}

llvm::StringRef ast::getNameKindName(NameKind kind) {
  switch (kind) {
  case NameKind::Unresolved:
    return "unresolved";
  case NameKind::Input:
    return "input";
  case NameKind::Param:
    return "param";
  case NameKind::Let:
    return "let";
  case NameKind::Metric:
    return "metric";
  case NameKind::Output:
    return "output";
  }
  return "unresolved";
}

llvm::StringRef ast::getBinaryOpSpelling(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add:
    return "+";
  case BinaryOp::Sub:
    return "-";
  case BinaryOp::Mul:
    return "*";
  case BinaryOp::Div:
    return "/";
  case BinaryOp::Pow:
    return "**";
  case BinaryOp::MatMul:
    return "@";
  case BinaryOp::Eq:
    return "==";
  case BinaryOp::Ne:
    return "!=";
  case BinaryOp::Lt:
    return "<";
  case BinaryOp::Le:
    return "<=";
  case BinaryOp::Gt:
    return ">";
  case BinaryOp::Ge:
    return ">=";
  }
  return "?";
}

bool ast::isComparison(BinaryOp op) {
  switch (op) {
  case BinaryOp::Eq:
  case BinaryOp::Ne:
  case BinaryOp::Lt:
  case BinaryOp::Le:
  case BinaryOp::Gt:
  case BinaryOp::Ge:
    return true;
  default:
    return false;
  }
}

//===----------------------------------------------------------------------===//
// Printer
//===----------------------------------------------------------------------===//

namespace {

/// A number as printf's %g writes it (`0.99`, `0.001`, `1e-07`).
std::string formatG(double value) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%g", value);
  return text;
}

/// Prints the tree with two spaces of indentation per level.
class ASTPrinter {
public:
  ASTPrinter(llvm::raw_ostream &os, const llvm::SourceMgr *srcMgr) : os(os), srcMgr(srcMgr) {}

  void print(const Module &module);

private:
  void print(const Model &model);
  void print(const Stmt &stmt);
  void print(const Expr &expr);
  void printArgs(const std::vector<CallArg> &args);
  void printDeps(const Dependencies &deps);

  void indent() { os.indent(level * 2); }
  void printLoc(Location loc) {
    if (!srcMgr)
      return;
    LineCol lc = getLineCol(*srcMgr, loc);
    os << " @" << lc.line << ':' << lc.col;
  }
  void printType(const std::optional<TensorType> &type) {
    if (type)
      os << " : " << *type;
  }

  struct Nest {
    unsigned &level;
    explicit Nest(unsigned &level) : level(level) { ++level; }
    ~Nest() { --level; }
  };

  llvm::raw_ostream &os;
  const llvm::SourceMgr *srcMgr;
  const Model *currentModel = nullptr;
  unsigned level = 0;
};

} // namespace

void ASTPrinter::print(const Module &module) {
  os << "Module\n";
  Nest nest(level);
  for (const auto &model : module.getModels())
    print(*model);
}

void ASTPrinter::print(const Model &model) {
  indent();
  os << "Model " << model.getName();
  printLoc(model.getLoc());
  os << '\n';
  Nest nest(level);
  currentModel = &model;
  if (!model.params.empty()) {
    indent();
    os << "Params\n";
    Nest inner(level);
    for (const ParamInfo &param : model.params) {
      indent();
      os << "Param " << param.name << " : " << param.type << " init=" << getInitKindName(param.init);
      if (param.init == InitKind::Constant)
        os << '(' << llvm::format("%g", param.initValue) << ')';
      if (!param.trainable)
        os << " non_trainable";
      printLoc(param.loc);
      os << '\n';
    }
  }
  for (const auto &stmt : model.getStmts())
    print(*stmt);
}

void ASTPrinter::printDeps(const Dependencies &deps) {
  if (deps.inputs.empty() && deps.params.empty())
    return;
  os << " {inputs=[";
  for (size_t i = 0; i < deps.inputs.size(); ++i)
    os << (i ? ", " : "") << deps.inputs[i];
  os << "], params=[";
  for (size_t i = 0; i < deps.params.size(); ++i)
    os << (i ? ", " : "") << deps.params[i];
  os << "]}";
}

void ASTPrinter::print(const Stmt &stmt) {
  indent();
  const Expr *expr = nullptr;
  const ExprStmt *exprStmt = llvm::dyn_cast<ExprStmt>(&stmt);
  bool typed = false;
  if (exprStmt) {
    expr = exprStmt->getExpr();
    typed = expr ? expr->type.has_value() : llvm::cast<OutputStmt>(stmt).sourceKind != NameKind::Unresolved;
  }
  switch (stmt.getKind()) {
  case Stmt::Stmt_Input: {
    const auto &input = llvm::cast<InputStmt>(stmt);
    os << "Input " << input.getName() << " : " << input.getType();
    printLoc(stmt.getLoc());
    break;
  }
  case Stmt::Stmt_Param: {
    const auto &param = llvm::cast<ParamStmt>(stmt);
    os << "Param " << param.getName() << " : " << param.getType();
    const InitializerSpec &init = param.getInitializer();
    if (init.present) {
      os << " = ";
      if (!init.name.empty())
        os << init.name;
      else
        os << llvm::format("%g", init.value);
    }
    printLoc(stmt.getLoc());
    break;
  }
  case Stmt::Stmt_Let:
    os << "Let " << llvm::cast<LetStmt>(stmt).getName();
    break;
  case Stmt::Stmt_Loss:
    os << "Loss";
    break;
  case Stmt::Stmt_Metric:
    os << "Metric " << llvm::cast<MetricStmt>(stmt).getName();
    break;
  case Stmt::Stmt_Output: {
    const auto &output = llvm::cast<OutputStmt>(stmt);
    os << "Output " << output.getName();
    if (!expr && output.sourceKind != NameKind::Unresolved)
      os << " -> " << getNameKindName(output.sourceKind);
    break;
  }
  case Stmt::Stmt_Optimizer: {
    const auto &opt = llvm::cast<OptimizerStmt>(stmt);
    os << "Optimizer " << opt.getName();
    printLoc(stmt.getLoc());
    // Once Sema has run: every hyper-parameter, defaults included.
    if (currentModel && currentModel->optimizer) {
      os << " {";
      const auto &hyperParams = currentModel->optimizer->hyperParams;
      for (size_t i = 0; i < hyperParams.size(); ++i)
        os << (i ? ", " : "") << hyperParams[i].first << '=' << llvm::format("%g", hyperParams[i].second);
      os << '}';
    }
    os << '\n';
    Nest nest(level);
    printArgs(opt.getArgs());
    return;
  }
  }
  if (exprStmt) {
    if (typed)
      os << " : " << exprStmt->type;
    printLoc(stmt.getLoc());
    if (typed)
      printDeps(exprStmt->deps);
  }
  os << '\n';
  if (expr) {
    Nest nest(level);
    print(*expr);
  }
}

void ASTPrinter::printArgs(const std::vector<CallArg> &args) {
  for (const CallArg &arg : args) {
    if (!arg.isKeyword()) {
      print(*arg.value);
      continue;
    }
    indent();
    os << "Kwarg " << arg.keyword;
    printLoc(arg.keywordLoc);
    os << '\n';
    Nest nest(level);
    print(*arg.value);
  }
}

void ASTPrinter::print(const Expr &expr) {
  indent();
  switch (expr.getKind()) {
  case Expr::Expr_Number: {
    const auto &number = llvm::cast<NumberExpr>(expr);
    os << "Number ";
    if (srcMgr)
      os << llvm::StringRef(expr.getLoc().begin(), expr.getLoc().length);
    else
      os << llvm::format("%g", number.getValue());
    printType(expr.type);
    printLoc(expr.getLoc());
    os << '\n';
    return;
  }
  case Expr::Expr_Name: {
    const auto &name = llvm::cast<NameExpr>(expr);
    os << "Name " << name.getName();
    if (name.targetKind != NameKind::Unresolved)
      os << " -> " << getNameKindName(name.targetKind);
    printType(expr.type);
    printLoc(expr.getLoc());
    os << '\n';
    return;
  }
  case Expr::Expr_Unary: {
    const auto &unary = llvm::cast<UnaryExpr>(expr);
    os << "Unary -";
    printType(expr.type);
    printLoc(expr.getLoc());
    os << '\n';
    Nest nest(level);
    print(unary.getOperand());
    return;
  }
  case Expr::Expr_Binary: {
    const auto &binary = llvm::cast<BinaryExpr>(expr);
    os << "Binary " << getBinaryOpSpelling(binary.getOp());
    printType(expr.type);
    printLoc(expr.getLoc());
    os << '\n';
    Nest nest(level);
    print(binary.getLHS());
    print(binary.getRHS());
    return;
  }
  case Expr::Expr_Call: {
    const auto &call = llvm::cast<CallExpr>(expr);
    os << "Call " << call.getCallee();
    if (!call.instanceName.empty())
      os << " (layer " << call.instanceName << ')';
    printType(expr.type);
    printLoc(expr.getLoc());
    // Extra data after the location: flags and resolved attributes.
    llvm::SmallVector<std::string, 8> extras;
    auto add = [&](const llvm::Twine &t) { extras.push_back(t.str()); };
    if (call.isPiped())
      add("piped");
    const LayerAttrs &l = call.layer;
    switch (call.builtin) {
    case Builtin::None:
      break;
    case Builtin::Dense:
      add("units=" + llvm::Twine(l.units));
      add("activation=" + getActivationName(l.activation));
      break;
    case Builtin::Conv2D:
      add("filters=" + llvm::Twine(l.filters));
      add("kernel=" + llvm::Twine(l.kernelSize));
      add("stride=" + llvm::Twine(l.stride));
      add("padding=" + getPaddingName(l.padding));
      add("pads=[" + llvm::Twine(l.pads[0]) + ", " + llvm::Twine(l.pads[1]) + ", " + llvm::Twine(l.pads[2]) + ", " +
          llvm::Twine(l.pads[3]) + "]");
      add("activation=" + getActivationName(l.activation));
      break;
    case Builtin::MaxPool:
    case Builtin::AvgPool:
      add("size=" + llvm::Twine(l.kernelSize));
      add("stride=" + llvm::Twine(l.stride));
      if (l.padding != Padding::Valid) {
        add("padding=" + getPaddingName(l.padding));
        add("pads=[" + llvm::Twine(l.pads[0]) + ", " + llvm::Twine(l.pads[1]) + ", " + llvm::Twine(l.pads[2]) + ", " +
            llvm::Twine(l.pads[3]) + "]");
      }
      break;
    case Builtin::Dropout:
      add("rate=" + formatG(l.rate));
      break;
    case Builtin::BatchNorm:
      add("momentum=" + formatG(l.momentum));
      add("epsilon=" + formatG(l.epsilon));
      break;
    default:
      if (call.builtin != Builtin::Flatten && getBuiltinName(call.builtin) != call.getCallee())
        add("builtin=" + getBuiltinName(call.builtin));
      if (call.builtin == Builtin::ReduceMax || call.builtin == Builtin::ReduceMin)
        add("reduce");
      if (call.axis)
        add("axis=" + llvm::Twine(*call.axis));
      if (call.keepDims)
        add("keepdims");
      if (!call.permutation.empty()) {
        std::string permutation = "permutation=[";
        for (size_t i = 0; i < call.permutation.size(); ++i)
          permutation += (i ? ", " : "") + std::to_string(call.permutation[i]);
        add(permutation + "]");
      }
      break;
    }
    if (!call.paramNames.empty()) {
      std::string names = "params=[";
      for (size_t i = 0; i < call.paramNames.size(); ++i)
        names += (i ? ", " : "") + call.paramNames[i];
      add(names + "]");
    }
    if (!extras.empty()) {
      os << " {";
      for (size_t i = 0; i < extras.size(); ++i)
        os << (i ? ", " : "") << extras[i];
      os << '}';
    }
    os << '\n';
    Nest nest(level);
    printArgs(call.getArgs());
    return;
  }
  case Expr::Expr_List: {
    os << "List";
    printLoc(expr.getLoc());
    os << '\n';
    Nest nest(level);
    for (const auto &element : llvm::cast<ListExpr>(expr).getElements())
      print(*element);
    return;
  }
  }
}

void ast::printModule(const Module &module, llvm::raw_ostream &os) {
  ASTPrinter(os, module.getSourceMgr()).print(module);
}
