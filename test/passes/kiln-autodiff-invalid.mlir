// Errors of kiln-autodiff, reported at the offending op's location (for a
// model compiled from .kiln, the source line).
// RUN: not kiln-opt %s -split-input-file -kiln-autodiff -o /dev/null 2>&1 | FileCheck %s

// An active op without a differentiation rule is an error at its location,
// the .kiln line (here an internal op, which has none).
// CHECK: norule.kiln:4:9: error: 'kiln.slice' is not differentiable, but the loss needs a gradient through it
module @NoRule attributes {kiln.model} {
  kiln.param @w : tensor<2x3xf32> init = zeros
  func.func @NoRule_loss(%w: tensor<2x3xf32> {kiln.param = @w}) -> (tensor<f32> {kiln.output = "loss"}) {
    %0 = kiln.slice %w axis = 1 offset = 1 : tensor<2x3xf32> -> tensor<2x2xf32> loc("norule.kiln":4:9)
    %1 = kiln.reduce_sum %0 : tensor<2x2xf32> -> tensor<f32>
    return %1 : tensor<f32>
  }
}

// -----

// The loss must be a rank-0 float tensor.
// CHECK: error: kiln-autodiff: the first result of 'Vector_loss' must be a rank-0 float tensor (the loss)
module @Vector attributes {kiln.model} {
  kiln.param @w : tensor<3xf32> init = zeros
  func.func @Vector_loss(%w: tensor<3xf32> {kiln.param = @w}) -> (tensor<3xf32> {kiln.output = "loss"}) {
    return %w : tensor<3xf32>
  }
}
