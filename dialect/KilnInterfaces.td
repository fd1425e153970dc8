//===- KilnInterfaces.td - Differentiation interface -------*- tablegen -*-===//
//
// Declares how kiln ops take part in reverse-mode automatic differentiation:
// the `DifferentiableOpInterface` op interface, through which the autodiff
// pass asks each op for its vector-Jacobian product, and the
// `NonDifferentiable` trait for ops that have no derivative (comparisons,
// argmax, argmin, constants) or pass none by definition (stop_gradient).
//
// Why an interface and not a switch in the autodiff pass: each op's rule then
// lives next to the op, the pass stays op-agnostic, and a new op opts in by
// listing the interface. Every differentiable float op lists the interface
// now with the default methods, so the set of differentiable ops is fixed in
// the dialect; the autodiff issue only *adds rules* (by switching an op to
// `DeclareOpInterfaceMethods<DifferentiableOpInterface,
// ["buildVectorJacobianProduct"]>`), never new names. Until an op has its
// rule, differentiating it fails with a clear error at the op.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILNINTERFACES_TD
#define KILN_DIALECT_KILNINTERFACES_TD

include "mlir/IR/OpBase.td"

def DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::kiln";
  let description = [{
    An op that reverse-mode autodiff can propagate cotangents through.

    Given one cotangent per result (a null `Value` means the result does not
    contribute to the loss), `buildVectorJacobianProduct` builds, with kiln
    ops at the builder's insertion point, one cotangent per operand and
    appends them to `operandCotangents` in operand order; a null `Value`
    means "no contribution" (for example an integer label operand).
    Cotangents have the type of the value they belong to: a rule whose
    operand was broadcast sums the cotangent back to the operand's shape.
  }];

  let methods = [
    InterfaceMethod<
      /*desc=*/[{
        Builds the cotangents of this op's operands from the cotangents of
        its results (vector-Jacobian product) and appends one Value per
        operand to `operandCotangents` (null = no contribution). Returns
        failure, with an error emitted at the op, if the op has no rule.
      }],
      /*retTy=*/"::llvm::LogicalResult",
      /*methodName=*/"buildVectorJacobianProduct",
      /*args=*/(ins "::mlir::OpBuilder &":$builder,
                    "::llvm::ArrayRef<::mlir::Value>":$resultCotangents,
                    "::llvm::SmallVectorImpl<::mlir::Value> &":$operandCotangents),
      /*methodBody=*/[{}],
      /*defaultImplementation=*/[{
        return $_op->emitError()
               << "'" << $_op->getName() << "' has no differentiation rule yet";
      }]>,
    InterfaceMethod<
      /*desc=*/[{
        Returns true if a cotangent flows into operand `index`. By default
        that is every operand whose element type is a float.
      }],
      /*retTy=*/"bool",
      /*methodName=*/"isOperandDifferentiable",
      /*args=*/(ins "unsigned":$index),
      /*methodBody=*/[{}],
      /*defaultImplementation=*/[{
        return ::llvm::isa<::mlir::FloatType>(
            ::mlir::getElementTypeOrSelf($_op->getOperand(index).getType()));
      }]>
  ];
}

/// Marks an op through which no gradient flows (its result is piecewise
/// constant in its operands, or it has no operands). Autodiff treats its
/// results as constants.
def NonDifferentiable : NativeOpTrait<"NonDifferentiable"> {
  let cppNamespace = "::kiln::OpTrait";
}

#endif // KILN_DIALECT_KILNINTERFACES_TD
