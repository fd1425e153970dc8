// RUN: kiln-opt %s --kiln-flatten-models -split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-flatten-models -split-input-file | FileCheck %s --check-prefix=GONE

// In no case does anything of the model modules survive: no nested module,
// no kiln.param declaration, no calling-convention attribute.
// GONE-NOT: module @
// GONE-NOT: kiln.model
// GONE-NOT: kiln.optimizer
// GONE-NOT: kiln.param
// GONE-NOT: kiln.input
// GONE-NOT: kiln.output

// A model's functions move to the top-level module, renamed
// kiln_impl_<Model>_<fn>, marked llvm.emit_c_interface, and lose their
// kiln.param / kiln.input / kiln.output argument and result attributes; the
// nested module is erased with its kiln.param declarations. (The explicit
// outer `module` matters: a file holding only `module @M` would be parsed
// with @M as the top-level module itself.) Bodies are left untouched.

// CHECK:       module {
// CHECK-NOT:     module
// CHECK-LABEL:   func.func @kiln_impl_M_predict
// CHECK-SAME:      (%[[W:.*]]: tensor<10xf32>, %[[B:.*]]: tensor<f32>, %[[X:.*]]: tensor<?x10xf32>) -> tensor<?xf32>
// CHECK-SAME:      attributes {llvm.emit_c_interface}
// CHECK:           %[[M:.*]] = kiln.matmul %[[X]], %[[W]]
// CHECK:           %[[R:.*]] = kiln.add %[[M]], %[[B]]
// CHECK:           return %[[R]] : tensor<?xf32>
// CHECK-LABEL:   func.func @kiln_impl_M_loss
// CHECK-SAME:      (%{{.*}}: tensor<10xf32>, %{{.*}}: tensor<f32>, %{{.*}}: tensor<?x10xf32>, %{{.*}}: tensor<?xf32>) -> (tensor<f32>, tensor<f32>)
// CHECK-SAME:      attributes {llvm.emit_c_interface}
// CHECK:           kiln.mse
// CHECK-NOT:     func.func @M_
module {
  module @M attributes {kiln.model, kiln.optimizer = {name = "sgd", lr = 1.0e-1 : f64}} {
    kiln.param @w : tensor<10xf32> init = zeros
    kiln.param @b : tensor<f32> init = constant(0.0)
    func.func @M_predict(%w: tensor<10xf32> {kiln.param = @w}, %b: tensor<f32> {kiln.param = @b},
                         %x: tensor<?x10xf32> {kiln.input = "x"}) -> (tensor<?xf32> {kiln.output = "pred"}) {
      %0 = kiln.matmul %x, %w : tensor<?x10xf32>, tensor<10xf32> -> tensor<?xf32>
      %1 = kiln.add %0, %b : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
      return %1 : tensor<?xf32>
    }
    func.func @M_loss(%w: tensor<10xf32> {kiln.param = @w}, %b: tensor<f32> {kiln.param = @b},
                      %x: tensor<?x10xf32> {kiln.input = "x"}, %y: tensor<?xf32> {kiln.input = "y"})
        -> (tensor<f32> {kiln.output = "loss"}, tensor<f32> {kiln.output = "mse"}) {
      %0 = kiln.matmul %x, %w : tensor<?x10xf32>, tensor<10xf32> -> tensor<?xf32>
      %1 = kiln.mse %0, %y : tensor<?xf32>, tensor<?xf32> -> tensor<f32>
      return %1, %1 : tensor<f32>, tensor<f32>
    }
  }
}

// -----

// A function that returns gradients (kiln.grad) or new parameter values
// (kiln.update) is marked kiln.training, which passes that treat training
// and inference differently read (kiln-winograd-convolutions); predict is
// not. kiln.update itself stays for kiln-update-in-place.

// CHECK-LABEL:   func.func @kiln_impl_T_predict
// CHECK-SAME:      attributes {llvm.emit_c_interface}
// CHECK-LABEL:   func.func @kiln_impl_T_grad
// CHECK-SAME:      attributes {kiln.training, llvm.emit_c_interface}
// CHECK-LABEL:   func.func @kiln_impl_T_apply
// CHECK-SAME:      kiln.update = 0
// CHECK-SAME:      attributes {kiln.training, llvm.emit_c_interface}
module {
  module @T attributes {kiln.model, kiln.optimizer = {name = "sgd", lr = 1.0e-1 : f64}} {
    kiln.param @w : tensor<3xf32> init = zeros
    func.func @T_predict(%w: tensor<3xf32> {kiln.param = @w}, %x: tensor<3xf32> {kiln.input = "x"})
        -> (tensor<3xf32> {kiln.output = "y"}) {
      %0 = kiln.add %x, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
      return %0 : tensor<3xf32>
    }
    func.func @T_grad(%w: tensor<3xf32> {kiln.param = @w}, %x: tensor<3xf32> {kiln.input = "x"})
        -> (tensor<3xf32> {kiln.grad = @w}) {
      return %x : tensor<3xf32>
    }
    func.func @T_apply(%w: tensor<3xf32> {kiln.param = @w}, %g: tensor<3xf32>)
        -> (tensor<3xf32> {kiln.update = 0 : i64}) {
      %0 = kiln.sub %w, %g : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
      return %0 : tensor<3xf32>
    }
  }
}

// -----

// Every model module of the file is flattened, in order, into the one
// top-level module.

// CHECK:       module {
// CHECK-NOT:     module
// CHECK-LABEL:   func.func @kiln_impl_A_predict
// CHECK-SAME:      (%{{.*}}: tensor<3xf32>) -> tensor<3xf32> attributes {llvm.emit_c_interface}
// CHECK-LABEL:   func.func @kiln_impl_B_predict
// CHECK-SAME:      (%{{.*}}: tensor<2xf32>) -> tensor<2xf32> attributes {llvm.emit_c_interface}
module {
  module @A attributes {kiln.model} {
    kiln.param @v : tensor<3xf32> init = ones
    func.func @A_predict(%v: tensor<3xf32> {kiln.param = @v}) -> (tensor<3xf32> {kiln.output = "v"}) {
      return %v : tensor<3xf32>
    }
  }
  module @B attributes {kiln.model} {
    kiln.param @u : tensor<2xf32> init = glorot_uniform
    func.func @B_predict(%u: tensor<2xf32> {kiln.param = @u}) -> (tensor<2xf32> {kiln.output = "u"}) {
      return %u : tensor<2xf32>
    }
  }
}

// -----

// A function already at the top level keeps its name and also gets the C
// interface.

// CHECK-LABEL: func.func @helper
// CHECK-SAME:    (%{{.*}}: tensor<f32>) -> tensor<f32> attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @kiln_impl_C_predict
// CHECK-SAME:    attributes {llvm.emit_c_interface}
module {
  func.func @helper(%a: tensor<f32>) -> tensor<f32> {
    return %a : tensor<f32>
  }
  module @C attributes {kiln.model} {
    func.func @C_predict(%x: tensor<?xf32> {kiln.input = "x"}) -> (tensor<?xf32> {kiln.output = "x"}) {
      return %x : tensor<?xf32>
    }
  }
}

// -----

// A private function of the model (kiln-share-forward's <Model>_forward)
// stays internal: linkage internal, no C interface; callers follow the rename.
// CHECK-LABEL:   func.func private @kiln_impl_P_forward
// CHECK-SAME:      attributes {llvm.linkage = #llvm.linkage<internal>}
// CHECK-LABEL:   func.func @kiln_impl_P_predict
// CHECK-SAME:      attributes {llvm.emit_c_interface}
// CHECK:           call @kiln_impl_P_forward
module {
  module @P attributes {kiln.model} {
    func.func private @P_forward(%x: tensor<3xf32>) -> tensor<3xf32> {
      return %x : tensor<3xf32>
    }
    func.func @P_predict(%x: tensor<3xf32> {kiln.input = "x"}) -> (tensor<3xf32> {kiln.output = "y"}) {
      %y = call @P_forward(%x) : (tensor<3xf32>) -> tensor<3xf32>
      return %y : tensor<3xf32>
    }
  }
}
