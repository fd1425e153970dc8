// RUN: kiln-opt %s --kiln-update-in-place -verify-diagnostics

// kiln.update must name an argument of the result's type.
// expected-error @+1 {{result #0 has kiln.update = 0, which is not an argument of the same type}}
func.func @bad(%w: tensor<4xf32>) -> (tensor<3xf32> {kiln.update = 0 : i64}) {
  %c = arith.constant dense<1.0> : tensor<3xf32>
  return %c : tensor<3xf32>
}
