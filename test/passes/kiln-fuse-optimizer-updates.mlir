// RUN: kiln-opt %s --kiln-to-linalg --kiln-flatten-models --linalg-fuse-elementwise-ops --kiln-fuse-optimizer-updates --canonicalize --cse | FileCheck %s
// RUN: kiln-opt %s --kiln-to-linalg --kiln-flatten-models --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=UNFUSED
// RUN: kiln-opt %s --kiln-to-linalg --kiln-flatten-models --linalg-fuse-elementwise-ops --kiln-fuse-optimizer-updates --canonicalize --cse --kiln-update-in-place --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --canonicalize | FileCheck %s --check-prefix=BUF
//
// A model with two parameters and Adam, from the kiln dialect (kiln-to-linalg
// makes <Model>_train_step and lowers it; elementwise fusion runs first, as
// in the pipelines). Each parameter's update (new m, v and w) becomes exactly
// one multi-result loop that reads w, its gradient, m and v once and writes
// the three new tensors; the new m, which feeds the new w, is also a result
// of the loop, so nothing is computed twice. The loop's inits are m, v and w
// themselves (it reads their old values there), so that after bufferization
// it updates their buffers in place: no new buffer, no copy back (BUF).
// Plain elementwise fusion leaves one loop per value (UNFUSED). Other
// functions are left as they are.

// CHECK-LABEL: func.func @kiln_impl_M_grad(
// CHECK-NOT:     = linalg.generic {{.*}} outs(%{{.*}}, %{{.*}} :
// <Model>_apply, the same update from gradients given as arguments (the
// last two), is fused the same way: one loop per parameter.
// CHECK-LABEL: func.func @kiln_impl_M_apply(
// CHECK-SAME:    %[[AW:[a-z0-9]+]]: tensor<4x8xf32>, %[[AB:[a-z0-9]+]]: tensor<8xf32>, %[[AWM:[a-z0-9]+]]: tensor<4x8xf32>, %[[AWV:[a-z0-9]+]]: tensor<4x8xf32>, %[[ABM:[a-z0-9]+]]: tensor<8xf32>, %[[ABV:[a-z0-9]+]]: tensor<8xf32>, %{{.*}}: tensor<f32>, %{{.*}}: tensor<f32>, %[[AGW:[a-z0-9]+]]: tensor<4x8xf32>, %[[AGB:[a-z0-9]+]]: tensor<8xf32>)
// CHECK:         %[[ALR:.*]] = linalg.generic {{.*}} iterator_types = []}
// CHECK:         %[[ANW:.*]]:3 = linalg.generic {{.*}} ins(%[[AGW]], %[[ALR]] : {{.*}}) outs(%[[AWM]], %[[AWV]], %[[AW]] : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK:         %[[ANB:.*]]:3 = linalg.generic {{.*}} ins(%[[AGB]], %[[ALR]] : {{.*}}) outs(%[[ABM]], %[[ABV]], %[[AB]] : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK-NOT:     linalg.generic
// CHECK:         return %[[ANW]]#2, %[[ANB]]#2, %[[ANW]]#0, %[[ANW]]#1, %[[ANB]]#0, %[[ANB]]#1
// CHECK-LABEL: func.func @kiln_impl_M_train_step(
// CHECK-SAME:    %[[W:[a-z0-9]+]]: tensor<4x8xf32>, %[[B:[a-z0-9]+]]: tensor<8xf32>, %[[WM:[a-z0-9]+]]: tensor<4x8xf32>, %[[WV:[a-z0-9]+]]: tensor<4x8xf32>, %[[BM:[a-z0-9]+]]: tensor<8xf32>, %[[BV:[a-z0-9]+]]: tensor<8xf32>
// CHECK:         %[[G:.*]]:3 = call @kiln_impl_M_grad(
// The bias-corrected step size (rank 0), shared by both updates.
// CHECK:         %[[LR:.*]] = linalg.generic {{.*}} iterator_types = []}
// CHECK:           math.powf
// CHECK:         %[[NW:.*]]:3 = linalg.generic {{.*}} ins(%[[G]]#1, %[[LR]] : {{.*}}) outs(%[[WM]], %[[WV]], %[[W]] : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK:           math.sqrt
// CHECK:           linalg.yield %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, f32
// CHECK:         %[[NB:.*]]:3 = linalg.generic {{.*}} ins(%[[G]]#2, %[[LR]] : {{.*}}) outs(%[[BM]], %[[BV]], %[[B]] : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK-NOT:     linalg.generic
// CHECK:         return %[[G]]#0, %[[NW]]#2, %[[NB]]#2, %[[NW]]#0, %[[NW]]#1, %[[NB]]#0, %[[NB]]#1

// BUF-LABEL: func.func @kiln_impl_M_train_step(
// BUF-SAME:    %[[W:[a-z0-9]+]]: memref<4x8xf32>, %[[B:[a-z0-9]+]]: memref<8xf32>, %[[WM:[a-z0-9]+]]: memref<4x8xf32>, %[[WV:[a-z0-9]+]]: memref<4x8xf32>, %[[BM:[a-z0-9]+]]: memref<8xf32>, %[[BV:[a-z0-9]+]]: memref<8xf32>
// BUF-NOT:     memref.alloc() {{.*}} : memref<4x8xf32>
// BUF-NOT:     memref.alloc() {{.*}} : memref<8xf32>
// BUF:         linalg.generic {{.*}} outs(%[[WM]], %[[WV]], %[[W]] : memref<4x8xf32>, memref<4x8xf32>, memref<4x8xf32>)
// BUF:         linalg.generic {{.*}} outs(%[[BM]], %[[BV]], %[[B]] : memref<8xf32>, memref<8xf32>, memref<8xf32>)
// BUF-NOT:     memref.copy
// BUF:         return

// UNFUSED-LABEL: func.func @kiln_impl_M_train_step(
// UNFUSED-COUNT-7: linalg.generic
// UNFUSED-NOT:     linalg.generic {{.*}} outs(%{{.*}}, %{{.*}}, %{{.*}} :
// UNFUSED:         return

module {
  module @M attributes {kiln.model, kiln.optimizer = {name = "adam", lr = 1.0e-03 : f64, beta_1 = 9.0e-01 : f64, beta_2 = 9.99e-01 : f64, epsilon = 1.0e-07 : f64}} {
    kiln.param @w : tensor<4x8xf32> init = zeros
    kiln.param @b : tensor<8xf32> init = zeros
    func.func @M_loss(%w: tensor<4x8xf32> {kiln.param = @w}, %b: tensor<8xf32> {kiln.param = @b}, %x: tensor<?x4xf32> {kiln.input = "x"}) -> (tensor<f32> {kiln.output = "loss"}) {
      %0 = kiln.matmul %x, %w : tensor<?x4xf32>, tensor<4x8xf32> -> tensor<?x8xf32>
      %1 = kiln.add %0, %b : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>
      %2 = kiln.relu %1 : tensor<?x8xf32>
      %3 = kiln.reduce_mean %2 : tensor<?x8xf32> -> tensor<f32>
      return %3 : tensor<f32>
    }
  }
}
