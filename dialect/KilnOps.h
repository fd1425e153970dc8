//===- KilnOps.h - The kiln ops ---------------------------------*- C++ -*-===//
//
// Declares the kiln ops (generated from KilnOps.td), their enums
// (`kiln::InitKind`, `kiln::ComparePredicate`) and enum attributes, and the
// dialect. This is the header MLIRGen and the passes include to build and
// match kiln ops.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILNOPS_H
#define KILN_DIALECT_KILNOPS_H

#include "dialect/KilnDialect.h"
#include "dialect/KilnInterfaces.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <optional>

#include "llvm/ADT/SmallVector.h"

namespace kiln {
/// The [top, bottom, left, right] padding of a pooling op or its gradient:
/// the optional `padding` attribute, zeros without it.
inline llvm::SmallVector<int64_t, 4> poolPads(std::optional<llvm::ArrayRef<int64_t>> padding) {
  if (padding && padding->size() == 4)
    return llvm::SmallVector<int64_t, 4>(padding->begin(), padding->end());
  return {0, 0, 0, 0};
}
} // namespace kiln

#include "dialect/KilnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/KilnAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialect/KilnOps.h.inc"

#endif // KILN_DIALECT_KILNOPS_H
