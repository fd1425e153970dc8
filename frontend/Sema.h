//===- Sema.h - Semantic checks for Kiln models -----------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Sema resolves names, builtins and layers, infers every tensor type, creates
// layer parameters, fills in optimizer defaults and checks the model-level
// rules (one loss, scalar metrics, outputs batched, every parameter reaching
// the loss...). It annotates the AST in place; see the "Set by Sema" members
// in AST.h and docs/internals.md for what MLIRGen may rely on afterwards.
// It stops at the first error, which always carries a precise location.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_SEMA_H
#define KILN_FRONTEND_SEMA_H

#include "frontend/AST.h"
#include "frontend/Diagnostics.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/LogicalResult.h"

#include <optional>

namespace kiln {

/// Checks and annotates every model of `module`. Reports the first error
/// through `diags` and returns failure; on success every annotation listed in
/// docs/internals.md is set.
llvm::LogicalResult checkModule(ast::Module &module, Diagnostics &diags);

/// Returns the inputs and parameters that `expr` reaches, each in declaration
/// order, following lets, metrics and outputs transitively and counting the
/// parameters of layers. `expr` must have been checked by Sema.
ast::Dependencies collectDependencies(const ast::Expr &expr, const ast::Model &model);

/// Returns the value of a numeric constant: a `NumberExpr`, or a unary minus
/// applied to one (`-1`). Returns nullopt for anything else.
std::optional<double> getConstantValue(const ast::Expr &expr);

/// Returns true if `name` is a builtin function or layer name (`relu`,
/// `dense`, ...), which lets, inputs and params may not use.
bool isBuiltinFunctionName(llvm::StringRef name);

} // namespace kiln

#endif // KILN_FRONTEND_SEMA_H
