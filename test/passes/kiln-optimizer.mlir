// RUN: kiln-opt %s --kiln-optimizer -split-input-file | FileCheck %s

// Adam: train_step takes the parameter, its m and v slots, lr and step, then
// the inputs; it calls the grad function and returns the loss, then the new
// parameter and state tagged with the argument each updates.
module {
  module @M attributes {kiln.model, kiln.optimizer = {name = "adam", lr = 1.0e-03 : f64, beta_1 = 9.0e-01 : f64, beta_2 = 9.99e-01 : f64, epsilon = 1.0e-07 : f64}} {
    kiln.param @w : tensor<3xf32> init = zeros
    func.func @M_grad(%w: tensor<3xf32> {kiln.param = @w}, %x: tensor<?x3xf32> {kiln.input = "x"}) -> (tensor<f32> {kiln.output = "loss"}, tensor<3xf32> {kiln.grad = @w}) {
      %0 = kiln.matmul %x, %w : tensor<?x3xf32>, tensor<3xf32> -> tensor<?xf32>
      %1 = kiln.reduce_sum %0 : tensor<?xf32> -> tensor<f32>
      return %1, %w : tensor<f32>, tensor<3xf32>
    }
  }
}
// apply: the same leading arguments, then the gradient as an input named
// grad_<param>; no loss, only the updates (the same rule as train_step's).
// CHECK-LABEL: func.func @M_apply(
// CHECK-SAME: %[[AW:.*]]: tensor<3xf32> {kiln.param = @w},
// CHECK-SAME: %[[AM:.*]]: tensor<3xf32> {kiln.state = {init = 0.000000e+00 : f64, param = @w, slot = "m"}},
// CHECK-SAME: %{{.*}}: tensor<3xf32> {kiln.state = {init = 0.000000e+00 : f64, param = @w, slot = "v"}},
// CHECK-SAME: %{{.*}}: tensor<f32> {kiln.hyper = "lr"}, %{{.*}}: tensor<f32> {kiln.hyper = "step"},
// CHECK-SAME: %[[AG:.*]]: tensor<3xf32> {kiln.input = "grad_w"})
// CHECK-SAME: -> (tensor<3xf32> {kiln.update = 0 : i64}, tensor<3xf32> {kiln.update = 1 : i64}, tensor<3xf32> {kiln.update = 2 : i64})
// CHECK-NOT: call
// CHECK: kiln.sub %[[AG]], %[[AM]] : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}} : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
// CHECK-LABEL: func.func @M_train_step(
// CHECK-SAME: %[[W:.*]]: tensor<3xf32> {kiln.param = @w},
// CHECK-SAME: %[[M:.*]]: tensor<3xf32> {kiln.state = {init = 0.000000e+00 : f64, param = @w, slot = "m"}},
// CHECK-SAME: %[[V:.*]]: tensor<3xf32> {kiln.state = {init = 0.000000e+00 : f64, param = @w, slot = "v"}},
// CHECK-SAME: %[[LR:.*]]: tensor<f32> {kiln.hyper = "lr"}, %[[STEP:.*]]: tensor<f32> {kiln.hyper = "step"},
// CHECK-SAME: %[[X:.*]]: tensor<?x3xf32> {kiln.input = "x"})
// CHECK-SAME: -> (tensor<f32> {kiln.output = "loss"}, tensor<3xf32> {kiln.update = 0 : i64}, tensor<3xf32> {kiln.update = 1 : i64}, tensor<3xf32> {kiln.update = 2 : i64})
// CHECK: %[[G:.*]]:2 = call @M_grad(%[[W]], %[[X]])
// Bias correction from the step count: b2^t and b1^t.
// CHECK-DAG: kiln.pow %{{.*}}, %[[STEP]] : tensor<f32>, tensor<f32> -> tensor<f32>
// m += (g - m)(1 - b1)
// CHECK-DAG: %[[GM:.*]] = kiln.sub %[[G]]#1, %[[M]] : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
// CHECK: kiln.sqrt
// CHECK: return %[[G]]#0, %{{.*}}, %{{.*}}, %{{.*}} : tensor<f32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>

// -----

// Plain SGD has no state: w - lr * g.
module {
  module @S attributes {kiln.model, kiln.optimizer = {name = "sgd", lr = 1.0e-01 : f64, momentum = 0.0 : f64, nesterov = false}} {
    kiln.param @b : tensor<f32> init = zeros
    func.func @S_grad(%b: tensor<f32> {kiln.param = @b}, %y: tensor<?xf32> {kiln.input = "y"}) -> (tensor<f32> {kiln.output = "loss"}, tensor<f32> {kiln.output = "mse"}, tensor<f32> {kiln.grad = @b}) {
      %0 = kiln.reduce_mean %y : tensor<?xf32> -> tensor<f32>
      return %0, %0, %b : tensor<f32>, tensor<f32>, tensor<f32>
    }
  }
}
// CHECK-LABEL: func.func @S_train_step(
// CHECK-SAME: %[[B:.*]]: tensor<f32> {kiln.param = @b}, %[[LR:.*]]: tensor<f32> {kiln.hyper = "lr"}, %{{.*}}: tensor<f32> {kiln.hyper = "step"}, %[[Y:.*]]: tensor<?xf32> {kiln.input = "y"})
// CHECK-SAME: -> (tensor<f32> {kiln.output = "loss"}, tensor<f32> {kiln.output = "mse"}, tensor<f32> {kiln.update = 0 : i64})
// CHECK: %[[G:.*]]:3 = call @S_grad(%[[B]], %[[Y]])
// CHECK: %[[STEP:.*]] = kiln.mul %[[LR]], %[[G]]#2
// CHECK: %[[NEW:.*]] = kiln.sub %[[B]], %[[STEP]]
// CHECK: return %[[G]]#0, %[[G]]#1, %[[NEW]]
