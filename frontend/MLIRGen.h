//===- MLIRGen.h - Emission of the kiln dialect from a checked AST -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// MLIRGen turns a module that Sema has checked and annotated into the kiln
// dialect, following the calling convention of docs/internals.md: one nested
// `builtin.module @<Model>` per model holding `kiln.param` declarations and
// the functions `@<Model>_predict` and (with a loss) `@<Model>_loss`. Every
// op carries the `FileLineColLoc` of the source text it came from, so that a
// later failure points at the `.kiln` line.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_MLIRGEN_H
#define KILN_FRONTEND_MLIRGEN_H

#include "frontend/AST.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace kiln {

/// Emits the kiln dialect for `module`, which must have passed
/// `checkModule`. The context must have the kiln and func dialects loaded.
/// Returns null (after reporting an MLIR diagnostic) only on an internal
/// inconsistency: a checked tree always yields a module.
mlir::OwningOpRef<mlir::ModuleOp> emitKilnDialect(mlir::MLIRContext &context, const ast::Module &module,
                                                  const llvm::SourceMgr &sourceMgr);

} // namespace kiln

#endif // KILN_FRONTEND_MLIRGEN_H
