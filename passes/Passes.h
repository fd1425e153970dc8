//===- Passes.h - Kiln pass entry points ------------------------*- C++ -*-===//
//
// Declares Kiln's passes (generated from Passes.td) and the function that
// registers them all with MLIR's pass registry, for kiln-opt and kilnc.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PASSES_H
#define KILN_PASSES_PASSES_H

#include "mlir/Pass/Pass.h"

namespace kiln {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace kiln

#endif // KILN_PASSES_PASSES_H
