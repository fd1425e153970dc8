//===- KilnOps.td - The kiln ops ---------------------------*- tablegen -*-===//
//
// Defines every kiln op (those only autodiff builds are in
// KilnAutodiffOps.td, included at the end): the enums they use, one shared ODS base class per op
// family (elementwise binary, unary, pooling, reductions, losses), and the
// ops themselves. Each op has a summary, a description with an example, a
// declarative assembly format and, where there is something to check, a C++
// verifier in KilnOps.cpp. Shapes follow NumPy/Keras: the batch dimension is
// the only dynamic one and is always leading; images are NHWC and
// convolution filters HWCF ([kh, kw, cin, cout]), as in Keras.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILNOPS_TD
#define KILN_DIALECT_KILNOPS_TD

include "dialect/KilnDialect.td"
include "dialect/KilnInterfaces.td"
include "mlir/IR/Interfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

/// The differentiable ops: each states its vector-Jacobian product in
/// dialect/KilnGradients.cpp (see KilnInterfaces.td).
defvar Kiln_HasVjp = DeclareOpInterfaceMethods<DifferentiableOpInterface,
                                               ["buildVectorJacobianProduct"]>;

//===----------------------------------------------------------------------===//
// Type constraints and enums
//===----------------------------------------------------------------------===//

def Kiln_FloatTensor : RankedTensorOf<[AnyFloat]>;
def Kiln_IntTensor : RankedTensorOf<[AnySignlessInteger]>;
def Kiln_NumericTensor : RankedTensorOf<[AnyFloat, AnySignlessInteger]>;
def Kiln_I32Tensor : RankedTensorOf<[I32]>;

def Kiln_InitKind : I32Enum<"InitKind", "parameter initializer", [
    I32EnumCase<"Zeros", 0, "zeros">,
    I32EnumCase<"Ones", 1, "ones">,
    I32EnumCase<"GlorotUniform", 2, "glorot_uniform">,
    I32EnumCase<"Constant", 3, "constant">
  ]> {
  let cppNamespace = "::kiln";
}
def Kiln_InitKindAttr : EnumAttr<Kiln_Dialect, Kiln_InitKind, "init_kind"> {
  let assemblyFormat = "$value";
}

def Kiln_ComparePredicate : I32Enum<"ComparePredicate",
    "elementwise comparison predicate", [
    I32EnumCase<"EQ", 0, "eq">,
    I32EnumCase<"NE", 1, "ne">,
    I32EnumCase<"LT", 2, "lt">,
    I32EnumCase<"LE", 3, "le">,
    I32EnumCase<"GT", 4, "gt">,
    I32EnumCase<"GE", 5, "ge">
  ]> {
  let cppNamespace = "::kiln";
}
def Kiln_ComparePredicateAttr
    : EnumAttr<Kiln_Dialect, Kiln_ComparePredicate, "compare_predicate"> {
  let assemblyFormat = "$value";
}

//===----------------------------------------------------------------------===//
// Constants and parameters
//===----------------------------------------------------------------------===//

def Kiln_ConstantOp : Kiln_Op<"constant",
    [ConstantLike, Pure, NonDifferentiable, AllTypesMatch<["value", "result"]>]> {
  let summary = "tensor constant";
  let description = [{
    Produces a tensor whose contents are given by `value`; the result type is
    the type of `value`. Constants have no derivative.

    ```mlir
    %c = kiln.constant dense<1.0> : tensor<f32>
    %v = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "attr-dict $value";
  let builders = [
    // `type` (a float tensor of static shape, often rank 0) filled with
    // `value`: the constants the passes and the differentiation rules build.
    OpBuilder<(ins "::mlir::RankedTensorType":$type, "double":$value), [{
      build($_builder, $_state,
            ::mlir::DenseElementsAttr::get(type, $_builder.getFloatAttr(type.getElementType(), value)));
    }]>
  ];
  let hasFolder = 1;
}

def Kiln_ParamOp : Kiln_Op<"param",
    [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "declares one parameter of a model";
  let description = [{
    Declares a parameter of the model whose module contains it: its
    symbol name, its (fully static, float) tensor type and its initializer.
    `init = constant(v)` fills the tensor with `v`; `zeros`, `ones` and
    `glorot_uniform` are Keras's initializers of the same names
    (`glorot_uniform` draws from U(-l, l) with l = sqrt(6 / (fan_in +
    fan_out))). Functions receive parameters as arguments tagged
    `{kiln.param = @name}`.

    A `non_trainable` parameter (Keras's non-trainable weights: the moving
    statistics of `kiln.batch_norm`) gets no gradient and no optimizer
    state; the training forward pass returns its new value (a result tagged
    `kiln.assign = @name`), which train_step stores.

    ```mlir
    kiln.param @w : tensor<10xf32> init = zeros
    kiln.param @b : tensor<f32> init = constant(0.000000e+00)
    kiln.param @"dense_0.kernel" : tensor<3136x64xf32> init = glorot_uniform
    kiln.param @"batch_norm_0.moving_mean" : tensor<32xf32> init = zeros non_trainable
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<AnyRankedTensor>:$type,
                       Kiln_InitKindAttr:$init,
                       OptionalAttr<F64Attr>:$value,
                       UnitAttr:$non_trainable);
  let assemblyFormat = [{
    $sym_name `:` $type `init` `=` `` $init (`(` $value^ `)`)? (`non_trainable` $non_trainable^)? attr-dict
  }];
  let builders = [
    OpBuilder<(ins "::llvm::StringRef":$name, "::mlir::RankedTensorType":$type,
                   "::kiln::InitKind":$init,
                   CArg<"std::optional<double>", "std::nullopt">:$value,
                   CArg<"bool", "false">:$nonTrainable)>
  ];
  let extraClassDeclaration = [{
    /// The declared tensor type of the parameter.
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise binary ops (NumPy broadcasting)
//===----------------------------------------------------------------------===//

/// Shared base of the broadcasting binary float ops: same element type on
/// both operands and the result, result shape = broadcast of the operand
/// shapes (verified by verifyBroadcastingBinaryOp in KilnOps.cpp, inferred
/// by inferBroadcastType; both apply frontend/ShapeRules.h). A declared `?`
/// where the inferred extent is static is accepted (isCompatibleReturnTypes).
class Kiln_BinaryElementwiseOp<string mnemonic, string what,
                               list<Trait> traits = []>
    : Kiln_Op<mnemonic, !listconcat([Pure, SameOperandsAndResultElementType,
                                     Kiln_HasVjp,
                                     InferTypeOpAdaptorWithIsCompatible],
                                    traits)> {
  let summary = "elementwise " # what # " with NumPy broadcasting";
  let description = [{
    Computes `}] # what # [{` elementwise. Operand shapes broadcast as in
    NumPy: shapes are aligned on the right, and each pair of dimensions must
    be equal or one of them 1; the result takes the larger. A dynamic batch
    dimension `?` broadcasts with a static 1 to `?`.

    ```mlir
    %r = kiln.}] # mnemonic # [{ %a, %b : tensor<?x10xf32>, tensor<f32> -> tensor<?x10xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$lhs, Kiln_FloatTensor:$rhs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return verifyBroadcastingBinaryOp(getOperation());
    }
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> location,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return inferBroadcastType(location, adaptor.getLhs().getType(),
                                adaptor.getRhs().getType(),
                                /*resultElement=*/nullptr, types);
    }
    bool $cppClass::isCompatibleReturnTypes(::mlir::TypeRange inferred,
                                            ::mlir::TypeRange declared) {
      return isCompatibleBroadcastType(inferred, declared);
    }
  }];
}

def Kiln_AddOp : Kiln_BinaryElementwiseOp<"add", "addition", [Commutative]>;
def Kiln_SubOp : Kiln_BinaryElementwiseOp<"sub", "subtraction">;
def Kiln_MulOp : Kiln_BinaryElementwiseOp<"mul", "multiplication", [Commutative]>;
def Kiln_DivOp : Kiln_BinaryElementwiseOp<"div", "division">;
def Kiln_PowOp : Kiln_BinaryElementwiseOp<"pow", "power (lhs ** rhs)">;
def Kiln_MaximumOp : Kiln_BinaryElementwiseOp<"maximum", "maximum", [Commutative]>;
def Kiln_MinimumOp : Kiln_BinaryElementwiseOp<"minimum", "minimum", [Commutative]>;

// Inferred result element type: the operands' float type, f32 for integer
// operands (labels), which is what MLIRGen and the gradient rules build.
def Kiln_CompareOp : Kiln_Op<"compare",
    [Pure, SameOperandsElementType, NonDifferentiable,
     InferTypeOpAdaptorWithIsCompatible]> {
  let summary = "elementwise comparison with NumPy broadcasting";
  let description = [{
    Compares `lhs` and `rhs` elementwise with `predicate` (eq, ne, lt, le,
    gt, ge), broadcasting as `kiln.add` does. Operands share one element
    type (float or integer); the result is a float tensor (f32 in practice)
    of 1.0 where the comparison holds and 0.0 elsewhere, so that it can be
    used directly in arithmetic (e.g. accuracy). It has no derivative.

    ```mlir
    %r = kiln.compare gt, %a, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
    ```
  }];
  let arguments = (ins Kiln_ComparePredicateAttr:$predicate,
                       Kiln_NumericTensor:$lhs, Kiln_NumericTensor:$rhs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    `` $predicate `,` $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise unary ops
//===----------------------------------------------------------------------===//

/// Shared base of the unary float ops: result type = operand type (which
/// SameOperandsAndResultType already infers, as for softmax and dropout).
class Kiln_UnaryElementwiseOp<string mnemonic, string what>
    : Kiln_Op<mnemonic, [Pure, SameOperandsAndResultType,
                         Kiln_HasVjp]> {
  let summary = "elementwise " # what;
  let description = [{
    Computes `}] # what # [{` of every element; the result has the operand's
    type.

    ```mlir
    %r = kiln.}] # mnemonic # [{ %x : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Kiln_NegOp : Kiln_UnaryElementwiseOp<"neg", "negation (-x)">;
def Kiln_ReluOp : Kiln_UnaryElementwiseOp<"relu", "rectified linear unit max(x, 0)">;
def Kiln_SigmoidOp : Kiln_UnaryElementwiseOp<"sigmoid", "logistic sigmoid 1 / (1 + exp(-x))">;
def Kiln_TanhOp : Kiln_UnaryElementwiseOp<"tanh", "hyperbolic tangent">;
def Kiln_ExpOp : Kiln_UnaryElementwiseOp<"exp", "exponential">;
def Kiln_LogOp : Kiln_UnaryElementwiseOp<"log", "natural logarithm">;
def Kiln_SqrtOp : Kiln_UnaryElementwiseOp<"sqrt", "square root">;
def Kiln_AbsOp : Kiln_UnaryElementwiseOp<"abs", "absolute value">;

// Not folded away: it must survive until kiln-autodiff has read it; the
// lowering replaces it by its operand.
def Kiln_StopGradientOp : Kiln_Op<"stop_gradient",
    [Pure, SameOperandsAndResultType, NonDifferentiable]> {
  let summary = "the operand's value, through which no gradient flows";
  let description = [{
    Returns `input` unchanged; autodiff treats the result as a constant, so
    no cotangent reaches `input` through it (`torch.Tensor.detach`,
    `tf.stop_gradient`).

    ```mlir
    %r = kiln.stop_gradient %x : tensor<?xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// Linear algebra and convolution
//===----------------------------------------------------------------------===//

def Kiln_MatmulOp : Kiln_Op<"matmul",
    [Pure, SameOperandsAndResultElementType, Kiln_HasVjp, InferTypeOpAdaptor]> {
  let summary = "matrix product with NumPy semantics on ranks 1 and 2";
  let description = [{
    `numpy.matmul` restricted to operands of rank 1 or 2:
    `[a, k] @ [k, b] -> [a, b]`, `[a, k] @ [k] -> [a]`,
    `[k] @ [k, b] -> [b]` and `[k] @ [k] -> []` (a rank-0 tensor). The
    contraction dimensions must be equal (or one of them dynamic).

    ```mlir
    %r = kiln.matmul %a, %b : tensor<?x10xf32>, tensor<10xf32> -> tensor<?xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$lhs, Kiln_FloatTensor:$rhs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_Conv2DOp : Kiln_Op<"conv2d",
    [Pure, SameOperandsAndResultElementType, Kiln_HasVjp, InferTypeOpAdaptor]> {
  let summary = "2-D convolution, NHWC input and HWCF filter";
  let description = [{
    Cross-correlates an NHWC `input` ([N, H, W, cin]) with an HWCF `filter`
    ([kh, kw, cin, cout], Keras's kernel layout), as Keras's `Conv2D`
    without bias (a bias is a separate `kiln.add`). `strides` is [sh, sw]
    (each > 0) and `padding` the explicit zero padding [top, bottom, left,
    right] (each >= 0). The result is [N, (H + top + bottom - kh) / sh + 1,
    (W + left + right - kw) / sw + 1, cout], rounding down; the filter
    window must fit in the padded input.

    ```mlir
    %r = kiln.conv2d %x, %k strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x26x26x32xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$filter,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$padding);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $filter `strides` `=` $strides `padding` `=` $padding attr-dict
    `:` type($input) `,` type($filter) `->` type($result)
  }];
  let hasVerifier = 1;
}

/// Shared base of the 2-D pooling ops (NHWC, optional padding); verified
/// by verifyPool2DOp in KilnOps.cpp.
class Kiln_Pool2DOp<string mnemonic, string what, string padded>
    : Kiln_Op<mnemonic, [Pure, SameOperandsAndResultElementType,
                         Kiln_HasVjp, InferTypeOpAdaptor]> {
  let summary = "2-D " # what # " pooling, NHWC";
  let description = [{
    Takes the }] # what # [{ over each `window` = [kh, kw] of an NHWC input
    ([N, H, W, C]), moving by `strides` = [sh, sw]. Without `padding` the
    windows stay inside the input (Keras's `padding="valid"`); with
    `padding` = [top, bottom, left, right] the input is padded first
    (Keras's `padding="same"` gives those amounts): }] # padded # [{ The
    result is [N, (H + top + bottom - kh) / sh + 1, (W + left + right - kw)
    / sw + 1, C], rounding down; the window must fit in the padded input.

    ```mlir
    %r = kiln.}] # mnemonic # [{ %x window = [2, 2] strides = [2, 2] : tensor<?x26x26x32xf32> -> tensor<?x13x13x32xf32>
    %s = kiln.}] # mnemonic # [{ %x window = [3, 3] strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x5x5x4xf32> -> tensor<?x3x3x4xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, DenseI64ArrayAttr:$window,
                       DenseI64ArrayAttr:$strides,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `window` `=` $window `strides` `=` $strides
    (`padding` `=` $padding^)? attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// [top, bottom, left, right]; zeros without `padding`.
    ::llvm::SmallVector<int64_t, 4> getPads() { return poolPads(getPadding()); }
  }];
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return verifyPool2DOp(getOperation(), getWindow(), getStrides(), getPads());
    }
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> location,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return inferPool2DType(location, adaptor.getInput().getType(),
                             adaptor.getWindow(), adaptor.getStrides(),
                             poolPads(adaptor.getPadding()), types);
    }
  }];
}

def Kiln_MaxPoolOp : Kiln_Pool2DOp<"maxpool", "maximum",
    "the padding never wins (-inf), so each window's maximum is over its input elements.">;
def Kiln_AvgPoolOp : Kiln_Pool2DOp<"avgpool", "average",
    "each window's sum is divided by the number of its input elements, not counting the padding (Keras's AveragePooling2D, PyTorch's count_include_pad=False).">;

//===----------------------------------------------------------------------===//
// Shape ops
//===----------------------------------------------------------------------===//

// No result-type inference: the target shape is what the result type says.
// Integer tensors too: `argmax(x, keepdims = true)` reshapes its i32 result
// (no gradient is asked of those).
def Kiln_ReshapeOp : Kiln_Op<"reshape",
    [Pure, SameOperandsAndResultElementType, Kiln_HasVjp]> {
  let summary = "reshape keeping the batch dimension";
  let description = [{
    Reinterprets the elements of `input` (row-major) with the result's
    shape. Both shapes hold the same number of elements; only a leading
    dimension may be dynamic, and a dynamic leading (batch) dimension in the
    input must stay a dynamic leading dimension in the result. The
    language's `reshape`, `flatten` and `keepdims` and the rules of autodiff
    build it.

    ```mlir
    %r = kiln.reshape %x : tensor<?x24x24x32xf32> -> tensor<?x18432xf32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$input);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Kiln_TransposeOp : Kiln_Op<"transpose",
    [Pure, SameOperandsAndResultElementType, Kiln_HasVjp, InferTypeOpAdaptor]> {
  let summary = "permutes the dimensions of a tensor";
  let description = [{
    Result dimension `i` is input dimension `permutation[i]`, as
    `numpy.transpose`. The language's `transpose` (which keeps the batch
    dimension first) and the matmul rule (`dA = dY @ B^T`) build it; its
    gradient is the transpose by the inverse permutation.

    ```mlir
    %t = kiln.transpose %a permutation = [1, 0] : tensor<?x10xf32> -> tensor<10x?xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `permutation` `=` $permutation attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_ConcatOp : Kiln_Op<"concat",
    [Pure, SameOperandsAndResultElementType, Kiln_HasVjp, InferTypeOpAdaptor]> {
  let summary = "joins two tensors along an axis";
  let description = [{
    `lhs` followed by `rhs` along `axis` (`numpy.concatenate`,
    `torch.cat`): the operands have the same rank and agree on every other
    dimension; the result's extent along `axis` is the sum of theirs, which
    must be static. The gradient is the two slices of the cotangent.

    ```mlir
    %c = kiln.concat %a, %b axis = 1 : tensor<?x3xf32>, tensor<?x4xf32> -> tensor<?x7xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$lhs, Kiln_FloatTensor:$rhs, I64Attr:$axis);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs `axis` `=` $axis attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

/// Shared base of the reductions: an optional `axis`; without it the whole
/// tensor reduces to rank 0. Verified by verifyReductionOp in KilnOps.cpp.
class Kiln_ReductionOp<string mnemonic, string what>
    : Kiln_Op<mnemonic, [Pure, SameOperandsAndResultElementType,
                         Kiln_HasVjp, InferTypeOpAdaptor]> {
  let summary = what # " over one axis or over all elements";
  let description = [{
    Reduces `input` with the }] # what # [{ along `axis`, removing that
    dimension; without `axis` every element is reduced and the result has
    rank 0. `axis` is in [0, rank) (the front end normalises negative axes).

    ```mlir
    %r = kiln.}] # mnemonic # [{ %x axis = 1 : tensor<?x10xf32> -> tensor<?xf32>
    %s = kiln.}] # mnemonic # [{ %y : tensor<?xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, OptionalAttr<I64Attr>:$axis);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`axis` `=` $axis^)? attr-dict `:` type($input) `->` type($result)
  }];
  let builders = [
    // `axis` = std::nullopt reduces every element.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "std::optional<int64_t>":$axis), [{
      build($_builder, $_state, result, input,
            axis ? $_builder.getI64IntegerAttr(*axis) : ::mlir::IntegerAttr());
    }]>,
    // The same with the result type inferred.
    OpBuilder<(ins "::mlir::Value":$input, "std::optional<int64_t>":$axis), [{
      build($_builder, $_state, input,
            axis ? $_builder.getI64IntegerAttr(*axis) : ::mlir::IntegerAttr());
    }]>
  ];
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return verifyReductionOp(getOperation(), getAxisAttr());
    }
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> location,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return inferReductionType(location, adaptor.getInput().getType(),
                                adaptor.getAxisAttr(), /*resultElement=*/nullptr,
                                types);
    }
  }];
}

def Kiln_ReduceSumOp : Kiln_ReductionOp<"reduce_sum", "sum">;
def Kiln_ReduceMeanOp : Kiln_ReductionOp<"reduce_mean", "mean">;
def Kiln_ReduceMaxOp : Kiln_ReductionOp<"reduce_max", "maximum">;
def Kiln_ReduceMinOp : Kiln_ReductionOp<"reduce_min", "minimum">;

/// Shared base of argmax and argmin; verified and inferred by
/// verifyArgExtremeOp and inferReductionType in KilnOps.cpp.
class Kiln_ArgExtremeOp<string mnemonic, string what>
    : Kiln_Op<mnemonic, [Pure, NonDifferentiable, InferTypeOpAdaptor]> {
  let summary = "index of the " # what # " element along an axis";
  let description = [{
    Returns, as i32, the index of the }] # what # [{ element of `input` along
    `axis` (the first one on ties, as NumPy), removing that dimension. It
    has no derivative.

    ```mlir
    %r = kiln.}] # mnemonic # [{ %x axis = 1 : tensor<?x10xf32> -> tensor<?xi32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$input, I64Attr:$axis);
  let results = (outs Kiln_I32Tensor:$result);
  let assemblyFormat = [{
    $input `axis` `=` $axis attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return verifyArgExtremeOp(getOperation(), getAxisAttr());
    }
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *context, std::optional<::mlir::Location> location,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return inferReductionType(location, adaptor.getInput().getType(),
                                adaptor.getAxisAttr(),
                                ::mlir::IntegerType::get(context, 32), types);
    }
  }];
}

def Kiln_ArgmaxOp : Kiln_ArgExtremeOp<"argmax", "largest">;
def Kiln_ArgminOp : Kiln_ArgExtremeOp<"argmin", "smallest">;

// Result type inferred: the input's shape without `axis` (the indices'
// shape), of the input's element type.
def Kiln_TakeOp : Kiln_Op<"take",
    [Pure, Kiln_HasVjp, InferTypeOpAdaptor]> {
  let summary = "one element along an axis, chosen by an integer index";
  let description = [{
    For every position of the other axes, the element of `input` at
    position `indices` along `axis`: `indices` has the shape of `input`
    without `axis`, and so has the result
    (`numpy.take_along_axis(input, indices[..., None], axis)` without that
    axis; `torch.gather`). An index out of range gives NaN; nothing is read
    out of bounds. The gradient goes to the chosen elements; the indices
    get none.

    ```mlir
    %r = kiln.take %q, %action axis = 1 : tensor<?x4xf32>, tensor<?xi32> -> tensor<?xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_IntTensor:$indices, I64Attr:$axis);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $indices `axis` `=` $axis attr-dict `:` type($input) `,`
    type($indices) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

/// Shared base of softmax and log-softmax: result type = operand type,
/// `axis` in [0, rank). Verified by verifyAxisOp in KilnOps.cpp.
class Kiln_SoftmaxLikeOp<string mnemonic, string what>
    : Kiln_Op<mnemonic, [Pure, SameOperandsAndResultType,
                         Kiln_HasVjp]> {
  let summary = what # " along an axis";
  let description = [{
    Computes the }] # what # [{ of `input` along `axis` (numerically stable:
    the maximum along the axis is subtracted first).

    ```mlir
    %r = kiln.}] # mnemonic # [{ %x axis = 1 : tensor<?x10xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, I64Attr:$axis);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input `axis` `=` $axis attr-dict `:` type($input)";
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return verifyAxisInRange(getOperation(), getAxisAttr());
    }
  }];
}

def Kiln_SoftmaxOp : Kiln_SoftmaxLikeOp<"softmax", "softmax">;
def Kiln_LogSoftmaxOp : Kiln_SoftmaxLikeOp<"log_softmax", "log-softmax">;

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

/// Shared base of the losses: two operands, a rank-0 result of the
/// predictions' float type holding the mean over the batch.
class Kiln_LossOp<string mnemonic, list<Trait> traits = []>
    : Kiln_Op<mnemonic, !listconcat([Pure, Kiln_HasVjp, InferTypeOpAdaptor],
                                    traits)> {
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location>,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      types.push_back(::mlir::RankedTensorType::get(
          {}, ::mlir::getElementTypeOrSelf(adaptor.getLhs().getType())));
      return ::mlir::success();
    }
  }];
}

def Kiln_CrossEntropyOp : Kiln_LossOp<"cross_entropy"> {
  let summary = "sparse categorical cross-entropy from logits";
  let description = [{
    Keras's `SparseCategoricalCrossentropy(from_logits=True)`: `lhs` holds
    logits [B, C] (float), `rhs` the class indices [B] (integer, in [0, C));
    the result is the mean over the batch of
    `logsumexp(logits[i]) - logits[i, labels[i]]`, a rank-0 tensor of the
    logits' element type. The labels get no cotangent.

    ```mlir
    %l = kiln.cross_entropy %logits, %labels : tensor<?x10xf32>, tensor<?xi32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$lhs, Kiln_IntTensor:$rhs);
}

def Kiln_BinaryCrossEntropyOp : Kiln_LossOp<"binary_cross_entropy",
    [SameOperandsAndResultElementType]> {
  let summary = "binary cross-entropy of probabilities";
  let description = [{
    Keras's `BinaryCrossentropy(from_logits=False)`: `lhs` holds predicted
    probabilities and `rhs` targets of the same shape; the result is the
    mean of `-(y * log(p) + (1 - y) * log(1 - p))` over all elements (for
    [B] or [B, 1] shapes: over the batch). As in Keras, `p` is first clamped
    to [1e-7, 1 - 1e-7] so that the logarithms stay finite.

    ```mlir
    %l = kiln.binary_cross_entropy %p, %y : tensor<?x1xf32>, tensor<?x1xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$lhs, Kiln_FloatTensor:$rhs);
}

def Kiln_MseOp : Kiln_LossOp<"mse", [SameOperandsAndResultElementType]> {
  let summary = "mean squared error";
  let description = [{
    Keras's `MeanSquaredError`: the mean of `(lhs - rhs)^2` over all
    elements (for [B] or [B, 1] shapes: over the batch); both operands have
    the same shape, the result is rank 0.

    ```mlir
    %l = kiln.mse %pred, %y : tensor<?xf32>, tensor<?xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$lhs, Kiln_FloatTensor:$rhs);
}

//===----------------------------------------------------------------------===//
// Regularisation
//===----------------------------------------------------------------------===//

def Kiln_DropoutOp : Kiln_Op<"dropout",
    [Pure, AllTypesMatch<["input", "result"]>, Kiln_HasVjp]> {
  let summary = "dropout: a random mask in training, the identity otherwise";
  let description = [{
    Keras's `Dropout(rate)` (inverted dropout). Without a `key` it is the
    identity: `_predict`, `_loss` and `_grad` compute the inference-mode
    model. kiln-optimizer gives the copy of the forward pass inside
    `_train_step` the key `(seed: tensor<i32>, step: tensor<f32>)`, the
    train step's `seed` and `step` arguments; then each element is zeroed
    with probability `rate` and the survivors are scaled by 1 / (1 - rate).

    The mask is counter-based: element i of dropout instance `instance`
    (dropout_0, dropout_1, ... in the model) is kept when the top 32 bits of
    a SplitMix64 hash of (seed, step, instance, i) are at least
    rate * 2^32. So it is reproducible for a seed, different at every step
    and for every layer, the same for any number of threads, and the
    gradient (the same op on the cotangent, with the same key) recomputes
    it instead of storing it.

    ```mlir
    %r = kiln.dropout %x rate = 5.000000e-01 : tensor<?x64xf32>
    %t = kiln.dropout %x key(%seed, %step : tensor<i32>, tensor<f32>) rate = 5.000000e-01 {instance = 1 : i64} : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Variadic<AnyRankedTensor>:$key, F64Attr:$rate,
                       DefaultValuedAttr<I64Attr, "0">:$instance);
  let results = (outs Kiln_FloatTensor:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "double":$rate, "int64_t":$instance), [{
      build($_builder, $_state, input.getType(), input, ::mlir::ValueRange{},
            $_builder.getF64FloatAttr(rate), $_builder.getI64IntegerAttr(instance));
    }]>
  ];
  let assemblyFormat = [{
    $input (`key` `(` $key^ `:` type($key) `)`)? `rate` `=` $rate attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
}

def Kiln_BatchNormOp : Kiln_Op<"batch_norm",
    [Pure, AllTypesMatch<["input", "result"]>, AllTypesMatch<["gamma", "beta", "mean", "variance"]>,
     Kiln_HasVjp]> {
  let summary = "batch normalisation with given statistics (inference form)";
  let description = [{
    Keras's `BatchNormalization` (axis -1) as `predict`, `loss` and `grad`
    compute it: each feature of the last axis is normalised with the given
    moving statistics,
    `(input - mean) / sqrt(variance + epsilon) * gamma + beta`, where
    `gamma`, `beta`, `mean` and `variance` have the shape [C] of that axis.
    No cotangent flows into `mean` and `variance` (non-trainable
    parameters).

    In training the batch's own statistics are used instead, and the moving
    ones move towards them by `momentum`: kiln-training-mode rewrites the op
    into that computation in `_loss_training` (docs/internals.md).

    ```mlir
    %y = kiln.batch_norm %x, %gamma, %beta, %mean, %variance epsilon = 1.000000e-03 momentum = 9.900000e-01 : tensor<?x8x8x16xf32>, tensor<16xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$gamma, Kiln_FloatTensor:$beta,
                       Kiln_FloatTensor:$mean, Kiln_FloatTensor:$variance, F64Attr:$epsilon, F64Attr:$momentum);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta `,` $mean `,` $variance `epsilon` `=` $epsilon `momentum` `=` $momentum attr-dict
    `:` type($input) `,` type($gamma)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$gamma, "::mlir::Value":$beta, "::mlir::Value":$mean,
                   "::mlir::Value":$variance, "double":$epsilon, "double":$momentum), [{
      build($_builder, $_state, input.getType(), input, gamma, beta, mean, variance,
            $_builder.getF64FloatAttr(epsilon), $_builder.getF64FloatAttr(momentum));
    }]>
  ];
  let extraClassDeclaration = [{
    /// `(x - mean) / sqrt(variance + epsilon) * gamma + beta` in kiln ops
    /// (the statistics broadcast along the last axis of x): the inference
    /// form's lowering and the training form's normalisation.
    static ::mlir::Value buildNormalize(::mlir::OpBuilder &builder, ::mlir::Location loc, ::mlir::Value x,
                                        ::mlir::Value gamma, ::mlir::Value beta, ::mlir::Value mean,
                                        ::mlir::Value variance, double epsilon);
  }];
  let hasVerifier = 1;
}

// The internal ops of automatic differentiation.
include "dialect/KilnAutodiffOps.td"

#endif // KILN_DIALECT_KILNOPS_TD
