//===- KilnDialect.h - The kiln dialect -------------------------*- C++ -*-===//
//
// Declares `kiln::KilnDialect`, the tensor-level dialect that MLIRGen emits
// and that the Kiln passes transform. Include "dialect/KilnOps.h" for the ops
// themselves; this header suffices to register the dialect.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILNDIALECT_H
#define KILN_DIALECT_KILNDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialect/KilnDialect.h.inc"

#endif // KILN_DIALECT_KILNDIALECT_H
