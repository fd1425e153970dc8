//===- SemaExpr.cpp - Sema: names and operators ---------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Type inference of expressions other than calls: numbers, names (resolved
// in the model's namespace), unary minus and the binary operators, with
// NumPy broadcasting and the matmul shape taken from ShapeRules.h (the rules
// the dialect verifiers apply too) and the language's own rule on top: the
// batch dimension N stays first.
//
//===----------------------------------------------------------------------===//

#include "frontend/SemaInternal.h"
#include "frontend/ShapeRules.h"

#include <cmath>

using namespace kiln;
using namespace kiln::sema;

LogicalResult ModelChecker::checkExpr(Expr &expr) {
  if (failed(checkExprImpl(expr)))
    return failure();
  if (expr.type && expr.type->getStaticElementCount() < 0) {
    diags.error(expr.getLoc(), "the result type " + expr.type->str() + " has more than 2^40 elements");
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
  case Expr::Expr_List:
    // The lists that reshape and transpose take are read by their checks,
    // never as values.
    diags.error(expr.getLoc(),
                "a list '[...]' is only allowed as the shape of reshape or the permutation of transpose");
    return failure();
  }
  return failure();
}

LogicalResult ModelChecker::resolveName(llvm::StringRef name, Location loc, const Symbol *&result) {
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
    diags.error(loc, "'" + name + "' is a function; call it, as in " + name + "(x) or x |> " + name);
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

LogicalResult ModelChecker::requireF32(const Expr &operand, Location at, const llvm::Twine &what) {
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

LogicalResult ModelChecker::broadcast(const TensorType &lhs, const TensorType &rhs, Location at, llvm::StringRef opName,
                                      std::vector<int64_t> &result) {
  auto fail = [&](llvm::StringRef why) {
    diags.error(at, "cannot broadcast " + lhs.str() + " and " + rhs.str() + " in '" + opName + "'" + why);
    return failure();
  };
  std::optional<std::vector<int64_t>> dims = shape::broadcastShapes(lhs.dims, rhs.dims, shape::DynamicDims::Symbolic);
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
  if (isComparison(op))
    return checkComparison(binary);

  std::string what = ("'" + getBinaryOpSpelling(op) + "'").str();
  if (failed(requireF32(lhs, binary.getOpLoc(), what)) || failed(requireF32(rhs, binary.getOpLoc(), what)))
    return failure();
  if (op == BinaryOp::MatMul)
    return checkMatmul(binary);

  std::vector<int64_t> dims;
  if (failed(broadcast(lhs.getType(), rhs.getType(), binary.getOpLoc(), getBinaryOpSpelling(op), dims)))
    return failure();
  binary.type = TensorType(DType::F32, std::move(dims));
  return success();
}

/// == != < <= > >=: both sides of one element type (a literal adopts the
/// other side's), broadcast; the result is f32 1.0/0.0.
LogicalResult ModelChecker::checkComparison(BinaryExpr &binary) {
  Expr &lhs = binary.getLHS();
  Expr &rhs = binary.getRHS();
  llvm::StringRef spelling = getBinaryOpSpelling(binary.getOp());
  const TensorType &lt = lhs.getType();
  const TensorType &rt = rhs.getType();
  // A numeric literal adopts the other side's element type.
  auto adopt = [&](Expr &literal, DType dtype) -> LogicalResult {
    std::optional<double> value = getConstantValue(literal);
    if (!value || dtype == DType::F32)
      return success();
    if (*value != std::floor(*value) || std::fabs(*value) > 2147483647.0) {
      diags.error(literal.getLoc(), "comparing with i32 needs an integer, got " + formatNumber(*value));
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
    diags.error(binary.getOpLoc(), "cannot compare " + lt.str() + " and " + rt.str() + " with '" + spelling +
                                       "': both sides need the same element type");
    return failure();
  }
  std::vector<int64_t> dims;
  if (failed(broadcast(lt, rt, binary.getOpLoc(), spelling, dims)))
    return failure();
  binary.type = TensorType(DType::F32, std::move(dims));
  return success();
}

/// '@' on f32 operands: numpy.matmul on ranks 1 and 2 (ShapeRules.h), N
/// never second.
LogicalResult ModelChecker::checkMatmul(BinaryExpr &binary) {
  const TensorType &lt = binary.getLHS().getType();
  const TensorType &rt = binary.getRHS().getType();
  if (!shape::isMatmulRank(lt.getRank()) || !shape::isMatmulRank(rt.getRank())) {
    diags.error(binary.getOpLoc(), "matmul '@' needs operands of rank 1 or "
                                   "2: " +
                                       lt.str() + " @ " + rt.str());
    return failure();
  }
  if (!shape::matmulContractionMatches(lt.dims, rt.dims, shape::DynamicDims::Symbolic)) {
    diags.error(binary.getOpLoc(), "matmul '@' inner dimensions differ: " + lt.str() + " @ " + rt.str());
    return failure();
  }
  std::vector<int64_t> dims = shape::matmulShape(lt.dims, rt.dims);
  for (size_t i = 1; i < dims.size(); ++i) {
    if (dims[i] == kDynamic) {
      diags.error(binary.getOpLoc(),
                  "matmul '@' would put the batch dimension N second: " + lt.str() + " @ " + rt.str());
      return failure();
    }
  }
  binary.type = TensorType(DType::F32, std::move(dims));
  return success();
}

LogicalResult ModelChecker::normalizeAxis(int64_t axis, const TensorType &type, Location at, int64_t &result) {
  int64_t rank = type.getRank();
  if (axis < -rank || axis >= rank) {
    diags.error(at, "axis " + llvm::Twine(axis) + " is out of range for " + type.str() + " (rank " + llvm::Twine(rank) +
                        ")");
    return failure();
  }
  result = axis < 0 ? axis + rank : axis;
  return success();
}
