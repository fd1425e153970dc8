//===- LoweringPatterns.h - Pattern sets of kiln-lower-to-linalg *- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Declares one populate function per op family of the lowering to linalg,
// each defined in its own file and applied together by kiln-lower-to-linalg
// (LowerToLinalg.cpp). Every kiln op except `kiln.param` has its pattern in
// exactly one family.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_LOWERINGPATTERNS_H
#define KILN_PASSES_LOWERINGPATTERNS_H

#include "mlir/IR/PatternMatch.h"

namespace kiln {

/// Unary and binary arithmetic, comparisons, constants, dropout
/// (LowerElementwise.cpp).
void populateLowerElementwisePatterns(mlir::RewritePatternSet &patterns);

/// `matmul`, `conv2d`, `conv2d_grad_input`, `conv2d_grad_filter`
/// (LowerContractions.cpp).
void populateLowerContractionPatterns(mlir::RewritePatternSet &patterns);

/// `max_pool`, `avg_pool` and their gradients (LowerPooling.cpp).
void populateLowerPoolingPatterns(mlir::RewritePatternSet &patterns);

/// Reductions, argmax, softmax, log-softmax and the losses
/// (LowerReductions.cpp).
void populateLowerReductionPatterns(mlir::RewritePatternSet &patterns);

/// `reshape`, `transpose`, `broadcast_to`, `sum_to`, `element_count`,
/// `onehot` (LowerShapes.cpp).
void populateLowerShapePatterns(mlir::RewritePatternSet &patterns);

} // namespace kiln

#endif // KILN_PASSES_LOWERINGPATTERNS_H
