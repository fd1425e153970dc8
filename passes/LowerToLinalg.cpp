//===- LowerToLinalg.cpp - kiln ops to linalg, tensor, arith, math --------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-lower-to-linalg` pass: a partial conversion with the patterns of
// every op family (LoweringPatterns.h; one file each: LowerElementwise,
// LowerContractions, LowerPooling, LowerReductions, LowerShapes, sharing the
// builders of LinalgBuilders.h). Contractions, convolutions and pooling
// become named linalg ops so that the later tiling and vectorization recipes
// (kiln-tile-and-vectorize) can match them; everything elementwise, every
// reduction and the losses become `linalg.generic`s that fusion can merge.
// The batch dimension `?` is carried through `tensor.dim`. The lowering is
// the same for every target: target-specific forms are made by the target's
// pipeline (Pipelines.cpp).
//
//===----------------------------------------------------------------------===//

#include "passes/LoweringPatterns.h"
#include "passes/Passes.h"

#include "dialect/KilnDialect.h"
#include "dialect/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace kiln {
#define GEN_PASS_DEF_KILNLOWERTOLINALG
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

struct KilnLowerToLinalgPass : kiln::impl::KilnLowerToLinalgBase<KilnLowerToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    // One pattern set per op family, each in its own file (LoweringPatterns.h).
    kiln::populateLowerElementwisePatterns(patterns);
    kiln::populateLowerContractionPatterns(patterns);
    kiln::populateLowerPoolingPatterns(patterns);
    kiln::populateLowerReductionPatterns(patterns);
    kiln::populateLowerShapePatterns(patterns);

    ConversionTarget target(*context);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect, math::MathDialect, tensor::TensorDialect,
                           func::FuncDialect>();
    target.addIllegalDialect<kiln::KilnDialect>();
    // Parameter declarations are model metadata, not computation.
    target.addLegalOp<kiln::ParamOp>();
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
