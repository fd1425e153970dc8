// RUN: kiln-opt --split-input-file --kiln-lower-vectors %s | FileCheck %s

// The k loop of a dense layer after bufferization: the contraction becomes
// one broadcast of an lhs element and one FMA on the 64-wide row per k step;
// the 2-D read of the weights becomes eight 1-D loads.

// CHECK-LABEL: func.func @dense_k_loop
// CHECK:         scf.for {{.*}} -> (vector<64xf32>)
// CHECK-COUNT-8:   vector.load {{.*}} : memref<256x64xf32>, vector<64xf32>
// CHECK-COUNT-8:   vector.fma {{.*}} : vector<64xf32>
// CHECK-NOT:     vector.contract
// CHECK-NOT:     vector.transfer_read
func.func @dense_k_loop(%a: memref<1x256xf32>, %b: memref<256x64xf32>, %out: memref<1x64xf32>) {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c256 = arith.constant 256 : index
  %pad = arith.constant 0.0 : f32
  %zero = arith.constant dense<0.0> : vector<64xf32>
  %acc = scf.for %k = %c0 to %c256 step %c8 iter_args(%v = %zero) -> (vector<64xf32>) {
    %x = vector.transfer_read %a[%c0, %k], %pad {in_bounds = [true]} : memref<1x256xf32>, vector<8xf32>
    %w = vector.transfer_read %b[%k, %c0], %pad {in_bounds = [true, true]} : memref<256x64xf32>, vector<8x64xf32>
    %r = vector.contract {indexing_maps = [affine_map<(n, k) -> (k)>, affine_map<(n, k) -> (k, n)>, affine_map<(n, k) -> (n)>],
                          iterator_types = ["parallel", "reduction"], kind = #vector.kind<add>} %x, %w, %v
      : vector<8xf32>, vector<8x64xf32> into vector<64xf32>
    scf.yield %r : vector<64xf32>
  }
  vector.transfer_write %acc, %out[%c0, %c0] {in_bounds = [true]} : vector<64xf32>, memref<1x64xf32>
  return
}

// -----

// A convolution block: 8 pixels x 4 input channels times 4 x 32 weights into
// an 8 x 32 accumulator: per input channel, 8 broadcasts and 8 FMAs on the
// 32-wide rows (outer products); the accumulator stays a loop-carried value.

// CHECK-LABEL: func.func @conv_block
// CHECK:         scf.for {{.*}} -> (vector<8x32xf32>)
// CHECK-COUNT-32:  vector.fma {{.*}} : vector<32xf32>
// CHECK-NOT:     vector.contract
// CHECK-NOT:     vector.outerproduct
func.func @conv_block(%x: memref<8x32xf32>, %w: memref<32x32xf32>, %out: memref<8x32xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c32 = arith.constant 32 : index
  %pad = arith.constant 0.0 : f32
  %zero = arith.constant dense<0.0> : vector<8x32xf32>
  %acc = scf.for %c = %c0 to %c32 step %c4 iter_args(%v = %zero) -> (vector<8x32xf32>) {
    %lhs = vector.transfer_read %x[%c0, %c], %pad {in_bounds = [true, true]} : memref<8x32xf32>, vector<8x4xf32>
    %rhs = vector.transfer_read %w[%c, %c0], %pad {in_bounds = [true, true]} : memref<32x32xf32>, vector<4x32xf32>
    %r = vector.contract {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>],
                          iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %lhs, %rhs, %v
      : vector<8x4xf32>, vector<4x32xf32> into vector<8x32xf32>
    scf.yield %r : vector<8x32xf32>
  }
  vector.transfer_write %acc, %out[%c0, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x32xf32>
  return
}

// -----

// A 16 x 16 f32 transpose becomes AVX-512 style shuffles (unpacks of 32-
// and 64-bit lanes, then 128-bit lane permutes: vector.shuffle ops), not
// 256 element extracts and inserts; a 4 x 8 one keeps the element-wise
// lowering.
// CHECK-LABEL: func.func @square_transpose
// CHECK-COUNT-64: vector.shuffle
// CHECK-NOT:     vector.shuffle
// CHECK-NOT:     vector.transpose
// CHECK:         return
func.func @square_transpose(%m: memref<16x16xf32>, %n: memref<4x8xf32>) -> (vector<16x16xf32>, vector<8x4xf32>) {
  %c0 = arith.constant 0 : index
  %p = arith.constant 0.0 : f32
  %v = vector.transfer_read %m[%c0, %c0], %p {in_bounds = [true, true]} : memref<16x16xf32>, vector<16x16xf32>
  %t = vector.transpose %v, [1, 0] : vector<16x16xf32> to vector<16x16xf32>
  %w = vector.transfer_read %n[%c0, %c0], %p {in_bounds = [true, true]} : memref<4x8xf32>, vector<4x8xf32>
  %u = vector.transpose %w, [1, 0] : vector<4x8xf32> to vector<8x4xf32>
  return %t, %u : vector<16x16xf32>, vector<8x4xf32>
}
