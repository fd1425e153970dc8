// RUN: kiln-opt --kiln-add-batch-gather %s | FileCheck %s
//
// One gather function per data input of the loss: rows of a whole dataset
// picked by i32 indices, as one parallel linalg.generic.

module {
  module @M attributes {kiln.model} {
    func.func @M_loss(%w: tensor<4xf32>, %x: tensor<?x4xf32> {kiln.input = "x"}, %y: tensor<?xi32> {kiln.input = "y"}) -> tensor<f32> {
      %0 = tensor.empty() : tensor<f32>
      return %0 : tensor<f32>
    }
  }
  // A module without kiln.model is left alone.
  module @other {
    func.func @other_loss(%x: tensor<?x4xf32> {kiln.input = "x"}) -> tensor<?x4xf32> {
      return %x : tensor<?x4xf32>
    }
  }
}

// CHECK-LABEL: func.func @M_gather_x(%{{.*}}: tensor<?x4xf32>, %{{.*}}: tensor<?xi32>) -> tensor<?x4xf32> attributes {kiln.gather = "x"}
// CHECK:         %[[N:.*]] = tensor.dim %arg1, %{{.*}} : tensor<?xi32>
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf32>
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} ins(%arg1 : tensor<?xi32>) outs(%[[E]] : tensor<?x4xf32>)
// CHECK:           %[[ROW:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK:           %[[COL:.*]] = linalg.index 1 : index
// CHECK:           tensor.extract %arg0[%[[ROW]], %[[COL]]] : tensor<?x4xf32>
// CHECK-LABEL: func.func @M_gather_y(%{{.*}}: tensor<?xi32>, %{{.*}}: tensor<?xi32>) -> tensor<?xi32> attributes {kiln.gather = "y"}
// CHECK-NOT:   @other_gather
