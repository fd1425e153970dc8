// RUN: kiln-opt --split-input-file --kiln-normalize-contractions %s | FileCheck %s
//
// The gradients' contractions brought into the shapes the CPU's register
// blocks fit, before kiln-choose-tile-sizes sees them.

// A dense weight gradient, activations^T @ dY: the matmul of the transpose
// becomes a contraction generic reading the activations untransposed
// through a transposed map; the transpose is gone.
// CHECK-DAG:   #[[$KM:.*]] = affine_map<(d0, d1, d2) -> (d2, d0)>
// CHECK-DAG:   #[[$KN:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG:   #[[$MN:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @weight_grad
// CHECK-SAME:    (%[[A:.*]]: tensor<?x256xf32>, %[[DY:.*]]: tensor<?x64xf32>)
// CHECK-NOT:     linalg.transpose
// CHECK-NOT:     linalg.matmul
// CHECK:         linalg.generic {indexing_maps = [#[[$KM]], #[[$KN]], #[[$MN]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[A]], %[[DY]] : tensor<?x256xf32>, tensor<?x64xf32>)
// CHECK:           arith.mulf
// CHECK:           arith.addf
func.func @weight_grad(%a: tensor<?x256xf32>, %dy: tensor<?x64xf32>) -> tensor<256x64xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %a, %c0 : tensor<?x256xf32>
  %te = tensor.empty(%n) : tensor<256x?xf32>
  %t = linalg.transpose ins(%a : tensor<?x256xf32>) outs(%te : tensor<256x?xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<256x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<256x64xf32>) -> tensor<256x64xf32>
  %m = linalg.matmul ins(%t, %dy : tensor<256x?xf32>, tensor<?x64xf32>) outs(%f : tensor<256x64xf32>) -> tensor<256x64xf32>
  return %m : tensor<256x64xf32>
}

// -----

// A dense input gradient that reshape fusion expanded to the image's shape,
// (n, y, x, c | k): collapsed back to 2-D, where it is a linalg.matmul,
// and expanded after.
#dyk = affine_map<(d0, d1, d2, d3, d4) -> (d0, d4)>
#wt = affine_map<(d0, d1, d2, d3, d4) -> (d4, d1, d2, d3)>
#img = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @input_grad_expanded
// CHECK:         %[[W:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2, 3]] : tensor<64x8x8x32xf32> into tensor<64x2048xf32>
// CHECK:         %[[M:.*]] = linalg.matmul ins(%{{.*}}, %[[W]] : tensor<?x64xf32>, tensor<64x2048xf32>) outs(%{{.*}} : tensor<?x2048xf32>)
// CHECK:         tensor.expand_shape %[[M]] {{\[\[}}0], [1, 2, 3]]
// CHECK-NOT:     linalg.generic
func.func @input_grad_expanded(%dy: tensor<?x64xf32>, %wt: tensor<64x8x8x32xf32>) -> tensor<?x8x8x32xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %dy, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%n) : tensor<?x8x8x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8x8x32xf32>) -> tensor<?x8x8x32xf32>
  %r = linalg.generic {indexing_maps = [#dyk, #wt, #img], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
    ins(%dy, %wt : tensor<?x64xf32>, tensor<64x8x8x32xf32>) outs(%f : tensor<?x8x8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x8x8x32xf32>
  return %r : tensor<?x8x8x32xf32>
}

// -----

// A plain matmul and an elementwise generic stay as they are.
// CHECK-LABEL: func.func @untouched
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x8xf32>, tensor<8x4xf32>)
func.func @untouched(%a: tensor<?x8xf32>, %b: tensor<8x4xf32>, %f: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %m = linalg.matmul ins(%a, %b : tensor<?x8xf32>, tensor<8x4xf32>) outs(%f : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %m : tensor<?x4xf32>
}
