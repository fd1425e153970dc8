// RUN: kiln-opt --split-input-file --kiln-winograd-convolutions %s | FileCheck %s
//
// 3 x 3 stride-1 convolutions with at least 16 channels each side and an
// even output become Winograd F(2x2, 3x3): a filter transform, then per
// (image, half of its rows) an input transform of 16 strided views, 16
// matmuls over the channels and an output transform written in place.
// (The numbers are checked against PyTorch by test/numerics: FashionCnn's
// second convolution takes this path.)

// CHECK-LABEL: func.func @conv
// CHECK-NOT:     linalg.conv_2d_nhwc_hwcf
// CHECK:         %[[U:.*]]:16 = linalg.generic {{.*}} ins({{.*}} : tensor<32x32xf32>, {{.*}}) outs(
// CHECK:           arith.mulf
// CHECK:         scf.forall (%[[N:.*]], %[[HALF:.*]]) in (%{{.*}}, 2) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x24x24x32xf32>)
// CHECK:           tensor.extract_slice %{{.*}}[%[[N]], %{{.*}}, 0, 0] [1, 14, 26, 32] [1, 1, 1, 1]
// CHECK:           tensor.extract_slice %{{.*}}[0, 3, 3, 0] [1, 6, 12, 32] [1, 2, 2, 1]
// CHECK:           %[[V:.*]]:16 = linalg.generic {{.*}} outs({{.*}} : tensor<1x6x12x32xf32>
// CHECK-COUNT-16:  linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<72x32xf32>, tensor<32x32xf32>)
// CHECK:           tensor.extract_slice %[[OUT]][%[[N]], %{{.*}}, 0, 0] [1, 12, 24, 32] [1, 1, 1, 1]
// CHECK:           tensor.expand_shape {{.*}} : tensor<1x12x24x32xf32> into tensor<1x6x2x12x2x32xf32>
// CHECK:           linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]
// CHECK:             linalg.index 2
// CHECK:             linalg.index 4
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
