// RUN: kiln-opt %s --kiln-split-filter-gradients | FileCheck %s
//
// The CPU's form of a convolution's filter gradient: the one contraction
// kiln-lower-to-linalg makes (strides 2, the input already padded) becomes
// per-example partials, computed in one scf.forall over the batch: for each
// window offset (i, j), a strided slice of the example's padded input and
// one contraction generic over (c, f | y, x) whose maps are all projected
// permutations (kiln-tile-and-vectorize blocks it like a matmul), written to
// partials[n, i, j]; then the partials summed over the batch, in order, into
// the op's zeros. Other contractions are left alone.

// CHECK-DAG:   #[[$IN:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3, d0)>
// CHECK-DAG:   #[[$PLANES:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG:   #[[$DY:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3, d1)>
// CHECK-DAG:   #[[$OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
// CHECK-DAG:   #[[$ALL:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
// CHECK-DAG:   #[[$SUM:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d1, d2, d3, d4)>
// CHECK-LABEL: func.func @conv2d_grad_filter
// CHECK-SAME:    (%[[P:.*]]: tensor<?x8x8x3xf32>, %[[DY:.*]]: tensor<?x4x4x4xf32>)
// CHECK:         %[[ZEROS:.*]] = linalg.fill {{.*}} -> tensor<2x2x3x4xf32>
// CHECK:         %[[N:.*]] = tensor.dim %[[DY]], %{{.*}} : tensor<?x4x4x4xf32>
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x2x2x3x4xf32>
// CHECK:         %[[PARTIALS:.*]] = scf.forall (%[[X:.*]]) in (%[[N]]) shared_outs(%[[OUT:.*]] = %[[E]]) -> (tensor<?x2x2x3x4xf32>) {
// CHECK:           %[[DYX:.*]] = tensor.extract_slice %[[DY]][%[[X]], 0, 0, 0] [1, 4, 4, 4] [1, 1, 1, 1] : tensor<?x4x4x4xf32> to tensor<4x4x4xf32>
// CHECK:           %[[F:.*]] = linalg.fill {{.*}} -> tensor<3x4xf32>
// CHECK:           %[[S00:.*]] = tensor.extract_slice %[[P]][%[[X]], 0, 0, 0] [1, 4, 4, 3] [1, 2, 2, 1] : tensor<?x8x8x3xf32> to tensor<4x4x3xf32>
// CHECK:           %[[G00:.*]] = linalg.generic {indexing_maps = [#[[$IN]], #[[$DY]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
// CHECK-SAME:        ins(%[[S00]], %[[DYX]] : tensor<4x4x3xf32>, tensor<4x4x4xf32>) outs(%[[F]] : tensor<3x4xf32>)
// CHECK:             arith.mulf
// CHECK:             arith.addf
// CHECK:           tensor.extract_slice %[[P]][%[[X]], 0, 1, 0] [1, 4, 4, 3] [1, 2, 2, 1]
// CHECK:           tensor.extract_slice %[[P]][%[[X]], 1, 0, 0]
// CHECK:           %[[S11:.*]] = tensor.extract_slice %[[P]][%[[X]], 1, 1, 0]
// CHECK:           %[[G11:.*]] = linalg.generic {{.*}} ins(%[[S11]], %[[DYX]]
// CHECK:           scf.forall.in_parallel {
// CHECK-NEXT:        tensor.parallel_insert_slice %[[G00]] into %[[OUT]][%[[X]], 0, 0, 0, 0] [1, 1, 1, 3, 4] [1, 1, 1, 1, 1]
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[X]], 0, 1, 0, 0]
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[X]], 1, 0, 0, 0]
// CHECK-NEXT:        tensor.parallel_insert_slice %[[G11]] into %[[OUT]][%[[X]], 1, 1, 0, 0]
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [#[[$ALL]], #[[$SUM]]], iterator_types = ["reduction", "parallel", "parallel", "parallel", "parallel"]}
// CHECK-SAME:      ins(%[[PARTIALS]] : tensor<?x2x2x3x4xf32>) outs(%[[ZEROS]] : tensor<2x2x3x4xf32>)
// CHECK:           %[[ADD:.*]] = arith.addf
// CHECK-NEXT:      linalg.yield %[[ADD]]
// CHECK:         return %[[R]]
#in = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5 * 2 + d0, d6 * 2 + d1, d2)>
#dy = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5, d6, d3)>
#out = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)>
func.func @conv2d_grad_filter(%padded: tensor<?x8x8x3xf32>, %dy: tensor<?x4x4x4xf32>) -> tensor<2x2x3x4xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<2x2x3x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2x3x4xf32>) -> tensor<2x2x3x4xf32>
  %g = linalg.generic {indexing_maps = [#in, #dy, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%padded, %dy : tensor<?x8x8x3xf32>, tensor<?x4x4x4xf32>) outs(%f : tensor<2x2x3x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x2x3x4xf32>
  return %g : tensor<2x2x3x4xf32>
}

// Stride 1 (the map reads d0 + d5): split as well, 3 x 3 offsets.
// CHECK-LABEL: func.func @stride_one
// CHECK:         scf.forall
// CHECK-COUNT-9:   tensor.extract_slice %{{.*}} [1, 4, 4, 2] [1, 1, 1, 1] : tensor<?x6x6x2xf32> to tensor<4x4x2xf32>
// CHECK-COUNT-9:   tensor.parallel_insert_slice
// CHECK-NOT:     linalg.generic {{.*}}"reduction", "reduction", "reduction"]}
#in1 = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5 + d0, d6 + d1, d2)>
func.func @stride_one(%x: tensor<?x6x6x2xf32>, %dy: tensor<?x4x4x5xf32>) -> tensor<3x3x2x5xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<3x3x2x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x3x2x5xf32>) -> tensor<3x3x2x5xf32>
  %g = linalg.generic {indexing_maps = [#in1, #dy, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %dy : tensor<?x6x6x2xf32>, tensor<?x4x4x5xf32>) outs(%f : tensor<3x3x2x5xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<3x3x2x5xf32>
  return %g : tensor<3x3x2x5xf32>
}

// Not a filter gradient (the body is a plain sum, not out + in * dy): left
// alone.
// CHECK-LABEL: func.func @other
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK-NOT:     scf.forall
func.func @other(%x: tensor<?x6x6x2xf32>, %dy: tensor<?x4x4x5xf32>) -> tensor<3x3x2x5xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<3x3x2x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x3x2x5xf32>) -> tensor<3x3x2x5xf32>
  %g = linalg.generic {indexing_maps = [#in1, #dy, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %dy : tensor<?x6x6x2xf32>, tensor<?x4x4x5xf32>) outs(%f : tensor<3x3x2x5xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  } -> tensor<3x3x2x5xf32>
  return %g : tensor<3x3x2x5xf32>
}

// One input channel (an image's first convolution): per example, the nine
// windows are copied into planes [taps, y, x] and one contraction over
// (t, f | y, x) makes all nine rows of the example's gradient at once (a
// matmul-shaped block of several taps, not nine single-row blocks); the
// partials [N, 9, 5] are summed over the batch in order and viewed as
// [3, 3, 1, 5].
// CHECK-LABEL: func.func @one_channel
// CHECK-SAME:    (%[[X:.*]]: tensor<?x6x6x1xf32>, %[[DY1:.*]]: tensor<?x4x4x5xf32>)
// CHECK:         %[[P:.*]] = scf.forall (%[[E:.*]]) in (%{{.*}}) shared_outs(%[[O:.*]] = %{{.*}}) -> (tensor<?x9x5xf32>) {
// CHECK:           %[[W0:.*]] = tensor.extract_slice %[[X]][%[[E]], 0, 0, 0] [1, 4, 4, 1] [1, 1, 1, 1] : tensor<?x6x6x1xf32> to tensor<4x4xf32>
// CHECK:           tensor.insert_slice %[[W0]] into %{{.*}}[0, 0, 0] [1, 4, 4] [1, 1, 1] : tensor<4x4xf32> into tensor<9x4x4xf32>
// CHECK:           tensor.extract_slice %[[X]][%[[E]], 2, 2, 0] [1, 4, 4, 1]
// CHECK:           %[[PL:.*]] = tensor.insert_slice %{{.*}}[8, 0, 0] [1, 4, 4] [1, 1, 1] : tensor<4x4xf32> into tensor<9x4x4xf32>
// CHECK:           %[[DYE:.*]] = tensor.extract_slice %[[DY1]][%[[E]], 0, 0, 0] [1, 4, 4, 5]
// CHECK:           %[[ROWS:.*]] = linalg.generic {indexing_maps = [#[[$PLANES]], #[[$DY]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
// CHECK-SAME:        ins(%[[PL]], %[[DYE]] : tensor<9x4x4xf32>, tensor<4x4x5xf32>)
// CHECK:           tensor.parallel_insert_slice %[[ROWS]] into %[[O]][%[[E]], 0, 0] [1, 9, 5] [1, 1, 1]
// CHECK:         %[[S:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel", "parallel"]} ins(%[[P]] : tensor<?x9x5xf32>)
// CHECK:         %[[R:.*]] = tensor.expand_shape %[[S]] {{\[\[}}0, 1], [2, 3]] output_shape [3, 3, 1, 5] : tensor<9x5xf32> into tensor<3x3x1x5xf32>
// CHECK:         return %[[R]]
func.func @one_channel(%x: tensor<?x6x6x1xf32>, %dy: tensor<?x4x4x5xf32>) -> tensor<3x3x1x5xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<3x3x1x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x3x1x5xf32>) -> tensor<3x3x1x5xf32>
  %g = linalg.generic {indexing_maps = [#in1, #dy, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %dy : tensor<?x6x6x1xf32>, tensor<?x4x4x5xf32>) outs(%f : tensor<3x3x1x5xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<3x3x1x5xf32>
  return %g : tensor<3x3x1x5xf32>
}
