// kiln-training-mode adds <Model>_loss_training: dropout keyed by two new
// arguments (seed, step), batch_norm normalising with the batch's mean and
// biased variance (reduce_mean over every axis but the last), and the new
// moving statistics appended as results tagged kiln.assign. Then, through
// kiln-autodiff and kiln-optimizer: _grad_training has no gradient for the
// moving statistics, the training loss is gone, and train_step stores the
// assigned values (kiln.update) and keeps optimizer state for the trainable
// parameter only.
// RUN: kiln-opt %s --kiln-training-mode | FileCheck %s
// RUN: kiln-opt %s --kiln-training-mode --kiln-autodiff --kiln-optimizer | FileCheck %s --check-prefix=TRAIN

module {
  module @M attributes {kiln.model, kiln.optimizer = {name = "sgd", lr = 0.1 : f64, momentum = 0.9 : f64, nesterov = false}} {
    kiln.param @gamma : tensor<3xf32> init = ones
    kiln.param @beta : tensor<3xf32> init = zeros
    kiln.param @mean : tensor<3xf32> init = zeros non_trainable
    kiln.param @variance : tensor<3xf32> init = ones non_trainable

    func.func @M_loss(%g: tensor<3xf32> {kiln.param = @gamma}, %b: tensor<3xf32> {kiln.param = @beta},
                      %m: tensor<3xf32> {kiln.param = @mean}, %v: tensor<3xf32> {kiln.param = @variance},
                      %x: tensor<?x2x3xf32> {kiln.input = "x"}) -> (tensor<f32> {kiln.output = "loss"}) {
      %0 = kiln.batch_norm %x, %g, %b, %m, %v epsilon = 1.0e-3 momentum = 0.9 : tensor<?x2x3xf32>, tensor<3xf32>
      %1 = kiln.dropout %0 rate = 0.5 : tensor<?x2x3xf32>
      %2 = kiln.reduce_sum %1 : tensor<?x2x3xf32> -> tensor<f32>
      return %2 : tensor<f32>
    }
  }
}

// The inference loss is unchanged.
// CHECK-LABEL: func.func @M_loss(
// CHECK: kiln.batch_norm
// CHECK: kiln.dropout %{{.*}} rate

// CHECK-LABEL: func.func @M_loss_training(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x2x3xf32> {kiln.input = "x"}, %[[SEED:[a-z0-9]+]]: tensor<i32> {kiln.hyper = "seed"}, %[[STEP:[a-z0-9]+]]: tensor<f32> {kiln.hyper = "step"})
// CHECK-SAME: -> (tensor<f32> {kiln.output = "loss"}, tensor<3xf32> {kiln.assign = @mean}, tensor<3xf32> {kiln.assign = @variance})
// CHECK-NOT: kiln.batch_norm
// CHECK: %[[M1:.*]] = kiln.reduce_mean %[[X]] axis = 0 : tensor<?x2x3xf32> -> tensor<2x3xf32>
// CHECK: %[[MEAN:.*]] = kiln.reduce_mean %[[M1]] axis = 0 : tensor<2x3xf32> -> tensor<3xf32>
// CHECK: %[[C:.*]] = kiln.sub %[[X]], %[[MEAN]]
// CHECK: %[[SQ:.*]] = kiln.mul %[[C]], %[[C]]
// CHECK: %[[V1:.*]] = kiln.reduce_mean %[[SQ]] axis = 0
// CHECK: %[[VAR:.*]] = kiln.reduce_mean %[[V1]] axis = 0 : tensor<2x3xf32> -> tensor<3xf32>
// CHECK: kiln.dropout %{{.*}} key(%[[SEED]], %[[STEP]] : tensor<i32>, tensor<f32>)
// CHECK: return

// TRAIN-NOT: @M_loss_training
// TRAIN-LABEL: func.func @M_grad_training(
// TRAIN-SAME: -> (tensor<f32> {kiln.output = "loss"}, tensor<3xf32> {kiln.assign = @mean}, tensor<3xf32> {kiln.assign = @variance}, tensor<3xf32> {kiln.grad = @gamma}, tensor<3xf32> {kiln.grad = @beta})
// TRAIN-LABEL: func.func @M_apply(
// TRAIN-SAME: {kiln.input = "grad_gamma"}, %{{[a-z0-9]+}}: tensor<3xf32> {kiln.input = "grad_beta"})
// TRAIN-SAME: -> (tensor<3xf32> {kiln.update = 0 : i64}, tensor<3xf32> {kiln.update = 1 : i64}, tensor<3xf32> {kiln.update = 4 : i64}, tensor<3xf32> {kiln.update = 5 : i64})
// TRAIN-LABEL: func.func @M_train_step(
// TRAIN-SAME: {kiln.param = @variance}, %{{[a-z0-9]+}}: tensor<3xf32> {kiln.state = {init = 0.000000e+00 : f64, param = @gamma, slot = "momentum"}}, %{{[a-z0-9]+}}: tensor<3xf32> {kiln.state = {init = 0.000000e+00 : f64, param = @beta, slot = "momentum"}}, %{{[a-z0-9]+}}: tensor<f32> {kiln.hyper = "lr"}, %{{[a-z0-9]+}}: tensor<f32> {kiln.hyper = "step"}, %{{[a-z0-9]+}}: tensor<i32> {kiln.hyper = "seed"}, %{{[a-z0-9]+}}: tensor<?x2x3xf32> {kiln.input = "x"})
// TRAIN-SAME: -> (tensor<f32> {kiln.output = "loss"}, tensor<3xf32> {kiln.update = 0 : i64}, tensor<3xf32> {kiln.update = 1 : i64}, tensor<3xf32> {kiln.update = 2 : i64}, tensor<3xf32> {kiln.update = 3 : i64}, tensor<3xf32> {kiln.update = 4 : i64}, tensor<3xf32> {kiln.update = 5 : i64})
// TRAIN: %[[CALL:.*]]:5 = call @M_grad_training(
