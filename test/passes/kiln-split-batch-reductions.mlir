// RUN: kiln-opt --split-input-file --kiln-split-batch-reductions %s | FileCheck %s
//
// Sums over the batch into one register block, split into per-example
// partial sums (parallel over the batch) and their sum in batch order.

// A convolution's bias gradient: dY [N, 24, 24, 32] summed into [32]. The
// partials keep the body and the other loops, with the batch parallel, into
// a zero-filled [N, 32]; the second op adds them, batch dimension reduced,
// into the original accumulator.
// CHECK-DAG:   #[[$ALL4:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG:   #[[$ROW:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3)>
// CHECK-DAG:   #[[$ALL2:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$COL:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @bias_grad
// CHECK-SAME:    (%[[DY:.*]]: tensor<?x24x24x32xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[DY]], %c0
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<?x32xf32>
// CHECK:         %[[ZEROS:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[EMPTY]] : tensor<?x32xf32>)
// CHECK:         %[[PARTIAL:.*]] = linalg.generic {indexing_maps = [#[[$ALL4]], #[[$ROW]]], iterator_types = ["parallel", "reduction", "reduction", "parallel"]}
// CHECK-SAME:      ins(%[[DY]] : tensor<?x24x24x32xf32>) outs(%[[ZEROS]] : tensor<?x32xf32>)
// CHECK:           arith.addf
// CHECK:         %[[SUM:.*]] = linalg.generic {indexing_maps = [#[[$ALL2]], #[[$COL]]], iterator_types = ["reduction", "parallel"]}
// CHECK-SAME:      ins(%[[PARTIAL]] : tensor<?x32xf32>) outs(%[[INIT:.*]] : tensor<32xf32>)
// CHECK:           ^bb0(%[[ROWV:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK:             %[[ADD:.*]] = arith.addf %[[ACC]], %[[ROWV]] : f32
// CHECK:             linalg.yield %[[ADD]]
// CHECK:         return %[[SUM]]
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d3)>
func.func @bias_grad(%dy: tensor<?x24x24x32xf32>) -> tensor<32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<32xf32>) -> tensor<32xf32>
  %r = linalg.generic {indexing_maps = [#id4, #ch], iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
    ins(%dy : tensor<?x24x24x32xf32>) outs(%f : tensor<32xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %r : tensor<32xf32>
}

// -----

// A one-channel input's filter gradient for one window offset: x [N, 26,
// 26, 1] times dY [N, 26, 26, 32], summed over (n, y, x) into [1, 32].
// CHECK-LABEL: func.func @one_channel_filter_grad
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]
// CHECK-SAME:      outs(%{{.*}} : tensor<?x1x32xf32>)
// CHECK:           arith.mulf
// CHECK:         linalg.generic {{.*}} iterator_types = ["reduction", "parallel", "parallel"]
// CHECK-SAME:      ins(%{{.*}} : tensor<?x1x32xf32>) outs(%{{.*}} : tensor<1x32xf32>)
#x = affine_map<(ci, co, n, h, w) -> (n, h, w, ci)>
#dy = affine_map<(ci, co, n, h, w) -> (n, h, w, co)>
#out = affine_map<(ci, co, n, h, w) -> (ci, co)>
func.func @one_channel_filter_grad(%x: tensor<?x26x26x1xf32>, %dy: tensor<?x26x26x32xf32>) -> tensor<1x32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x32xf32>) -> tensor<1x32xf32>
  %r = linalg.generic {indexing_maps = [#x, #dy, #out],
                       iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]}
    ins(%x, %dy : tensor<?x26x26x1xf32>, tensor<?x26x26x32xf32>) outs(%f : tensor<1x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<1x32xf32>
  return %r : tensor<1x32xf32>
}

// -----

// Left alone: a dense layer's bias gradient (one row per example, too
// little work to split), a result of more than one block (a 32-channel
// filter gradient, already parallel over its blocks), and a maximum (not a
// sum).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT:     tensor<?x64xf32>) outs(%{{.*}} : tensor<?x
// CHECK-COUNT-3: linalg.generic
// CHECK-NOT:     linalg.generic
#rows = affine_map<(n, c) -> (n, c)>
#cols = affine_map<(n, c) -> (c)>
#xa = affine_map<(ci, co, n, h, w) -> (n, h, w, ci)>
#dya = affine_map<(ci, co, n, h, w) -> (n, h, w, co)>
#outa = affine_map<(ci, co, n, h, w) -> (ci, co)>
func.func @left_alone(%dy: tensor<?x64xf32>, %x: tensor<?x24x24x32xf32>, %g: tensor<?x24x24x32xf32>)
    -> (tensor<64xf32>, tensor<32x32xf32>, tensor<64xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<64xf32>) -> tensor<64xf32>
  %bias = linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["reduction", "parallel"]}
    ins(%dy : tensor<?x64xf32>) outs(%f : tensor<64xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  } -> tensor<64xf32>
  %e2 = tensor.empty() : tensor<32x32xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<32x32xf32>) -> tensor<32x32xf32>
  %filter = linalg.generic {indexing_maps = [#xa, #dya, #outa],
                            iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]}
    ins(%x, %g : tensor<?x24x24x32xf32>, tensor<?x24x24x32xf32>) outs(%f2 : tensor<32x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<32x32xf32>
  %max = linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["reduction", "parallel"]}
    ins(%dy : tensor<?x64xf32>) outs(%f : tensor<64xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %m = arith.maximumf %acc, %in : f32
    linalg.yield %m : f32
  } -> tensor<64xf32>
  return %bias, %filter, %max : tensor<64xf32>, tensor<32x32xf32>, tensor<64xf32>
}
