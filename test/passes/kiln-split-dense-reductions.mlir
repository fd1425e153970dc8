// RUN: kiln-opt --split-input-file --kiln-split-dense-reductions %s | FileCheck %s
//
// A dense layer on a flattened feature map (dynamic rows, a static reduction
// of at least 4096) split into halves of its reduction, each a task per chunk
// of 64 rows, and the two partials added in order into the accumulator.

// CHECK-DAG:   #[[$CHUNKS:.*]] = affine_map<()[s0] -> (s0 ceildiv 64)>
// CHECK-DAG:   #[[$FIRST_ROW:.*]] = affine_map<(d0) -> (d0 * 64)>
// CHECK-DAG:   #[[$ROWS:.*]] = affine_map<(d0)[s0] -> (64, d0 * -64 + s0)>
// CHECK-DAG:   #[[$FIRST_STEP:.*]] = affine_map<(d0) -> (d0 * 9216)>
// CHECK-LABEL: func.func @dense
// CHECK-SAME:    (%[[X:.*]]: tensor<?x18432xf32>, %[[W:.*]]: tensor<18432x64xf32>, %[[ACC:.*]]: tensor<?x64xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<2x?x64xf32>
// CHECK:         %[[NCHUNKS:.*]] = affine.apply #[[$CHUNKS]]()[%[[N]]]
// CHECK:         %[[PARTIALS:.*]] = scf.forall (%[[PART:.*]], %[[CHUNK:.*]]) in (2, %[[NCHUNKS]]) shared_outs(%[[OUT:.*]] = %[[EMPTY]])
// CHECK:           %[[ROW:.*]] = affine.apply #[[$FIRST_ROW]](%[[CHUNK]])
// CHECK:           %[[COUNT:.*]] = affine.min #[[$ROWS]](%[[CHUNK]])[%[[N]]]
// CHECK:           %[[STEP:.*]] = affine.apply #[[$FIRST_STEP]](%[[PART]])
// CHECK:           %[[XS:.*]] = tensor.extract_slice %[[X]][%[[ROW]], %[[STEP]]] [%[[COUNT]], 9216] [1, 1]
// CHECK:           %[[WS:.*]] = tensor.extract_slice %[[W]][%[[STEP]], 0] [9216, 64] [1, 1]
// CHECK:           %[[ZEROS:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x64xf32>)
// CHECK:           %[[PRODUCT:.*]] = linalg.matmul ins(%[[XS]], %[[WS]] : tensor<?x9216xf32>, tensor<9216x64xf32>) outs(%[[ZEROS]] : tensor<?x64xf32>)
// CHECK:           tensor.parallel_insert_slice %[[PRODUCT]] into %[[OUT]][%[[PART]], %[[ROW]], 0] [1, %[[COUNT]], 64] [1, 1, 1]
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[PARTIALS]] : tensor<2x?x64xf32>) outs(%[[ACC]] : tensor<?x64xf32>)
// CHECK:           ^bb0(%[[P:.*]]: f32, %[[A:.*]]: f32):
// CHECK:             arith.addf %[[A]], %[[P]] : f32
// CHECK:         return %[[SUM]]
func.func @dense(%x: tensor<?x18432xf32>, %w: tensor<18432x64xf32>, %acc: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %r = linalg.matmul ins(%x, %w : tensor<?x18432xf32>, tensor<18432x64xf32>) outs(%acc : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// Left alone: a short reduction (an MLP's 784 inputs), static rows, and a
// dense layer's input gradient (its reduction is the 64 units).
// CHECK-LABEL: func.func @short
// CHECK-NOT:     scf.forall
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x784xf32>, tensor<784x64xf32>)
// CHECK-LABEL: func.func @static_rows
// CHECK-NOT:     scf.forall
// CHECK:         linalg.matmul
// CHECK-LABEL: func.func @input_gradient
// CHECK-NOT:     scf.forall
// CHECK:         linalg.matmul
func.func @short(%x: tensor<?x784xf32>, %w: tensor<784x64xf32>, %acc: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %r = linalg.matmul ins(%x, %w : tensor<?x784xf32>, tensor<784x64xf32>) outs(%acc : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}
func.func @static_rows(%x: tensor<8x18432xf32>, %w: tensor<18432x64xf32>, %acc: tensor<8x64xf32>) -> tensor<8x64xf32> {
  %r = linalg.matmul ins(%x, %w : tensor<8x18432xf32>, tensor<18432x64xf32>) outs(%acc : tensor<8x64xf32>) -> tensor<8x64xf32>
  return %r : tensor<8x64xf32>
}
func.func @input_gradient(%dy: tensor<?x64xf32>, %wt: tensor<64x18432xf32>, %acc: tensor<?x18432xf32>) -> tensor<?x18432xf32> {
  %r = linalg.matmul ins(%dy, %wt : tensor<?x64xf32>, tensor<64x18432xf32>) outs(%acc : tensor<?x18432xf32>) -> tensor<?x18432xf32>
  return %r : tensor<?x18432xf32>
}
