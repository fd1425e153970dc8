// RUN: kiln-opt %s --kiln-lower-to-linalg=filter-gradient-as-one-contraction | FileCheck %s
//
// kiln-lower-to-linalg{filter-gradient-as-one-contraction} (what
// --target=cuda uses): a convolution's filter gradient is one contraction
// with loops (i, j, c, f | n, y, x) reading the padded input at
// (n, y*sh + i, x*sw + j, c), which kiln-map-to-gpu runs as one implicit
// GEMM, instead of one contraction per window offset (the CPU's form,
// kiln-lower-to-linalg.mlir).

// CHECK-DAG:   #[[$IN:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5 * 2 + d0, d6 * 2 + d1, d2)>
// CHECK-DAG:   #[[$DY:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5, d6, d3)>
// CHECK-DAG:   #[[$OUT:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @conv2d_grad_filter
// CHECK-SAME:    (%[[X:.*]]: tensor<?x7x7x3xf32>, %[[DY:.*]]: tensor<?x4x4x4xf32>)
// CHECK:         %[[P:.*]] = tensor.pad %[[X]] low[0, 0, 0, 0] high[0, 1, 1, 0]
// CHECK:         %[[F:.*]] = linalg.fill {{.*}} -> tensor<2x2x3x4xf32>
// CHECK:         %[[G:.*]] = linalg.generic {indexing_maps = [#[[$IN]], #[[$DY]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
// CHECK-SAME:      ins(%[[P]], %[[DY]] : tensor<?x8x8x3xf32>, tensor<?x4x4x4xf32>) outs(%[[F]] : tensor<2x2x3x4xf32>)
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK-NOT:     tensor.insert_slice
// CHECK:         return %[[G]]
func.func @conv2d_grad_filter(%x: tensor<?x7x7x3xf32>, %dy: tensor<?x4x4x4xf32>) -> tensor<2x2x3x4xf32> {
  %0 = kiln.conv2d_grad_filter %x, %dy strides = [2, 2] padding = [0, 1, 0, 1] : tensor<?x7x7x3xf32>, tensor<?x4x4x4xf32> -> tensor<2x2x3x4xf32>
  return %0 : tensor<2x2x3x4xf32>
}
