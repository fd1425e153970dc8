// RUN: kiln-opt --split-input-file --kiln-choose-tile-sizes %s | FileCheck %s
//
// The CPU's tile-size policy alone: each tiling unit's compute op gets
// kiln.tile_sizes, one size per loop (parallel loops: the register block;
// reductions: the step inside it; 0: whole), and nothing else changes.
// kiln-tile-and-vectorize.mlir checks the tiling by these sizes.

// A dense layer with a dynamic batch: 4 rows x 64 columns (the rows are
// peeled later), k by 8.
// CHECK-LABEL: func.func @dense
// CHECK:         linalg.matmul {kiln.tile_sizes = array<i64: 4, 64, 8>}
func.func @dense(%a: tensor<?x256xf32>, %b: tensor<256x64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %a, %c0 : tensor<?x256xf32>
  %e = tensor.empty(%n) : tensor<?x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x64xf32>) -> tensor<?x64xf32>
  %m = linalg.matmul ins(%a, %b : tensor<?x256xf32>, tensor<256x64xf32>) outs(%f : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %m : tensor<?x64xf32>
}

// -----

// A narrow matmul: 8 rows x 32 columns (also 16 zmm accumulators); a static
// row count takes its largest divisor under 8 (6 of 12).
// CHECK-LABEL: func.func @narrow
// CHECK:         linalg.matmul {kiln.tile_sizes = array<i64: 6, 32, 8>}
func.func @narrow(%a: tensor<12x40xf32>, %b: tensor<40x32xf32>) -> tensor<12x32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<12x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<12x32xf32>) -> tensor<12x32xf32>
  %m = linalg.matmul ins(%a, %b : tensor<12x40xf32>, tensor<40x32xf32>) outs(%f : tensor<12x32xf32>) -> tensor<12x32xf32>
  return %m : tensor<12x32xf32>
}

// -----

// A convolution with its bias + relu epilogue: the sizes go on the
// convolution (n, oh, ow, f | kh, kw, c): a row segment of 8 pixels x 32
// channels, 1 x 1 window steps, 4 input channels; the epilogue, tiled with
// it, gets none of its own.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#bias = affine_map<(d0, d1, d2, d3) -> (d3)>
// CHECK-LABEL: func.func @conv_bias_relu
// CHECK:         linalg.conv_2d_nhwc_hwcf
// CHECK-SAME:      kiln.tile_sizes = array<i64: 1, 1, 8, 32, 1, 1, 4>
// CHECK:         linalg.generic
// CHECK-NOT:       kiln.tile_sizes
// CHECK:         return
func.func @conv_bias_relu(%x: tensor<?x26x26x32xf32>, %k: tensor<3x3x32x32xf32>, %b: tensor<32xf32>) -> tensor<?x24x24x32xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %x, %c0 : tensor<?x26x26x32xf32>
  %e = tensor.empty(%n) : tensor<?x24x24x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  %conv = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
    ins(%x, %k : tensor<?x26x26x32xf32>, tensor<3x3x32x32xf32>) outs(%f : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  %r = linalg.generic {indexing_maps = [#map, #bias, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
    ins(%conv, %b : tensor<?x24x24x32xf32>, tensor<32xf32>) outs(%e : tensor<?x24x24x32xf32>) {
  ^bb0(%in: f32, %bias: f32, %out: f32):
    %s = arith.addf %in, %bias : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x24x24x32xf32>
  return %r : tensor<?x24x24x32xf32>
}

// -----

// Max pooling (n, oh, ow, c | kh, kw): 12 output pixels have no divisor
// between 4 and 8 but 6; the kernel row by 1 (it then decomposes to 1-D).
// CHECK-LABEL: func.func @max_pool
// CHECK:         linalg.pooling_nhwc_max
// CHECK-SAME:      kiln.tile_sizes = array<i64: 1, 1, 6, 32, 1, 0>
func.func @max_pool(%x: tensor<?x24x24x32xf32>) -> tensor<?x12x12x32xf32> {
  %c0 = arith.constant 0 : index
  %init = arith.constant 0xFF800000 : f32
  %n = tensor.dim %x, %c0 : tensor<?x24x24x32xf32>
  %e = tensor.empty(%n) : tensor<?x12x12x32xf32>
  %f = linalg.fill ins(%init : f32) outs(%e : tensor<?x12x12x32xf32>) -> tensor<?x12x12x32xf32>
  %w = tensor.empty() : tensor<2x2xf32>
  %p = linalg.pooling_nhwc_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
    ins(%x, %w : tensor<?x24x24x32xf32>, tensor<2x2xf32>) outs(%f : tensor<?x12x12x32xf32>) -> tensor<?x12x12x32xf32>
  return %p : tensor<?x12x12x32xf32>
}

// -----

// A filter gradient per window offset (c, f | n, y, x): blocked like a
// matmul, 4 x 32, every reduction step by 1 (one outer product each).
#in = affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4, d0)>
#dy = affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4, d1)>
#out = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1)>
// CHECK-LABEL: func.func @filter_grad
// CHECK:         linalg.generic
// CHECK-SAME:      kiln.tile_sizes = array<i64: 8, 32, 1, 1, 1>
func.func @filter_grad(%x: tensor<?x24x24x32xf32>, %dy: tensor<?x24x24x32xf32>) -> tensor<32x32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<32x32xf32>) -> tensor<32x32xf32>
  %r = linalg.generic {indexing_maps = [#in, #dy, #out], iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]}
    ins(%x, %dy : tensor<?x24x24x32xf32>, tensor<?x24x24x32xf32>) outs(%f : tensor<32x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<32x32xf32>
  return %r : tensor<32x32xf32>
}

// -----

// A bias gradient (n, y, x reduced into c): 32 channels in one block; the
// reduction is too large to vectorize whole, and the innermost dimension is
// parallel, so every reduction dimension steps by 1 (one vector add each).
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d3)>
// CHECK-LABEL: func.func @bias_grad
// CHECK:         linalg.generic
// CHECK-SAME:      kiln.tile_sizes = array<i64: 1, 1, 1, 32>
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

// A large transpose gets cache blocks of up to 64 x 64 on the input's and
// the output's innermost dimensions; a small one (and the fill) none.
// CHECK-LABEL: func.func @transposes
// CHECK:         linalg.transpose
// CHECK-SAME:      {kiln.tile_sizes = array<i64: 64, 1, 1, 32>}
// CHECK:         linalg.transpose
// CHECK-NOT:       kiln.tile_sizes
// CHECK:         return
func.func @transposes(%w: tensor<24x24x32x64xf32>, %s: tensor<4x8xf32>) -> (tensor<64x24x24x32xf32>, tensor<8x4xf32>) {
  %e = tensor.empty() : tensor<64x24x24x32xf32>
  %t = linalg.transpose ins(%w : tensor<24x24x32x64xf32>) outs(%e : tensor<64x24x24x32xf32>) permutation = [3, 0, 1, 2]
  %e2 = tensor.empty() : tensor<8x4xf32>
  %t2 = linalg.transpose ins(%s : tensor<4x8xf32>) outs(%e2 : tensor<8x4xf32>) permutation = [1, 0]
  return %t, %t2 : tensor<64x24x24x32xf32>, tensor<8x4xf32>
}

// -----

// A small CNN's bias gradient (sum over the batch and a 26 x 26 map per
// channel): a 26 x 26 x 8 block is more than kMaxReductionBlock, so each
// reduction steps by 1 and only the 8 channels stay in a vector. Vectorized
// whole, the block unrolled into code that took LLVM a minute and a half.
// CHECK-LABEL: func.func @small_bias_grad
// CHECK:         linalg.generic {{.*}} attrs = {kiln.tile_sizes = array<i64: 1, 1, 1, 8>}
func.func @small_bias_grad(%g: tensor<?x26x26x8xf32>) -> tensor<8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (c)>],
                       iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
      ins(%g : tensor<?x26x26x8xf32>) outs(%f : tensor<8xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %in, %acc : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}

// -----

// A dense layer's 1352 x 10 kernel transposed (for its input gradient) is
// more than kMaxReductionBlock elements: cache-blocked (52 x 10), not
// vectorized whole (one unrolled shuffle per element); a 64 x 10 one is
// small and gets no tile sizes.
// CHECK-LABEL: func.func @medium_transposes
// CHECK:         linalg.transpose {{.*}} {kiln.tile_sizes = array<i64: 10, 52>}
// CHECK-NOT:     kiln.tile_sizes
// CHECK:         return
func.func @medium_transposes(%big: tensor<1352x10xf32>, %small: tensor<64x10xf32>) -> (tensor<10x1352xf32>, tensor<10x64xf32>) {
  %e1 = tensor.empty() : tensor<10x1352xf32>
  %t1 = linalg.transpose ins(%big : tensor<1352x10xf32>) outs(%e1 : tensor<10x1352xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<10x64xf32>
  %t2 = linalg.transpose ins(%small : tensor<64x10xf32>) outs(%e2 : tensor<10x64xf32>) permutation = [1, 0]
  return %t1, %t2 : tensor<10x1352xf32>, tensor<10x64xf32>
}

// -----

// A 64 x 64 f32 panel of weights (kiln-pack-transposed-weights' tasks):
// both sides multiples of 16, so 16 x 16 tiles, transposed in registers;
// a 48 x 40 one is not (40 is no multiple of 16): 64-element cache blocks.
// CHECK-LABEL: func.func @square_tile_transposes
// CHECK:         linalg.transpose {{.*}} {kiln.tile_sizes = array<i64: 16, 16>}
// CHECK:         linalg.transpose {{.*}} {kiln.tile_sizes = array<i64: 40, 48>}
func.func @square_tile_transposes(%panel: tensor<64x64xf32>, %odd: tensor<48x40xf32>) -> (tensor<64x64xf32>, tensor<40x48xf32>) {
  %e1 = tensor.empty() : tensor<64x64xf32>
  %t1 = linalg.transpose ins(%panel : tensor<64x64xf32>) outs(%e1 : tensor<64x64xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<40x48xf32>
  %t2 = linalg.transpose ins(%odd : tensor<48x40xf32>) outs(%e2 : tensor<40x48xf32>) permutation = [1, 0]
  return %t1, %t2 : tensor<64x64xf32>, tensor<40x48xf32>
}

// -----

// One window offset of an input gradient (kiln-split-input-gradients): a
// contraction into one image's (y, x, c), blocked like a convolution's
// output row: 8 pixels x 32 channels, one step of f at a time.
// CHECK-LABEL: func.func @input_gradient_offset
// CHECK:         linalg.generic {{.*}}kiln.tile_sizes = array<i64: 1, 8, 32, 1>
func.func @input_gradient_offset(%dy: tensor<24x24x32xf32>, %tap: tensor<32x32xf32>, %into: tensor<24x24x32xf32>) -> tensor<24x24x32xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(y, x, c, f) -> (y, x, f)>, affine_map<(y, x, c, f) -> (f, c)>,
                                        affine_map<(y, x, c, f) -> (y, x, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%dy, %tap : tensor<24x24x32xf32>, tensor<32x32xf32>) outs(%into : tensor<24x24x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<24x24x32xf32>
  return %r : tensor<24x24x32xf32>
}
