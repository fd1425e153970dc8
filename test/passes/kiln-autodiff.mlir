// Tests of kiln-autodiff: <Model>_grad is the loss function followed by its
// reverse sweep, built from each op's differentiation rule.
// RUN: kiln-opt %s -split-input-file -kiln-autodiff -mlir-print-debuginfo | FileCheck %s

// The calling convention (same arguments; the loss, the metrics, then one
// gradient per parameter in parameter order), the seed, a value used twice
// (exactly one add), a broadcast operand (sum_to), an integer label and a
// metric (no gradient through argmax or compare), zeros for a parameter the
// loss does not reach, and the forward locations on the backward ops.
module @M attributes {kiln.model} {
  kiln.param @w : tensor<3xf32> init = zeros
  kiln.param @b : tensor<f32> init = zeros
  kiln.param @unused : tensor<2xf32> init = zeros
  // CHECK-LABEL: func.func @M_loss
  // CHECK-SAME: -> (tensor<f32> {kiln.output = "loss"}, tensor<f32> {kiln.output = "acc"})
  func.func @M_loss(%w: tensor<3xf32> {kiln.param = @w}, %b: tensor<f32> {kiln.param = @b},
                    %unused: tensor<2xf32> {kiln.param = @unused},
                    %x: tensor<?x3xf32> {kiln.input = "x"}, %t: tensor<?xi32> {kiln.input = "t"})
      -> (tensor<f32> {kiln.output = "loss"}, tensor<f32> {kiln.output = "acc"}) {
    %0 = kiln.mul %x, %w : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32> loc("m.kiln":5:7)
    %1 = kiln.add %0, %b : tensor<?x3xf32>, tensor<f32> -> tensor<?x3xf32> loc("m.kiln":5:12)
    %2 = kiln.mul %1, %1 : tensor<?x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32> loc("m.kiln":6:7)
    %3 = kiln.cross_entropy %2, %t : tensor<?x3xf32>, tensor<?xi32> -> tensor<f32> loc("m.kiln":7:3)
    %4 = kiln.argmax %2 axis = 1 : tensor<?x3xf32> -> tensor<?xi32>
    %5 = kiln.compare eq, %4, %t : tensor<?xi32>, tensor<?xi32> -> tensor<?xf32>
    %6 = kiln.reduce_mean %5 : tensor<?xf32> -> tensor<f32>
    return %3, %6 : tensor<f32>, tensor<f32>
  }
  // CHECK-NOT: kiln.softmax
  // CHECK: return
  // CHECK-LABEL: func.func @M_grad
  // CHECK-SAME: (%[[W:[a-z0-9]+]]: tensor<3xf32> {kiln.param = @w} {{[^,]*}}, %[[B:[a-z0-9]+]]: tensor<f32> {kiln.param = @b} {{[^,]*}}, %{{[a-z0-9]+}}: tensor<2xf32> {kiln.param = @unused} {{[^,]*}}, %[[X:[a-z0-9]+]]: tensor<?x3xf32> {kiln.input = "x"} {{[^,]*}}, %[[T:[a-z0-9]+]]: tensor<?xi32> {kiln.input = "t"} {{[^,]*}})
  // CHECK-SAME: -> (tensor<f32> {kiln.output = "loss"}, tensor<f32> {kiln.output = "acc"}, tensor<3xf32> {kiln.grad = @w}, tensor<f32> {kiln.grad = @b}, tensor<2xf32> {kiln.grad = @unused})
  // The forward, unchanged:
  // CHECK: %[[XW:.*]] = kiln.mul %[[X]], %[[W]]
  // CHECK: %[[H:.*]] = kiln.add %[[XW]], %[[B]]
  // CHECK: %[[SQ:.*]] = kiln.mul %[[H]], %[[H]]
  // CHECK: %[[LOSS:.*]] = kiln.cross_entropy %[[SQ]], %[[T]]
  // CHECK: %[[ACC:.*]] = kiln.reduce_mean
  // The seed, then cross_entropy's rule at its location:
  // CHECK: %[[SEED:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32> loc(#[[LCE:loc[0-9]*]])
  // CHECK: %[[P:.*]] = kiln.softmax %[[SQ]] axis = 1 : tensor<?x3xf32> loc(#[[LCE]])
  // CHECK: %[[HOT:.*]] = kiln.onehot %[[T]] axis = 1 like %[[SQ]]
  // CHECK: %[[N:.*]] = kiln.element_count %[[SQ]] dims = [0]
  // CHECK: %[[SCALE:.*]] = kiln.div %[[SEED]], %[[N]]
  // CHECK: %[[DIFF:.*]] = kiln.sub %[[P]], %[[HOT]]
  // CHECK: %[[DSQ:.*]] = kiln.mul %[[DIFF]], %[[SCALE]]
  // %1 is used twice by the mul: two contributions, exactly one add.
  // CHECK: %[[C1:.*]] = kiln.mul %[[DSQ]], %[[H]] {{.*}} loc(#[[LSQ:loc[0-9]*]])
  // CHECK: %[[C2:.*]] = kiln.mul %[[DSQ]], %[[H]]
  // CHECK: %[[DH:.*]] = kiln.add %[[C1]], %[[C2]] {{.*}} loc(#[[LSQ]])
  // CHECK-NOT: kiln.add
  // CHECK: %[[DB:.*]] = kiln.sum_to %[[DH]] : tensor<?x3xf32> -> tensor<f32> loc(#[[LADD:loc[0-9]*]])
  // CHECK: %[[DXW:.*]] = kiln.mul %[[DH]], %[[X]]
  // CHECK: %[[DW:.*]] = kiln.sum_to %[[DXW]] : tensor<?x3xf32> -> tensor<3xf32> loc(#[[LMUL:loc[0-9]*]])
  // CHECK: %[[ZERO:.*]] = kiln.constant dense<0.000000e+00> : tensor<2xf32>
  // CHECK: return %[[LOSS]], %[[ACC]], %[[DW]], %[[DB]], %[[ZERO]]
  // CHECK-DAG: #[[LCE]] = loc("m.kiln":7:3)
  // CHECK-DAG: #[[LSQ]] = loc("m.kiln":6:7)
  // CHECK-DAG: #[[LADD]] = loc("m.kiln":5:12)
  // CHECK-DAG: #[[LMUL]] = loc("m.kiln":5:7)
}

// -----

// A loss that reaches no parameter: every gradient is zero; the ops on
// inputs only are not differentiated.
module @Inputs attributes {kiln.model} {
  kiln.param @w : tensor<2x2xf32> init = zeros
  func.func @Inputs_loss(%w: tensor<2x2xf32> {kiln.param = @w}, %x: tensor<?xf32> {kiln.input = "x"})
      -> (tensor<f32> {kiln.output = "loss"}) {
    %0 = kiln.transpose %w permutation = [1, 0] : tensor<2x2xf32> -> tensor<2x2xf32>
    %1 = kiln.reduce_sum %x : tensor<?xf32> -> tensor<f32>
    return %1 : tensor<f32>
  }
  // CHECK-LABEL: func.func @Inputs_grad
  // CHECK-NOT: kiln.transpose
  // CHECK: %[[SUM:.*]] = kiln.reduce_sum
  // CHECK-NEXT: %[[ZERO:.*]] = kiln.constant dense<0.000000e+00> : tensor<2x2xf32>
  // CHECK-NEXT: return %[[SUM]], %[[ZERO]]
}

// -----

// Every op family on one path: the rules of matmul (transpose), the
// reductions along an axis (broadcast_to, onehot of the first maximum),
// convolution and pooling (their dedicated gradient ops).
module @Families attributes {kiln.model} {
  kiln.param @k : tensor<3x3x1x2xf32> init = glorot_uniform
  kiln.param @m : tensor<2x4xf32> init = glorot_uniform
  func.func @Families_loss(%k: tensor<3x3x1x2xf32> {kiln.param = @k}, %m: tensor<2x4xf32> {kiln.param = @m},
                           %x: tensor<?x6x6x1xf32> {kiln.input = "x"})
      -> (tensor<f32> {kiln.output = "loss"}) {
    %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [1, 1, 1, 1] : tensor<?x6x6x1xf32>, tensor<3x3x1x2xf32> -> tensor<?x6x6x2xf32>
    %1 = kiln.maxpool %0 window = [2, 2] strides = [2, 2] : tensor<?x6x6x2xf32> -> tensor<?x3x3x2xf32>
    %2 = kiln.avgpool %1 window = [3, 3] strides = [3, 3] : tensor<?x3x3x2xf32> -> tensor<?x1x1x2xf32>
    %3 = kiln.reshape %2 : tensor<?x1x1x2xf32> -> tensor<?x2xf32>
    %4 = kiln.matmul %3, %m : tensor<?x2xf32>, tensor<2x4xf32> -> tensor<?x4xf32>
    %5 = kiln.reduce_max %4 axis = 1 : tensor<?x4xf32> -> tensor<?xf32>
    %6 = kiln.reduce_sum %5 : tensor<?xf32> -> tensor<f32>
    return %6 : tensor<f32>
  }
  // CHECK-LABEL: func.func @Families_grad
  // CHECK: kiln.broadcast_to %{{.*}} like %{{.*}} : tensor<f32>, tensor<?xf32> -> tensor<?xf32>
  // CHECK: kiln.argmax %{{.*}} axis = 1 : tensor<?x4xf32> -> tensor<?xi32>
  // CHECK: kiln.onehot %{{.*}} axis = 1 like %{{.*}} : tensor<?xi32>, tensor<?x4xf32> -> tensor<?x4xf32>
  // CHECK: kiln.transpose %{{.*}} permutation = [1, 0] : tensor<2x4xf32> -> tensor<4x2xf32>
  // CHECK: kiln.transpose %{{.*}} permutation = [1, 0] : tensor<?x2xf32> -> tensor<2x?xf32>
  // CHECK: kiln.reshape %{{.*}} : tensor<?x2xf32> -> tensor<?x1x1x2xf32>
  // CHECK: kiln.avgpool_grad %{{.*}} window = [3, 3] strides = [3, 3] : tensor<?x1x1x2xf32> -> tensor<?x3x3x2xf32>
  // CHECK: kiln.maxpool_grad %{{.*}}, %{{.*}} window = [2, 2] strides = [2, 2] : tensor<?x6x6x2xf32>, tensor<?x3x3x2xf32> -> tensor<?x6x6x2xf32>
  // CHECK: kiln.conv2d_grad_filter %{{.*}}, %{{.*}} strides = [1, 1] padding = [1, 1, 1, 1] : tensor<?x6x6x1xf32>, tensor<?x6x6x2xf32> -> tensor<3x3x1x2xf32>
  // CHECK-NOT: kiln.conv2d_grad_input
  // CHECK: return
}

// -----

// stop_gradient: no cotangent flows through it, so the parameter it guards
// gets only what reaches it directly (the take); take scatters its
// cotangent back with a onehot of the indices shaped like its input, and
// min along an axis uses argmin for its first minimum.
module @Selection attributes {kiln.model} {
  kiln.param @q : tensor<3x4xf32> init = glorot_uniform
  func.func @Selection_loss(%q: tensor<3x4xf32> {kiln.param = @q}, %a: tensor<3xi32> {kiln.input = "a"})
      -> (tensor<f32> {kiln.output = "loss"}) {
    %0 = kiln.take %q, %a axis = 1 : tensor<3x4xf32>, tensor<3xi32> -> tensor<3xf32>
    %1 = kiln.reduce_min %q axis = 1 : tensor<3x4xf32> -> tensor<3xf32>
    %2 = kiln.stop_gradient %1 : tensor<3xf32>
    %3 = kiln.mul %0, %2 : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
    %4 = kiln.reduce_sum %3 : tensor<3xf32> -> tensor<f32>
    return %4 : tensor<f32>
  }
  // CHECK-LABEL: func.func @Selection_grad
  // CHECK: kiln.stop_gradient
  // CHECK: kiln.onehot %{{.*}} axis = 1 like %{{.*}} : tensor<3xi32>, tensor<3x4xf32> -> tensor<3x4xf32>
  // CHECK-NOT: kiln.argmin
  // CHECK: return
}

// -----

// min along an axis: the cotangent goes to the first minimum (argmin).
module @MinAxis attributes {kiln.model} {
  kiln.param @q : tensor<3x4xf32> init = glorot_uniform
  func.func @MinAxis_loss(%q: tensor<3x4xf32> {kiln.param = @q}) -> (tensor<f32> {kiln.output = "loss"}) {
    %0 = kiln.reduce_min %q axis = 1 : tensor<3x4xf32> -> tensor<3xf32>
    %1 = kiln.reduce_sum %0 : tensor<3xf32> -> tensor<f32>
    return %1 : tensor<f32>
  }
  // CHECK-LABEL: func.func @MinAxis_grad
  // CHECK: kiln.argmin %{{.*}} axis = 1 : tensor<3x4xf32> -> tensor<3xi32>
  // CHECK: kiln.onehot %{{.*}} axis = 1 like %{{.*}} : tensor<3xi32>, tensor<3x4xf32> -> tensor<3x4xf32>
  // CHECK: return
}

// -----

// relu's mask compares its result, not its operand (the same mask: y > 0
// exactly where x > 0), so that the pre-activation has no use but the relu
// and the op before it can apply the relu in its epilogue.
module @Relu attributes {kiln.model} {
  kiln.param @w : tensor<3xf32> init = zeros
  func.func @Relu_loss(%w: tensor<3xf32> {kiln.param = @w}, %x: tensor<?x3xf32> {kiln.input = "x"})
      -> (tensor<f32> {kiln.output = "loss"}) {
    %0 = kiln.mul %x, %w : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
    %1 = kiln.relu %0 : tensor<?x3xf32>
    %2 = kiln.reduce_sum %1 : tensor<?x3xf32> -> tensor<f32>
    return %2 : tensor<f32>
  }
  // CHECK-LABEL: func.func @Relu_grad
  // CHECK: %[[PRE:.*]] = kiln.mul %{{.*}}, %{{.*}} : tensor<?x3xf32>, tensor<3xf32>
  // CHECK: %[[Y:.*]] = kiln.relu %[[PRE]]
  // CHECK: %[[ZERO:.*]] = kiln.constant dense<0.000000e+00>
  // CHECK: %[[MASK:.*]] = kiln.compare gt, %[[Y]], %[[ZERO]]
  // CHECK-NOT: %[[PRE]]
  // CHECK: return
}
