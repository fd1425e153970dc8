// RUN: kiln-opt %s --kiln-lower-to-linalg -split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-lower-to-linalg -split-input-file | FileCheck %s --check-prefix=NOKILN

// Whatever the case, no kiln op survives the pass (only kiln.param
// declarations, which have no result).
// NOKILN-NOT: = kiln.

// relu: one elementwise linalg.generic computing max(x, 0); the `?` size of
// the result is read with tensor.dim from the operand.

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @relu
// CHECK-SAME:    (%[[X:.*]]: tensor<?x64xf32>)
// CHECK:         %[[C0:.*]] = arith.constant 0 : index
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %[[C0]] : tensor<?x64xf32>
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x64xf32>
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[X]] : tensor<?x64xf32>) outs(%[[E]] : tensor<?x64xf32>)
// CHECK:         ^bb0(%[[IN:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:           %[[M:.*]] = arith.maximumf %[[IN]], %[[ZERO]] : f32
// CHECK:           linalg.yield %[[M]] : f32
// CHECK:         return %[[R]]
func.func @relu(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = kiln.relu %x : tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// sigmoid is 1 / (1 + exp(-x)) and neg is arith.negf, each in its own
// elementwise generic.

// CHECK-LABEL: func.func @sigmoid_and_neg
// CHECK-SAME:    (%[[X:.*]]: tensor<?x64xf32>)
// CHECK:         %[[SIG:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[X]] : tensor<?x64xf32>)
// CHECK:         ^bb0(%[[IN:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK:           %[[NEG:.*]] = arith.negf %[[IN]] : f32
// CHECK:           %[[EXP:.*]] = math.exp %[[NEG]] : f32
// CHECK:           %[[DEN:.*]] = arith.addf %[[ONE]], %[[EXP]] : f32
// CHECK:           %[[Q:.*]] = arith.divf %[[ONE]], %[[DEN]] : f32
// CHECK:           linalg.yield %[[Q]] : f32
// CHECK:         %[[NEGT:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[X]] : tensor<?x64xf32>)
// CHECK:         ^bb0(%[[IN2:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[N2:.*]] = arith.negf %[[IN2]] : f32
// CHECK:           linalg.yield %[[N2]] : f32
// CHECK:         return %[[SIG]], %[[NEGT]]
func.func @sigmoid_and_neg(%x: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %0 = kiln.sigmoid %x : tensor<?x64xf32>
  %1 = kiln.neg %x : tensor<?x64xf32>
  return %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Broadcasting aligns shapes on the right: a tensor<10xf32> added to a
// tensor<?x10xf32> is read with (d0, d1) -> (d1), a rank-0 operand with
// (d0, d1) -> (); the batch size comes from the operand that has it.

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$COL:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG:   #[[$SCALAR:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @broadcast_right_aligned
// CHECK-SAME:    (%[[X:.*]]: tensor<?x10xf32>, %[[V:.*]]: tensor<10xf32>, %[[S:.*]]: tensor<f32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x10xf32>
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x10xf32>
// CHECK:         %[[ADD:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$COL]], #[[$ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[X]], %[[V]] : tensor<?x10xf32>, tensor<10xf32>) outs(%[[E]] : tensor<?x10xf32>)
// CHECK:           arith.addf
// CHECK:         %[[SUB:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$SCALAR]], #[[$ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[X]], %[[S]] : tensor<?x10xf32>, tensor<f32>)
// CHECK:           arith.subf
// CHECK:         return %[[ADD]], %[[SUB]]
func.func @broadcast_right_aligned(%x: tensor<?x10xf32>, %v: tensor<10xf32>, %s: tensor<f32>)
    -> (tensor<?x10xf32>, tensor<?x10xf32>) {
  %0 = kiln.add %x, %v : tensor<?x10xf32>, tensor<10xf32> -> tensor<?x10xf32>
  %1 = kiln.sub %x, %s : tensor<?x10xf32>, tensor<f32> -> tensor<?x10xf32>
  return %0, %1 : tensor<?x10xf32>, tensor<?x10xf32>
}

// -----

// A static 1 broadcast against a larger (or dynamic) dimension is read at
// index 0: tensor<?x1xf32> * tensor<10xf32> reads the lhs with
// (d0, d1) -> (d0, 0), and tensor<1x10xf32> + tensor<?x10xf32> reads the
// lhs with (d0, d1) -> (0, d1), taking the batch size from the rhs.

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$COL:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG:   #[[$ROW0:.*]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-DAG:   #[[$FIRST:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-LABEL: func.func @broadcast_static_one
// CHECK-SAME:    (%[[C:.*]]: tensor<?x1xf32>, %[[V:.*]]: tensor<10xf32>, %[[A:.*]]: tensor<1x10xf32>, %[[B:.*]]: tensor<?x10xf32>)
// CHECK:         %[[N1:.*]] = tensor.dim %[[C]], %{{.*}} : tensor<?x1xf32>
// CHECK:         %[[E1:.*]] = tensor.empty(%[[N1]]) : tensor<?x10xf32>
// CHECK:         %[[MUL:.*]] = linalg.generic {indexing_maps = [#[[$ROW0]], #[[$COL]], #[[$ID]]]
// CHECK-SAME:      ins(%[[C]], %[[V]] : tensor<?x1xf32>, tensor<10xf32>) outs(%[[E1]] : tensor<?x10xf32>)
// CHECK:           arith.mulf
// CHECK:         %[[N2:.*]] = tensor.dim %[[B]], %{{.*}} : tensor<?x10xf32>
// CHECK:         %[[E2:.*]] = tensor.empty(%[[N2]]) : tensor<?x10xf32>
// CHECK:         %[[ADD:.*]] = linalg.generic {indexing_maps = [#[[$FIRST]], #[[$ID]], #[[$ID]]]
// CHECK-SAME:      ins(%[[A]], %[[B]] : tensor<1x10xf32>, tensor<?x10xf32>) outs(%[[E2]] : tensor<?x10xf32>)
// CHECK:           arith.addf
// CHECK:         return %[[MUL]], %[[ADD]]
func.func @broadcast_static_one(%c: tensor<?x1xf32>, %v: tensor<10xf32>, %a: tensor<1x10xf32>, %b: tensor<?x10xf32>)
    -> (tensor<?x10xf32>, tensor<?x10xf32>) {
  %0 = kiln.mul %c, %v : tensor<?x1xf32>, tensor<10xf32> -> tensor<?x10xf32>
  %1 = kiln.add %a, %b : tensor<1x10xf32>, tensor<?x10xf32> -> tensor<?x10xf32>
  return %0, %1 : tensor<?x10xf32>, tensor<?x10xf32>
}

// -----

// kiln.compare: arith.cmpf (ordered predicates) on floats, arith.cmpi
// (signed predicates) on integers, the i1 turned into 1.0 / 0.0 with
// arith.uitofp.

// CHECK-LABEL: func.func @compare
// CHECK-SAME:    (%[[A:.*]]: tensor<?xf32>, %[[B:.*]]: tensor<f32>, %[[P:.*]]: tensor<?xi32>, %[[Y:.*]]: tensor<?xi32>)
// CHECK:         %[[GT:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[A]], %[[B]] : tensor<?xf32>, tensor<f32>) outs(%{{.*}} : tensor<?xf32>)
// CHECK:         ^bb0(%[[L:.*]]: f32, %[[R:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[BIT:.*]] = arith.cmpf ogt, %[[L]], %[[R]] : f32
// CHECK:           %[[F:.*]] = arith.uitofp %[[BIT]] : i1 to f32
// CHECK:           linalg.yield %[[F]] : f32
// CHECK:         %[[EQ:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[P]], %[[Y]] : tensor<?xi32>, tensor<?xi32>) outs(%{{.*}} : tensor<?xf32>)
// CHECK:         ^bb0(%[[LI:.*]]: i32, %[[RI:.*]]: i32, %{{.*}}: f32):
// CHECK:           %[[BITI:.*]] = arith.cmpi eq, %[[LI]], %[[RI]] : i32
// CHECK:           %[[FI:.*]] = arith.uitofp %[[BITI]] : i1 to f32
// CHECK:           linalg.yield %[[FI]] : f32
// CHECK:         %[[LT:.*]] = linalg.generic
// CHECK:           arith.cmpi slt, %{{.*}}, %{{.*}} : i32
// CHECK:         return %[[GT]], %[[EQ]], %[[LT]]
func.func @compare(%a: tensor<?xf32>, %b: tensor<f32>, %p: tensor<?xi32>, %y: tensor<?xi32>)
    -> (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) {
  %0 = kiln.compare gt, %a, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
  %1 = kiln.compare eq, %p, %y : tensor<?xi32>, tensor<?xi32> -> tensor<?xf32>
  %2 = kiln.compare lt, %p, %y : tensor<?xi32>, tensor<?xi32> -> tensor<?xf32>
  return %0, %1, %2 : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>
}

// -----

// kiln.constant becomes an arith.constant with the same dense value.

// CHECK-LABEL: func.func @constant
// CHECK:         %[[C:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK:         return %[[C]] : tensor<2xf32>
func.func @constant() -> tensor<2xf32> {
  %0 = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// kiln.dropout without a key is the identity (inference semantics): its
// operand is returned as is.

// CHECK-LABEL: func.func @dropout
// CHECK-SAME:    (%[[X:.*]]: tensor<?x10xf32>)
// CHECK-NEXT:    return %[[X]] : tensor<?x10xf32>
func.func @dropout(%x: tensor<?x10xf32>) -> tensor<?x10xf32> {
  %0 = kiln.dropout %x rate = 0.5 : tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// -----

// kiln.batch_norm (inference form) becomes elementwise generics: per
// feature, gamma / sqrt(variance + epsilon); then per element
// (x - mean) * scale + beta, the [3] statistics broadcast along the last
// axis (fusion merges the chain later).

// CHECK-LABEL: func.func @batch_norm
// CHECK-SAME:    (%[[X:.*]]: tensor<?x3xf32>, %[[G:.*]]: tensor<3xf32>, %[[B:.*]]: tensor<3xf32>, %[[M:.*]]: tensor<3xf32>, %[[V:.*]]: tensor<3xf32>)
// CHECK:         %[[EPS:.*]] = arith.constant dense<1.000000e-03> : tensor<f32>
// CHECK:         %[[VE:.*]] = linalg.generic {{.*}} ins(%[[V]], %[[EPS]] : tensor<3xf32>, tensor<f32>)
// CHECK:           arith.addf
// CHECK:         %[[SD:.*]] = linalg.generic {{.*}} ins(%[[VE]] : tensor<3xf32>)
// CHECK:           math.sqrt
// CHECK:         %[[SCALE:.*]] = linalg.generic {{.*}} ins(%[[G]], %[[SD]] : tensor<3xf32>, tensor<3xf32>)
// CHECK:           arith.divf
// CHECK:         %[[C:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[M]] : tensor<?x3xf32>, tensor<3xf32>)
// CHECK:           arith.subf
// CHECK:         %[[S:.*]] = linalg.generic {{.*}} ins(%[[C]], %[[SCALE]] : tensor<?x3xf32>, tensor<3xf32>)
// CHECK:           arith.mulf
// CHECK:         %[[R:.*]] = linalg.generic {{.*}} ins(%[[S]], %[[B]] : tensor<?x3xf32>, tensor<3xf32>)
// CHECK:           arith.addf
// CHECK:         return %[[R]]
func.func @batch_norm(%x: tensor<?x3xf32>, %g: tensor<3xf32>, %b: tensor<3xf32>, %m: tensor<3xf32>, %v: tensor<3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.batch_norm %x, %g, %b, %m, %v epsilon = 1.0e-3 momentum = 0.99 : tensor<?x3xf32>, tensor<3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// With the key (seed, step) of a train step, one elementwise generic reads
// the input and the two key scalars (broadcast: on the GPU they are device
// memory, read only inside the kernel), hashes (seed, step, instance, linear
// index) with SplitMix64, keeps the element when the top 32 bits are at
// least rate * 2^32 (0.25 * 2^32 = 1073741824), scaling it by 1/(1 - 0.25).

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$SCALAR:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @dropout_training
// CHECK-SAME:    (%[[X:.*]]: tensor<?x10xf32>, %[[SEED:.*]]: tensor<i32>, %[[STEP:.*]]: tensor<f32>)
// CHECK:         linalg.generic {indexing_maps = [#[[$ID]], #[[$SCALAR]], #[[$SCALAR]], #[[$ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[X]], %[[SEED]], %[[STEP]] : tensor<?x10xf32>, tensor<i32>, tensor<f32>)
// CHECK:         ^bb0(%[[IN:.*]]: f32, %[[S:.*]]: i32, %[[T:.*]]: f32, %{{.*}}: f32):
// CHECK:           arith.extui %[[S]] : i32 to i64
// CHECK:           arith.fptosi %[[T]] : f32 to i64
// CHECK:           arith.constant 30064771072 : i64
// CHECK:           linalg.index 0
// CHECK:           linalg.index 1
// CHECK:           arith.constant -7046029254386353131 : i64
// CHECK:           %[[KEEP:.*]] = arith.cmpi uge, %{{.*}}, %{{.*}} : i64
// CHECK:           %[[SCALED:.*]] = arith.mulf %[[IN]], %{{.*}} : f32
// CHECK:           %[[R:.*]] = arith.select %[[KEEP]], %[[SCALED]], %{{.*}} : f32
// CHECK:           linalg.yield %[[R]] : f32
func.func @dropout_training(%x: tensor<?x10xf32>, %seed: tensor<i32>, %step: tensor<f32>) -> tensor<?x10xf32> {
  %0 = kiln.dropout %x key(%seed, %step : tensor<i32>, tensor<f32>) rate = 0.25 {instance = 7 : i64} : tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// -----

// Matrix x matrix: linalg.matmul into a zero-filled tensor whose batch size
// is the lhs's dimension 0.

// CHECK-LABEL: func.func @matmul_2x2
// CHECK-SAME:    (%[[A:.*]]: tensor<?x10xf32>, %[[B:.*]]: tensor<10x3xf32>)
// CHECK:         %[[C0:.*]] = arith.constant 0 : index
// CHECK:         %[[N:.*]] = tensor.dim %[[A]], %[[C0]] : tensor<?x10xf32>
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x3xf32>
// CHECK:         %[[F:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<?x3xf32>) -> tensor<?x3xf32>
// CHECK:         %[[M:.*]] = linalg.matmul ins(%[[A]], %[[B]] : tensor<?x10xf32>, tensor<10x3xf32>) outs(%[[F]] : tensor<?x3xf32>) -> tensor<?x3xf32>
// CHECK:         return %[[M]]
func.func @matmul_2x2(%a: tensor<?x10xf32>, %b: tensor<10x3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.matmul %a, %b : tensor<?x10xf32>, tensor<10x3xf32> -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// Matrix x vector: linalg.matvec, batch size from the lhs.

// CHECK-LABEL: func.func @matmul_2x1
// CHECK-SAME:    (%[[A:.*]]: tensor<?x10xf32>, %[[V:.*]]: tensor<10xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[A]], %{{.*}} : tensor<?x10xf32>
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?xf32>
// CHECK:         %[[F:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<?xf32>)
// CHECK:         %[[M:.*]] = linalg.matvec ins(%[[A]], %[[V]] : tensor<?x10xf32>, tensor<10xf32>) outs(%[[F]] : tensor<?xf32>) -> tensor<?xf32>
// CHECK:         return %[[M]]
func.func @matmul_2x1(%a: tensor<?x10xf32>, %v: tensor<10xf32>) -> tensor<?xf32> {
  %0 = kiln.matmul %a, %v : tensor<?x10xf32>, tensor<10xf32> -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

// Vector x matrix: linalg.vecmat into a static zero-filled tensor.

// CHECK-LABEL: func.func @matmul_1x2
// CHECK-SAME:    (%[[V:.*]]: tensor<10xf32>, %[[B:.*]]: tensor<10x3xf32>)
// CHECK-NOT:     tensor.dim
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<3xf32>
// CHECK:         %[[F:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<3xf32>)
// CHECK:         %[[M:.*]] = linalg.vecmat ins(%[[V]], %[[B]] : tensor<10xf32>, tensor<10x3xf32>) outs(%[[F]] : tensor<3xf32>) -> tensor<3xf32>
// CHECK:         return %[[M]]
func.func @matmul_1x2(%v: tensor<10xf32>, %b: tensor<10x3xf32>) -> tensor<3xf32> {
  %0 = kiln.matmul %v, %b : tensor<10xf32>, tensor<10x3xf32> -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// Vector x vector: linalg.dot into a zero-filled rank-0 tensor.

// CHECK-LABEL: func.func @matmul_1x1
// CHECK-SAME:    (%[[U:.*]]: tensor<10xf32>, %[[V:.*]]: tensor<10xf32>)
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<f32>
// CHECK:         %[[F:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<f32>)
// CHECK:         %[[D:.*]] = linalg.dot ins(%[[U]], %[[V]] : tensor<10xf32>, tensor<10xf32>) outs(%[[F]] : tensor<f32>) -> tensor<f32>
// CHECK:         return %[[D]]
func.func @matmul_1x1(%u: tensor<10xf32>, %v: tensor<10xf32>) -> tensor<f32> {
  %0 = kiln.matmul %u, %v : tensor<10xf32>, tensor<10xf32> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

// conv2d without padding: linalg.conv_2d_nhwc_hwcf straight on the input,
// with the op's strides, unit dilations and a zero-filled output.

// CHECK-LABEL: func.func @conv2d_valid
// CHECK-SAME:    (%[[X:.*]]: tensor<?x28x28x1xf32>, %[[K:.*]]: tensor<3x3x1x32xf32>)
// CHECK-NOT:     tensor.pad
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x28x28x1xf32>
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x13x13x32xf32>
// CHECK:         %[[F:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<?x13x13x32xf32>)
// CHECK:         %[[C:.*]] = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
// CHECK-SAME:      ins(%[[X]], %[[K]] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) outs(%[[F]] : tensor<?x13x13x32xf32>)
// CHECK:         return %[[C]]
func.func @conv2d_valid(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) -> tensor<?x13x13x32xf32> {
  %0 = kiln.conv2d %x, %k strides = [2, 2] padding = [0, 0, 0, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x13x13x32xf32>
  return %0 : tensor<?x13x13x32xf32>
}

// -----

// conv2d with padding [top, bottom, left, right] = [1, 2, 3, 0]: a
// tensor.pad with zeros, low [0, top, left, 0] and high [0, bottom, right, 0],
// feeds the convolution; the batch size still comes from the unpadded input.

// CHECK-LABEL: func.func @conv2d_padded
// CHECK-SAME:    (%[[X:.*]]: tensor<?x28x28x1xf32>, %[[K:.*]]: tensor<3x3x1x32xf32>)
// CHECK:         %[[PADV:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[P:.*]] = tensor.pad %[[X]] low[0, 1, 3, 0] high[0, 2, 0, 0]
// CHECK:           tensor.yield %[[PADV]] : f32
// CHECK:         } : tensor<?x28x28x1xf32> to tensor<?x31x31x1xf32>
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x28x28x1xf32>
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x29x29x32xf32>
// CHECK:         %[[F:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<?x29x29x32xf32>)
// CHECK:         %[[C:.*]] = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
// CHECK-SAME:      ins(%[[P]], %[[K]] : tensor<?x31x31x1xf32>, tensor<3x3x1x32xf32>) outs(%[[F]] : tensor<?x29x29x32xf32>)
// CHECK:         return %[[C]]
func.func @conv2d_padded(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) -> tensor<?x29x29x32xf32> {
  %0 = kiln.conv2d %x, %k strides = [1, 1] padding = [1, 2, 3, 0] : tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32> -> tensor<?x29x29x32xf32>
  return %0 : tensor<?x29x29x32xf32>
}

// -----

// maxpool: linalg.pooling_nhwc_max over an output filled with -inf, the
// window given by an empty tensor of the window's shape.

// CHECK-LABEL: func.func @maxpool
// CHECK-SAME:    (%[[X:.*]]: tensor<?x26x26x32xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x26x26x32xf32>
// CHECK:         %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x13x13x32xf32>
// CHECK:         %[[F:.*]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%[[E]] : tensor<?x13x13x32xf32>)
// CHECK:         %[[W:.*]] = tensor.empty() : tensor<2x2xf32>
// CHECK:         %[[P:.*]] = linalg.pooling_nhwc_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
// CHECK-SAME:      ins(%[[X]], %[[W]] : tensor<?x26x26x32xf32>, tensor<2x2xf32>) outs(%[[F]] : tensor<?x13x13x32xf32>)
// CHECK:         return %[[P]]
func.func @maxpool(%x: tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32> {
  %0 = kiln.maxpool %x window = [2, 2] strides = [2, 2] : tensor<?x26x26x32xf32> -> tensor<?x13x13x32xf32>
  return %0 : tensor<?x13x13x32xf32>
}

// -----

// maxpool with padding (padding = same): the input padded with -inf first,
// [0, 1] rows and [1, 1] columns.

// CHECK-LABEL: func.func @maxpool_same
// CHECK:         tensor.empty() : tensor<3x3xf32>
// CHECK-NEXT:    %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT:    %[[P:.*]] = tensor.pad %{{.*}} low[0, 0, 1, 0] high[0, 1, 1, 0]
// CHECK:           tensor.yield %[[NEGINF]] : f32
// CHECK:         } : tensor<?x6x5x2xf32> to tensor<?x7x7x2xf32>
// CHECK:         linalg.pooling_nhwc_max {{.*}} ins(%[[P]], %{{.*}} : tensor<?x7x7x2xf32>, tensor<3x3xf32>)
func.func @maxpool_same(%x: tensor<?x6x5x2xf32>) -> tensor<?x3x3x2xf32> {
  %0 = kiln.maxpool %x window = [3, 3] strides = [2, 2] padding = [0, 1, 1, 1] : tensor<?x6x5x2xf32> -> tensor<?x3x3x2xf32>
  return %0 : tensor<?x3x3x2xf32>
}

// -----

// avgpool with padding: the sum over the zero-padded input, divided by the
// number of input elements of each window (Keras): along H from
// max(oy * 2 - 0, 0) to min(oy * 2 - 0 + 3, 6), along W with the left pad 1.

// CHECK-LABEL: func.func @avgpool_same
// CHECK:         %[[P:.*]] = tensor.pad %{{.*}} low[0, 0, 1, 0] high[0, 1, 1, 0]
// CHECK:         %[[S:.*]] = linalg.pooling_nhwc_sum {{.*}} ins(%[[P]], %{{.*}} : tensor<?x7x7x2xf32>, tensor<3x3xf32>)
// CHECK:         linalg.generic {{.*}} ins(%[[S]] : tensor<?x3x3x2xf32>)
// CHECK:           %[[OY:.*]] = linalg.index 1 : index
// CHECK:           arith.maxsi
// CHECK:           %[[H:.*]] = arith.constant 6 : index
// CHECK:           arith.minsi %{{.*}}, %[[H]] : index
// CHECK:           %[[W:.*]] = arith.constant 5 : index
// CHECK:           arith.minsi %{{.*}}, %[[W]] : index
// CHECK:           %[[COUNT:.*]] = arith.sitofp %{{.*}} : i64 to f32
// CHECK:           arith.divf %{{.*}}, %[[COUNT]] : f32
func.func @avgpool_same(%x: tensor<?x6x5x2xf32>) -> tensor<?x3x3x2xf32> {
  %0 = kiln.avgpool %x window = [3, 3] strides = [2, 2] padding = [0, 1, 1, 1] : tensor<?x6x5x2xf32> -> tensor<?x3x3x2xf32>
  return %0 : tensor<?x3x3x2xf32>
}

// -----

// The gradients with padding gather into the padded input's shape and crop
// the input's part out of it.

// CHECK-LABEL: func.func @pool_grads_same
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<?x7x7x2xf32>)
// CHECK:         tensor.extract_slice %{{.*}}[0, 0, 1, 0] [%{{.*}}, 6, 5, 2] [1, 1, 1, 1] : tensor<?x7x7x2xf32> to tensor<?x6x5x2xf32>
// CHECK:         tensor.pad %{{.*}} low[0, 0, 1, 0] high[0, 1, 1, 0]
// CHECK:         tensor.extract_slice %{{.*}}[0, 0, 1, 0] [%{{.*}}, 6, 5, 2] [1, 1, 1, 1] : tensor<?x7x7x2xf32> to tensor<?x6x5x2xf32>
func.func @pool_grads_same(%x: tensor<?x6x5x2xf32>, %g: tensor<?x3x3x2xf32>) -> (tensor<?x6x5x2xf32>, tensor<?x6x5x2xf32>) {
  %0 = kiln.avgpool_grad %g window = [3, 3] strides = [2, 2] padding = [0, 1, 1, 1] : tensor<?x3x3x2xf32> -> tensor<?x6x5x2xf32>
  %1 = kiln.maxpool_grad %x, %g window = [3, 3] strides = [2, 2] padding = [0, 1, 1, 1] : tensor<?x6x5x2xf32>, tensor<?x3x3x2xf32> -> tensor<?x6x5x2xf32>
  return %0, %1 : tensor<?x6x5x2xf32>, tensor<?x6x5x2xf32>
}

// -----

// avgpool: linalg.pooling_nhwc_sum over a zero-filled output, then an
// elementwise division by the window size (3 x 3 = 9).

// CHECK-LABEL: func.func @avgpool
// CHECK-SAME:    (%[[X:.*]]: tensor<?x26x26x32xf32>)
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[F:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<?x12x12x32xf32>)
// CHECK:         %[[W:.*]] = tensor.empty() : tensor<3x3xf32>
// CHECK:         %[[S:.*]] = linalg.pooling_nhwc_sum {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
// CHECK-SAME:      ins(%[[X]], %[[W]] : tensor<?x26x26x32xf32>, tensor<3x3xf32>) outs(%[[F]] : tensor<?x12x12x32xf32>)
// CHECK:         %[[NINE:.*]] = arith.constant 9.000000e+00 : f32
// CHECK:         %[[A:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[S]] : tensor<?x12x12x32xf32>)
// CHECK:         ^bb0(%[[IN:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[Q:.*]] = arith.divf %[[IN]], %[[NINE]] : f32
// CHECK:           linalg.yield %[[Q]] : f32
// CHECK:         return %[[A]]
func.func @avgpool(%x: tensor<?x26x26x32xf32>) -> tensor<?x12x12x32xf32> {
  %0 = kiln.avgpool %x window = [3, 3] strides = [2, 2] : tensor<?x26x26x32xf32> -> tensor<?x12x12x32xf32>
  return %0 : tensor<?x12x12x32xf32>
}

// -----

// A reshape that merges trailing dimensions (flatten) is a
// tensor.collapse_shape keeping the batch dimension alone.

// CHECK-LABEL: func.func @reshape_collapse
// CHECK-SAME:    (%[[X:.*]]: tensor<?x24x24x32xf32>)
// CHECK:         %[[R:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0], [1, 2, 3]] : tensor<?x24x24x32xf32> into tensor<?x18432xf32>
// CHECK:         return %[[R]]
func.func @reshape_collapse(%x: tensor<?x24x24x32xf32>) -> tensor<?x18432xf32> {
  %0 = kiln.reshape %x : tensor<?x24x24x32xf32> -> tensor<?x18432xf32>
  return %0 : tensor<?x18432xf32>
}

// -----

// A reshape that splits a dimension is a tensor.expand_shape whose dynamic
// output size is the input's batch size.

// CHECK-LABEL: func.func @reshape_expand
// CHECK-SAME:    (%[[X:.*]]: tensor<?x784xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x784xf32>
// CHECK:         %[[R:.*]] = tensor.expand_shape %[[X]] {{\[}}[0], [1, 2, 3]] output_shape [%[[N]], 28, 28, 1] : tensor<?x784xf32> into tensor<?x28x28x1xf32>
// CHECK:         return %[[R]]
func.func @reshape_expand(%x: tensor<?x784xf32>) -> tensor<?x28x28x1xf32> {
  %0 = kiln.reshape %x : tensor<?x784xf32> -> tensor<?x28x28x1xf32>
  return %0 : tensor<?x28x28x1xf32>
}

// -----

// Any other reshape (the language's reshape(x, [N, 4, 3, 2]) of [N, 6, 4])
// collapses to one row per example and expands that.

// CHECK-LABEL: func.func @reshape_general
// CHECK-SAME:    (%[[X:.*]]: tensor<?x6x4xf32>)
// CHECK:         %[[F:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0], [1, 2]] : tensor<?x6x4xf32> into tensor<?x24xf32>
// CHECK:         %[[R:.*]] = tensor.expand_shape %[[F]] {{\[}}[0], [1, 2, 3]] output_shape [%{{.*}}, 4, 3, 2] : tensor<?x24xf32> into tensor<?x4x3x2xf32>
// CHECK:         return %[[R]]
func.func @reshape_general(%x: tensor<?x6x4xf32>) -> tensor<?x4x3x2xf32> {
  %0 = kiln.reshape %x : tensor<?x6x4xf32> -> tensor<?x4x3x2xf32>
  return %0 : tensor<?x4x3x2xf32>
}

// -----

// The same for a static tensor of the same rank (a parameter's reshape): the
// dimensions swapped are not a collapse nor an expansion.

// CHECK-LABEL: func.func @reshape_same_rank
// CHECK:         %[[F:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<2x3xf32> into tensor<6xf32>
// CHECK:         tensor.expand_shape %[[F]] {{\[}}[0, 1]] output_shape [3, 2] : tensor<6xf32> into tensor<3x2xf32>
func.func @reshape_same_rank(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %0 = kiln.reshape %x : tensor<2x3xf32> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// keepdims over every axis: a rank-0 result expanded to size-1 dimensions.

// CHECK-LABEL: func.func @reshape_from_rank_0
// CHECK:         tensor.expand_shape %{{.*}} [] output_shape [1, 1] : tensor<f32> into tensor<1x1xf32>
func.func @reshape_from_rank_0(%x: tensor<f32>) -> tensor<1x1xf32> {
  %0 = kiln.reshape %x : tensor<f32> -> tensor<1x1xf32>
  return %0 : tensor<1x1xf32>
}

// -----

// concat: both operands inserted into an empty result of the batch size of
// the first, the second at the first's extent along the axis.

// CHECK-LABEL: func.func @concat
// CHECK-SAME:    (%[[A:.*]]: tensor<?x3xf32>, %[[B:.*]]: tensor<?x4xf32>)
// CHECK:         %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<?x7xf32>
// CHECK:         %[[I:.*]] = tensor.insert_slice %[[A]] into %[[E]][0, 0] [%{{.*}}, 3] [1, 1] : tensor<?x3xf32> into tensor<?x7xf32>
// CHECK:         %[[J:.*]] = tensor.insert_slice %[[B]] into %[[I]][0, 3] [%{{.*}}, 4] [1, 1] : tensor<?x4xf32> into tensor<?x7xf32>
// CHECK:         return %[[J]]
func.func @concat(%a: tensor<?x3xf32>, %b: tensor<?x4xf32>) -> tensor<?x7xf32> {
  %0 = kiln.concat %a, %b axis = 1 : tensor<?x3xf32>, tensor<?x4xf32> -> tensor<?x7xf32>
  return %0 : tensor<?x7xf32>
}

// -----

// slice (concat's gradient): a tensor.extract_slice along the axis.

// CHECK-LABEL: func.func @slice
// CHECK-SAME:    (%[[G:.*]]: tensor<?x7xf32>)
// CHECK:         %[[S:.*]] = tensor.extract_slice %[[G]][0, 3] [%{{.*}}, 4] [1, 1] : tensor<?x7xf32> to tensor<?x4xf32>
// CHECK:         return %[[S]]
func.func @slice(%g: tensor<?x7xf32>) -> tensor<?x4xf32> {
  %0 = kiln.slice %g axis = 1 offset = 3 : tensor<?x7xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// reduce_sum along an axis: a generic with that axis as a reduction
// iterator, accumulating in f64 (arith.extf, arith.addf) into a zero-filled
// tensor without that dimension (batch size from the input), then rounded
// to f32 once (arith.truncf): a float32 running sum stops at 2^24.

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @reduce_sum_axis
// CHECK-SAME:    (%[[X:.*]]: tensor<?x10xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x10xf32>
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?xf64>
// CHECK:         %[[F:.*]] = linalg.fill ins(%[[ZERO]] : f64) outs(%[[E]] : tensor<?xf64>)
// CHECK:         %[[S:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]]], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X]] : tensor<?x10xf32>) outs(%[[F]] : tensor<?xf64>)
// CHECK:         ^bb0(%[[IN:.*]]: f32, %[[ACC:.*]]: f64):
// CHECK:           %[[WIDE:.*]] = arith.extf %[[IN]] : f32 to f64
// CHECK:           %[[SUM:.*]] = arith.addf %[[WIDE]], %[[ACC]] : f64
// CHECK:           linalg.yield %[[SUM]] : f64
// CHECK:         %[[R:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[S]] : tensor<?xf64>)
// CHECK:           arith.truncf %{{.*}} : f64 to f32
// CHECK:         return %[[R]]
func.func @reduce_sum_axis(%x: tensor<?x10xf32>) -> tensor<?xf32> {
  %0 = kiln.reduce_sum %x axis = 1 : tensor<?x10xf32> -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

// reduce_mean over the batch axis divides the sum by the batch size read at
// run time (tensor.dim -> index_cast -> sitofp, times the static count 1).

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$COL:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @reduce_mean_batch
// CHECK-SAME:    (%[[X:.*]]: tensor<?x10xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x10xf32>
// CHECK:         %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK:         %[[NI:.*]] = arith.index_cast %[[N]] : index to i64
// CHECK:         %[[NF:.*]] = arith.sitofp %[[NI]] : i64 to f32
// CHECK:         %[[COUNT:.*]] = arith.mulf %[[ONE]], %[[NF]] : f32
// CHECK:         %[[S:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$COL]]], iterator_types = ["reduction", "parallel"]}
// CHECK-SAME:      ins(%[[X]] : tensor<?x10xf32>) outs(%{{.*}} : tensor<10xf64>)
// CHECK:           arith.addf
// CHECK:         %[[S32:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[S]] : tensor<10xf64>)
// CHECK:           arith.truncf
// CHECK:         %[[M:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[S32]] : tensor<10xf32>)
// CHECK:         ^bb0(%[[IN:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[Q:.*]] = arith.divf %[[IN]], %[[COUNT]] : f32
// CHECK:         return %[[M]]
func.func @reduce_mean_batch(%x: tensor<?x10xf32>) -> tensor<10xf32> {
  %0 = kiln.reduce_mean %x axis = 0 : tensor<?x10xf32> -> tensor<10xf32>
  return %0 : tensor<10xf32>
}

// -----

// reduce_mean without an axis reduces every dimension to a rank-0 tensor and
// divides by 10 x the batch size; reduce_max along an axis starts from -inf
// with arith.maximumf, reduce_min over everything from +inf with
// arith.minimumf.

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$ALL:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-DAG:   #[[$COL:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @reduce_all
// CHECK-SAME:    (%[[X:.*]]: tensor<?x10xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x10xf32>
// CHECK:         %[[TEN:.*]] = arith.constant 1.000000e+01 : f32
// CHECK:         %[[NI:.*]] = arith.index_cast %[[N]] : index to i64
// CHECK:         %[[NF:.*]] = arith.sitofp %[[NI]] : i64 to f32
// CHECK:         %[[COUNT:.*]] = arith.mulf %[[TEN]], %[[NF]] : f32
// CHECK:         %[[S:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ALL]]], iterator_types = ["reduction", "reduction"]}
// CHECK-SAME:      ins(%[[X]] : tensor<?x10xf32>) outs(%{{.*}} : tensor<f64>)
// CHECK:           arith.addf
// CHECK:         %[[S32:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[S]] : tensor<f64>)
// CHECK:           arith.truncf
// CHECK:         %[[MEAN:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[S32]] : tensor<f32>)
// CHECK:           arith.divf %{{.*}}, %[[COUNT]] : f32
// CHECK:         %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK:         linalg.fill ins(%[[NEGINF]] : f32) outs(%{{.*}} : tensor<10xf32>)
// CHECK:         %[[MAX:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$COL]]], iterator_types = ["reduction", "parallel"]}
// CHECK:           arith.maximumf
// CHECK:         %[[POSINF:.*]] = arith.constant 0x7F800000 : f32
// CHECK:         linalg.fill ins(%[[POSINF]] : f32) outs(%{{.*}} : tensor<f32>)
// CHECK:         %[[MIN:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ALL]]], iterator_types = ["reduction", "reduction"]}
// CHECK:           arith.minimumf
// CHECK:         return %[[MEAN]], %[[MAX]], %[[MIN]]
func.func @reduce_all(%x: tensor<?x10xf32>) -> (tensor<f32>, tensor<10xf32>, tensor<f32>) {
  %0 = kiln.reduce_mean %x : tensor<?x10xf32> -> tensor<f32>
  %1 = kiln.reduce_max %x axis = 0 : tensor<?x10xf32> -> tensor<10xf32>
  %2 = kiln.reduce_min %x : tensor<?x10xf32> -> tensor<f32>
  return %0, %1, %2 : tensor<f32>, tensor<10xf32>, tensor<f32>
}

// -----

// argmax: one generic with two outputs (running max from -inf, running index
// from 0); a strictly greater element (ogt) replaces both, so the first
// maximal index wins. The op's result is the index output.

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @argmax
// CHECK-SAME:    (%[[X:.*]]: tensor<?x10xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x10xf32>
// CHECK:         %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK:         %[[EM:.*]] = tensor.empty(%[[N]]) : tensor<?xf32>
// CHECK:         %[[FM:.*]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%[[EM]] : tensor<?xf32>)
// CHECK:         %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK:         %[[EI:.*]] = tensor.empty(%[[N]]) : tensor<?xi32>
// CHECK:         %[[FI:.*]] = linalg.fill ins(%[[ZERO]] : i32) outs(%[[EI]] : tensor<?xi32>)
// CHECK:         %[[R:.*]]:2 = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ROW]]], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X]] : tensor<?x10xf32>) outs(%[[FM]], %[[FI]] : tensor<?xf32>, tensor<?xi32>)
// CHECK:         ^bb0(%[[IN:.*]]: f32, %[[MAX:.*]]: f32, %[[IDX:.*]]: i32):
// CHECK:           %[[I:.*]] = linalg.index 1 : index
// CHECK:           %[[I32:.*]] = arith.index_cast %[[I]] : index to i32
// CHECK:           %[[GT:.*]] = arith.cmpf ogt, %[[IN]], %[[MAX]] : f32
// CHECK:           %[[NMAX:.*]] = arith.select %[[GT]], %[[IN]], %[[MAX]] : f32
// CHECK:           %[[NIDX:.*]] = arith.select %[[GT]], %[[I32]], %[[IDX]] : i32
// CHECK:           linalg.yield %[[NMAX]], %[[NIDX]] : f32, i32
// CHECK:         return %[[R]]#1 : tensor<?xi32>
func.func @argmax(%x: tensor<?x10xf32>) -> tensor<?xi32> {
  %0 = kiln.argmax %x axis = 1 : tensor<?x10xf32> -> tensor<?xi32>
  return %0 : tensor<?xi32>
}

// -----

// argmin: argmax's generic with a running minimum from +inf and a strictly
// smaller element (olt) replacing it, so the first minimal index wins.

// CHECK-LABEL: func.func @argmin
// CHECK:         %[[INF:.*]] = arith.constant 0x7F800000 : f32
// CHECK:         linalg.fill ins(%[[INF]] : f32)
// CHECK:         %[[R:.*]]:2 = linalg.generic
// CHECK:           %[[LT:.*]] = arith.cmpf olt, %{{.*}}, %{{.*}} : f32
// CHECK:           arith.select %[[LT]]
// CHECK:         return %[[R]]#1 : tensor<?xi32>
func.func @argmin(%x: tensor<?x10xf32>) -> tensor<?xi32> {
  %0 = kiln.argmin %x axis = 1 : tensor<?x10xf32> -> tensor<?xi32>
  return %0 : tensor<?xi32>
}

// -----

// take along axis 1: a reduction over the row from NaN that keeps the
// element whose position equals the row's index (nothing is loaded at the
// index, so one out of range reads nothing and leaves NaN).

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @take
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4xf32>, %[[T:.*]]: tensor<?xi32>)
// CHECK:         %[[NAN:.*]] = arith.constant 0x7FC00000 : f32
// CHECK:         %[[INIT:.*]] = linalg.fill ins(%[[NAN]] : f32)
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ROW]]], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X]], %[[T]] : tensor<?x4xf32>, tensor<?xi32>) outs(%[[INIT]] : tensor<?xf32>)
// CHECK:         ^bb0(%[[IN:.*]]: f32, %[[IDX:.*]]: i32, %[[ACC:.*]]: f32):
// CHECK:           %[[I:.*]] = linalg.index 1 : index
// CHECK:           %[[I32:.*]] = arith.index_cast %[[I]] : index to i32
// CHECK:           %[[HIT:.*]] = arith.cmpi eq, %[[I32]], %[[IDX]] : i32
// CHECK:           %[[SEL:.*]] = arith.select %[[HIT]], %[[IN]], %[[ACC]] : f32
// CHECK:           linalg.yield %[[SEL]] : f32
// CHECK:         return %[[R]] : tensor<?xf32>
func.func @take(%x: tensor<?x4xf32>, %t: tensor<?xi32>) -> tensor<?xf32> {
  %0 = kiln.take %x, %t axis = 1 : tensor<?x4xf32>, tensor<?xi32> -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

// stop_gradient is its operand once autodiff has run; onehot without `like`
// takes the batch size from the indices.

// CHECK-LABEL: func.func @stop_gradient_and_one_hot
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4xf32>, %[[T:.*]]: tensor<?xi32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[T]], %{{.*}} : tensor<?xi32>
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf32>
// CHECK:         %[[H:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[T]] : tensor<?xi32>) outs(%[[E]] : tensor<?x4xf32>)
// CHECK:         return %[[X]], %[[H]] : tensor<?x4xf32>, tensor<?x4xf32>
func.func @stop_gradient_and_one_hot(%x: tensor<?x4xf32>, %t: tensor<?xi32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %0 = kiln.stop_gradient %x : tensor<?x4xf32>
  %1 = kiln.onehot %t axis = 1 : tensor<?xi32> -> tensor<?x4xf32>
  return %0, %1 : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// softmax along axis 1: the row maximum (from -inf) is subtracted first,
// then exp, a row sum, and a division of each exp by its row's sum (the
// reduced tensors are read back with (d0, d1) -> (d0)).

// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[$ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @softmax
// CHECK-SAME:    (%[[X:.*]]: tensor<?x10xf32>)
// CHECK:         %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK:         %[[MAX:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]]], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X]] : tensor<?x10xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[SH:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[X]], %[[MAX]] : tensor<?x10xf32>, tensor<?xf32>)
// CHECK:           arith.subf
// CHECK:         %[[EXP:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[SH]] : tensor<?x10xf32>)
// CHECK:           math.exp
// CHECK:         %[[SUM:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]]], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME:      ins(%[[EXP]] : tensor<?x10xf32>)
// CHECK:           arith.addf
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[EXP]], %[[SUM]] : tensor<?x10xf32>, tensor<?xf32>)
// CHECK:         ^bb0(%[[E:.*]]: f32, %[[S:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[Q:.*]] = arith.divf %[[E]], %[[S]] : f32
// CHECK:         return %[[R]]
func.func @softmax(%x: tensor<?x10xf32>) -> tensor<?x10xf32> {
  %0 = kiln.softmax %x axis = 1 : tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// -----

// log_softmax along axis 1: (x - max) - log(sum(exp(x - max))).

// CHECK-LABEL: func.func @log_softmax
// CHECK-SAME:    (%[[X:.*]]: tensor<?x10xf32>)
// CHECK:         %[[MAX:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[X]] : tensor<?x10xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[SH:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[X]], %[[MAX]] : tensor<?x10xf32>, tensor<?xf32>)
// CHECK:           arith.subf
// CHECK:         %[[EXP:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[SH]] : tensor<?x10xf32>)
// CHECK:           math.exp
// CHECK:         %[[SUM:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[EXP]] : tensor<?x10xf32>)
// CHECK:           arith.addf
// CHECK:         %[[R:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[SH]], %[[SUM]] : tensor<?x10xf32>, tensor<?xf32>)
// CHECK:         ^bb0(%[[V:.*]]: f32, %[[S:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[LOG:.*]] = math.log %[[S]] : f32
// CHECK:           %[[D:.*]] = arith.subf %[[V]], %[[LOG]] : f32
// CHECK:           linalg.yield %[[D]] : f32
// CHECK:         return %[[R]]
func.func @log_softmax(%x: tensor<?x10xf32>) -> tensor<?x10xf32> {
  %0 = kiln.log_softmax %x axis = 1 : tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// -----

// cross_entropy: per row, log(sum(exp(z - max))) + max - z[label], the
// target logit read with tensor.extract at (row, label) when the label is in
// [0, 10) (one unsigned compare, so negative labels fail it too), else at
// column 0 with the row's loss NaN; then the mean over the rows, summed in
// f64 and divided by the run-time batch size.

// CHECK-LABEL: func.func @cross_entropy
// CHECK-SAME:    (%[[Z:.*]]: tensor<?x10xf32>, %[[T:.*]]: tensor<?xi32>)
// CHECK:         %[[MAX:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[Z]] : tensor<?x10xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[EXP:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[Z]], %[[MAX]] : tensor<?x10xf32>, tensor<?xf32>)
// CHECK:           arith.subf
// CHECK:           math.exp
// CHECK:         %[[SUM:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[EXP]] : tensor<?x10xf32>)
// CHECK:           arith.addf
// CHECK:         %[[ROWS:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[MAX]], %[[SUM]], %[[T]] : tensor<?xf32>, tensor<?xf32>, tensor<?xi32>)
// CHECK:         ^bb0(%[[M:.*]]: f32, %[[S:.*]]: f32, %[[L:.*]]: i32, %{{.*}}: f32):
// CHECK:           %[[ROW:.*]] = linalg.index 0 : index
// CHECK:           %[[COL:.*]] = arith.index_cast %[[L]] : i32 to index
// CHECK:           %[[OK:.*]] = arith.cmpi ult, %[[COL]], %[[CLASSES:.*]] : index
// CHECK:           %[[SAFE:.*]] = arith.select %[[OK]], %[[COL]], %{{.*}} : index
// CHECK:           %[[TGT:.*]] = tensor.extract %[[Z]][%[[ROW]], %[[SAFE]]] : tensor<?x10xf32>
// CHECK:           %[[LOG:.*]] = math.log %[[S]] : f32
// CHECK:           %[[LSE:.*]] = arith.addf %[[LOG]], %[[M]] : f32
// CHECK:           %[[LOSS:.*]] = arith.subf %[[LSE]], %[[TGT]] : f32
// CHECK:           %[[NAN:.*]] = arith.constant 0x7FC00000 : f32
// CHECK:           %[[PICKED:.*]] = arith.select %[[OK]], %[[LOSS]], %[[NAN]] : f32
// CHECK:           linalg.yield %[[PICKED]] : f32
// CHECK:         %[[N:.*]] = tensor.dim %[[ROWS]], %{{.*}} : tensor<?xf32>
// CHECK:         %[[NI:.*]] = arith.index_cast %[[N]] : index to i64
// CHECK:         %[[NF:.*]] = arith.sitofp %[[NI]] : i64 to f32
// CHECK:         %[[COUNT:.*]] = arith.mulf %{{.*}}, %[[NF]] : f32
// CHECK:         %[[TOTAL:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[ROWS]] : tensor<?xf32>) outs(%{{.*}} : tensor<f64>)
// CHECK:           arith.addf
// CHECK:         %[[TOTAL32:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[TOTAL]] : tensor<f64>)
// CHECK:         %[[MEAN:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[TOTAL32]] : tensor<f32>)
// CHECK:           arith.divf %{{.*}}, %[[COUNT]] : f32
// CHECK:         return %[[MEAN]] : tensor<f32>
func.func @cross_entropy(%z: tensor<?x10xf32>, %t: tensor<?xi32>) -> tensor<f32> {
  %0 = kiln.cross_entropy %z, %t : tensor<?x10xf32>, tensor<?xi32> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

// binary_cross_entropy: p is clamped to [1e-7, 1 - 1e-7], each element gives
// -(y log p + (1 - y) log(1 - p)), and the mean is taken over all elements.

// CHECK-LABEL: func.func @binary_cross_entropy
// CHECK-SAME:    (%[[P:.*]]: tensor<?x1xf32>, %[[Y:.*]]: tensor<?x1xf32>)
// CHECK:         %[[TERMS:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[P]], %[[Y]] : tensor<?x1xf32>, tensor<?x1xf32>)
// CHECK:         ^bb0(%[[PI:.*]]: f32, %[[YI:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK:           %[[EPS:.*]] = arith.constant 1.000000e-07 : f32
// CHECK:           %[[LO:.*]] = arith.maximumf %[[PI]], %[[EPS]] : f32
// CHECK:           %[[HI:.*]] = arith.subf %[[ONE]], %[[EPS]] : f32
// CHECK:           %[[CL:.*]] = arith.minimumf %[[LO]], %[[HI]] : f32
// CHECK:           %[[LOGP:.*]] = math.log %[[CL]] : f32
// CHECK:           %[[OMP:.*]] = arith.subf %[[ONE]], %[[CL]] : f32
// CHECK:           %[[LOG1MP:.*]] = math.log %[[OMP]] : f32
// CHECK:           %[[POS:.*]] = arith.mulf %[[YI]], %[[LOGP]] : f32
// CHECK:           %[[OMY:.*]] = arith.subf %[[ONE]], %[[YI]] : f32
// CHECK:           %[[NEG:.*]] = arith.mulf %[[OMY]], %[[LOG1MP]] : f32
// CHECK:           %[[SUM:.*]] = arith.addf %[[POS]], %[[NEG]] : f32
// CHECK:           %[[R:.*]] = arith.negf %[[SUM]] : f32
// CHECK:           linalg.yield %[[R]] : f32
// CHECK:         %[[TOTAL:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[TERMS]] : tensor<?x1xf32>) outs(%{{.*}} : tensor<f64>)
// CHECK:         %[[TOTAL32:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[TOTAL]] : tensor<f64>)
// CHECK:         %[[MEAN:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[TOTAL32]] : tensor<f32>)
// CHECK:           arith.divf
// CHECK:         return %[[MEAN]] : tensor<f32>
func.func @binary_cross_entropy(%p: tensor<?x1xf32>, %y: tensor<?x1xf32>) -> tensor<f32> {
  %0 = kiln.binary_cross_entropy %p, %y : tensor<?x1xf32>, tensor<?x1xf32> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

// mse: the mean over all elements of (a - b)^2, squared with one mulf.

// CHECK-LABEL: func.func @mse
// CHECK-SAME:    (%[[A:.*]]: tensor<?xf32>, %[[B:.*]]: tensor<?xf32>)
// CHECK:         %[[SQ:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[A]], %[[B]] : tensor<?xf32>, tensor<?xf32>)
// CHECK:         ^bb0(%[[AI:.*]]: f32, %[[BI:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[D:.*]] = arith.subf %[[AI]], %[[BI]] : f32
// CHECK:           %[[D2:.*]] = arith.mulf %[[D]], %[[D]] : f32
// CHECK:           linalg.yield %[[D2]] : f32
// CHECK:         %[[N:.*]] = tensor.dim %[[SQ]], %{{.*}} : tensor<?xf32>
// CHECK:         %[[TOTAL:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[SQ]] : tensor<?xf32>) outs(%{{.*}} : tensor<f64>)
// CHECK:         %[[TOTAL32:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[TOTAL]] : tensor<f64>)
// CHECK:         %[[MEAN:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[TOTAL32]] : tensor<f32>)
// CHECK:           arith.divf
// CHECK:         return %[[MEAN]] : tensor<f32>
func.func @mse(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<f32> {
  %0 = kiln.mse %a, %b : tensor<?xf32>, tensor<?xf32> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

// Inside a model module the functions are lowered too, while the kiln.param
// declarations (model metadata) and the calling-convention attributes stay.

// CHECK-LABEL: module @M attributes {kiln.model}
// CHECK:         kiln.param @w : tensor<10xf32> init = zeros
// CHECK:         kiln.param @b : tensor<f32> init = constant(0.000000e+00)
// CHECK-LABEL:   func.func @M_predict
// CHECK-SAME:      {kiln.param = @w}
// CHECK-SAME:      {kiln.param = @b}
// CHECK-SAME:      {kiln.input = "x"}
// CHECK-SAME:      {kiln.output = "p"}
// CHECK-NOT:       = kiln.
// CHECK:           linalg.matvec
// CHECK-NOT:       = kiln.
// CHECK:           linalg.generic
// CHECK-NOT:       = kiln.
// CHECK:           return
module @M attributes {kiln.model} {
  kiln.param @w : tensor<10xf32> init = zeros
  kiln.param @b : tensor<f32> init = constant(0.0)
  func.func @M_predict(%w: tensor<10xf32> {kiln.param = @w},
                       %b: tensor<f32> {kiln.param = @b},
                       %x: tensor<?x10xf32> {kiln.input = "x"})
      -> (tensor<?xf32> {kiln.output = "p"}) {
    %0 = kiln.matmul %x, %w : tensor<?x10xf32>, tensor<10xf32> -> tensor<?xf32>
    %1 = kiln.add %0, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
    return %1 : tensor<?xf32>
  }
}

// -----

// conv2d_grad_input (strides 2, padding bottom/right 1): the cotangent
// dilated by the strides into a zero frame of kh-1 / kw-1 around the padded
// input's extent (10 = 8 + 3 - 1), the filter flipped with its channels
// swapped, a stride-1 linalg.conv_2d_nhwc_hwcf over the padded input
// (8 x 8), then cut to the input (7 x 7, from the top-left padding 0).

// CHECK-DAG:   #[[$FLIP:.*]] = affine_map<(d0, d1, d2, d3) -> (-d0 + 2, -d1 + 2, d3, d2)>
// CHECK-DAG:   #[[$ID:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @conv2d_grad_input
// CHECK-SAME:    (%[[DY:.*]]: tensor<?x3x3x4xf32>, %[[K:.*]]: tensor<3x3x2x4xf32>)
// CHECK:         %[[FRAME:.*]] = linalg.fill {{.*}} -> tensor<?x10x10x4xf32>
// CHECK:         %[[DIL:.*]] = tensor.insert_slice %[[DY]] into %[[FRAME]][0, 2, 2, 0] [%{{.*}}, 3, 3, 4] [1, 2, 2, 1] : tensor<?x3x3x4xf32> into tensor<?x10x10x4xf32>
// CHECK:         %[[FLIPPED:.*]] = linalg.generic {indexing_maps = [#[[$FLIP]], #[[$ID]]], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
// CHECK-SAME:      ins(%[[K]] : tensor<3x3x2x4xf32>) outs(%{{.*}} : tensor<3x3x4x2xf32>)
// CHECK:         %[[ZEROS:.*]] = linalg.fill {{.*}} -> tensor<?x8x8x2xf32>
// CHECK:         %[[CONV:.*]] = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
// CHECK-SAME:      ins(%[[DIL]], %[[FLIPPED]] : tensor<?x10x10x4xf32>, tensor<3x3x4x2xf32>) outs(%[[ZEROS]] : tensor<?x8x8x2xf32>)
// CHECK:         %[[CUT:.*]] = tensor.extract_slice %[[CONV]][0, 0, 0, 0] [%{{.*}}, 7, 7, 2] [1, 1, 1, 1] : tensor<?x8x8x2xf32> to tensor<?x7x7x2xf32>
// CHECK:         return %[[CUT]]
func.func @conv2d_grad_input(%dy: tensor<?x3x3x4xf32>, %k: tensor<3x3x2x4xf32>) -> tensor<?x7x7x2xf32> {
  %0 = kiln.conv2d_grad_input %dy, %k strides = [2, 2] padding = [0, 1, 0, 1] : tensor<?x3x3x4xf32>, tensor<3x3x2x4xf32> -> tensor<?x7x7x2xf32>
  return %0 : tensor<?x7x7x2xf32>
}

// -----

// conv2d_grad_filter: one contraction with loops (i, j, c, f | n, y, x)
// reading the padded input at (n, y*sh + i, x*sw + j, c), for every target
// (kiln-map-to-gpu runs it as one implicit GEMM; the CPU pipeline splits it
// per window offset, kiln-split-filter-gradients.mlir).

// CHECK-DAG:   #[[$IN:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5 * 2 + d0, d6 * 2 + d1, d2)>
// CHECK-DAG:   #[[$DY:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5, d6, d3)>
// CHECK-DAG:   #[[$OUT:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @conv2d_grad_filter
// CHECK-SAME:    (%[[X:.*]]: tensor<?x7x7x3xf32>, %[[DY:.*]]: tensor<?x4x4x4xf32>)
// CHECK:         %[[P:.*]] = tensor.pad %[[X]] low[0, 0, 0, 0] high[0, 1, 1, 0]
// CHECK:         %[[F:.*]] = linalg.fill {{.*}} -> tensor<2x2x3x4xf32>
// CHECK:         %[[G:.*]] = linalg.generic {indexing_maps = [#[[$IN]], #[[$DY]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
// CHECK-SAME:      ins(%[[P]], %[[DY]] : tensor<?x8x8x3xf32>, tensor<?x4x4x4xf32>) outs(%[[F]] : tensor<2x2x3x4xf32>)
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK-NOT:     tensor.insert_slice
// CHECK:         return %[[G]]
func.func @conv2d_grad_filter(%x: tensor<?x7x7x3xf32>, %dy: tensor<?x4x4x4xf32>) -> tensor<2x2x3x4xf32> {
  %0 = kiln.conv2d_grad_filter %x, %dy strides = [2, 2] padding = [0, 1, 0, 1] : tensor<?x7x7x3xf32>, tensor<?x4x4x4xf32> -> tensor<2x2x3x4xf32>
  return %0 : tensor<2x2x3x4xf32>
}
