//===- KilnDialect.td - The kiln dialect definition --------*- tablegen -*-===//
//
// Declares the `kiln` dialect itself and the base class every kiln op derives
// from. The dialect is the tensor-level IR that MLIRGen emits from a checked
// Kiln model: one op per language builtin, on builtin ranked tensors whose
// only dynamic dimension is the leading batch dimension. The dialect also owns
// the discardable attributes of the calling convention (docs/internals.md):
// `kiln.param`, `kiln.input`, `kiln.output` on function arguments and results
// and `kiln.model`, `kiln.optimizer` on the model's module; their verifiers
// live in KilnDialect.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILNDIALECT_TD
#define KILN_DIALECT_KILNDIALECT_TD

include "mlir/IR/OpBase.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let cppNamespace = "::kiln";
  let summary = "Tensor-level ops of the Kiln ML language";
  let description = [{
    The `kiln` dialect is what the Kiln front end emits: every builtin of the
    language (elementwise math with NumPy broadcasting, matmul, convolution,
    pooling, reductions, softmax, losses, dropout) is one op on builtin
    ranked tensors. The batch dimension is the only dynamic one and is always
    leading (`tensor<?x10xf32>`). Model parameters are declared once per
    model module with `kiln.param` and passed to functions as arguments
    tagged `{kiln.param = @name}`; see docs/internals.md for the calling
    convention.

    Ops that can be differentiated implement `DifferentiableOpInterface`;
    ops that cannot (comparisons, argmax, argmin, constants, and
    stop_gradient, which passes no gradient by definition) carry the
    `NonDifferentiable` trait.
  }];

  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;

  let extraClassDeclaration = [{
    /// Function argument attribute naming the `kiln.param` an argument binds.
    static ::llvm::StringRef getParamAttrName() { return "kiln.param"; }
    /// Function argument attribute naming the model input an argument binds.
    static ::llvm::StringRef getInputAttrName() { return "kiln.input"; }
    /// Function result attribute naming the model output a result is.
    static ::llvm::StringRef getOutputAttrName() { return "kiln.output"; }
    /// On a result of `<Model>_grad`: the parameter (a flat symbol
    /// reference to its kiln.param) whose gradient the result is.
    static ::llvm::StringRef getGradAttrName() { return "kiln.grad"; }
    /// On a result of `<Model>_loss_training` and `<Model>_grad_training`:
    /// the non-trainable parameter whose new value the result is (the
    /// moving statistics of batch_norm; kiln-training-mode).
    static ::llvm::StringRef getAssignAttrName() { return "kiln.assign"; }
    /// Argument attributes of `<Model>_train_step` (kiln-optimizer): an
    /// optimizer state slot `{param = @w, slot = "m", init = 0.0}`, and a
    /// run-time hyper-parameter ("lr", "step", or "seed" for a model with
    /// dropout).
    static ::llvm::StringRef getStateAttrName() { return "kiln.state"; }
    static ::llvm::StringRef getHyperAttrName() { return "kiln.hyper"; }
    /// Argument attribute on an integer label input that feeds
    /// cross_entropy: the number of classes (labels lie in [0, classes)).
    static ::llvm::StringRef getClassesAttrName() { return "kiln.classes"; }
    /// Result attribute: this result is the new value of argument #i
    /// (kiln-update-in-place writes it into the argument).
    static ::llvm::StringRef getUpdateAttrName() { return "kiln.update"; }
    /// Function attribute (unit, kiln-flatten-models) on the functions that
    /// train: they return gradients or new parameter values (`_grad`,
    /// `train_step`, `apply`, the `_training` variants). Passes that treat
    /// training and inference differently read it.
    static ::llvm::StringRef getTrainingAttrName() { return "kiln.training"; }
    /// Module attribute (unit) marking a module as one Kiln model.
    static ::llvm::StringRef getModelAttrName() { return "kiln.model"; }
    /// Function attribute of `<Model>_gather_<input>`
    /// (kiln-add-batch-gather): the input whose rows it gathers.
    static ::llvm::StringRef getGatherAttrName() { return "kiln.gather"; }
    /// Module attribute (dictionary with a string `name`) holding the
    /// model's optimizer and its hyper-parameters.
    static ::llvm::StringRef getOptimizerAttrName() { return "kiln.optimizer"; }
    /// Discardable attribute on a linalg op (kiln-choose-tile-sizes, read by
    /// kiln-tile-and-vectorize): the CPU tile size of each of its loops, an
    /// `array<i64>` (parallel loops: the register block; reductions: the
    /// step inside it; 0: not tiled).
    static ::llvm::StringRef getTileSizesAttrName() { return "kiln.tile_sizes"; }
  }];
}

/// Base class of every kiln op.
class Kiln_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kiln_Dialect, mnemonic, traits>;

#endif // KILN_DIALECT_KILNDIALECT_TD
