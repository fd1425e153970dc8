//===- LoweringPatterns.h - Pattern sets shared by the lowering passes ---===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Declares the pattern sets that live in their own files but are applied by
// kiln-lower-to-linalg: the lowering of autodiff's internal ops
// (LowerGradientsToLinalg.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_LOWERINGPATTERNS_H
#define KILN_PASSES_LOWERINGPATTERNS_H

#include "mlir/IR/PatternMatch.h"

namespace kiln {

/// Adds the patterns lowering `transpose`, `broadcast_to`, `sum_to`,
/// `element_count`, `onehot` and the convolution and pooling gradients to
/// linalg, tensor and arith. `filterGradientAsOneContraction`: see the
/// kiln-lower-to-linalg option of that name.
void populateLowerGradientsToLinalgPatterns(mlir::RewritePatternSet &patterns,
                                            bool filterGradientAsOneContraction = false);

} // namespace kiln

#endif // KILN_PASSES_LOWERINGPATTERNS_H
