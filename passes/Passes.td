//===- Passes.td - Kiln pass declarations -----------------*- tablegen -*-===//
//
// Every Kiln pass is declared here, prefixed `kiln-`, with its options and
// dependent dialects; each is implemented with GEN_PASS_DEF_<NAME> and
// `impl::<Name>Base`, registered in Passes.cpp, and has a lit test named
// after its flag under test/passes/.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_TD
#define KILN_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnLowerToLinalg : Pass<"kiln-lower-to-linalg", "::mlir::ModuleOp"> {
  let summary = "Lower kiln tensor ops to linalg, tensor, arith and math";
  let description = [{
    Rewrites every kiln op inside functions (in every nested model module)
    into ops on tensors of upstream dialects: named linalg ops where they
    exist (`linalg.matmul`/`matvec`/`vecmat`/`dot`,
    `linalg.conv_2d_nhwc_hwcf`, `linalg.pooling_nhwc_max`/`sum`, `linalg.fill`)
    and `linalg.generic` for elementwise ops with NumPy broadcasting,
    reductions, argmax, softmax and the losses. The batch dimension stays
    dynamic: result tensors take their `?` sizes from `tensor.dim` of the
    operand that carries them. `kiln.param` declarations (model metadata)
    are left in place. Inference semantics: `kiln.dropout` becomes the
    identity.

    Before:
    ```mlir
    %0 = kiln.relu %x : tensor<?x64xf32>
    ```
    After:
    ```mlir
    %c0 = arith.constant 0 : index
    %d = tensor.dim %x, %c0 : tensor<?x64xf32>
    %e = tensor.empty(%d) : tensor<?x64xf32>
    %0 = linalg.generic {...} ins(%x : tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) {
      ^bb0(%in: f32, %out: f32):
        %z = arith.constant 0.0 : f32
        %m = arith.maximumf %in, %z : f32
        linalg.yield %m : f32
    } -> tensor<?x64xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def KilnFlattenModels : Pass<"kiln-flatten-models", "::mlir::ModuleOp"> {
  let summary = "Move each model's functions to the top-level module for code generation";
  let description = [{
    MLIRGen puts each model in a nested `builtin.module @<Model>` holding its
    `kiln.param` declarations and functions. Code generation wants one flat
    module: this pass moves the functions (already prefixed with the model
    name) to the top level, marks them `llvm.emit_c_interface` so that C
    callers get `_mlir_ciface_<name>` entry points taking memref
    descriptors, and erases the nested modules with their parameter
    declarations. Drivers read the model metadata (parameter names, shapes,
    initializers; optimizer) before running it.
  }];
}

#endif // KILN_PASSES_TD
