//===- kiln/GradCheck.h - Finite-difference check of a model's gradients -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `kilnc gradcheck FILE` checks, for a user's own model, the gradients that
// kiln-autodiff generated against central finite differences of the
// compiled loss: for every parameter, the directional derivative along
// random directions v, <grad, v> against (L(p + e v) - L(p - e v)) / 2e, on
// random parameters and a random batch. It reports each parameter's
// relative error and the worst one.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_GRADCHECK_H
#define KILN_GRADCHECK_H

#include "kiln/Jit.h"

#include "llvm/Support/raw_ostream.h"

namespace kiln {

struct GradCheckOptions {
  uint64_t seed = 0;
  int64_t batch = 4;
  /// Random directions per parameter (the median error over them counts).
  int directions = 5;
  /// Step of the central difference (float32 arithmetic: not too small).
  double epsilon = 1e-2;
  /// Largest median relative error accepted, the error of one direction
  /// being |analytic - numeric| / max(|analytic|, |numeric|, 1e-2). The
  /// model computes in float32, where a central difference whose step
  /// crosses relu kinks of a CNN can be off by tens of percent (seen on
  /// FashionCnn); a wrong rule (a missing term, a sign, a transposed
  /// operand) is off by order 1 in every direction. The precise checks are
  /// the float64 unit tests and the PyTorch comparisons.
  double tolerance = 0.1;
};

/// Checks every model of `jit` that has a loss; prints a line per parameter
/// and the worst one to `os`. Returns true if every error is within the
/// tolerance; an llvm::Error if a function could not be called.
llvm::Expected<bool> checkGradients(const Jit &jit, const GradCheckOptions &options, llvm::raw_ostream &os);

} // namespace kiln

#endif // KILN_GRADCHECK_H
