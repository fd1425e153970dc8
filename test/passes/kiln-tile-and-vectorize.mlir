// RUN: kiln-opt --split-input-file --kiln-normalize-contractions --kiln-choose-tile-sizes --kiln-tile-and-vectorize %s | FileCheck %s
//
// The mechanism, fed by the passes before it in the CPU pipeline (the sizes
// alone are checked in kiln-choose-tile-sizes.mlir).

// A dense layer with a dynamic batch: blocks of 4 rows x 64 columns (16 zmm
// accumulators), k tiled by 8, the accumulator carried through the k loop as
// a vector. The row loop is peeled: full blocks of 4 rows, then the N mod 4
// remaining rows in blocks of 2 (static, vectorized) and a last single row,
// so any N works without masking.

// CHECK-LABEL: func.func @dense
// CHECK-DAG:     %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG:     %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG:     %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG:     %[[C8:.*]] = arith.constant 8 : index
// CHECK:         %[[FULL:.*]] = scf.for %{{.*}} = %{{.*}} to %[[SPLIT:.*]] step %[[C4]] iter_args(%{{.*}} = %{{.*}}) -> (tensor<?x64xf32>)
// CHECK:           scf.for %{{.*}} step %[[C8]] iter_args(%{{.*}} = %{{.*}}) -> (vector<4x64xf32>)
// CHECK:             vector.transfer_read {{.*}} : tensor<?x256xf32>, vector<4x8xf32>
// CHECK:             vector.transfer_read {{.*}} : tensor<256x64xf32>, vector<8x64xf32>
// CHECK:             vector.contract {{.*}} : vector<4x8xf32>, vector<8x64xf32> into vector<4x64xf32>
// CHECK:           vector.transfer_write {{.*}} : vector<4x64xf32>, tensor<4x64xf32>
// CHECK:         scf.for %{{.*}} = %[[SPLIT]] to %{{.*}} step %[[C4]] iter_args(%{{.*}} = %[[FULL]])
// CHECK:           %[[PAIRS:.*]] = scf.for %{{.*}} step %[[C2]]
// CHECK:             scf.for %{{.*}} step %[[C8]] iter_args(%{{.*}} = %{{.*}}) -> (vector<2x64xf32>)
// CHECK:               vector.contract {{.*}} : vector<2x8xf32>, vector<8x64xf32> into vector<2x64xf32>
// CHECK:           scf.for %{{.*}} step %[[C2]] iter_args(%{{.*}} = %[[PAIRS]])
// CHECK:             scf.for %{{.*}} step %[[C1]]
// CHECK:               scf.for %{{.*}} step %[[C8]] iter_args(%{{.*}} = %{{.*}}) -> (vector<1x64xf32>)
// CHECK:                 vector.contract {{.*}} : vector<8xf32>, vector<8x64xf32> into vector<64xf32>
// CHECK-NOT:     linalg.matmul
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

// A dense layer on a long flattened input (k = 1024 here; FashionCnn's
// dense_0 has 18432): inside each parallel chunk of 16 rows, k runs in
// panels of 128 outside the row blocks, so that each panel of the kernel is
// read from memory once per chunk and from L1 by the other row blocks.
// The bias + relu epilogue follows the panel loop, one vectorized row at a
// time.

// CHECK-LABEL: func.func @dense_long_reduction
// CHECK-DAG:     %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG:     %[[C128:.*]] = arith.constant 128 : index
// CHECK-DAG:     %[[C1024:.*]] = arith.constant 1024 : index
// CHECK:         scf.forall (%{{.*}}) = (0) to (%{{.*}}) step (16)
// CHECK:           scf.for %{{.*}} = %{{.*}} to %[[C1024]] step %[[C128]]
// CHECK:             scf.for %{{.*}} step %[[C4]]
// CHECK:               vector.contract {{.*}} : vector<4x8xf32>, vector<8x64xf32> into vector<4x64xf32>
// CHECK:           scf.for
// CHECK:             arith.addf {{.*}} : vector<64xf32>
// CHECK:             arith.maximumf {{.*}} : vector<64xf32>
// CHECK:           scf.forall.in_parallel
// CHECK-NOT:     linalg.matmul
func.func @dense_long_reduction(%a: tensor<?x1024xf32>, %b: tensor<1024x64xf32>, %bias: tensor<64xf32>) -> tensor<?x64xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?x1024xf32>
  %e = tensor.empty(%n) : tensor<?x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x64xf32>) -> tensor<?x64xf32>
  %m = linalg.matmul ins(%a, %b : tensor<?x1024xf32>, tensor<1024x64xf32>) outs(%f : tensor<?x64xf32>) -> tensor<?x64xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
    ins(%m, %bias : tensor<?x64xf32>, tensor<64xf32>) outs(%e : tensor<?x64xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    %z = arith.maximumf %s, %zero : f32
    linalg.yield %z : f32
  } -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// A convolution with its bias + relu epilogue: the epilogue is tiled into
// blocks of 8 output pixels x 32 channels, the convolution and its fill are
// fused into the block, the window and 4 input channels at a time are the
// reduction loops, and bias + relu run on the accumulator registers.

#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#bias = affine_map<(d0, d1, d2, d3) -> (d3)>
// CHECK-LABEL: func.func @conv_bias_relu
// CHECK:         scf.forall ({{.*}}) = (0, 0, 0) to (%{{.*}}, 24, 24) step (1, 1, 8) shared_outs({{.*}}) -> (tensor<?x24x24x32xf32>)
// CHECK:               scf.for {{.*}} -> (vector<1x8x32xf32>)
// CHECK:                 scf.for {{.*}} -> (vector<1x8x32xf32>)
// CHECK:                   scf.for {{.*}} -> (vector<1x8x32xf32>)
// CHECK:                     vector.contract {{.*}} : vector<8x4xf32>, vector<4x32xf32> into vector<8x32xf32>
// CHECK:               arith.addf {{.*}} : vector<8x32xf32>
// CHECK:               arith.maximumf {{.*}} : vector<8x32xf32>
// CHECK:               vector.transfer_write {{.*}} : vector<8x32xf32>, tensor<1x1x8x32xf32>
// CHECK:               tensor.parallel_insert_slice {{.*}} : tensor<1x1x8x32xf32> into tensor<?x24x24x32xf32>
// CHECK-NOT:     linalg.conv_2d_nhwc_hwcf
// CHECK-NOT:     linalg.generic
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

// 2x2 max pooling with stride 2: blocks of 6 pixels (12 = 2 x 6) x 32 channels, the
// window row as a loop, the window column vectorized as a 1-D pooling.

// CHECK-LABEL: func.func @max_pool
// CHECK:         scf.forall ({{.*}}) = (0, 0, 0) to (%{{.*}}, 12, 12) step (1, 1, 6) shared_outs({{.*}}) -> (tensor<?x12x12x32xf32>)
// CHECK:               scf.for {{.*}} -> (vector<1x6x32xf32>)
// CHECK:                 vector.transfer_read {{.*}} : tensor<?x24x24x32xf32>, vector<12x32xf32>
// CHECK:                 arith.maximumf {{.*}} : vector<32xf32>
// CHECK-NOT:     linalg.pooling_nhwc_max
func.func @max_pool(%x: tensor<?x24x24x32xf32>) -> tensor<?x12x12x32xf32> {
  %c0 = arith.constant 0 : index
  %ninf = arith.constant 0xFF800000 : f32
  %n = tensor.dim %x, %c0 : tensor<?x24x24x32xf32>
  %e = tensor.empty(%n) : tensor<?x12x12x32xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<?x12x12x32xf32>) -> tensor<?x12x12x32xf32>
  %w = tensor.empty() : tensor<2x2xf32>
  %p = linalg.pooling_nhwc_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
    ins(%x, %w : tensor<?x24x24x32xf32>, tensor<2x2xf32>) outs(%f : tensor<?x12x12x32xf32>) -> tensor<?x12x12x32xf32>
  return %p : tensor<?x12x12x32xf32>
}

// -----

// A row-wise reduction (softmax's max) over a dynamic batch: one row per
// tile, the row reduced as a vector.

// CHECK-LABEL: func.func @row_max
// CHECK:         scf.forall ({{.*}}) in (%{{.*}}) shared_outs({{.*}}) -> (tensor<?xf32>)
// CHECK:           vector.transfer_read {{.*}} : tensor<?x10xf32>, vector<10xf32>
// CHECK:           vector.multi_reduction <maximumf>, {{.*}} [1] : vector<1x10xf32> to vector<1xf32>
// CHECK-NOT:     linalg.generic
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @row_max(%x: tensor<?x10xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %ninf = arith.constant 0xFF800000 : f32
  %n = tensor.dim %x, %c0 : tensor<?x10xf32>
  %e = tensor.empty(%n) : tensor<?xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<?xf32>) -> tensor<?xf32>
  %r = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
    ins(%x : tensor<?x10xf32>) outs(%f : tensor<?xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %out : f32
    linalg.yield %m : f32
  } -> tensor<?xf32>
  return %r : tensor<?xf32>
}

// -----

// A convolution's filter gradient for one window offset (kiln-lower-to-linalg's
// form): a contraction over (c, f | n, y, x). The batch is reduced outermost
// (one image's operands stay in cache across the blocks), then blocks of
// 8 input x 32 output channels reduce over (y, x) one step at a time; the
// unit reduction dimensions are dropped so that each step is one outer
// product (8 broadcasts, 16 FMAs).

#in = affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4, d0)>
#dy = affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4, d1)>
#out = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1)>
// CHECK-LABEL: func.func @filter_grad
// CHECK:         scf.for {{.*}} -> (tensor<32x32xf32>)
// CHECK:           scf.forall ({{.*}}) = (0) to (32) step (8) shared_outs({{.*}}) -> (tensor<32x32xf32>)
// CHECK:             scf.for {{.*}} -> (vector<8x32xf32>)
// CHECK:               scf.for {{.*}} -> (vector<8x32xf32>)
// CHECK:                 vector.transfer_read {{.*}} : tensor<?x24x24x32xf32>, vector<8xf32>
// CHECK:                 vector.transfer_read {{.*}} : tensor<?x24x24x32xf32>, vector<32xf32>
// CHECK:                 vector.contract {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} : vector<1x8xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK-NOT:     linalg.generic
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

// A dense weight gradient, activations^T @ dY: the transpose folds into the
// contraction's map, so each batch step reads a contiguous row of the
// activations for the block's 4 rows; the batch stays the inner loop.

// CHECK-LABEL: func.func @weight_grad
// CHECK-NOT:     linalg.transpose
// CHECK:         scf.forall ({{.*}}) = (0) to (256) step (4) shared_outs({{.*}}) -> (tensor<256x64xf32>)
// CHECK:           scf.for {{.*}} -> (vector<4x64xf32>)
// CHECK:             vector.transfer_read {{.*}} : tensor<?x256xf32>, vector<4xf32>
// CHECK:             vector.transfer_read {{.*}} : tensor<?x64xf32>, vector<64xf32>
// CHECK:             vector.contract {{.*}} : vector<1x4xf32>, vector<1x64xf32> into vector<4x64xf32>
// CHECK-NOT:     linalg.matmul
func.func @weight_grad(%a: tensor<?x256xf32>, %dy: tensor<?x64xf32>) -> tensor<256x64xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %a, %c0 : tensor<?x256xf32>
  %te = tensor.empty(%n) : tensor<256x?xf32>
  %t = linalg.transpose ins(%a : tensor<?x256xf32>) outs(%te : tensor<256x?xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<256x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<256x64xf32>) -> tensor<256x64xf32>
  %m = linalg.matmul ins(%t, %dy : tensor<256x?xf32>, tensor<?x64xf32>) outs(%f : tensor<256x64xf32>) -> tensor<256x64xf32>
  return %m : tensor<256x64xf32>
}

// -----

// A dense input gradient after reshape fusion expanded it to the image's
// shape, (n, y, x, c | k): collapsed back to a matmul and blocked as one
// (4 rows x 64 columns, k by 8), not one matrix-vector product per pixel.

#dyk = affine_map<(d0, d1, d2, d3, d4) -> (d0, d4)>
#wt = affine_map<(d0, d1, d2, d3, d4) -> (d4, d1, d2, d3)>
#img = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @input_grad_expanded
// CHECK:         scf.for {{.*}} step %c4 iter_args({{.*}}) -> (tensor<?x2048xf32>)
// CHECK:           scf.for {{.*}} -> (vector<4x64xf32>)
// CHECK:             vector.contract {{.*}} : vector<4x8xf32>, vector<8x64xf32> into vector<4x64xf32>
// CHECK:         tensor.expand_shape {{.*}} : tensor<?x2048xf32> into tensor<?x8x8x32xf32>
// CHECK-NOT:     linalg.generic
func.func @input_grad_expanded(%dy: tensor<?x64xf32>, %wt: tensor<64x8x8x32xf32>) -> tensor<?x8x8x32xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %dy, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%n) : tensor<?x8x8x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8x8x32xf32>) -> tensor<?x8x8x32xf32>
  %r = linalg.generic {indexing_maps = [#dyk, #wt, #img], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
    ins(%dy, %wt : tensor<?x64xf32>, tensor<64x8x8x32xf32>) outs(%f : tensor<?x8x8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x8x8x32xf32>
  return %r : tensor<?x8x8x32xf32>
}

// -----

// A bias gradient: the sum over (n, y, x) of a ?x24x24x32 tensor. A block of
// 24 x 24 x 32 is too large to vectorize whole, and the innermost dimension
// is parallel, so every reduction dimension is stepped by 1: each step is one
// vector add into the 32-channel accumulator.

#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d3)>
// CHECK-LABEL: func.func @bias_grad
// CHECK:         scf.for {{.*}} -> (vector<32xf32>)
// CHECK:           scf.for {{.*}} -> (vector<32xf32>)
// CHECK:             scf.for {{.*}} -> (vector<32xf32>)
// CHECK:               vector.transfer_read {{.*}} : tensor<?x24x24x32xf32>, vector<32xf32>
// CHECK:               arith.addf {{.*}} : vector<32xf32>
// CHECK:         vector.transfer_write {{.*}} : vector<32xf32>, tensor<32xf32>
// CHECK-NOT:     linalg.generic
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

// A large transpose (a dense kernel 18432x64 seen as 24x24x32x64, to
// 64x24x24x32): tiled into blocks of 64 x 32 (the input's and the output's
// innermost dimensions) so that its copy stays in cache; the blocks are
// independent, one scf.forall (run on the thread pool), and stay scalar (no
// unrolled vector.transpose).

// CHECK-LABEL: func.func @big_transpose
// CHECK:         scf.forall (%{{.*}}, %{{.*}}) in (24, 24) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<64x24x24x32xf32>)
// CHECK:           linalg.transpose ins(%{{.*}} : tensor<1x1x32x64xf32>) outs(%{{.*}} : tensor<64x1x1x32xf32>) permutation = [3, 0, 1, 2]
// CHECK:           tensor.parallel_insert_slice
// CHECK-NOT:     kiln.scalar_block
// CHECK-NOT:     vector.transpose
func.func @big_transpose(%w: tensor<24x24x32x64xf32>) -> tensor<64x24x24x32xf32> {
  %e = tensor.empty() : tensor<64x24x24x32xf32>
  %t = linalg.transpose ins(%w : tensor<24x24x32x64xf32>) outs(%e : tensor<64x24x24x32xf32>) permutation = [3, 0, 1, 2]
  return %t : tensor<64x24x24x32xf32>
}

// -----

// A 64 x 64 panel transpose: 16 x 16 tiles, each one vector.transpose in
// registers between a 2-D read and a 2-D write (no scalar block).
// CHECK-LABEL: func.func @panel_transpose
// CHECK:         scf.forall (%{{.*}}, %{{.*}}) = (0, 0) to (64, 64) step (16, 16)
// CHECK:           %[[TILE:.*]] = vector.transfer_read {{.*}} : tensor<64x64xf32>, vector<16x16xf32>
// CHECK:           %[[T:.*]] = vector.transpose %[[TILE]], [1, 0] : vector<16x16xf32> to vector<16x16xf32>
// CHECK:           vector.transfer_write %[[T]]
// CHECK-NOT:     linalg.transpose
// CHECK-NOT:     kiln.scalar_block
func.func @panel_transpose(%w: tensor<64x64xf32>) -> tensor<64x64xf32> {
  %e = tensor.empty() : tensor<64x64xf32>
  %t = linalg.transpose ins(%w : tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) permutation = [1, 0]
  return %t : tensor<64x64xf32>
}
