//===- KilnInterfaces.h - Differentiation interface -------------*- C++ -*-===//
//
// The C++ side of KilnInterfaces.td: the generated
// `kiln::DifferentiableOpInterface` and the `kiln::OpTrait::NonDifferentiable`
// trait. Autodiff includes this header to ask ops for their vector-Jacobian
// products and to recognise ops through which no gradient flows.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILNINTERFACES_H
#define KILN_DIALECT_KILNINTERFACES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

namespace kiln {
namespace OpTrait {

/// Marks an op through which no gradient flows (comparisons, argmax, argmin,
/// stop_gradient, constants): autodiff treats its results as constants. Carries no methods.
template <typename ConcreteType>
class NonDifferentiable : public mlir::OpTrait::TraitBase<ConcreteType, NonDifferentiable> {};

} // namespace OpTrait
} // namespace kiln

#include "dialect/KilnInterfaces.h.inc"

#endif // KILN_DIALECT_KILNINTERFACES_H
