// RUN: kiln-opt --kiln-map-to-gpu --canonicalize --cse %s | FileCheck %s
// RUN: kiln-opt --kiln-map-to-gpu --kiln-emulate-gpu-on-cpu --canonicalize %s | FileCheck %s --check-prefix=EMU
//
// A model function (kiln_impl_*) after bufferization: the matmul becomes a
// shared-memory tiled kernel (two 16x64 workgroup tiles, barriers around the
// inner product, partial sums added atomically so that K can be split over
// gridDim.z), the fill a linearized one-thread-per-element kernel, the full
// reduction a one-thread kernel; buffers move to the device and every GPU op
// is async on the stream of the function's entry. Other functions (the
// deallocation helper) stay on the host.

func.func @kiln_impl_M_predict(%a: memref<?x8xf32>, %b: memref<8x4xf32>) -> memref<?x4xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = memref.dim %a, %c0 : memref<?x8xf32>
  %out = memref.alloc(%n) : memref<?x4xf32>
  linalg.fill ins(%zero : f32) outs(%out : memref<?x4xf32>)
  linalg.matmul ins(%a, %b : memref<?x8xf32>, memref<8x4xf32>) outs(%out : memref<?x4xf32>)
  %sum = memref.alloc() : memref<f32>
  linalg.fill ins(%zero : f32) outs(%sum : memref<f32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>], iterator_types = ["reduction", "reduction"]} ins(%out : memref<?x4xf32>) outs(%sum : memref<f32>) {
  ^bb0(%x: f32, %acc: f32):
    %s = arith.addf %x, %acc : f32
    linalg.yield %s : f32
  }
  memref.dealloc %sum : memref<f32>
  return %out : memref<?x4xf32>
}
func.func private @helper(%x: memref<4xf32>) {
  %one = arith.constant 1.0 : f32
  linalg.fill ins(%one : f32) outs(%x : memref<4xf32>)
  return
}

// A sum into few outputs (a bias gradient): split over threads, each adding
// every S-th row into a register, then atomically into its output.
func.func @kiln_impl_M_loss(%g: memref<?x32xf32>) -> memref<32xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<32xf32>
  linalg.fill ins(%zero : f32) outs(%out : memref<32xf32>)
  linalg.generic {indexing_maps = [affine_map<(n, c) -> (n, c)>, affine_map<(n, c) -> (c)>], iterator_types = ["reduction", "parallel"]} ins(%g : memref<?x32xf32>) outs(%out : memref<32xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %sq = arith.mulf %x, %x : f32
    %s = arith.addf %acc, %sq : f32
    linalg.yield %s : f32
  }
  return %out : memref<32xf32>
}

// A convolution (3 x 3 window, 4 -> 32 channels) is the same tiled kernel,
// an implicit GEMM: M = N*8*8 output pixels, N = 32 filters (128 x 32
// tiles), K = 3*3*4 = 36 window elements; the A tile is read straight from
// the input at (n, oh + kh, ow + kw, c) through the convolution's indexing
// map (no im2col buffer), the B tile from the filter.
func.func @kiln_impl_M_conv(%x: memref<?x10x10x4xf32>, %k: memref<3x3x4x32xf32>) -> memref<?x8x8x32xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = memref.dim %x, %c0 : memref<?x10x10x4xf32>
  %out = memref.alloc(%n) : memref<?x8x8x32xf32>
  linalg.fill ins(%zero : f32) outs(%out : memref<?x8x8x32xf32>)
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
    ins(%x, %k : memref<?x10x10x4xf32>, memref<3x3x4x32xf32>) outs(%out : memref<?x8x8x32xf32>)
  return %out : memref<?x8x8x32xf32>
}

// CHECK-LABEL: func.func @kiln_impl_M_predict(
// CHECK:         %[[S:.*]] = gpu.wait async
// CHECK:         %[[OUT:.*]], %{{.*}} = gpu.alloc async [%[[S]]] (%{{.*}}) : memref<?x4xf32>
// The fill: ceil(N * 4 / 256) blocks of 256 threads.
// CHECK:         gpu.launch async [%[[S]]] blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c256, {{.*}} = %c1, {{.*}} = %c1) {
// CHECK:           scf.if
// CHECK:             memref.store %{{.*}}, %[[OUT]]
// The matmul: (M / 128, N / 32, splits) blocks of 256 threads (N = 4 is
// narrow: 128 x 32 tiles rather than 64 x 64).
// CHECK:         gpu.launch async [%[[S]]] {{.*}} threads({{.*}}) in ({{.*}} = %c256, {{.*}}) workgroup(%[[TA:.*]] : memref<16x128xf32, #gpu.address_space<workgroup>>, %[[TB:.*]] : memref<16x32xf32, #gpu.address_space<workgroup>>) {
// CHECK:           scf.for %{{.*}} step %c16 iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK-COUNT-8:     memref.store %{{.*}}, %[[TA]]
// CHECK-COUNT-2:     memref.store %{{.*}}, %[[TB]]
// CHECK:             gpu.barrier
// CHECK:             scf.for %{{.*}} = %c0 to %c16 step %c1
// CHECK:               memref.load %[[TA]]
// CHECK:               memref.load %[[TB]]
// CHECK:               arith.mulf %{{.*}} fastmath<contract>
// CHECK:               arith.addf %{{.*}} fastmath<contract>
// CHECK:             gpu.barrier
// CHECK-COUNT-16:  memref.atomic_rmw addf %{{.*}}, %[[OUT]]
// The fill of the scalar: one thread. The sum into it: split over threads
// that each add every S-th element, then atomically into the scalar.
// CHECK:         %[[SUM:.*]], %{{.*}} = gpu.alloc async [%[[S]]] () : memref<f32>
// CHECK:         gpu.launch async [%[[S]]] blocks({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1)
// CHECK:         gpu.launch async [%[[S]]] blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c256, {{.*}} = %c1, {{.*}} = %c1)
// CHECK:           scf.for
// CHECK:             memref.load %[[OUT]]
// CHECK:           memref.atomic_rmw addf %{{.*}}, %[[SUM]][]
// CHECK:         gpu.dealloc async [%[[S]]] %[[SUM]]
// CHECK:         return %[[OUT]]
// CHECK-LABEL: func.func private @helper(
// CHECK-NOT:     gpu.
// CHECK:         linalg.fill
// CHECK-LABEL: func.func @kiln_impl_M_loss(
// CHECK:         %[[N:.*]] = memref.dim %arg0, %c0
// CHECK:         %[[SPLITS:.*]] = arith.maxui %{{.*}}, %c1 : index
// CHECK:         %[[THREADS:.*]] = arith.muli %[[SPLITS]], %c32 : index
// CHECK:         gpu.launch
// CHECK:           %[[ID:.*]] = arith.addi
// CHECK:           scf.if
// CHECK:             %[[C:.*]] = arith.remui %[[ID]], %c32
// CHECK:             %[[S:.*]] = arith.divui %[[ID]], %c32
// CHECK:             %[[SUM:.*]] = scf.for %[[R:.*]] = %[[S]] to %[[N]] step %[[SPLITS]] iter_args
// CHECK:               memref.load %arg0[%[[R]], %[[C]]]
// CHECK:               arith.mulf
// CHECK:               arith.addf
// CHECK:             memref.atomic_rmw addf %[[SUM]], %{{.*}}[%[[C]]]

// kiln-emulate-gpu-on-cpu: the same kernels as loops over blocks and threads,
// the tiled kernel split at its barriers (each stretch for all 256 threads in
// turn, the accumulators in per-thread buffers); no GPU op is left.
// EMU-LABEL: func.func @kiln_impl_M_predict(
// EMU-NOT:     gpu.
// EMU:         %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<?x4xf32>
// EMU:         scf.for
// EMU:           scf.for %{{.*}} = %c0 to %c256 step %c1 {
// EMU:         memref.alloca() : memref<16x128xf32>
// EMU:         memref.alloca() : memref<16x32xf32>
// EMU:         memref.alloc() : memref<256xf32>
// EMU-NOT:     gpu.
// EMU:         return %[[OUT]]

// CHECK-LABEL: func.func @kiln_impl_M_conv(
// CHECK-SAME:    %[[X:.*]]: memref<?x10x10x4xf32>, %[[K:.*]]: memref<3x3x4x32xf32>
// CHECK:         %[[S:.*]] = gpu.wait async
// CHECK:         %[[N:.*]] = memref.dim %[[X]], %c0
// CHECK:         %[[OUT:.*]], %{{.*}} = gpu.alloc async [%[[S]]] (%[[N]]) : memref<?x8x8x32xf32>
// CHECK-NOT:     gpu.alloc
// CHECK-NOT:     memref.alloc
// CHECK:         gpu.launch async [%[[S]]]
// CHECK:           memref.store %{{.*}}, %[[OUT]]
// CHECK:         %[[M:.*]] = arith.muli %[[N]], %c64 : index
// CHECK:         %[[MT:.*]] = arith.ceildivui %[[M]], %c128 : index
// CHECK:         arith.ceildivui %c36, %{{.*}} : index
// CHECK:         gpu.launch async [%[[S]]] blocks({{.*}}) in ({{.*}} = %[[MT]], {{.*}} = %c1, {{.*}}) threads({{.*}}) in ({{.*}} = %c256, {{.*}}) workgroup(%[[TA:.*]] : memref<16x128xf32, #gpu.address_space<workgroup>>, %[[TB:.*]] : memref<16x32xf32, #gpu.address_space<workgroup>>) {
// CHECK:           scf.for %{{.*}} step %c16 iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK:             %[[Y:.*]] = affine.apply #{{.*}}(%{{.*}})[%{{.*}}]
// CHECK:             %[[XX:.*]] = affine.apply #{{.*}}(%{{.*}})[%{{.*}}]
// CHECK:             memref.load %[[X]][%{{.*}}, %[[Y]], %[[XX]], %{{.*}}] : memref<?x10x10x4xf32>
// CHECK:             memref.store %{{.*}}, %[[TA]]
// CHECK:             memref.load %[[K]]
// CHECK:             memref.store %{{.*}}, %[[TB]]
// CHECK:             gpu.barrier
// CHECK:             memref.load %[[TA]]
// CHECK:             memref.load %[[TB]]
// CHECK:             arith.mulf %{{.*}} fastmath<contract>
// CHECK:             gpu.barrier
// CHECK-COUNT-16:  memref.atomic_rmw addf %{{.*}}, %[[OUT]]
// CHECK:         return %[[OUT]]
