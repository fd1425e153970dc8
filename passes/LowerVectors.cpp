//===- LowerVectors.cpp - Vector tiles to FMAs, loads and stores ----------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-lower-vectors` pass (see Passes.td): the memref half of the CPU
// recipe (Passes.td), run after bufferization on what kiln-tile-and-vectorize
// produced. Every pattern set runs on its own: it was measured that mixing
// the transfer lowering into other sets, or the broadcast lowering with
// canonicalization, either slows the code down or never terminates.
//
//===----------------------------------------------------------------------===//

#include "passes/CpuTiling.h"
#include "passes/Passes.h"

#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Transforms/Hoisting.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_KILNLOWERVECTORS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

/// The lowerings converge in one or two sweeps; the bound guards against a
/// loop, and not converging within it fails the pass rather than leaving
/// half-lowered vector ops for a later, less clear error.
constexpr int64_t kMaxSweeps = 16;

struct KilnLowerVectorsPass : kiln::impl::KilnLowerVectorsBase<KilnLowerVectorsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();

    // Loads and stores of the same element that survived the tensor-level
    // hoisting (e.g. across a buffer copy) leave their loops now.
    linalg::hoistRedundantVectorTransfers(func);

    // Contractions to outer products to FMAs; reductions to vector.reduction.
    auto contractions = [](RewritePatternSet &patterns) {
      vector::populateVectorContractLoweringPatterns(patterns, vector::VectorContractLowering::OuterProduct);
      vector::populateVectorOuterProductLoweringPatterns(patterns);
      vector::populateVectorMultiReductionLoweringPatterns(patterns,
                                                           vector::VectorMultiReductionLowering::InnerReduction);
      vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
    };
    if (failed(kiln::cpu::applyPatterns(func, contractions, kMaxSweeps)))
      return signalPassFailure();

    // Transfers: fully unrolled to 1-D loads and stores.
    auto transfers = [](RewritePatternSet &patterns) {
      populateVectorToSCFConversionPatterns(patterns, VectorTransferToSCFOptions().setTargetRank(1).enableFullUnroll());
      vector::populateVectorTransferLoweringPatterns(patterns, /*maxTransferRank=*/1);
    };
    if (failed(kiln::cpu::applyPatterns(func, transfers, kMaxSweeps)))
      return signalPassFailure();

    // 16 x 16 f32 transposes (kShuffleTransposeTile) by shuffles; only
    // those: the same lowering makes one flat shuffle of any other.
    SmallVector<Operation *> squareTransposes;
    func.walk([&](vector::TransposeOp op) {
      VectorType type = op.getSourceVectorType();
      if (type.getRank() == 2 && type.getElementType().isF32() &&
          type.getDimSize(0) == kiln::cpu::kShuffleTransposeTile &&
          type.getDimSize(1) == kiln::cpu::kShuffleTransposeTile)
        squareTransposes.push_back(op);
    });
    if (!squareTransposes.empty()) {
      RewritePatternSet shuffles(&getContext());
      vector::populateVectorTransposeLoweringPatterns(shuffles, vector::VectorTransposeLowering::Shuffle16x16);
      GreedyRewriteConfig config;
      config.setStrictness(GreedyRewriteStrictness::ExistingOps);
      if (failed(applyOpPatternsGreedily(squareTransposes, std::move(shuffles), config)))
        return signalPassFailure();
    }

    // What the lowerings above leave: transposes and shape casts.
    auto transposesAndShapeCasts = [](RewritePatternSet &patterns) {
      vector::populateVectorTransposeLoweringPatterns(patterns, vector::VectorTransposeLowering::EltWise);
      vector::populateVectorShapeCastLoweringPatterns(patterns);
    };
    if (failed(kiln::cpu::applyPatterns(func, transposesAndShapeCasts, kMaxSweeps)))
      return signalPassFailure();
  }
};

} // namespace
