// RUN: kiln-opt %s --kiln-update-in-place | FileCheck %s
// RUN: kiln-opt %s --kiln-update-in-place --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s --check-prefix=BUF

// A result tagged kiln.update is written into its argument and dropped from
// the results; the argument becomes writable. After bufferization the update
// is computed straight into the argument's buffer (no allocation).
#map = affine_map<(d0) -> (d0)>
func.func @step(%w: tensor<16xf32>, %g: tensor<16xf32>) -> (tensor<f32>, tensor<16xf32> {kiln.update = 0 : i64}) {
  %c = arith.constant dense<1.0> : tensor<f32>
  %new = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]} ins(%w, %g : tensor<16xf32>, tensor<16xf32>) outs(%w : tensor<16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.subf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<16xf32>
  return %c, %new : tensor<f32>, tensor<16xf32>
}
// CHECK-LABEL: func.func @step(
// CHECK-SAME: %[[W:.*]]: tensor<16xf32> {bufferization.writable = true}, %{{.*}}: tensor<16xf32>) -> tensor<f32>
// CHECK: %[[NEW:.*]] = linalg.generic
// CHECK: bufferization.materialize_in_destination %[[NEW]] in %[[W]]
// CHECK: return %{{.*}} : tensor<f32>
// BUF-LABEL: func.func @step(
// BUF-SAME: %[[W:[^:]*]]: memref<16xf32>
// BUF-NOT: memref.alloc
// BUF: linalg.generic {{.*}} outs(%[[W]] : memref<16xf32>)

