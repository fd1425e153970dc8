// RUN: kiln-opt --split-input-file --allow-unregistered-dialect --kiln-fuse-example-loops %s | FileCheck %s
//
// Loops over the examples (scf.forall from 0 by 1 over the batch, results
// written by parallel_insert_slice) that read the same slices become one.

// The three steps on the shape of a convolution's backward pass:
// @input_grad and @filter_grad are independent siblings (one loop; the
// filter gradient's body first, since the input gradient feeds what joins
// later), the mask is an elementwise consumer of the input gradient (in the
// loop, in place on the example's slice, with %y's slice), and the next
// loop reads the masked gradient only as the same example's slice (it joins
// and reads the value computed in the iteration).
// CHECK-LABEL: func.func @backward
// CHECK-SAME:    (%[[DY:[a-z0-9]+]]: tensor<?x4x16xf32>, %[[Y:[a-z0-9]+]]: tensor<?x4x16xf32>, %[[X:[a-z0-9]+]]: tensor<?x4x16xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[DY]]
// CHECK:         %[[LOOP:.*]]:3 = scf.forall (%[[E:.*]]) in (%[[N]]) shared_outs(%[[DX:.*]] = %{{.*}}, %[[DW:.*]] = %{{.*}}, %[[DV:.*]] = %{{.*}})
// CHECK:           %[[G:.*]] = "test.filter_grad"
// CHECK:           %[[S:.*]] = "test.input_grad"
// CHECK:           %[[YE:.*]] = tensor.extract_slice %[[Y]][%[[E]], 0, 0] [1, 4, 16] [1, 1, 1]
// CHECK:           %[[M:.*]] = linalg.generic {{.*}} ins(%[[S]], %[[YE]] : tensor<4x16xf32>, tensor<4x16xf32>) outs(%[[S]] : tensor<4x16xf32>)
// CHECK:           %[[V:.*]] = "test.next_filter_grad"(%[[M]])
// CHECK:           scf.forall.in_parallel
// CHECK-DAG:         tensor.parallel_insert_slice %[[M]] into %[[DX]][%[[E]], 0, 0] [1, 4, 16] [1, 1, 1]
// CHECK-DAG:         tensor.parallel_insert_slice %[[G]] into %[[DW]][%[[E]], 0] [1, 16] [1, 1]
// CHECK-DAG:         tensor.parallel_insert_slice %[[V]] into %[[DV]][%[[E]], 0] [1, 16] [1, 1]
// CHECK-NOT:     scf.forall
// CHECK:         return %[[LOOP]]#0, %[[LOOP]]#1, %[[LOOP]]#2
#id = affine_map<(n, y, c) -> (n, y, c)>
func.func @backward(%dy: tensor<?x4x16xf32>, %y: tensor<?x4x16xf32>, %x: tensor<?x4x16xf32>)
    -> (tensor<?x4x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %dy, %c0 : tensor<?x4x16xf32>
  %e0 = tensor.empty(%n) : tensor<?x4x16xf32>
  %dx = scf.forall (%e) in (%n) shared_outs(%o = %e0) -> (tensor<?x4x16xf32>) {
    %dye = tensor.extract_slice %dy[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<?x4x16xf32> to tensor<4x16xf32>
    %s = "test.input_grad"(%dye) : (tensor<4x16xf32>) -> tensor<4x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %s into %o[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<4x16xf32> into tensor<?x4x16xf32>
    }
  }
  %e1 = tensor.empty(%n) : tensor<?x16xf32>
  %dw = scf.forall (%e) in (%n) shared_outs(%o = %e1) -> (tensor<?x16xf32>) {
    %dye = tensor.extract_slice %dy[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<?x4x16xf32> to tensor<4x16xf32>
    %ye = tensor.extract_slice %y[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<?x4x16xf32> to tensor<4x16xf32>
    %g = "test.filter_grad"(%dye, %ye) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %g into %o[%e, 0] [1, 16] [1, 1] : tensor<16xf32> into tensor<?x16xf32>
    }
  }
  %masked = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%dx, %y : tensor<?x4x16xf32>, tensor<?x4x16xf32>) outs(%e0 : tensor<?x4x16xf32>) {
  ^bb0(%d: f32, %v: f32, %out: f32):
    %gt = arith.cmpf ogt, %v, %zero : f32
    %m = arith.uitofp %gt : i1 to f32
    %r = arith.mulf %d, %m : f32
    linalg.yield %r : f32
  } -> tensor<?x4x16xf32>
  %e2 = tensor.empty(%n) : tensor<?x16xf32>
  %dv = scf.forall (%e) in (%n) shared_outs(%o = %e2) -> (tensor<?x16xf32>) {
    %me = tensor.extract_slice %masked[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<?x4x16xf32> to tensor<4x16xf32>
    %v = "test.next_filter_grad"(%me) : (tensor<4x16xf32>) -> tensor<16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %v into %o[%e, 0] [1, 16] [1, 1] : tensor<16xf32> into tensor<?x16xf32>
    }
  }
  return %masked, %dw, %dv : tensor<?x4x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Left apart: an elementwise op whose other input is indexed otherwise
// than the result (rows reversed) stays after the loop, and a loop that
// reads another example's slice of it (example 0's) stays a loop of its
// own.
// CHECK-LABEL: func.func @dependent
// CHECK:         scf.forall
// CHECK:         linalg.generic
// CHECK:         scf.forall
// CHECK:           tensor.extract_slice %{{.*}}[0, 0, 0] [1, 4, 16]
#id = affine_map<(n, y, c) -> (n, y, c)>
func.func @dependent(%dy: tensor<?x4x16xf32>, %y: tensor<?x4x16xf32>) -> (tensor<?x4x16xf32>, tensor<?x16xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %dy, %c0 : tensor<?x4x16xf32>
  %e0 = tensor.empty(%n) : tensor<?x4x16xf32>
  %dx = scf.forall (%e) in (%n) shared_outs(%o = %e0) -> (tensor<?x4x16xf32>) {
    %dye = tensor.extract_slice %dy[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<?x4x16xf32> to tensor<4x16xf32>
    %s = "test.input_grad"(%dye) : (tensor<4x16xf32>) -> tensor<4x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %s into %o[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<4x16xf32> into tensor<?x4x16xf32>
    }
  }
  %sum = linalg.generic {indexing_maps = [#id, affine_map<(n, y, c) -> (n, 3 - y, c)>, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%dx, %y : tensor<?x4x16xf32>, tensor<?x4x16xf32>) outs(%e0 : tensor<?x4x16xf32>) {
  ^bb0(%d: f32, %v: f32, %out: f32):
    %r = arith.addf %d, %v : f32
    linalg.yield %r : f32
  } -> tensor<?x4x16xf32>
  %e1 = tensor.empty(%n) : tensor<?x16xf32>
  %dw = scf.forall (%e) in (%n) shared_outs(%o = %e1) -> (tensor<?x16xf32>) {
    %first = tensor.extract_slice %sum[0, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<?x4x16xf32> to tensor<4x16xf32>
    %g = "test.next_filter_grad"(%first) : (tensor<4x16xf32>) -> tensor<16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %g into %o[%e, 0] [1, 16] [1, 1] : tensor<16xf32> into tensor<?x16xf32>
    }
  }
  return %sum, %dw : tensor<?x4x16xf32>, tensor<?x16xf32>
}
