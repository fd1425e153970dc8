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

// -----

// Step 4, generics joining the loop as new results: the relu mask of the
// output gradient (read by the loop only as its examples' slices) is
// computed in the iteration from %g's and %y's slices; the batch sums'
// partial sums (per example, over rows) of the mask (before the loop; its
// final sum over the batch and the dense layer reading it move below) and
// of the loop's result (after it) are computed in the iteration too. The
// contraction with a weight matrix (a dense layer) does not join.
// CHECK-LABEL: func.func @joins
// CHECK-SAME:    (%[[G:[a-z0-9]+]]: tensor<?x4x16xf32>, %[[Y:[a-z0-9]+]]: tensor<?x4x16xf32>, %[[W:[a-z0-9]+]]: tensor<16x4096xf32>)
// CHECK:         %[[LOOP:.*]]:4 = scf.forall (%[[E:.*]]) in
// CHECK:           %[[GE:.*]] = tensor.extract_slice %[[G]][%[[E]], 0, 0] [1, 4, 16] [1, 1, 1]
// CHECK:           %[[YE:.*]] = tensor.extract_slice %[[Y]][%[[E]], 0, 0] [1, 4, 16] [1, 1, 1]
// CHECK:           %[[MASK:.*]] = linalg.generic {{.*}} ins(%[[GE]], %[[YE]] : tensor<4x16xf32>, tensor<4x16xf32>)
// CHECK:           %[[PART:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%[[MASK]] : tensor<4x16xf32>)
// CHECK:           %[[S:.*]] = "test.input_grad"(%[[MASK]])
// CHECK:           %[[PART2:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%[[S]] : tensor<4x16xf32>)
// CHECK:           scf.forall.in_parallel
// CHECK-NEXT:        tensor.parallel_insert_slice %[[S]] into
// CHECK-NEXT:        tensor.parallel_insert_slice %[[PART2]] into
// CHECK-NEXT:        tensor.parallel_insert_slice %[[PART]] into
// CHECK-NEXT:        tensor.parallel_insert_slice %[[MASK]] into
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%[[LOOP]]#2 : tensor<?x16xf32>)
// CHECK:         %[[DENSE:.*]] = linalg.generic {{.*}} ins(%[[LOOP]]#2, %[[W]] :
// CHECK-NOT:     scf.forall
// CHECK:         return %[[LOOP]]#0, %[[SUM]], %[[LOOP]]#1, %[[DENSE]]
#id = affine_map<(n, y, c) -> (n, y, c)>
#rows = affine_map<(n, y, c) -> (n, c)>
func.func @joins(%g: tensor<?x4x16xf32>, %y: tensor<?x4x16xf32>, %w: tensor<16x4096xf32>)
    -> (tensor<?x4x16xf32>, tensor<16xf32>, tensor<?x16xf32>, tensor<?x4096xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %g, %c0 : tensor<?x4x16xf32>
  %e0 = tensor.empty(%n) : tensor<?x4x16xf32>
  %mask = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%g, %y : tensor<?x4x16xf32>, tensor<?x4x16xf32>) outs(%e0 : tensor<?x4x16xf32>) {
  ^bb0(%d: f32, %v: f32, %out: f32):
    %gt = arith.cmpf ogt, %v, %zero : f32
    %m = arith.uitofp %gt : i1 to f32
    %r = arith.mulf %d, %m : f32
    linalg.yield %r : f32
  } -> tensor<?x4x16xf32>
  %e1 = tensor.empty(%n) : tensor<?x16xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?x16xf32>) -> tensor<?x16xf32>
  %part = linalg.generic {indexing_maps = [#id, #rows], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%mask : tensor<?x4x16xf32>) outs(%z1 : tensor<?x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  } -> tensor<?x16xf32>
  %e16 = tensor.empty() : tensor<16xf32>
  %z16 = linalg.fill ins(%zero : f32) outs(%e16 : tensor<16xf32>) -> tensor<16xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(n, c) -> (n, c)>, affine_map<(n, c) -> (c)>], iterator_types = ["reduction", "parallel"]}
      ins(%part : tensor<?x16xf32>) outs(%z16 : tensor<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %out, %in : f32
    linalg.yield %s : f32
  } -> tensor<16xf32>
  %dx = scf.forall (%e) in (%n) shared_outs(%o = %e0) -> (tensor<?x4x16xf32>) {
    %me = tensor.extract_slice %mask[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<?x4x16xf32> to tensor<4x16xf32>
    %s = "test.input_grad"(%me) : (tensor<4x16xf32>) -> tensor<4x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %s into %o[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<4x16xf32> into tensor<?x4x16xf32>
    }
  }
  %part2 = linalg.generic {indexing_maps = [#id, #rows], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%dx : tensor<?x4x16xf32>) outs(%z1 : tensor<?x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  } -> tensor<?x16xf32>
  %e2 = tensor.empty(%n) : tensor<?x4096xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %dense = linalg.generic {indexing_maps = [affine_map<(n, k, c) -> (n, c)>, affine_map<(n, k, c) -> (c, k)>, affine_map<(n, k, c) -> (n, k)>],
                           iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%part, %w : tensor<?x16xf32>, tensor<16x4096xf32>) outs(%z2 : tensor<?x4096xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %out, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x4096xf32>
  return %dx, %sum, %part2, %dense : tensor<?x4x16xf32>, tensor<16xf32>, tensor<?x16xf32>, tensor<?x4096xf32>
}

// -----

// A generic before a loop that reads what the loop reads (%y) but whose
// result an earlier loop reads stays where it is: joining the later loop
// would need that earlier loop to move below it too.
// CHECK-LABEL: func.func @used_by_an_earlier_loop
// CHECK:         %[[MASK:.*]] = linalg.generic
// CHECK:         scf.forall
// CHECK:           tensor.extract_slice %[[MASK]][0, 0, 0]
// CHECK:         scf.forall
// CHECK-NOT:       linalg.generic
// CHECK:         return
#id = affine_map<(n, y, c) -> (n, y, c)>
func.func @used_by_an_earlier_loop(%g: tensor<?x4x16xf32>, %y: tensor<?x4x16xf32>) -> (tensor<?x16xf32>, tensor<?x4x16xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %g, %c0 : tensor<?x4x16xf32>
  %e0 = tensor.empty(%n) : tensor<?x4x16xf32>
  %mask = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%g, %y : tensor<?x4x16xf32>, tensor<?x4x16xf32>) outs(%e0 : tensor<?x4x16xf32>) {
  ^bb0(%d: f32, %v: f32, %out: f32):
    %r = arith.mulf %d, %v : f32
    linalg.yield %r : f32
  } -> tensor<?x4x16xf32>
  %e1 = tensor.empty(%n) : tensor<?x16xf32>
  %first = scf.forall (%e) in (%n) shared_outs(%o = %e1) -> (tensor<?x16xf32>) {
    %me = tensor.extract_slice %mask[0, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<?x4x16xf32> to tensor<4x16xf32>
    %v = "test.reduce"(%me) : (tensor<4x16xf32>) -> tensor<16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %v into %o[%e, 0] [1, 16] [1, 1] : tensor<16xf32> into tensor<?x16xf32>
    }
  }
  %dx = scf.forall (%e) in (%n) shared_outs(%o = %e0) -> (tensor<?x4x16xf32>) {
    %ye = tensor.extract_slice %y[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<?x4x16xf32> to tensor<4x16xf32>
    %s = "test.input_grad"(%ye, %first) : (tensor<4x16xf32>, tensor<?x16xf32>) -> tensor<4x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %s into %o[%e, 0, 0] [1, 4, 16] [1, 1, 1] : tensor<4x16xf32> into tensor<?x4x16xf32>
    }
  }
  return %first, %dx : tensor<?x16xf32>, tensor<?x4x16xf32>
}
