// RUN: kiln-opt --split-input-file --kiln-share-forward %s | FileCheck %s
//
// The ops a model's predict and loss start with in common move into a
// private <Model>_forward that both call. Arguments correspond by their
// kiln.param / kiln.input attributes (here in a different order in loss);
// constants by value, wherever canonicalization put them.

// CHECK-LABEL: module @M
// CHECK:         func.func private @M_forward(%[[X:.*]]: tensor<?x4xf32>, %[[W:.*]]: tensor<4x3xf32>) -> (index, tensor<?x3xf32>)
// CHECK:           %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:           %[[N:.*]] = tensor.dim %[[X]]
// CHECK:           %[[FILLED:.*]] = linalg.fill ins(%[[ZERO]] : f32)
// CHECK:           %[[Y:.*]] = linalg.matmul ins(%[[X]], %[[W]] : tensor<?x4xf32>, tensor<4x3xf32>) outs(%[[FILLED]] : tensor<?x3xf32>)
// CHECK:           return %[[N]], %[[Y]] : index, tensor<?x3xf32>
// Each caller keeps its own destinations (empty tensors, fills), sized by
// the returned size; the matmul is gone from both.
// CHECK:         func.func @M_predict(%[[PW:.*]]: tensor<4x3xf32> {kiln.param = @w}, %[[PX:.*]]: tensor<?x4xf32> {kiln.input = "x"})
// CHECK-NEXT:      %[[P:.*]]:2 = call @M_forward(%[[PX]], %[[PW]])
// CHECK-NOT:       linalg.matmul
// CHECK:           tensor.empty(%[[P]]#0) : tensor<?x3xf32>
// CHECK:           linalg.generic {{.*}} ins(%[[P]]#1 : tensor<?x3xf32>) outs(%{{.*}} : tensor<?x3xf32>)
// CHECK:           arith.negf
// CHECK:         func.func @M_loss(%[[LX:.*]]: tensor<?x4xf32> {kiln.input = "x"}, %[[LW:.*]]: tensor<4x3xf32> {kiln.param = @w})
// CHECK-NEXT:      %[[L:.*]]:2 = call @M_forward(%[[LX]], %[[LW]])
// CHECK-NOT:       linalg.matmul
// CHECK:           linalg.generic {{.*}} ins(%[[L]]#1 : tensor<?x3xf32>)
// CHECK:           arith.mulf
#id = affine_map<(d0, d1) -> (d0, d1)>
module {
  module @M attributes {kiln.model} {
    kiln.param @w : tensor<4x3xf32> init = glorot_uniform
    func.func @M_predict(%w: tensor<4x3xf32> {kiln.param = @w}, %x: tensor<?x4xf32> {kiln.input = "x"}) -> tensor<?x3xf32> {
      %zero = arith.constant 0.0 : f32
      %c0 = arith.constant 0 : index
      %n = tensor.dim %x, %c0 : tensor<?x4xf32>
      %e = tensor.empty(%n) : tensor<?x3xf32>
      %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x3xf32>) -> tensor<?x3xf32>
      %y = linalg.matmul ins(%x, %w : tensor<?x4xf32>, tensor<4x3xf32>) outs(%f : tensor<?x3xf32>) -> tensor<?x3xf32>
      %e2 = tensor.empty(%n) : tensor<?x3xf32>
      %p = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%y : tensor<?x3xf32>) outs(%e2 : tensor<?x3xf32>) {
      ^bb0(%in: f32, %out: f32):
        %v = arith.negf %in : f32
        linalg.yield %v : f32
      } -> tensor<?x3xf32>
      return %p : tensor<?x3xf32>
    }
    func.func @M_loss(%x: tensor<?x4xf32> {kiln.input = "x"}, %w: tensor<4x3xf32> {kiln.param = @w}) -> tensor<?x3xf32> {
      %c0 = arith.constant 0 : index
      %zero = arith.constant 0.0 : f32
      %two = arith.constant 2.0 : f32
      %n = tensor.dim %x, %c0 : tensor<?x4xf32>
      %e = tensor.empty(%n) : tensor<?x3xf32>
      %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x3xf32>) -> tensor<?x3xf32>
      %y = linalg.matmul ins(%x, %w : tensor<?x4xf32>, tensor<4x3xf32>) outs(%f : tensor<?x3xf32>) -> tensor<?x3xf32>
      %e2 = tensor.empty(%n) : tensor<?x3xf32>
      %l = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%y : tensor<?x3xf32>) outs(%e2 : tensor<?x3xf32>) {
      ^bb0(%in: f32, %out: f32):
        %v = arith.mulf %in, %two : f32
        linalg.yield %v : f32
      } -> tensor<?x3xf32>
      return %l : tensor<?x3xf32>
    }
  }
}

// -----

// Different weights (another parameter): nothing in common, nothing shared.
// CHECK-LABEL: module @N
// CHECK-NOT:     @N_forward
// CHECK:         func.func @N_predict
// CHECK:           linalg.matmul
// CHECK:         func.func @N_loss
// CHECK:           linalg.matmul
module {
  module @N attributes {kiln.model} {
    kiln.param @a : tensor<4x3xf32> init = glorot_uniform
    kiln.param @b : tensor<4x3xf32> init = glorot_uniform
    func.func @N_predict(%a: tensor<4x3xf32> {kiln.param = @a}, %x: tensor<2x4xf32> {kiln.input = "x"}, %acc: tensor<2x3xf32> {kiln.input = "acc"}) -> tensor<2x3xf32> {
      %y = linalg.matmul ins(%x, %a : tensor<2x4xf32>, tensor<4x3xf32>) outs(%acc : tensor<2x3xf32>) -> tensor<2x3xf32>
      return %y : tensor<2x3xf32>
    }
    func.func @N_loss(%b: tensor<4x3xf32> {kiln.param = @b}, %x: tensor<2x4xf32> {kiln.input = "x"}, %acc: tensor<2x3xf32> {kiln.input = "acc"}) -> tensor<2x3xf32> {
      %y = linalg.matmul ins(%x, %b : tensor<2x4xf32>, tensor<4x3xf32>) outs(%acc : tensor<2x3xf32>) -> tensor<2x3xf32>
      return %y : tensor<2x3xf32>
    }
  }
}
