// RUN: kilnc %kiln_src_root/examples/fashion_cnn.kiln --emit=kiln | kiln-opt --kiln-to-linalg --kiln-flatten-models --linalg-fuse-elementwise-ops --kiln-fuse-optimizer-updates --canonicalize --cse | FileCheck %s

// Each parameter's Adam update (new w, m and v) is exactly one
// multi-result elementwise loop in train_step: eight parameters, eight
// loops, each writing three tensors of the parameter's shape.
// CHECK-LABEL: func.func @kiln_impl_FashionCnn_train_step(
// CHECK-COUNT-8: linalg.generic {{.*}} outs(%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}} : tensor<[[SHAPE:[0-9x]+]]xf32>, tensor<[[SHAPE]]xf32>, tensor<[[SHAPE]]xf32>)
// CHECK-NOT: linalg.generic
// CHECK: return
