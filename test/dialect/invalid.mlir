// Verifier test of the kiln dialect: one case per verifier message of the
// ops and of the calling-convention attributes.
// RUN: kiln-opt %s -split-input-file -verify-diagnostics

// kiln.constant: the result type must be the type of the value.
func.func @constant_type() {
  // expected-error @+1 {{all of {value, result} have same type}}
  %0 = "kiln.constant"() <{value = dense<1.0> : tensor<f32>}> : () -> tensor<2xf32>
  return
}

// -----

// kiln.param: the type must be static.
module {
  // expected-error @+1 {{parameter type 'tensor<?x10xf32>' must have a static shape}}
  kiln.param @w : tensor<?x10xf32> init = zeros
}

// -----

// kiln.param: the element type must be a float.
module {
  // expected-error @+1 {{parameter type 'tensor<10xi32>' must have a float element type}}
  kiln.param @w : tensor<10xi32> init = zeros
}

// -----

// kiln.param: init = constant needs a value.
module {
  // expected-error @+1 {{init = constant requires a value}}
  kiln.param @b : tensor<f32> init = constant
}

// -----

// kiln.param: only init = constant takes a value.
module {
  // expected-error @+1 {{a value is only allowed with init = constant, not init = zeros}}
  kiln.param @b : tensor<f32> init = zeros(1.0)
}

// -----

// kiln.param: declared at module level only.
func.func @param_in_func() {
  // expected-error @+1 {{expects parent op 'builtin.module'}}
  kiln.param @b : tensor<f32> init = zeros
  return
}

// -----

// Elementwise binary: operand shapes must broadcast.
func.func @not_broadcastable(%a: tensor<3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{operands of types 'tensor<3xf32>' and 'tensor<4xf32>' are not broadcast-compatible}}
  %0 = kiln.add %a, %b : tensor<3xf32>, tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

// Elementwise binary: the result must have the broadcast shape.
func.func @wrong_broadcast_result(%a: tensor<?x10xf32>, %b: tensor<f32>) {
  // expected-error @+1 {{result type 'tensor<?x5xf32>' is not the broadcast of operand types 'tensor<?x10xf32>' and 'tensor<f32>' (expected 'tensor<?x10xf32>')}}
  %0 = kiln.mul %a, %b : tensor<?x10xf32>, tensor<f32> -> tensor<?x5xf32>
  return
}

// -----

// Elementwise binary: `?` against a static 1 stays `?`.
func.func @dynamic_against_one(%a: tensor<?xf32>, %b: tensor<1xf32>) {
  // expected-error @+1 {{(expected 'tensor<?xf32>')}}
  %0 = kiln.sub %a, %b : tensor<?xf32>, tensor<1xf32> -> tensor<1xf32>
  return
}

// -----

// Elementwise binary: one element type for operands and result.
func.func @mixed_element_types(%a: tensor<4xf32>, %b: tensor<4xf64>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = kiln.add %a, %b : tensor<4xf32>, tensor<4xf64> -> tensor<4xf32>
  return
}

// -----

// Elementwise binary: float tensors only.
func.func @integer_add(%a: tensor<4xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of floating-point values}}
  %0 = kiln.add %a, %a : tensor<4xi32>, tensor<4xi32> -> tensor<4xi32>
  return
}

// -----

// kiln.compare: both operands have one element type.
func.func @compare_mixed(%a: tensor<4xf32>, %b: tensor<4xi32>) {
  // expected-error @+1 {{requires the same element type for all operands}}
  %0 = kiln.compare eq, %a, %b : tensor<4xf32>, tensor<4xi32> -> tensor<4xf32>
  return
}

// -----

// kiln.compare: the result is a float tensor.
func.func @compare_int_result(%a: tensor<4xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of floating-point values}}
  %0 = kiln.compare eq, %a, %a : tensor<4xf32>, tensor<4xf32> -> tensor<4xi32>
  return
}

// -----

// kiln.compare: the result has the broadcast shape.
func.func @compare_shape(%a: tensor<4xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{not broadcast-compatible}}
  %0 = kiln.compare lt, %a, %b : tensor<4xf32>, tensor<3xf32> -> tensor<4xf32>
  return
}

// -----

// kiln.matmul: ranks 1 and 2 only.
func.func @matmul_rank(%a: tensor<2x3x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{lhs must have rank 1 or 2, got 'tensor<2x3x4xf32>'}}
  %0 = kiln.matmul %a, %b : tensor<2x3x4xf32>, tensor<4xf32> -> tensor<2x3xf32>
  return
}

// -----

// kiln.matmul: the contraction dimensions agree.
func.func @matmul_contraction(%a: tensor<?x10xf32>, %b: tensor<11x3xf32>) {
  // expected-error @+1 {{contraction dimensions of 'tensor<?x10xf32>' and 'tensor<11x3xf32>' differ (10 vs 11)}}
  %0 = kiln.matmul %a, %b : tensor<?x10xf32>, tensor<11x3xf32> -> tensor<?x3xf32>
  return
}

// -----

// kiln.matmul: [k] @ [k] is a rank-0 tensor.
func.func @matmul_result(%a: tensor<10xf32>) {
  // expected-error @+1 {{result type 'tensor<1xf32>' does not match the expected type 'tensor<f32>'}}
  %0 = kiln.matmul %a, %a : tensor<10xf32>, tensor<10xf32> -> tensor<1xf32>
  return
}

// -----

// kiln.conv2d: the input is NHWC.
func.func @conv_input_rank(%x: tensor<?x28x28xf32>, %k: tensor<3x3x1x32xf32>) {
  // expected-error @+1 {{input must be a rank-4 NHWC tensor, got 'tensor<?x28x28xf32>'}}
  %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x28x28xf32>, tensor<3x3x1x32xf32> -> tensor<?x26x26x32xf32>
  return
}

// -----

// kiln.conv2d: the filter is a static HWCF tensor.
func.func @conv_filter(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x?xf32>) {
  // expected-error @+1 {{filter must be a static rank-4 HWCF tensor ([kh, kw, cin, cout]), got 'tensor<3x3x1x?xf32>'}}
  %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x?xf32> -> tensor<?x26x26x?xf32>
  return
}

// -----

// kiln.conv2d: two strides.
func.func @conv_strides_count(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) {
  // expected-error @+1 {{'strides' must have 2 values, got 1}}
  %0 = kiln.conv2d %x, %k strides = [1] padding = [0, 0, 0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x26x26x32xf32>
  return
}

// -----

// kiln.conv2d: positive strides.
func.func @conv_strides_zero(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) {
  // expected-error @+1 {{'strides' values must be positive, got [0, 1]}}
  %0 = kiln.conv2d %x, %k strides = [0, 1] padding = [0, 0, 0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x26x26x32xf32>
  return
}

// -----

// kiln.conv2d: four padding amounts.
func.func @conv_padding_count(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) {
  // expected-error @+1 {{'padding' must have 4 values [top, bottom, left, right], got 2}}
  %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x26x26x32xf32>
  return
}

// -----

// kiln.conv2d: non-negative padding.
func.func @conv_padding_negative(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) {
  // expected-error @+1 {{'padding' values must be non-negative}}
  %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [0, -1, 0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x26x26x32xf32>
  return
}

// -----

// kiln.conv2d: input channels match the filter's cin.
func.func @conv_channels(%x: tensor<?x28x28x3xf32>, %k: tensor<3x3x1x32xf32>) {
  // expected-error @+1 {{input channels of 'tensor<?x28x28x3xf32>' do not match the filter's cin in 'tensor<3x3x1x32xf32>'}}
  %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x28x28x3xf32>, tensor<3x3x1x32xf32> -> tensor<?x26x26x32xf32>
  return
}

// -----

// kiln.conv2d: the window fits in the padded input.
func.func @conv_window(%x: tensor<?x2x2x1xf32>, %k: tensor<3x3x1x32xf32>) {
  // expected-error @+1 {{filter window 3x3 does not fit in the padded input of type 'tensor<?x2x2x1xf32>'}}
  %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x2x2x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x1x1x32xf32>
  return
}

// -----

// kiln.conv2d: the output shape follows the size formula.
func.func @conv_result(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) {
  // expected-error @+1 {{result type 'tensor<?x28x28x32xf32>' does not match the expected type 'tensor<?x26x26x32xf32>'}}
  %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x28x28x32xf32>
  return
}

// -----

// kiln.maxpool: the input is NHWC.
func.func @pool_rank(%x: tensor<?x26x26xf32>) {
  // expected-error @+1 {{input must be a rank-4 NHWC tensor, got 'tensor<?x26x26xf32>'}}
  %0 = kiln.maxpool %x window = [2, 2] strides = [2, 2] : tensor<?x26x26xf32> -> tensor<?x13x13xf32>
  return
}

// -----

// kiln.avgpool: positive window sizes.
func.func @pool_window_zero(%x: tensor<?x26x26x32xf32>) {
  // expected-error @+1 {{'window' values must be positive, got [0, 2]}}
  %0 = kiln.avgpool %x window = [0, 2] strides = [2, 2] : tensor<?x26x26x32xf32> -> tensor<?x13x13x32xf32>
  return
}

// -----

// kiln.maxpool: the window fits in the input.
func.func @pool_window_fit(%x: tensor<?x1x1x32xf32>) {
  // expected-error @+1 {{window [2, 2] does not fit in the input of type 'tensor<?x1x1x32xf32>'}}
  %0 = kiln.maxpool %x window = [2, 2] strides = [2, 2] : tensor<?x1x1x32xf32> -> tensor<?x1x1x32xf32>
  return
}

// -----

// kiln.avgpool: each padding amount is below the window, so that every
// window holds an input element.
func.func @pool_padding_range(%x: tensor<?x4x4x1xf32>) {
  // expected-error @+1 {{'padding' values must be in [0, window), got [0, 2, 0, 0]}}
  %0 = kiln.avgpool %x window = [2, 2] strides = [2, 2] padding = [0, 2, 0, 0] : tensor<?x4x4x1xf32> -> tensor<?x3x2x1xf32>
  return
}

// -----

// kiln.maxpool_grad: the padding has four amounts.
func.func @pool_grad_padding_count(%x: tensor<?x4x4x1xf32>, %g: tensor<?x2x2x1xf32>) {
  // expected-error @+1 {{'padding' must have 4 values (top, bottom, left, right), got 2}}
  %0 = kiln.maxpool_grad %x, %g window = [2, 2] strides = [2, 2] padding = [1, 1] : tensor<?x4x4x1xf32>, tensor<?x2x2x1xf32> -> tensor<?x4x4x1xf32>
  return
}

// -----

// kiln.maxpool: the output shape rounds down.
func.func @pool_result(%x: tensor<?x27x27x32xf32>) {
  // expected-error @+1 {{result type 'tensor<?x14x14x32xf32>' does not match the expected type 'tensor<?x13x13x32xf32>'}}
  %0 = kiln.maxpool %x window = [2, 2] strides = [2, 2] : tensor<?x27x27x32xf32> -> tensor<?x14x14x32xf32>
  return
}

// -----

// kiln.reshape: only the leading dimension may be dynamic.
func.func @reshape_inner_dynamic(%x: tensor<4x?xf32>) {
  // expected-error @+1 {{input type 'tensor<4x?xf32>' may only have a dynamic leading dimension}}
  %0 = kiln.reshape %x : tensor<4x?xf32> -> tensor<?xf32>
  return
}

// -----

// kiln.reshape: a dynamic batch dimension stays leading and dynamic.
func.func @reshape_batch(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{a dynamic leading (batch) dimension must be kept: 'tensor<?x4xf32>' cannot be reshaped to 'tensor<4x4xf32>'}}
  %0 = kiln.reshape %x : tensor<?x4xf32> -> tensor<4x4xf32>
  return
}

// -----

// kiln.reshape: the element counts agree.
func.func @reshape_count(%x: tensor<?x24x24x32xf32>) {
  // expected-error @+1 {{element counts of 'tensor<?x24x24x32xf32>' and 'tensor<?x18000xf32>' differ}}
  %0 = kiln.reshape %x : tensor<?x24x24x32xf32> -> tensor<?x18000xf32>
  return
}

// -----

// kiln.reduce_sum: the axis is in range.
func.func @reduce_axis(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2 (expected [0, 2))}}
  %0 = kiln.reduce_sum %x axis = 2 : tensor<?x10xf32> -> tensor<?xf32>
  return
}

// -----

// kiln.reduce_mean: the result drops the axis.
func.func @reduce_result(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{result type 'tensor<10xf32>' does not match the expected type 'tensor<?xf32>'}}
  %0 = kiln.reduce_mean %x axis = 1 : tensor<?x10xf32> -> tensor<10xf32>
  return
}

// -----

// kiln.reduce_max: without an axis the result has rank 0.
func.func @reduce_all(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{result type 'tensor<?xf32>' does not match the expected type 'tensor<f32>'}}
  %0 = kiln.reduce_max %x : tensor<?x10xf32> -> tensor<?xf32>
  return
}

// -----

// kiln.concat: the operands agree on every other dimension.
func.func @concat_other_dims(%a: tensor<?x3x2xf32>, %b: tensor<?x4x3xf32>) {
  // expected-error @+1 {{operands differ in dimension 2, which is not the axis}}
  %0 = "kiln.concat"(%a, %b) <{axis = 1 : i64}> : (tensor<?x3x2xf32>, tensor<?x4x3xf32>) -> tensor<?x7x2xf32>
  return
}

// -----

// kiln.concat: the result's extent along the axis is the sum of the operands'.
func.func @concat_result(%a: tensor<?x3xf32>, %b: tensor<?x4xf32>) {
  // expected-error @+1 {{result type 'tensor<?x6xf32>' does not match the expected type 'tensor<?x7xf32>'}}
  %0 = "kiln.concat"(%a, %b) <{axis = 1 : i64}> : (tensor<?x3xf32>, tensor<?x4xf32>) -> tensor<?x6xf32>
  return
}

// -----

// kiln.concat: not along a dynamic (batch) dimension.
func.func @concat_dynamic_axis(%a: tensor<?x3xf32>) {
  // expected-error @+1 {{the extents along 'axis' must be static}}
  %0 = "kiln.concat"(%a, %a) <{axis = 0 : i64}> : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  return
}

// -----

// kiln.slice: the range lies inside the input.
func.func @slice_range(%g: tensor<?x7xf32>) {
  // expected-error @+1 {{positions 5 to 8 are outside the input's 7 along axis 1}}
  %0 = kiln.slice %g axis = 1 offset = 5 : tensor<?x7xf32> -> tensor<?x4xf32>
  return
}

// -----

// kiln.slice: every other dimension is kept.
func.func @slice_other_dims(%g: tensor<?x7x2xf32>) {
  // expected-error @+1 {{result type 'tensor<?x4x1xf32>' does not match the expected type 'tensor<?x4x2xf32>'}}
  %0 = kiln.slice %g axis = 1 offset = 0 : tensor<?x7x2xf32> -> tensor<?x4x1xf32>
  return
}

// -----

// kiln.argmin: the axis is in range.
func.func @argmin_axis(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2 (expected [0, 2))}}
  %0 = kiln.argmin %x axis = 2 : tensor<?x10xf32> -> tensor<?xi32>
  return
}

// -----

// kiln.argmin: the result drops the axis.
func.func @argmin_result(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{result type 'tensor<10xi32>' does not match the expected type 'tensor<?xi32>'}}
  %0 = "kiln.argmin"(%x) <{axis = 1 : i64}> : (tensor<?x10xf32>) -> tensor<10xi32>
  return
}

// -----

// kiln.take: the axis is in range.
func.func @take_axis(%x: tensor<?x10xf32>, %t: tensor<?xi32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2 (expected [0, 2))}}
  %0 = "kiln.take"(%x, %t) <{axis = 2 : i64}> : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<?xf32>
  return
}

// -----

// kiln.take: the indices have the input's shape without the axis.
func.func @take_indices(%x: tensor<?x10xf32>, %t: tensor<5xi32>) {
  // expected-error @+1 {{indices 'tensor<5xi32>' must have the shape of 'tensor<?x10xf32>' without dimension 0}}
  %0 = "kiln.take"(%x, %t) <{axis = 0 : i64}> : (tensor<?x10xf32>, tensor<5xi32>) -> tensor<10xf32>
  return
}

// -----

// kiln.take: the result has the input's shape without the axis.
func.func @take_result(%x: tensor<?x10xf32>, %t: tensor<?xi32>) {
  // expected-error @+1 {{result type 'tensor<10xf32>' does not match the expected type 'tensor<?xf32>'}}
  %0 = "kiln.take"(%x, %t) <{axis = 1 : i64}> : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<10xf32>
  return
}

// -----

// kiln.argmax: the axis is in range.
func.func @argmax_axis(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{axis -1 is out of range for rank 2 (expected [0, 2))}}
  %0 = kiln.argmax %x axis = -1 : tensor<?x10xf32> -> tensor<?xi32>
  return
}

// -----

// kiln.argmax: the result drops the axis.
func.func @argmax_result(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{result type 'tensor<?x10xi32>' does not match the expected type 'tensor<?xi32>'}}
  %0 = kiln.argmax %x axis = 1 : tensor<?x10xf32> -> tensor<?x10xi32>
  return
}

// -----

// kiln.argmax: the result is i32.
func.func @argmax_type(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 32-bit signless integer values}}
  %0 = kiln.argmax %x axis = 1 : tensor<?x10xf32> -> tensor<?xf32>
  return
}

// -----

// kiln.softmax: the axis is in range.
func.func @softmax_axis(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{axis 3 is out of range for rank 2 (expected [0, 2))}}
  %0 = kiln.softmax %x axis = 3 : tensor<?x10xf32>
  return
}

// -----

// kiln.cross_entropy: logits are [batch, classes].
func.func @ce_logits(%l: tensor<?xf32>, %y: tensor<?xi32>) {
  // expected-error @+1 {{logits must have rank 2 ([batch, classes]), got 'tensor<?xf32>'}}
  %0 = kiln.cross_entropy %l, %y : tensor<?xf32>, tensor<?xi32> -> tensor<f32>
  return
}

// -----

// kiln.cross_entropy: labels are [batch].
func.func @ce_labels(%l: tensor<?x10xf32>, %y: tensor<?x1xi32>) {
  // expected-error @+1 {{labels must have rank 1 ([batch]), got 'tensor<?x1xi32>'}}
  %0 = kiln.cross_entropy %l, %y : tensor<?x10xf32>, tensor<?x1xi32> -> tensor<f32>
  return
}

// -----

// kiln.cross_entropy: the batch sizes agree.
func.func @ce_batch(%l: tensor<4x10xf32>, %y: tensor<5xi32>) {
  // expected-error @+1 {{batch sizes of logits 'tensor<4x10xf32>' and labels 'tensor<5xi32>' differ}}
  %0 = kiln.cross_entropy %l, %y : tensor<4x10xf32>, tensor<5xi32> -> tensor<f32>
  return
}

// -----

// kiln.cross_entropy: the loss is a rank-0 tensor of the logits' type.
func.func @ce_result(%l: tensor<?x10xf32>, %y: tensor<?xi32>) {
  // expected-error @+1 {{result type 'tensor<?xf32>' must be a rank-0 tensor of 'f32'}}
  %0 = kiln.cross_entropy %l, %y : tensor<?x10xf32>, tensor<?xi32> -> tensor<?xf32>
  return
}

// -----

// kiln.mse: both operands have the same shape.
func.func @mse_shapes(%a: tensor<?x1xf32>, %b: tensor<?xf32>) {
  // expected-error @+1 {{operands of types 'tensor<?x1xf32>' and 'tensor<?xf32>' must have the same shape}}
  %0 = kiln.mse %a, %b : tensor<?x1xf32>, tensor<?xf32> -> tensor<f32>
  return
}

// -----

// kiln.binary_cross_entropy: the loss has rank 0.
func.func @bce_result(%a: tensor<?xf32>, %b: tensor<?xf32>) {
  // expected-error @+1 {{result type 'tensor<1xf32>' must be a rank-0 tensor of 'f32'}}
  %0 = kiln.binary_cross_entropy %a, %b : tensor<?xf32>, tensor<?xf32> -> tensor<1xf32>
  return
}

// -----

// kiln.batch_norm: the statistics have the shape of the input's last axis.
func.func @batch_norm_shape(%x: tensor<?x4xf32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{expects gamma, beta, mean and variance of type 'tensor<4xf32>', got 'tensor<3xf32>'}}
  %0 = kiln.batch_norm %x, %s, %s, %s, %s epsilon = 1.0e-3 momentum = 0.99 : tensor<?x4xf32>, tensor<3xf32>
  return
}

// -----

// kiln.batch_norm: epsilon is positive.
func.func @batch_norm_epsilon(%x: tensor<?x4xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{epsilon must be greater than 0, got 0}}
  %0 = kiln.batch_norm %x, %s, %s, %s, %s epsilon = 0.0 momentum = 0.99 : tensor<?x4xf32>, tensor<4xf32>
  return
}

// -----

// kiln.assign names a non-trainable parameter (a trainable one has a
// gradient and the optimizer).
module @Assign attributes {kiln.model} {
  kiln.param @w : tensor<4xf32> init = zeros
  // expected-error @+1 {{'kiln.assign' on result #0 refers to @w, which is trainable}}
  func.func @Assign_grad_training(%w: tensor<4xf32> {kiln.param = @w}) -> (tensor<4xf32> {kiln.assign = @w}) {
    return %w : tensor<4xf32>
  }
}

// -----

// kiln.dropout: the rate is in [0, 1).
func.func @dropout_rate(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{rate must be in [0, 1), got 1.000000e+00}}
  %0 = kiln.dropout %x rate = 1.0 : tensor<?x10xf32>
  return
}

// -----

// kiln.dropout: a key is (seed: tensor<i32>, step: tensor<f32>).
func.func @dropout_key(%x: tensor<?x10xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{key must be (seed: tensor<i32>, step: tensor<f32>)}}
  %0 = kiln.dropout %x key(%s, %s : tensor<f32>, tensor<f32>) rate = 0.5 : tensor<?x10xf32>
  return
}

// -----

// kiln.param argument attribute: a flat symbol reference.
module {
  // expected-error @+1 {{'kiln.param' on argument #0 must be a flat symbol reference to a kiln.param}}
  func.func @f(%w: tensor<10xf32> {kiln.param = "w"}) {
    return
  }
}

// -----

// kiln.param argument attribute: the symbol is a kiln.param.
module {
  func.func @g() {
    return
  }
  // expected-error @+1 {{argument #0 refers to @g, which is not a kiln.param}}
  func.func @f(%w: tensor<10xf32> {kiln.param = @g}) {
    return
  }
}

// -----

// kiln.param argument attribute: the argument has the parameter's type.
module {
  kiln.param @w : tensor<10xf32> init = zeros
  // expected-error @+1 {{argument #0 has type 'tensor<5xf32>' but parameter @w is declared 'tensor<10xf32>'}}
  func.func @f(%w: tensor<5xf32> {kiln.param = @w}) {
    return
  }
}

// -----

// kiln.input argument attribute: a string.
// expected-error @+1 {{'kiln.input' on argument #0 must be a string naming the model input}}
func.func @f(%x: tensor<?x10xf32> {kiln.input = 1 : i32}) {
  return
}

// -----

// Unknown kiln argument attribute.
// expected-error @+1 {{unknown kiln argument attribute 'kiln.label' on argument #0}}
func.func @f(%x: tensor<?x10xf32> {kiln.label = "x"}) {
  return
}

// -----

// kiln.output result attribute: a string.
// expected-error @+1 {{'kiln.output' on result #0 must be a string naming the model output}}
func.func @f(%x: tensor<f32>) -> (tensor<f32> {kiln.output = @p}) {
  return %x : tensor<f32>
}

// -----

// Unknown kiln result attribute.
// expected-error @+1 {{unknown kiln result attribute 'kiln.input' on result #0}}
func.func @f(%x: tensor<f32>) -> (tensor<f32> {kiln.input = "p"}) {
  return %x : tensor<f32>
}

// -----

// kiln.model: only on a module.
// expected-error @+1 {{'kiln.model' may only be attached to a builtin.module}}
func.func @f() attributes {kiln.model} {
  return
}

// -----

// kiln.model: a unit attribute.
// expected-error @+1 {{'kiln.model' must be a unit attribute}}
module attributes {kiln.model = 1 : i32} {
}

// -----

// kiln.optimizer: a dictionary.
// expected-error @+1 {{'kiln.optimizer' must be a dictionary}}
module attributes {kiln.optimizer = "adam"} {
}

// -----

// kiln.optimizer: with a string `name`.
// expected-error @+1 {{'kiln.optimizer' must have a string entry 'name'}}
module attributes {kiln.optimizer = {lr = 1.0e-3 : f64}} {
}

// -----

// Unknown kiln operation attribute.
// expected-error @+1 {{unknown kiln attribute 'kiln.foo'}}
module attributes {kiln.foo} {
}

// -----

// kiln.gather: a string naming the input, on a function.
// expected-error @+1 {{'kiln.gather' must be a string (the input it gathers) on a function}}
func.func @M_gather_x(%data: tensor<?x4xf32>, %rows: tensor<?xi32>) -> tensor<?x4xf32> attributes {kiln.gather = 1 : i64} {
  return %data : tensor<?x4xf32>
}

// -----

// expected-error @+1 {{'kiln.gather' must be a string (the input it gathers) on a function}}
module attributes {kiln.gather = "x"} {
}

// -----

// kiln.tile_sizes (kiln-choose-tile-sizes): one i64 per loop.
func.func @tile_sizes(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.tile_sizes' must be an array<i64> of tile sizes, one per loop}}
  %0 = arith.addf %a, %b {kiln.tile_sizes = [4]} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// kiln.transpose: the permutation has one entry per dimension.
func.func @gradient_op_0(%a: tensor<?x10xf32>) {
  // expected-error @+1 {{permutation has 1 entries for an input of rank 2}}
  %0 = kiln.transpose %a permutation = [0] : tensor<?x10xf32> -> tensor<?x10xf32>
  return
}

// -----

// kiln.transpose: the permutation is a permutation.
func.func @gradient_op_1(%a: tensor<?x10xf32>) {
  // expected-error @+1 {{'permutation' must be a permutation of [0, 2)}}
  %0 = kiln.transpose %a permutation = [0, 0] : tensor<?x10xf32> -> tensor<?x10xf32>
  return
}

// -----

// kiln.transpose: the result is the permuted shape.
func.func @gradient_op_2(%a: tensor<?x10xf32>) {
  // expected-error @+1 {{result type 'tensor<?x10xf32>' does not match the expected type 'tensor<10x?xf32>'}}
  %0 = kiln.transpose %a permutation = [1, 0] : tensor<?x10xf32> -> tensor<?x10xf32>
  return
}

// -----

// kiln.broadcast_to: the result has the shape of `like`.
func.func @gradient_op_3(%s: tensor<f32>, %a: tensor<?x10xf32>) {
  // expected-error @+1 {{result type 'tensor<4x10xf32>' must have the shape of 'tensor<?x10xf32>'}}
  %0 = kiln.broadcast_to %s like %a : tensor<f32>, tensor<?x10xf32> -> tensor<4x10xf32>
  return
}

// -----

// kiln.broadcast_to: the input broadcasts to the result.
func.func @gradient_op_4(%s: tensor<3xf32>, %a: tensor<?x10xf32>) {
  // expected-error @+1 {{input type 'tensor<3xf32>' does not broadcast to 'tensor<?x10xf32>'}}
  %0 = kiln.broadcast_to %s like %a : tensor<3xf32>, tensor<?x10xf32> -> tensor<?x10xf32>
  return
}

// -----

// kiln.sum_to: the result broadcasts to the input.
func.func @gradient_op_5(%a: tensor<?x10xf32>) {
  // expected-error @+1 {{result type 'tensor<3xf32>' does not broadcast to the input type 'tensor<?x10xf32>'}}
  %0 = kiln.sum_to %a : tensor<?x10xf32> -> tensor<3xf32>
  return
}

// -----

// kiln.element_count: dimensions in range.
func.func @gradient_op_6(%a: tensor<?x10xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2 (expected [0, 2))}}
  %0 = kiln.element_count %a dims = [2] : tensor<?x10xf32> -> tensor<f32>
  return
}

// -----

// kiln.element_count: each dimension once.
func.func @gradient_op_7(%a: tensor<?x10xf32>) {
  // expected-error @+1 {{dimension 0 is listed twice}}
  %0 = kiln.element_count %a dims = [0, 0] : tensor<?x10xf32> -> tensor<f32>
  return
}

// -----

// kiln.element_count: a rank-0 result.
func.func @gradient_op_8(%a: tensor<?x10xf32>) {
  // expected-error @+1 {{result type 'tensor<1xf32>' does not match the expected type 'tensor<f32>'}}
  %0 = kiln.element_count %a dims = [0] : tensor<?x10xf32> -> tensor<1xf32>
  return
}

// -----

// kiln.onehot: without `like`, the class dimension is static.
func.func @onehot_no_like(%t: tensor<?xi32>) {
  // expected-error @+1 {{result type 'tensor<?x?xf32>' needs a static dimension 1 (the classes) when there is no 'like'}}
  %0 = kiln.onehot %t axis = 1 : tensor<?xi32> -> tensor<?x?xf32>
  return
}

// -----

// kiln.onehot: one dimension more than the indices.
func.func @gradient_op_9(%t: tensor<?xi32>, %l: tensor<?xf32>) {
  // expected-error @+1 {{result type 'tensor<?xf32>' must have one dimension more than 'tensor<?xi32>'}}
  %0 = kiln.onehot %t axis = 0 like %l : tensor<?xi32>, tensor<?xf32> -> tensor<?xf32>
  return
}

// -----

// kiln.onehot: the axis is in range.
func.func @gradient_op_10(%t: tensor<?xi32>, %l: tensor<?x10xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2 (expected [0, 2))}}
  %0 = kiln.onehot %t axis = 2 like %l : tensor<?xi32>, tensor<?x10xf32> -> tensor<?x10xf32>
  return
}

// -----

// kiln.onehot: the result has the shape of `like`.
func.func @gradient_op_11(%t: tensor<?xi32>, %l: tensor<?x9xf32>) {
  // expected-error @+1 {{result type 'tensor<?x10xf32>' must have the shape of 'tensor<?x9xf32>'}}
  %0 = kiln.onehot %t axis = 1 like %l : tensor<?xi32>, tensor<?x9xf32> -> tensor<?x10xf32>
  return
}

// -----

// kiln.onehot: the other dimensions are the indices'.
func.func @gradient_op_12(%t: tensor<5xi32>, %l: tensor<4x10xf32>) {
  // expected-error @+1 {{result type 'tensor<4x10xf32>' without dimension 1 does not match the indices' type 'tensor<5xi32>'}}
  %0 = kiln.onehot %t axis = 1 like %l : tensor<5xi32>, tensor<4x10xf32> -> tensor<4x10xf32>
  return
}

// -----

// kiln.conv2d_grad_input: rank-4 operands and result.
func.func @gradient_op_13(%dy: tensor<?x5x5x4xf32>, %k: tensor<3x3x2x4xf32>) {
  // expected-error @+1 {{operands and result must have rank 4, got 'tensor<?x9x2xf32>'}}
  %0 = kiln.conv2d_grad_input %dy, %k strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x5x5x4xf32>, tensor<3x3x2x4xf32> -> tensor<?x9x2xf32>
  return
}

// -----

// kiln.conv2d_grad_input: the forward convolution must produce the output gradient.
func.func @gradient_op_14(%dy: tensor<?x5x5x4xf32>, %k: tensor<3x3x2x4xf32>) {
  // expected-error @+1 {{a convolution of 'tensor<?x9x9x2xf32>' with 'tensor<3x3x2x4xf32>' does not produce 'tensor<?x5x5x4xf32>'}}
  %0 = kiln.conv2d_grad_input %dy, %k strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x5x5x4xf32>, tensor<3x3x2x4xf32> -> tensor<?x9x9x2xf32>
  return
}

// -----

// kiln.conv2d_grad_input: only the batch is dynamic.
func.func @gradient_op_15(%dy: tensor<?x5x5x4xf32>, %k: tensor<3x3x2x4xf32>) {
  // expected-error @+1 {{only the batch dimension may be dynamic, got 'tensor<?x?x9x2xf32>' and 'tensor<?x5x5x4xf32>'}}
  %0 = kiln.conv2d_grad_input %dy, %k strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x5x5x4xf32>, tensor<3x3x2x4xf32> -> tensor<?x?x9x2xf32>
  return
}

// -----

// kiln.conv2d_grad_input: the filter is static.
func.func @gradient_op_16(%dy: tensor<?x5x5x4xf32>, %k: tensor<?x3x2x4xf32>) {
  // expected-error @+1 {{filter type 'tensor<?x3x2x4xf32>' must be static}}
  %0 = kiln.conv2d_grad_input %dy, %k strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x5x5x4xf32>, tensor<?x3x2x4xf32> -> tensor<?x9x9x2xf32>
  return
}

// -----

// kiln.conv2d_grad_filter: positive strides.
func.func @gradient_op_17(%x: tensor<?x9x9x2xf32>, %dy: tensor<?x7x7x4xf32>) {
  // expected-error @+1 {{'strides' values must be positive, got [0, 1]}}
  %0 = kiln.conv2d_grad_filter %x, %dy strides = [0, 1] padding = [0, 0, 0, 0] : tensor<?x9x9x2xf32>, tensor<?x7x7x4xf32> -> tensor<3x3x2x4xf32>
  return
}

// -----

// kiln.conv2d_grad_filter: four non-negative padding values.
func.func @gradient_op_18(%x: tensor<?x9x9x2xf32>, %dy: tensor<?x7x7x4xf32>) {
  // expected-error @+1 {{'padding' must have 4 non-negative values [top, bottom, left, right]}}
  %0 = kiln.conv2d_grad_filter %x, %dy strides = [1, 1] padding = [0, 0] : tensor<?x9x9x2xf32>, tensor<?x7x7x4xf32> -> tensor<3x3x2x4xf32>
  return
}

// -----

// kiln.conv2d_grad_filter: the filter's channels must match.
func.func @gradient_op_19(%x: tensor<?x9x9x2xf32>, %dy: tensor<?x7x7x4xf32>) {
  // expected-error @+1 {{a convolution of 'tensor<?x9x9x2xf32>' with 'tensor<3x3x3x4xf32>' does not produce 'tensor<?x7x7x4xf32>'}}
  %0 = kiln.conv2d_grad_filter %x, %dy strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x9x9x2xf32>, tensor<?x7x7x4xf32> -> tensor<3x3x3x4xf32>
  return
}

// -----

// kiln.maxpool_grad: the result is the input's type.
func.func @gradient_op_20(%x: tensor<?x5x5x4xf32>, %dy: tensor<?x4x4x4xf32>) {
  // expected-error @+1 {{result type 'tensor<?x5x5x3xf32>' must be the input type 'tensor<?x5x5x4xf32>'}}
  %0 = kiln.maxpool_grad %x, %dy window = [2, 2] strides = [1, 1] : tensor<?x5x5x4xf32>, tensor<?x4x4x4xf32> -> tensor<?x5x5x3xf32>
  return
}

// -----

// kiln.maxpool_grad: rank-4 operands.
func.func @gradient_op_21(%x: tensor<?x5x4xf32>, %dy: tensor<?x4x4x4xf32>) {
  // expected-error @+1 {{input and output gradient must be rank-4 NHWC tensors, got 'tensor<?x5x4xf32>' and 'tensor<?x4x4x4xf32>'}}
  %0 = kiln.maxpool_grad %x, %dy window = [2, 2] strides = [1, 1] : tensor<?x5x4xf32>, tensor<?x4x4x4xf32> -> tensor<?x5x4xf32>
  return
}

// -----

// kiln.maxpool_grad: the pooling must produce the output gradient.
func.func @gradient_op_22(%x: tensor<?x5x5x4xf32>, %dy: tensor<?x2x2x4xf32>) {
  // expected-error @+1 {{pooling 'tensor<?x5x5x4xf32>' with window [2, 2] does not produce 'tensor<?x2x2x4xf32>'}}
  %0 = kiln.maxpool_grad %x, %dy window = [2, 2] strides = [1, 1] : tensor<?x5x5x4xf32>, tensor<?x2x2x4xf32> -> tensor<?x5x5x4xf32>
  return
}

// -----

// kiln.avgpool_grad: a positive window.
func.func @gradient_op_23(%dy: tensor<?x2x2x4xf32>) {
  // expected-error @+1 {{'window' values must be positive, got [0, 2]}}
  %0 = kiln.avgpool_grad %dy window = [0, 2] strides = [2, 2] : tensor<?x2x2x4xf32> -> tensor<?x5x5x4xf32>
  return
}

// -----

// kiln.avgpool_grad: only the batch is dynamic.
func.func @gradient_op_24(%dy: tensor<?x2x2x4xf32>) {
  // expected-error @+1 {{only the batch dimension may be dynamic, got 'tensor<?x5x?x4xf32>' and 'tensor<?x2x2x4xf32>'}}
  %0 = kiln.avgpool_grad %dy window = [2, 2] strides = [2, 2] : tensor<?x2x2x4xf32> -> tensor<?x5x?x4xf32>
  return
}

// -----

// kiln.grad: names a kiln.param.
module {
  // expected-error @+1 {{'kiln.grad' on result #0 must be a flat symbol reference to a kiln.param}}
  func.func @f(%w: tensor<3xf32>) -> (tensor<3xf32> {kiln.grad = @nothing}) {
    return %w : tensor<3xf32>
  }
}
