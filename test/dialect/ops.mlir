// Round-trip test of every kiln op and of the calling-convention attributes:
// each op is parsed, printed, re-parsed and printed again.
// RUN: kiln-opt %s | kiln-opt | FileCheck %s

// CHECK-LABEL: func.func @constants
func.func @constants() -> (tensor<f32>, tensor<2xf32>) {
  // CHECK: %[[A:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
  %a = kiln.constant dense<1.0> : tensor<f32>
  // CHECK: %[[B:.*]] = kiln.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  %b = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  // CHECK: return %[[A]], %[[B]]
  return %a, %b : tensor<f32>, tensor<2xf32>
}

// CHECK-LABEL: func.func @binary
// CHECK-SAME: (%[[X:.*]]: tensor<?x10xf32>, %[[S:.*]]: tensor<f32>, %[[V:.*]]: tensor<10xf32>, %[[C:.*]]: tensor<?x1xf32>)
func.func @binary(%x: tensor<?x10xf32>, %s: tensor<f32>, %v: tensor<10xf32>,
                  %c: tensor<?x1xf32>) {
  // CHECK: kiln.add %[[X]], %[[S]] : tensor<?x10xf32>, tensor<f32> -> tensor<?x10xf32>
  %0 = kiln.add %x, %s : tensor<?x10xf32>, tensor<f32> -> tensor<?x10xf32>
  // CHECK: kiln.sub %[[X]], %[[V]] : tensor<?x10xf32>, tensor<10xf32> -> tensor<?x10xf32>
  %1 = kiln.sub %x, %v : tensor<?x10xf32>, tensor<10xf32> -> tensor<?x10xf32>
  // CHECK: kiln.mul %[[C]], %[[V]] : tensor<?x1xf32>, tensor<10xf32> -> tensor<?x10xf32>
  %2 = kiln.mul %c, %v : tensor<?x1xf32>, tensor<10xf32> -> tensor<?x10xf32>
  // CHECK: kiln.div %[[X]], %[[C]] : tensor<?x10xf32>, tensor<?x1xf32> -> tensor<?x10xf32>
  %3 = kiln.div %x, %c : tensor<?x10xf32>, tensor<?x1xf32> -> tensor<?x10xf32>
  // CHECK: kiln.pow %[[S]], %[[S]] : tensor<f32>, tensor<f32> -> tensor<f32>
  %4 = kiln.pow %s, %s : tensor<f32>, tensor<f32> -> tensor<f32>
  // CHECK: kiln.maximum %[[X]], %[[S]] : tensor<?x10xf32>, tensor<f32> -> tensor<?x10xf32>
  %5 = kiln.maximum %x, %s : tensor<?x10xf32>, tensor<f32> -> tensor<?x10xf32>
  // CHECK: kiln.minimum %[[V]], %[[S]] : tensor<10xf32>, tensor<f32> -> tensor<10xf32>
  %6 = kiln.minimum %v, %s : tensor<10xf32>, tensor<f32> -> tensor<10xf32>
  return
}

// `?` against a static size > 1 may give the size or `?`.
// CHECK-LABEL: func.func @broadcast_dynamic
func.func @broadcast_dynamic(%a: tensor<?xf64>, %b: tensor<4xf64>) {
  // CHECK: kiln.add %{{.*}}, %{{.*}} : tensor<?xf64>, tensor<4xf64> -> tensor<4xf64>
  %0 = kiln.add %a, %b : tensor<?xf64>, tensor<4xf64> -> tensor<4xf64>
  // CHECK: kiln.add %{{.*}}, %{{.*}} : tensor<?xf64>, tensor<4xf64> -> tensor<?xf64>
  %1 = kiln.add %a, %b : tensor<?xf64>, tensor<4xf64> -> tensor<?xf64>
  // The inferred type (tensor<4xf64>) does not reject a declared `?`, nor
  // compare's declaring another float type.
  // CHECK: kiln.compare gt, %{{.*}}, %{{.*}} : tensor<?xf64>, tensor<4xf64> -> tensor<?xf16>
  %2 = kiln.compare gt, %a, %b : tensor<?xf64>, tensor<4xf64> -> tensor<?xf16>
  return
}

// CHECK-LABEL: func.func @compare
func.func @compare(%a: tensor<?xf32>, %b: tensor<f32>, %p: tensor<?xi32>,
                   %y: tensor<?xi32>) {
  // CHECK: kiln.compare gt, %{{.*}}, %{{.*}} : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
  %0 = kiln.compare gt, %a, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
  // CHECK: kiln.compare eq, %{{.*}}, %{{.*}} : tensor<?xi32>, tensor<?xi32> -> tensor<?xf32>
  %1 = kiln.compare eq, %p, %y : tensor<?xi32>, tensor<?xi32> -> tensor<?xf32>
  // CHECK: kiln.compare ne,
  %2 = kiln.compare ne, %a, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
  // CHECK: kiln.compare lt,
  %3 = kiln.compare lt, %a, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
  // CHECK: kiln.compare le,
  %4 = kiln.compare le, %a, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
  // CHECK: kiln.compare ge,
  %5 = kiln.compare ge, %a, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
  return
}

// CHECK-LABEL: func.func @unary
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>)
func.func @unary(%x: tensor<?x64xf32>) {
  // CHECK: kiln.neg %[[X]] : tensor<?x64xf32>
  %0 = kiln.neg %x : tensor<?x64xf32>
  // CHECK: kiln.relu %[[X]] : tensor<?x64xf32>
  %1 = kiln.relu %x : tensor<?x64xf32>
  // CHECK: kiln.sigmoid %[[X]] : tensor<?x64xf32>
  %2 = kiln.sigmoid %x : tensor<?x64xf32>
  // CHECK: kiln.tanh %[[X]] : tensor<?x64xf32>
  %3 = kiln.tanh %x : tensor<?x64xf32>
  // CHECK: kiln.exp %[[X]] : tensor<?x64xf32>
  %4 = kiln.exp %x : tensor<?x64xf32>
  // CHECK: kiln.log %[[X]] : tensor<?x64xf32>
  %5 = kiln.log %x : tensor<?x64xf32>
  // CHECK: kiln.sqrt %[[X]] : tensor<?x64xf32>
  %6 = kiln.sqrt %x : tensor<?x64xf32>
  // CHECK: kiln.abs %[[X]] : tensor<?x64xf32>
  %7 = kiln.abs %x : tensor<?x64xf32>
  return
}

// CHECK-LABEL: func.func @matmul
func.func @matmul(%m: tensor<?x10xf32>, %w: tensor<10x3xf32>, %v: tensor<10xf32>) {
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} : tensor<?x10xf32>, tensor<10x3xf32> -> tensor<?x3xf32>
  %0 = kiln.matmul %m, %w : tensor<?x10xf32>, tensor<10x3xf32> -> tensor<?x3xf32>
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} : tensor<?x10xf32>, tensor<10xf32> -> tensor<?xf32>
  %1 = kiln.matmul %m, %v : tensor<?x10xf32>, tensor<10xf32> -> tensor<?xf32>
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} : tensor<10xf32>, tensor<10x3xf32> -> tensor<3xf32>
  %2 = kiln.matmul %v, %w : tensor<10xf32>, tensor<10x3xf32> -> tensor<3xf32>
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} : tensor<10xf32>, tensor<10xf32> -> tensor<f32>
  %3 = kiln.matmul %v, %v : tensor<10xf32>, tensor<10xf32> -> tensor<f32>
  return
}

// CHECK-LABEL: func.func @conv_pool
func.func @conv_pool(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) {
  // CHECK: kiln.conv2d %{{.*}}, %{{.*}} strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x26x26x32xf32>
  %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [0, 0, 0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x26x26x32xf32>
  // CHECK: kiln.conv2d %{{.*}}, %{{.*}} strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x14x14x32xf32>
  %1 = kiln.conv2d %x, %k strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x14x14x32xf32>
  // CHECK: kiln.maxpool %{{.*}} window = [2, 2] strides = [2, 2] : tensor<?x26x26x32xf32> -> tensor<?x13x13x32xf32>
  %2 = kiln.maxpool %0 window = [2, 2] strides = [2, 2] : tensor<?x26x26x32xf32> -> tensor<?x13x13x32xf32>
  // CHECK: kiln.avgpool %{{.*}} window = [3, 3] strides = [2, 2] : tensor<?x26x26x32xf32> -> tensor<?x12x12x32xf32>
  %3 = kiln.avgpool %0 window = [3, 3] strides = [2, 2] : tensor<?x26x26x32xf32> -> tensor<?x12x12x32xf32>
  return
}

// CHECK-LABEL: func.func @shapes_and_reductions
func.func @shapes_and_reductions(%x: tensor<?x24x24x32xf32>, %y: tensor<?x10xf32>,
                                 %s: tensor<2x3xf32>) {
  // CHECK: kiln.reshape %{{.*}} : tensor<?x24x24x32xf32> -> tensor<?x18432xf32>
  %0 = kiln.reshape %x : tensor<?x24x24x32xf32> -> tensor<?x18432xf32>
  // CHECK: kiln.reshape %{{.*}} : tensor<2x3xf32> -> tensor<6xf32>
  %1 = kiln.reshape %s : tensor<2x3xf32> -> tensor<6xf32>
  // CHECK: kiln.reduce_sum %{{.*}} axis = 1 : tensor<?x10xf32> -> tensor<?xf32>
  %2 = kiln.reduce_sum %y axis = 1 : tensor<?x10xf32> -> tensor<?xf32>
  // CHECK: kiln.reduce_mean %{{.*}} : tensor<?xf32> -> tensor<f32>
  %3 = kiln.reduce_mean %2 : tensor<?xf32> -> tensor<f32>
  // CHECK: kiln.reduce_max %{{.*}} axis = 0 : tensor<?x10xf32> -> tensor<10xf32>
  %4 = kiln.reduce_max %y axis = 0 : tensor<?x10xf32> -> tensor<10xf32>
  // CHECK: kiln.reduce_min %{{.*}} : tensor<?x10xf32> -> tensor<f32>
  %5 = kiln.reduce_min %y : tensor<?x10xf32> -> tensor<f32>
  // CHECK: kiln.argmax %{{.*}} axis = 1 : tensor<?x10xf32> -> tensor<?xi32>
  %6 = kiln.argmax %y axis = 1 : tensor<?x10xf32> -> tensor<?xi32>
  // CHECK: kiln.argmin %{{.*}} axis = 0 : tensor<?x10xf32> -> tensor<10xi32>
  %10 = kiln.argmin %y axis = 0 : tensor<?x10xf32> -> tensor<10xi32>
  // CHECK: kiln.softmax %{{.*}} axis = 1 : tensor<?x10xf32>
  %7 = kiln.softmax %y axis = 1 : tensor<?x10xf32>
  // CHECK: kiln.log_softmax %{{.*}} axis = 1 : tensor<?x10xf32>
  %8 = kiln.log_softmax %y axis = 1 : tensor<?x10xf32>
  // CHECK: kiln.dropout %{{.*}} rate = 5.000000e-01 : tensor<?x10xf32>
  %9 = kiln.dropout %y rate = 0.5 : tensor<?x10xf32>
  return
}

// CHECK-LABEL: func.func @batch_norm
func.func @batch_norm(%x: tensor<?x4x4x3xf32>, %s: tensor<3xf32>) -> tensor<?x4x4x3xf32> {
  // CHECK: kiln.batch_norm %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} epsilon = 1.000000e-03 momentum = 5.000000e-01 : tensor<?x4x4x3xf32>, tensor<3xf32>
  %0 = kiln.batch_norm %x, %s, %s, %s, %s epsilon = 1.0e-3 momentum = 0.5 : tensor<?x4x4x3xf32>, tensor<3xf32>
  return %0 : tensor<?x4x4x3xf32>
}

// The language's shape ops: concat, reshape of i32 (argmax with keepdims),
// and concat's gradient, slice.
// CHECK-LABEL: func.func @shape_builtins
func.func @shape_builtins(%a: tensor<?x3xf32>, %b: tensor<?x4xf32>, %i: tensor<?xi32>) {
  // CHECK: kiln.concat %{{.*}}, %{{.*}} axis = 1 : tensor<?x3xf32>, tensor<?x4xf32> -> tensor<?x7xf32>
  %0 = kiln.concat %a, %b axis = 1 : tensor<?x3xf32>, tensor<?x4xf32> -> tensor<?x7xf32>
  // CHECK: kiln.slice %{{.*}} axis = 1 offset = 3 : tensor<?x7xf32> -> tensor<?x4xf32>
  %1 = kiln.slice %0 axis = 1 offset = 3 : tensor<?x7xf32> -> tensor<?x4xf32>
  // CHECK: kiln.reshape %{{.*}} : tensor<?xi32> -> tensor<?x1xi32>
  %2 = kiln.reshape %i : tensor<?xi32> -> tensor<?x1xi32>
  return
}

// The language's selection ops: stop_gradient, take, and onehot without
// `like` (one_hot).
// CHECK-LABEL: func.func @selection
func.func @selection(%q: tensor<?x4xf32>, %action: tensor<?xi32>) {
  // CHECK: kiln.stop_gradient %{{.*}} : tensor<?x4xf32>
  %0 = kiln.stop_gradient %q : tensor<?x4xf32>
  // CHECK: kiln.take %{{.*}}, %{{.*}} axis = 1 : tensor<?x4xf32>, tensor<?xi32> -> tensor<?xf32>
  %1 = kiln.take %q, %action axis = 1 : tensor<?x4xf32>, tensor<?xi32> -> tensor<?xf32>
  // CHECK: kiln.onehot %{{.*}} axis = 1 : tensor<?xi32> -> tensor<?x4xf32>
  %2 = kiln.onehot %action axis = 1 : tensor<?xi32> -> tensor<?x4xf32>
  return
}

// CHECK-LABEL: func.func @losses
func.func @losses(%logits: tensor<?x10xf32>, %labels: tensor<?xi32>,
                  %p: tensor<?x1xf32>, %y: tensor<?x1xf32>) {
  // CHECK: kiln.cross_entropy %{{.*}}, %{{.*}} : tensor<?x10xf32>, tensor<?xi32> -> tensor<f32>
  %0 = kiln.cross_entropy %logits, %labels : tensor<?x10xf32>, tensor<?xi32> -> tensor<f32>
  // CHECK: kiln.binary_cross_entropy %{{.*}}, %{{.*}} : tensor<?x1xf32>, tensor<?x1xf32> -> tensor<f32>
  %1 = kiln.binary_cross_entropy %p, %y : tensor<?x1xf32>, tensor<?x1xf32> -> tensor<f32>
  // CHECK: kiln.mse %{{.*}}, %{{.*}} : tensor<?x1xf32>, tensor<?x1xf32> -> tensor<f32>
  %2 = kiln.mse %p, %y : tensor<?x1xf32>, tensor<?x1xf32> -> tensor<f32>
  return
}

// The internal ops of automatic differentiation (built by kiln-autodiff).
// CHECK-LABEL: func.func @gradient_ops
func.func @gradient_ops(%a: tensor<?x10xf32>, %s: tensor<f32>, %labels: tensor<?xi32>,
                        %x: tensor<?x9x9x2xf32>, %k: tensor<3x3x2x4xf32>,
                        %dy: tensor<?x5x5x4xf32>, %p: tensor<?x5x5x4xf32>,
                        %dp: tensor<?x4x4x4xf32>, %dq: tensor<?x2x2x4xf32>) {
  // CHECK: kiln.transpose %{{.*}} permutation = [1, 0] : tensor<?x10xf32> -> tensor<10x?xf32>
  %0 = kiln.transpose %a permutation = [1, 0] : tensor<?x10xf32> -> tensor<10x?xf32>
  // CHECK: kiln.broadcast_to %{{.*}} like %{{.*}} : tensor<f32>, tensor<?x10xf32> -> tensor<?x10xf32>
  %1 = kiln.broadcast_to %s like %a : tensor<f32>, tensor<?x10xf32> -> tensor<?x10xf32>
  // CHECK: kiln.sum_to %{{.*}} : tensor<?x10xf32> -> tensor<10xf32>
  %2 = kiln.sum_to %a : tensor<?x10xf32> -> tensor<10xf32>
  // CHECK: kiln.sum_to %{{.*}} : tensor<?x10xf32> -> tensor<?x1xf32>
  %3 = kiln.sum_to %a : tensor<?x10xf32> -> tensor<?x1xf32>
  // CHECK: kiln.element_count %{{.*}} dims = [0, 1] : tensor<?x10xf32> -> tensor<f32>
  %4 = kiln.element_count %a dims = [0, 1] : tensor<?x10xf32> -> tensor<f32>
  // CHECK: kiln.onehot %{{.*}} axis = 1 like %{{.*}} : tensor<?xi32>, tensor<?x10xf32> -> tensor<?x10xf32>
  %5 = kiln.onehot %labels axis = 1 like %a : tensor<?xi32>, tensor<?x10xf32> -> tensor<?x10xf32>
  // CHECK: kiln.conv2d_grad_input %{{.*}}, %{{.*}} strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x5x5x4xf32>, tensor<3x3x2x4xf32> -> tensor<?x9x9x2xf32>
  %6 = kiln.conv2d_grad_input %dy, %k strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x5x5x4xf32>, tensor<3x3x2x4xf32> -> tensor<?x9x9x2xf32>
  // CHECK: kiln.conv2d_grad_filter %{{.*}}, %{{.*}} strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x9x9x2xf32>, tensor<?x5x5x4xf32> -> tensor<3x3x2x4xf32>
  %7 = kiln.conv2d_grad_filter %x, %dy strides = [2, 2] padding = [1, 1, 1, 1] : tensor<?x9x9x2xf32>, tensor<?x5x5x4xf32> -> tensor<3x3x2x4xf32>
  // CHECK: kiln.maxpool_grad %{{.*}}, %{{.*}} window = [2, 2] strides = [1, 1] : tensor<?x5x5x4xf32>, tensor<?x4x4x4xf32> -> tensor<?x5x5x4xf32>
  %8 = kiln.maxpool_grad %p, %dp window = [2, 2] strides = [1, 1] : tensor<?x5x5x4xf32>, tensor<?x4x4x4xf32> -> tensor<?x5x5x4xf32>
  // CHECK: kiln.avgpool_grad %{{.*}} window = [2, 2] strides = [2, 2] : tensor<?x2x2x4xf32> -> tensor<?x5x5x4xf32>
  %9 = kiln.avgpool_grad %dq window = [2, 2] strides = [2, 2] : tensor<?x2x2x4xf32> -> tensor<?x5x5x4xf32>
  return
}

// The calling convention of docs/internals.md: a model module with its
// parameters and a function taking them as tagged arguments.
// CHECK-LABEL: module @M attributes {kiln.model, kiln.optimizer = {lr = 1.000000e-03 : f64, name = "adam"}}
module @M attributes {kiln.model, kiln.optimizer = {name = "adam", lr = 1.0e-3 : f64}} {
  // CHECK: kiln.param @w : tensor<10xf32> init = zeros
  kiln.param @w : tensor<10xf32> init = zeros
  // CHECK: kiln.param @b : tensor<f32> init = constant(0.000000e+00)
  kiln.param @b : tensor<f32> init = constant(0.0)
  // CHECK: kiln.param @ones : tensor<4xf64> init = ones
  kiln.param @ones : tensor<4xf64> init = ones
  // CHECK: kiln.param @dense_0.kernel : tensor<3136x64xf32> init = glorot_uniform
  kiln.param @"dense_0.kernel" : tensor<3136x64xf32> init = glorot_uniform
  // CHECK: kiln.param @moving : tensor<10xf32> init = zeros non_trainable
  kiln.param @moving : tensor<10xf32> init = zeros non_trainable

  // CHECK-LABEL: func.func @M_predict
  // CHECK-SAME: (%{{.*}}: tensor<10xf32> {kiln.param = @w}, %{{.*}}: tensor<f32> {kiln.param = @b}, %{{.*}}: tensor<?x10xf32> {kiln.input = "x"}) -> (tensor<?xf32> {kiln.output = "p"})
  func.func @M_predict(%w: tensor<10xf32> {kiln.param = @w},
                       %b: tensor<f32> {kiln.param = @b},
                       %x: tensor<?x10xf32> {kiln.input = "x"})
      -> (tensor<?xf32> {kiln.output = "p"}) {
    %0 = kiln.matmul %x, %w : tensor<?x10xf32>, tensor<10xf32> -> tensor<?xf32>
    %1 = kiln.add %0, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
    return %1 : tensor<?xf32>
  }

  // The gradient results of <Model>_grad name their parameter.
  // CHECK-LABEL: func.func @M_grad
  // CHECK-SAME: -> (tensor<f32> {kiln.output = "loss"}, tensor<10xf32> {kiln.grad = @w})
  func.func @M_grad(%w: tensor<10xf32> {kiln.param = @w})
      -> (tensor<f32> {kiln.output = "loss"}, tensor<10xf32> {kiln.grad = @w}) {
    %0 = kiln.reduce_sum %w : tensor<10xf32> -> tensor<f32>
    return %0, %w : tensor<f32>, tensor<10xf32>
  }

  // A non-trainable parameter's new value (kiln-training-mode) names it.
  // CHECK-LABEL: func.func @M_grad_training
  // CHECK-SAME: -> (tensor<f32> {kiln.output = "loss"}, tensor<10xf32> {kiln.assign = @moving}, tensor<10xf32> {kiln.grad = @w})
  func.func @M_grad_training(%w: tensor<10xf32> {kiln.param = @w}, %m: tensor<10xf32> {kiln.param = @moving})
      -> (tensor<f32> {kiln.output = "loss"}, tensor<10xf32> {kiln.assign = @moving}, tensor<10xf32> {kiln.grad = @w}) {
    %0 = kiln.reduce_sum %w : tensor<10xf32> -> tensor<f32>
    return %0, %m, %w : tensor<f32>, tensor<10xf32>, tensor<10xf32>
  }
}
