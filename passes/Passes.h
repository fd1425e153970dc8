//===- Passes.h - Kiln pass entry points ------------------------*- C++ -*-===//
//
// Declares Kiln's passes (generated from Passes.td) and the function that
// registers them all with MLIR's pass registry, for kiln-opt and kilnc.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PASSES_H
#define KILN_PASSES_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include <string>

namespace kiln {

/// The symbol a model function `<Model>_<fn>` gets once kiln-flatten-models
/// has run: the public name stays free for the C header's plain-C wrapper,
/// and MLIR's C interface becomes `_mlir_ciface_kiln_impl_<Model>_<fn>`.
inline std::string implementationSymbol(const std::string &publicSymbol) { return "kiln_impl_" + publicSymbol; }

/// The named model modules (`kiln.model`) under `root`, collected before a
/// pass adds or erases functions in them.
llvm::SmallVector<mlir::ModuleOp> collectModels(mlir::Operation *root);

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace kiln

#endif // KILN_PASSES_PASSES_H
