// RUN: kiln-opt %s --kiln-lower-to-linalg -split-input-file -verify-diagnostics

// The errors of kiln-lower-to-linalg. A reshape is lowered only as a
// tensor.collapse_shape or a tensor.expand_shape; one that is neither (here
// the same rank, dimensions swapped) is reported at the op, and the
// conversion then fails to legalize it.

func.func @reshape_same_rank(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  // expected-error @+2 {{'kiln.reshape' op reshape from 'tensor<2x3xf32>' to 'tensor<3x2xf32>' is not a collapse or an expansion of dimensions}}
  // expected-error @+1 {{failed to legalize operation 'kiln.reshape' that was explicitly marked illegal}}
  %0 = kiln.reshape %x : tensor<2x3xf32> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// A rank-increasing reshape whose groups do not line up with the input's
// dimensions (6 x 4 -> 4 x 3 x 2) is not an expansion either.

func.func @reshape_not_an_expansion(%x: tensor<?x6x4xf32>) -> tensor<?x4x3x2xf32> {
  // expected-error @+2 {{'kiln.reshape' op reshape from 'tensor<?x6x4xf32>' to 'tensor<?x4x3x2xf32>' is not a collapse or an expansion of dimensions}}
  // expected-error @+1 {{failed to legalize operation 'kiln.reshape'}}
  %0 = kiln.reshape %x : tensor<?x6x4xf32> -> tensor<?x4x3x2xf32>
  return %0 : tensor<?x4x3x2xf32>
}
