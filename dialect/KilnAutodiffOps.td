//===- KilnAutodiffOps.td - Internal kiln ops of autodiff --*- tablegen -*-===//
//
// The kiln ops that only the differentiation rules build (slice,
// broadcast_to, sum_to, element_count, onehot and the convolution and
// pooling gradients). Included at the end of KilnOps.td, whose enums, type
// constraints and includes they use, so that both files stay a readable
// size; the ops are generated together with the others.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILNAUTODIFFOPS_TD
#define KILN_DIALECT_KILNAUTODIFFOPS_TD

//===----------------------------------------------------------------------===//
// Internal ops of automatic differentiation
//
// The language never shows these: kiln-autodiff's rules (KilnGradients.cpp)
// build them, and kiln-lower-to-linalg lowers each to (mostly) one linalg op.
// They have no derivative rule of their own (no second derivatives yet).
//===----------------------------------------------------------------------===//

// No result-type inference: the slice's size is what the result type says
// along `axis`.
def Kiln_SliceOp : Kiln_Op<"slice",
    [Pure, SameOperandsAndResultElementType]> {
  let summary = "a contiguous range of a tensor along one axis";
  let description = [{
    The elements of `input` at positions `offset` to `offset + size - 1`
    along `axis`, where `size` is the result's extent there; every other
    dimension is kept whole (`?` sizes from `input` at run time). Used by
    the rule of `concat`, whose operands' cotangents are the two slices of
    the result's.

    ```mlir
    %s = kiln.slice %g axis = 1 offset = 3 : tensor<?x7xf32> -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, I64Attr:$axis, I64Attr:$offset);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `axis` `=` $axis `offset` `=` $offset attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_BroadcastToOp : Kiln_Op<"broadcast_to",
    [Pure, SameOperandsAndResultElementType, InferTypeOpAdaptor]> {
  let summary = "broadcasts a tensor to the shape of another (NumPy rules)";
  let description = [{
    Repeats `input` to the shape of `like` (whose contents are not read):
    shapes are aligned on the right, and every input dimension must equal
    the target's or be 1. The `?` sizes of the result are those of `like` at
    run time, which is why the target is a tensor and not a shape attribute.
    Used by the rules of the reductions and the losses.

    ```mlir
    %b = kiln.broadcast_to %g like %x : tensor<f32>, tensor<?x10xf32> -> tensor<?x10xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, AnyRankedTensor:$like);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `like` $like attr-dict `:` type($input) `,` type($like) `->` type($result)
  }];
  let hasVerifier = 1;
}

// No result-type inference: the target shape is what the result type says.
def Kiln_SumToOp : Kiln_Op<"sum_to",
    [Pure, SameOperandsAndResultElementType]> {
  let summary = "sums a broadcast tensor back to a smaller shape (unbroadcast)";
  let description = [{
    The adjoint of NumPy broadcasting: sums `input` over the leading
    dimensions the result does not have and over every dimension where the
    result has size 1 and the input a larger size, so that the result has
    the result type's shape. The result shape must broadcast to the input
    shape. Used by every rule whose operand was broadcast.

    ```mlir
    %s = kiln.sum_to %g : tensor<?x10xf32> -> tensor<10xf32>
    %t = kiln.sum_to %g : tensor<?x10xf32> -> tensor<?x1xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

// No result-type inference: the float type of the count does not follow
// from `input` (which may be i32 labels).
def Kiln_ElementCountOp : Kiln_Op<"element_count", [Pure]> {
  let summary = "number of elements in some dimensions, as a float scalar";
  let description = [{
    The product of the sizes of `input`'s dimensions `dims` (read at run
    time where they are `?`), as a rank-0 float tensor; the contents of
    `input` are not read. The rules of the means and losses divide by it, so
    that a mean over a dynamic batch divides by the batch size at run time.

    ```mlir
    %n = kiln.element_count %x dims = [0] : tensor<?x10xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$dims);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `dims` `=` $dims attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

// No result-type inference: `like` gives the shape but may have any element
// type, while the result is float; without `like` the class count is known
// only from the result type.
def Kiln_OneHotOp : Kiln_Op<"onehot", [Pure]> {
  let summary = "one-hot encoding of integer indices along a new axis";
  let description = [{
    Inserts a dimension at `axis` of the result (whose size there is the
    number of classes) holding 1.0 at the position `indices` names and 0.0
    elsewhere. An index out of range gives an all-zero row (tf.one_hot).
    With `like`, the result has the shape of `like` (whose contents are not
    read), which also gives the `?` sizes at run time, the class dimension
    included (a reduction over the batch); the rules of the cross-entropy
    (`softmax(z) - onehot(t)`), of the reductions along an axis (the
    gradient goes to the first maximum) and of `take` use that form.
    Without `like` (the language's `one_hot`), the class dimension must be
    static and the other `?` sizes come from `indices`.

    ```mlir
    %h = kiln.onehot %labels axis = 1 like %z : tensor<?xi32>, tensor<?x10xf32> -> tensor<?x10xf32>
    %o = kiln.onehot %labels axis = 1 : tensor<?xi32> -> tensor<?x10xf32>
    ```
  }];
  let arguments = (ins Kiln_IntTensor:$indices, I64Attr:$axis,
                       Optional<AnyRankedTensor>:$like);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $indices `axis` `=` $axis (`like` $like^)? attr-dict `:` type($indices)
    (`,` type($like)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

// No result-type inference for the two convolution gradients nor for
// avgpool_grad: a stride that does not divide the input drops rows and
// columns, so the input (or filter) extents do not follow from the operands.
def Kiln_Conv2DGradInputOp : Kiln_Op<"conv2d_grad_input",
    [Pure, SameOperandsAndResultElementType]> {
  let summary = "gradient of kiln.conv2d with respect to its input";
  let description = [{
    Given the cotangent `output_grad` of a `kiln.conv2d` result and its
    `filter`, `strides` and `padding`, computes the cotangent of the conv's
    input, whose type is the result type: the stride-1 convolution of the
    output gradient, dilated by the strides and padded by the filter size
    minus one, with the spatially flipped filter whose channel dimensions
    are swapped; padding rows and columns are then cut away. Input rows the
    forward windows never reached (stride rounding) get zero.

    ```mlir
    %dx = kiln.conv2d_grad_input %dy, %k strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x5x5x4xf32>, tensor<3x3x2x4xf32> -> tensor<?x9x9x2xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$output_grad, Kiln_FloatTensor:$filter,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$padding);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $output_grad `,` $filter `strides` `=` $strides `padding` `=` $padding
    attr-dict `:` type($output_grad) `,` type($filter) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_Conv2DGradFilterOp : Kiln_Op<"conv2d_grad_filter",
    [Pure, SameOperandsAndResultElementType]> {
  let summary = "gradient of kiln.conv2d with respect to its filter";
  let description = [{
    Given the conv's (unpadded) `input` and the cotangent `output_grad` of
    its result, computes the cotangent of the HWCF filter (the result
    type): the correlation of the zero-padded input with the output
    gradient, `dK[i, j, c, f] = sum over n, y, x of
    in[n, y * sh + i, x * sw + j, c] * dY[n, y, x, f]`.

    ```mlir
    %dk = kiln.conv2d_grad_filter %x, %dy strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x9x9x2xf32>, tensor<?x5x5x4xf32> -> tensor<3x3x2x4xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$output_grad,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$padding);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $output_grad `strides` `=` $strides `padding` `=` $padding
    attr-dict `:` type($input) `,` type($output_grad) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_MaxPoolGradOp : Kiln_Op<"maxpool_grad",
    [Pure, SameOperandsAndResultElementType, InferTypeOpAdaptor]> {
  let summary = "gradient of kiln.maxpool with respect to its input";
  let description = [{
    Given the pooling's `input` and the cotangent `output_grad` of its
    result, sends each window's cotangent to the window's first maximal
    element in row-major order (PyTorch's choice on ties) and sums where
    windows overlap; with `padding`, the windows are those of the padded
    input, whose padding is never chosen. The result has the input's type.

    ```mlir
    %dx = kiln.maxpool_grad %x, %dy window = [2, 2] strides = [1, 1] : tensor<?x5x5x4xf32>, tensor<?x4x4x4xf32> -> tensor<?x5x5x4xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$output_grad,
                       DenseI64ArrayAttr:$window, DenseI64ArrayAttr:$strides,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $output_grad `window` `=` $window `strides` `=` $strides
    (`padding` `=` $padding^)? attr-dict `:` type($input) `,`
    type($output_grad) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::llvm::SmallVector<int64_t, 4> getPads() { return poolPads(getPadding()); }
  }];
}

def Kiln_AvgPoolGradOp : Kiln_Op<"avgpool_grad",
    [Pure, SameOperandsAndResultElementType]> {
  let summary = "gradient of kiln.avgpool with respect to its input";
  let description = [{
    Spreads each window's cotangent evenly over the window's input elements
    (divided by kh * kw, or with `padding` by the number of input elements
    in the window, as the forward divides) and sums where windows overlap;
    input elements no window covered get zero. The result type is the
    pooling's input type.

    ```mlir
    %dx = kiln.avgpool_grad %dy window = [2, 2] strides = [2, 2] : tensor<?x1x1x3xf32> -> tensor<?x3x3x3xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$output_grad,
                       DenseI64ArrayAttr:$window, DenseI64ArrayAttr:$strides,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $output_grad `window` `=` $window `strides` `=` $strides
    (`padding` `=` $padding^)? attr-dict `:` type($output_grad) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::llvm::SmallVector<int64_t, 4> getPads() { return poolPads(getPadding()); }
  }];
}

#endif // KILN_DIALECT_KILNAUTODIFFOPS_TD
