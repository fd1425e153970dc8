// RUN: kiln-opt %s --kiln-split-input-gradients --canonicalize | FileCheck %s
//
// The CPU's form of a convolution's input gradient: the convolution
// kiln-lower-to-linalg makes (the output gradient dilated by the strides,
// 2 x 2, inside a zero frame, with the flipped filter) becomes one scf.forall
// over the examples that zeroes the example's slice of the result (strides
// 2: all of it) and adds into it, for each window offset (i, j), the contraction over f of the
// example's output gradient with the filter at (i, j) (the flipped filter at
// (1 - i, 1 - j)), written to the strided view at rows 2y + i, columns
// 2x + j. The frame and the convolution are gone. Other convolutions are
// left alone.

// CHECK-DAG:   #[[$DY:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG:   #[[$TAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
// CHECK-DAG:   #[[$OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @input_gradient
// CHECK-SAME:    (%[[DYS:.*]]: tensor<?x3x3x4xf32>, %[[K:.*]]: tensor<2x2x5x4xf32>)
// CHECK:         %[[FLIPPED:.*]] = linalg.generic {{.*}} ins(%[[K]] : tensor<2x2x5x4xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[DYS]]
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x6x6x5xf32>
// CHECK:         %[[R:.*]] = scf.forall (%[[X:.*]]) in (%[[N]]) shared_outs(%[[O:.*]] = %[[E]]) -> (tensor<?x6x6x5xf32>) {
// CHECK:           %[[MINE:.*]] = tensor.extract_slice %[[O]][%[[X]], 0, 0, 0] [1, 6, 6, 5] [1, 1, 1, 1]
// CHECK:           %[[ZEROED:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[MINE]] : tensor<6x6x5xf32>)
// CHECK:           %[[DYX:.*]] = tensor.extract_slice %[[DYS]][%[[X]], 0, 0, 0] [1, 3, 3, 4] [1, 1, 1, 1] : tensor<?x3x3x4xf32> to tensor<3x3x4xf32>
// CHECK:           %[[T00:.*]] = tensor.extract_slice %[[FLIPPED]][1, 1, 0, 0] [1, 1, 4, 5] [1, 1, 1, 1] : tensor<2x2x4x5xf32> to tensor<4x5xf32>
// CHECK:           %[[V00:.*]] = tensor.extract_slice %[[ZEROED]][0, 0, 0] [3, 3, 5] [2, 2, 1] : tensor<6x6x5xf32> to tensor<3x3x5xf32>
// CHECK:           %[[A00:.*]] = linalg.generic {indexing_maps = [#[[$DY]], #[[$TAP]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME:        ins(%[[DYX]], %[[T00]] : tensor<3x3x4xf32>, tensor<4x5xf32>) outs(%[[V00]] : tensor<3x3x5xf32>)
// CHECK:             arith.mulf
// CHECK:             arith.addf
// CHECK:           %[[S00:.*]] = tensor.insert_slice %[[A00]] into %[[ZEROED]][0, 0, 0] [3, 3, 5] [2, 2, 1]
// CHECK:           tensor.extract_slice %[[FLIPPED]][1, 0, 0, 0]
// CHECK:           tensor.extract_slice %[[S00]][0, 1, 0] [3, 3, 5] [2, 2, 1]
// CHECK:           tensor.extract_slice %[[FLIPPED]][0, 1, 0, 0]
// CHECK:           tensor.extract_slice %{{.*}}[1, 0, 0] [3, 3, 5] [2, 2, 1]
// CHECK:           tensor.extract_slice %[[FLIPPED]][0, 0, 0, 0]
// CHECK:           %[[S11:.*]] = tensor.insert_slice %{{.*}}[1, 1, 0] [3, 3, 5] [2, 2, 1]
// CHECK:           scf.forall.in_parallel {
// CHECK-NEXT:        tensor.parallel_insert_slice %[[S11]] into %[[O]][%[[X]], 0, 0, 0] [1, 6, 6, 5] [1, 1, 1, 1]
// CHECK-NOT:     linalg.conv_2d_nhwc_hwcf
// CHECK:         return %[[R]]
#flip = affine_map<(d0, d1, d2, d3) -> (1 - d0, 1 - d1, d3, d2)>
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @input_gradient(%dy: tensor<?x3x3x4xf32>, %k: tensor<2x2x5x4xf32>) -> tensor<?x6x6x5xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %dy, %c0 : tensor<?x3x3x4xf32>
  %fe = tensor.empty(%n) : tensor<?x7x7x4xf32>
  %ff = linalg.fill ins(%zero : f32) outs(%fe : tensor<?x7x7x4xf32>) -> tensor<?x7x7x4xf32>
  %frame = tensor.insert_slice %dy into %ff[0, 1, 1, 0] [%n, 3, 3, 4] [1, 2, 2, 1] : tensor<?x3x3x4xf32> into tensor<?x7x7x4xf32>
  %fl = tensor.empty() : tensor<2x2x4x5xf32>
  %flipped = linalg.generic {indexing_maps = [#flip, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%k : tensor<2x2x5x4xf32>) outs(%fl : tensor<2x2x4x5xf32>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  } -> tensor<2x2x4x5xf32>
  %oe = tensor.empty(%n) : tensor<?x6x6x5xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<?x6x6x5xf32>) -> tensor<?x6x6x5xf32>
  %dx = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%frame, %flipped : tensor<?x7x7x4xf32>, tensor<2x2x4x5xf32>) outs(%of : tensor<?x6x6x5xf32>) -> tensor<?x6x6x5xf32>
  return %dx : tensor<?x6x6x5xf32>
}


// Unit strides: offset (0, 0) covers rows [0, 5) x columns [0, 5) and adds
// into zeros of its own (a fill of its view, which the register blocks
// fuse); only the strips beyond it, row 5 and column 5, are filled first.
// CHECK-LABEL: func.func @unit_strides
// CHECK:         scf.forall
// CHECK:           %[[MINE:.*]] = tensor.extract_slice %{{.*}} [1, 6, 6, 5] [1, 1, 1, 1]
// CHECK:           %[[ROW:.*]] = tensor.extract_slice %[[MINE]][5, 0, 0] [1, 6, 5] [1, 1, 1]
// CHECK:           %[[ROWZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[ROW]] : tensor<1x6x5xf32>)
// CHECK:           %[[S1:.*]] = tensor.insert_slice %[[ROWZ]] into %[[MINE]][5, 0, 0] [1, 6, 5] [1, 1, 1]
// CHECK:           %[[COLUMN:.*]] = tensor.extract_slice %[[S1]][0, 5, 0] [5, 1, 5] [1, 1, 1]
// CHECK:           %[[COLUMNZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[COLUMN]] : tensor<5x1x5xf32>)
// CHECK:           %[[S2:.*]] = tensor.insert_slice %[[COLUMNZ]] into %[[S1]][0, 5, 0] [5, 1, 5] [1, 1, 1]
// CHECK:           %[[V00:.*]] = tensor.extract_slice %[[S2]][0, 0, 0] [5, 5, 5] [1, 1, 1]
// CHECK:           %[[Z00:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[V00]] : tensor<5x5x5xf32>)
// CHECK:           linalg.generic {{.*}} outs(%[[Z00]] : tensor<5x5x5xf32>)
// CHECK-NOT:       linalg.fill
// CHECK:           scf.forall.in_parallel
func.func @unit_strides(%dy: tensor<?x5x5x4xf32>, %k: tensor<2x2x5x4xf32>) -> tensor<?x6x6x5xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %dy, %c0 : tensor<?x5x5x4xf32>
  %fe = tensor.empty(%n) : tensor<?x7x7x4xf32>
  %ff = linalg.fill ins(%zero : f32) outs(%fe : tensor<?x7x7x4xf32>) -> tensor<?x7x7x4xf32>
  %frame = tensor.insert_slice %dy into %ff[0, 1, 1, 0] [%n, 5, 5, 4] [1, 1, 1, 1] : tensor<?x5x5x4xf32> into tensor<?x7x7x4xf32>
  %fl = tensor.empty() : tensor<2x2x4x5xf32>
  %flipped = linalg.generic {indexing_maps = [#flip, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%k : tensor<2x2x5x4xf32>) outs(%fl : tensor<2x2x4x5xf32>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  } -> tensor<2x2x4x5xf32>
  %oe = tensor.empty(%n) : tensor<?x6x6x5xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<?x6x6x5xf32>) -> tensor<?x6x6x5xf32>
  %dx = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%frame, %flipped : tensor<?x7x7x4xf32>, tensor<2x2x4x5xf32>) outs(%of : tensor<?x6x6x5xf32>) -> tensor<?x6x6x5xf32>
  return %dx : tensor<?x6x6x5xf32>
}

// A forward convolution (its input is not a dilated output gradient in a
// zero frame): left alone.
// CHECK-LABEL: func.func @forward
// CHECK-NOT:     scf.forall
// CHECK:         linalg.conv_2d_nhwc_hwcf
func.func @forward(%x: tensor<?x7x7x4xf32>, %k: tensor<2x2x4x5xf32>) -> tensor<?x6x6x5xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x7x7x4xf32>
  %oe = tensor.empty(%n) : tensor<?x6x6x5xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<?x6x6x5xf32>) -> tensor<?x6x6x5xf32>
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %k : tensor<?x7x7x4xf32>, tensor<2x2x4x5xf32>) outs(%of : tensor<?x6x6x5xf32>) -> tensor<?x6x6x5xf32>
  return %y : tensor<?x6x6x5xf32>
}
