// RUN: kiln-opt --split-input-file --kiln-winograd-convolutions %s | FileCheck %s
//
// 3 x 3 stride-1 convolutions with at least 16 channels each side become
// Winograd F(4x4, 3x3) when 4 divides the output's height and width, else
// F(2x2, 3x3) when 2 does: a filter transform into [n * n, C, F] (n = 6 or
// 4), then per (image, half of its rows of tiles) an input transform into
// [n * n, tiles, C], one matmul per point in a loop, and an output transform
// written in place into the result viewed as blocks. The transforms are
// loops of vector code, one vector of channels per step. (The numbers are
// checked against PyTorch by test/numerics, for both schemes; FashionCnn's
// second convolution takes F(4,3).)

// CHECK-LABEL: func.func @conv
// CHECK-NOT:     linalg.conv_2d_nhwc_hwcf
// CHECK:         scf.for {{.*}} -> (tensor<36x32x32xf32>)
// CHECK:           scf.for {{.*}} step %c16 {{.*}} -> (tensor<36x32x32xf32>)
// CHECK-COUNT-9:     vector.transfer_read %arg1[
// CHECK:             math.fma
// CHECK-COUNT-36:    vector.transfer_write
// CHECK:         scf.forall (%[[N:.*]], %[[HALF:.*]]) in (%{{.*}}, 2) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x24x24x32xf32>)
// CHECK:           %[[IN:.*]] = tensor.extract_slice %{{.*}}[%[[N]], %{{.*}}, 0, 0] [1, 14, 26, 32] [1, 1, 1, 1]
// CHECK:           scf.for %{{.*}} = %c0 to %c3 {{.*}} -> (tensor<36x18x32xf32>)
// CHECK:             scf.for %{{.*}} = %c0 to %c6
// CHECK:               scf.for {{.*}} step %c16
// CHECK-COUNT-36:        vector.transfer_read %[[IN]]
// CHECK-COUNT-36:        vector.transfer_write
// CHECK:           scf.for %[[P:.*]] = %c0 to %c36 step %c1 iter_args(%[[PRODUCTS:.*]] = %{{.*}}) -> (tensor<36x18x32xf32>)
// CHECK:             linalg.fill
// CHECK:             linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<18x32xf32>, tensor<32x32xf32>)
// CHECK:             tensor.insert_slice %{{.*}} into %[[PRODUCTS]][%[[P]], 0, 0] [1, 18, 32]
// CHECK:           tensor.extract_slice %[[OUT]][%[[N]], %{{.*}}, 0, 0] [1, 12, 24, 32] [1, 1, 1, 1]
// CHECK:           tensor.expand_shape {{.*}} : tensor<1x12x24x32xf32> into tensor<1x3x4x6x4x32xf32>
// CHECK:           scf.for {{.*}} -> (tensor<1x3x4x6x4x32xf32>)
// CHECK-COUNT-36:        vector.transfer_read
// CHECK-COUNT-16:        vector.transfer_write
// CHECK:           tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[N]], %{{.*}}, 0, 0] [1, 12, 24, 32]
func.func @conv(%x: tensor<?x26x26x32xf32>, %k: tensor<3x3x32x32xf32>) -> tensor<?x24x24x32xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x26x26x32xf32>
  %e = tensor.empty(%n) : tensor<?x24x24x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  %conv = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k : tensor<?x26x26x32xf32>, tensor<3x3x32x32xf32>) outs(%f : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  return %conv : tensor<?x24x24x32xf32>
}

// -----

// An elementwise epilogue that is the convolution's only user (bias +
// relu) runs on each piece inside the loop, right after the output
// transform, in place; nothing is left after the loop.

// CHECK-LABEL: func.func @conv_bias_relu
// CHECK:         scf.forall
// CHECK:           scf.for %{{.*}} = %c0 to %c36
// CHECK:           %[[PIECE:.*]] = tensor.collapse_shape {{.*}} into tensor<1x12x24x32xf32>
// CHECK:           %[[FUSED:.*]] = linalg.generic {{.*}} ins(%[[PIECE]], %{{.*}} : tensor<1x12x24x32xf32>, tensor<32xf32>) outs(%[[PIECE]] : tensor<1x12x24x32xf32>)
// CHECK:             arith.addf
// CHECK:             arith.maximumf
// CHECK:           tensor.parallel_insert_slice %[[FUSED]]
// CHECK-NOT:     linalg.generic
// CHECK:         return
#bias_relu_maps = [affine_map<(n, h, w, f) -> (n, h, w, f)>, affine_map<(n, h, w, f) -> (f)>,
                   affine_map<(n, h, w, f) -> (n, h, w, f)>]
func.func @conv_bias_relu(%x: tensor<?x26x26x32xf32>, %k: tensor<3x3x32x32xf32>, %b: tensor<32xf32>)
    -> tensor<?x24x24x32xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x26x26x32xf32>
  %e = tensor.empty(%n) : tensor<?x24x24x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  %conv = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k : tensor<?x26x26x32xf32>, tensor<3x3x32x32xf32>) outs(%f : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  %e2 = tensor.empty(%n) : tensor<?x24x24x32xf32>
  %r = linalg.generic {indexing_maps = #bias_relu_maps, iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%conv, %b : tensor<?x24x24x32xf32>, tensor<32xf32>) outs(%e2 : tensor<?x24x24x32xf32>) {
  ^bb0(%v: f32, %bias: f32, %out: f32):
    %s = arith.addf %v, %bias : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x24x24x32xf32>
  return %r : tensor<?x24x24x32xf32>
}

// -----

// The same epilogue is left after the loop when the convolution's result
// has another use.

// CHECK-LABEL: func.func @conv_used_twice
// CHECK:         %[[LOOP:.*]] = scf.forall
// CHECK:           tensor.parallel_insert_slice
// CHECK:         linalg.generic {{.*}} ins(%[[LOOP]], %{{.*}} : tensor<?x24x24x32xf32>, tensor<32xf32>)
func.func @conv_used_twice(%x: tensor<?x26x26x32xf32>, %k: tensor<3x3x32x32xf32>, %b: tensor<32xf32>)
    -> (tensor<?x24x24x32xf32>, tensor<?x24x24x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x26x26x32xf32>
  %e = tensor.empty(%n) : tensor<?x24x24x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  %conv = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k : tensor<?x26x26x32xf32>, tensor<3x3x32x32xf32>) outs(%f : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  %e2 = tensor.empty(%n) : tensor<?x24x24x32xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(n, h, w, f) -> (n, h, w, f)>, affine_map<(n, h, w, f) -> (f)>,
                                        affine_map<(n, h, w, f) -> (n, h, w, f)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%conv, %b : tensor<?x24x24x32xf32>, tensor<32xf32>) outs(%e2 : tensor<?x24x24x32xf32>) {
  ^bb0(%v: f32, %bias: f32, %out: f32):
    %s = arith.addf %v, %bias : f32
    linalg.yield %s : f32
  } -> tensor<?x24x24x32xf32>
  return %conv, %r : tensor<?x24x24x32xf32>, tensor<?x24x24x32xf32>
}

// -----

// The producers of the input (FashionCnn's first convolution: fill,
// convolution, bias + relu), each with no other user, compute each piece's
// 14 input rows inside the loop (two rows computed twice) instead of the
// whole batch before it; their init is the piece's own.

// CHECK-LABEL: func.func @producers_in_piece
// CHECK-NOT:     linalg.conv_2d_nhwc_hwcf
// CHECK:         scf.forall (%[[N:.*]], %{{.*}}) in (%{{.*}}, 2)
// CHECK:           %[[IMAGE:.*]] = tensor.extract_slice %arg0[%[[N]], %{{.*}}, 0, 0] [1, 16, 28, 1]
// CHECK:           %[[EMPTY:.*]] = tensor.empty() : tensor<1x14x26x32xf32>
// CHECK:           %[[ZERO:.*]] = linalg.fill {{.*}} outs(%[[EMPTY]] : tensor<1x14x26x32xf32>)
// CHECK:           %[[CONV1:.*]] = linalg.conv_2d_nhwc_hwcf {{.*}} ins(%[[IMAGE]], %arg1 : tensor<1x16x28x1xf32>, tensor<3x3x1x32xf32>) outs(%[[ZERO]] : tensor<1x14x26x32xf32>)
// CHECK:           %[[RELU:.*]] = linalg.generic {{.*}} ins(%[[CONV1]], %{{.*}} : tensor<1x14x26x32xf32>, tensor<32xf32>)
// CHECK:           scf.for {{.*}} -> (tensor<36x18x32xf32>)
// CHECK:             vector.transfer_read %[[RELU]]
func.func @producers_in_piece(%image: tensor<?x28x28x1xf32>, %k1: tensor<3x3x1x32xf32>, %b1: tensor<32xf32>,
                              %k: tensor<3x3x32x32xf32>) -> tensor<?x24x24x32xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %image, %c0 : tensor<?x28x28x1xf32>
  %e1 = tensor.empty(%n) : tensor<?x26x26x32xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?x26x26x32xf32>) -> tensor<?x26x26x32xf32>
  %conv1 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%image, %k1 : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) outs(%f1 : tensor<?x26x26x32xf32>) -> tensor<?x26x26x32xf32>
  %e2 = tensor.empty(%n) : tensor<?x26x26x32xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(n, h, w, f) -> (n, h, w, f)>, affine_map<(n, h, w, f) -> (f)>,
                                        affine_map<(n, h, w, f) -> (n, h, w, f)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%conv1, %b1 : tensor<?x26x26x32xf32>, tensor<32xf32>) outs(%e2 : tensor<?x26x26x32xf32>) {
  ^bb0(%v: f32, %bias: f32, %out: f32):
    %s = arith.addf %v, %bias : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x26x26x32xf32>
  %e = tensor.empty(%n) : tensor<?x24x24x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  %conv = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k : tensor<?x26x26x32xf32>, tensor<3x3x32x32xf32>) outs(%f : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  return %conv : tensor<?x24x24x32xf32>
}

// -----

// An output that 2 divides and 4 does not (22 x 22): F(2x2, 3x3), 16
// points; 11 rows of tiles do not halve, so one piece per image.

// CHECK-LABEL: func.func @conv_f2
// CHECK:         -> (tensor<16x32x32xf32>)
// CHECK:         scf.forall (%{{.*}}, %{{.*}}) in (%{{.*}}, 1)
// CHECK:           [1, 24, 24, 32] [1, 1, 1, 1]
// CHECK:           scf.for {{.*}} to %c16 step %c1 {{.*}} -> (tensor<16x121x32xf32>)
// CHECK:             linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<121x32xf32>, tensor<32x32xf32>)
// CHECK:           tensor.expand_shape {{.*}} : tensor<1x22x22x32xf32> into tensor<1x11x2x11x2x32xf32>
// CHECK-COUNT-16:    vector.transfer_read
// CHECK-COUNT-4:     vector.transfer_write
func.func @conv_f2(%x: tensor<?x24x24x32xf32>, %k: tensor<3x3x32x32xf32>) -> tensor<?x22x22x32xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x24x24x32xf32>
  %e = tensor.empty(%n) : tensor<?x22x22x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x22x22x32xf32>) -> tensor<?x22x22x32xf32>
  %conv = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k : tensor<?x24x24x32xf32>, tensor<3x3x32x32xf32>) outs(%f : tensor<?x22x22x32xf32>) -> tensor<?x22x22x32xf32>
  return %conv : tensor<?x22x22x32xf32>
}

// -----

// Left alone: one input channel (the matmuls would reduce over 1), a stride
// of 2, an odd output (25), a 5 x 5 filter.

// CHECK-LABEL: func.func @not_winograd
// CHECK-COUNT-4: linalg.conv_2d_nhwc_hwcf
// CHECK-NOT:     linalg.matmul
func.func @not_winograd(%x1: tensor<?x28x28x1xf32>, %k1: tensor<3x3x1x32xf32>,
                        %x: tensor<?x27x27x32xf32>, %k: tensor<3x3x32x32xf32>, %k5: tensor<5x5x32x32xf32>)
    -> (tensor<?x26x26x32xf32>, tensor<?x13x13x32xf32>, tensor<?x25x25x32xf32>, tensor<?x23x23x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x27x27x32xf32>
  %e1 = tensor.empty(%n) : tensor<?x26x26x32xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?x26x26x32xf32>) -> tensor<?x26x26x32xf32>
  %one = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x1, %k1 : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) outs(%f1 : tensor<?x26x26x32xf32>) -> tensor<?x26x26x32xf32>
  %e2 = tensor.empty(%n) : tensor<?x13x13x32xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<?x13x13x32xf32>) -> tensor<?x13x13x32xf32>
  %strided = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
    ins(%x, %k : tensor<?x27x27x32xf32>, tensor<3x3x32x32xf32>) outs(%f2 : tensor<?x13x13x32xf32>) -> tensor<?x13x13x32xf32>
  %e3 = tensor.empty(%n) : tensor<?x25x25x32xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<?x25x25x32xf32>) -> tensor<?x25x25x32xf32>
  %odd = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k : tensor<?x27x27x32xf32>, tensor<3x3x32x32xf32>) outs(%f3 : tensor<?x25x25x32xf32>) -> tensor<?x25x25x32xf32>
  %e4 = tensor.empty(%n) : tensor<?x23x23x32xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<?x23x23x32xf32>) -> tensor<?x23x23x32xf32>
  %five = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k5 : tensor<?x27x27x32xf32>, tensor<5x5x32x32xf32>) outs(%f4 : tensor<?x23x23x32xf32>) -> tensor<?x23x23x32xf32>
  return %one, %strided, %odd, %five : tensor<?x26x26x32xf32>, tensor<?x13x13x32xf32>, tensor<?x25x25x32xf32>, tensor<?x23x23x32xf32>
}

// -----

// Left alone in a training function (kiln.training, from
// kiln-flatten-models): training keeps the direct convolution's rounding.

// CHECK-LABEL: func.func @training
// CHECK:         linalg.conv_2d_nhwc_hwcf
// CHECK-NOT:     linalg.matmul
func.func @training(%x: tensor<?x26x26x32xf32>, %k: tensor<3x3x32x32xf32>) -> tensor<?x24x24x32xf32>
    attributes {kiln.training} {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x26x26x32xf32>
  %e = tensor.empty(%n) : tensor<?x24x24x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  %conv = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k : tensor<?x26x26x32xf32>, tensor<3x3x32x32xf32>) outs(%f : tensor<?x24x24x32xf32>) -> tensor<?x24x24x32xf32>
  return %conv : tensor<?x24x24x32xf32>
}
