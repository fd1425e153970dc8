// RUN: kiln-opt --split-input-file --kiln-pack-transposed-weights %s | FileCheck %s
//
// A dense layer's input gradient (the output gradient by the transposed
// kernel) as one task per 64-column panel: the panel's rows of W transposed,
// the whole batch multiplied by them into the panel's columns; a zero fill
// of the accumulator moves into the task.

// CHECK-DAG:   #[[$FIRST:.*]] = affine_map<(d0) -> (d0 * 64)>
// CHECK-LABEL: func.func @input_gradient
// CHECK-SAME:    (%[[DY:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<18432x64xf32>)
// CHECK-NOT:     linalg.transpose
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%{{.*}}) : tensor<?x18432xf32>
// CHECK:         %[[N:.*]] = tensor.dim %[[DY]], %{{.*}} : tensor<?x64xf32>
// CHECK:         %[[DX:.*]] = scf.forall (%[[P:.*]]) in (288) shared_outs(%[[OUT:.*]] = %[[EMPTY]])
// CHECK:           %[[COL:.*]] = affine.apply #[[$FIRST]](%[[P]])
// CHECK:           %[[ROWS:.*]] = tensor.extract_slice %[[W]][%[[COL]], 0] [64, 64] [1, 1] : tensor<18432x64xf32> to tensor<64x64xf32>
// CHECK:           %[[PANEL:.*]] = linalg.transpose ins(%[[ROWS]] : tensor<64x64xf32>) outs(%{{.*}} : tensor<64x64xf32>) permutation = [1, 0]
// CHECK:           %[[SLICE:.*]] = tensor.extract_slice %[[OUT]][0, %[[COL]]] [%[[N]], 64] [1, 1]
// CHECK:           %[[ZEROS:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[SLICE]] : tensor<?x64xf32>)
// CHECK:           %[[PRODUCT:.*]] = linalg.matmul ins(%[[DY]], %[[PANEL]] : tensor<?x64xf32>, tensor<64x64xf32>) outs(%[[ZEROS]] : tensor<?x64xf32>)
// CHECK:           tensor.parallel_insert_slice %[[PRODUCT]] into %[[OUT]][0, %[[COL]]] [%[[N]], 64] [1, 1]
// CHECK:         return %[[DX]]
func.func @input_gradient(%dy: tensor<?x64xf32>, %w: tensor<18432x64xf32>) -> tensor<?x18432xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %dy, %c0 : tensor<?x64xf32>
  %t0 = tensor.empty() : tensor<64x18432xf32>
  %wt = linalg.transpose ins(%w : tensor<18432x64xf32>) outs(%t0 : tensor<64x18432xf32>) permutation = [1, 0]
  %e = tensor.empty(%n) : tensor<?x18432xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<?x18432xf32>) -> tensor<?x18432xf32>
  %dx = linalg.matmul ins(%dy, %wt : tensor<?x64xf32>, tensor<64x18432xf32>) outs(%acc : tensor<?x18432xf32>) -> tensor<?x18432xf32>
  return %dx : tensor<?x18432xf32>
}

// -----

// The form reshape fusion leaves (the transpose of W expanded on its rows,
// collapsed back), and an accumulator that is not a fill: it is the
// forall's shared output, accumulated into as before.
// CHECK-LABEL: func.func @expanded_transpose
// CHECK-SAME:    (%[[DY:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<18432x64xf32>, %[[ACC:.*]]: tensor<?x18432xf32>)
// CHECK-NOT:     linalg.transpose ins(%{{.*}} : tensor<24x24x32x64xf32>)
// CHECK-NOT:     tensor.expand_shape
// CHECK:         scf.forall (%{{.*}}) in (288) shared_outs(%[[OUT:.*]] = %[[ACC]])
// CHECK:           linalg.transpose ins(%{{.*}} : tensor<64x64xf32>)
// CHECK-NOT:       linalg.fill
// CHECK:           linalg.matmul
func.func @expanded_transpose(%dy: tensor<?x64xf32>, %w: tensor<18432x64xf32>, %acc: tensor<?x18432xf32>) -> tensor<?x18432xf32> {
  %t0 = tensor.empty() : tensor<64x18432xf32>
  %we = tensor.expand_shape %w [[0, 1, 2], [3]] output_shape [24, 24, 32, 64] : tensor<18432x64xf32> into tensor<24x24x32x64xf32>
  %t0e = tensor.expand_shape %t0 [[0], [1, 2, 3]] output_shape [64, 24, 24, 32] : tensor<64x18432xf32> into tensor<64x24x24x32xf32>
  %wt4 = linalg.transpose ins(%we : tensor<24x24x32x64xf32>) outs(%t0e : tensor<64x24x24x32xf32>) permutation = [3, 0, 1, 2]
  %wt = tensor.collapse_shape %wt4 [[0], [1, 2, 3]] : tensor<64x24x24x32xf32> into tensor<64x18432xf32>
  %dx = linalg.matmul ins(%dy, %wt : tensor<?x64xf32>, tensor<64x18432xf32>) outs(%acc : tensor<?x18432xf32>) -> tensor<?x18432xf32>
  return %dx : tensor<?x18432xf32>
}

// -----

// Left alone: weights with few rows (C < 4096), rows that do not split into
// 64-column panels, a deep reduction (K > 128), an operand transposed some
// other way.
// CHECK-LABEL: func.func @few_rows
// CHECK-NOT:     scf.forall
// CHECK-LABEL: func.func @no_panels
// CHECK-NOT:     scf.forall
// CHECK-LABEL: func.func @deep
// CHECK-NOT:     scf.forall
// CHECK-LABEL: func.func @other_permutation
// CHECK-NOT:     scf.forall
// CHECK:         return
func.func @few_rows(%dy: tensor<?x64xf32>, %w: tensor<1024x64xf32>, %acc: tensor<?x1024xf32>) -> tensor<?x1024xf32> {
  %t0 = tensor.empty() : tensor<64x1024xf32>
  %wt = linalg.transpose ins(%w : tensor<1024x64xf32>) outs(%t0 : tensor<64x1024xf32>) permutation = [1, 0]
  %dx = linalg.matmul ins(%dy, %wt : tensor<?x64xf32>, tensor<64x1024xf32>) outs(%acc : tensor<?x1024xf32>) -> tensor<?x1024xf32>
  return %dx : tensor<?x1024xf32>
}
func.func @no_panels(%dy: tensor<?x64xf32>, %w: tensor<4100x64xf32>, %acc: tensor<?x4100xf32>) -> tensor<?x4100xf32> {
  %t0 = tensor.empty() : tensor<64x4100xf32>
  %wt = linalg.transpose ins(%w : tensor<4100x64xf32>) outs(%t0 : tensor<64x4100xf32>) permutation = [1, 0]
  %dx = linalg.matmul ins(%dy, %wt : tensor<?x64xf32>, tensor<64x4100xf32>) outs(%acc : tensor<?x4100xf32>) -> tensor<?x4100xf32>
  return %dx : tensor<?x4100xf32>
}
func.func @deep(%dy: tensor<?x256xf32>, %w: tensor<4096x256xf32>, %acc: tensor<?x4096xf32>) -> tensor<?x4096xf32> {
  %t0 = tensor.empty() : tensor<256x4096xf32>
  %wt = linalg.transpose ins(%w : tensor<4096x256xf32>) outs(%t0 : tensor<256x4096xf32>) permutation = [1, 0]
  %dx = linalg.matmul ins(%dy, %wt : tensor<?x256xf32>, tensor<256x4096xf32>) outs(%acc : tensor<?x4096xf32>) -> tensor<?x4096xf32>
  return %dx : tensor<?x4096xf32>
}
func.func @other_permutation(%dy: tensor<?x64xf32>, %w: tensor<64x64x72xf32>, %acc: tensor<?x4608xf32>) -> tensor<?x4608xf32> {
  %t0 = tensor.empty() : tensor<64x64x72xf32>
  %wt3 = linalg.transpose ins(%w : tensor<64x64x72xf32>) outs(%t0 : tensor<64x64x72xf32>) permutation = [1, 0, 2]
  %wt = tensor.collapse_shape %wt3 [[0], [1, 2]] : tensor<64x64x72xf32> into tensor<64x4608xf32>
  %dx = linalg.matmul ins(%dy, %wt : tensor<?x64xf32>, tensor<64x4608xf32>) outs(%acc : tensor<?x4608xf32>) -> tensor<?x4608xf32>
  return %dx : tensor<?x4608xf32>
}
