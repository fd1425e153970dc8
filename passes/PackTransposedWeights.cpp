//===- PackTransposedWeights.cpp - Transposed weights, a panel at a time --===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-pack-transposed-weights` pass (see Passes.td). A dense layer's
// input gradient multiplies the output gradient by the transposed kernel:
// dX[N, C] = dY[N, K] x W^T, W being [C, K] (FashionCnn's dense_0: C =
// 18432, K = 64). Autodiff writes it as a transpose of all of W (a strided
// copy of 4.7 MB) and a matmul whose register blocks then read their K rows
// of W^T 73 KB apart: one cache line after the other from L3, which the
// hardware prefetchers do not follow; the matmul ran at a third of the FMA
// peak.
//
// Instead, one scf.forall over panels of 64 columns: each task transposes
// its 64 rows of W (contiguous, 16 KB for K = 64: it stays in L1) and
// multiplies the whole batch by that panel, writing dX's 64 columns. W is
// read once, in order; the panels are independent, so they run in parallel,
// and each element's sum over K is the one the matmul made before, for any
// batch and thread count. bench/peak/transposed_weights.c times the two
// shapes in C (dY 128 x 64, W 18432 x 64, one Zen 5 core): 1.8 ms by panels
// against 2.4 ms for the matmul alone on an already transposed W.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln {
#define GEN_PASS_DEF_KILNPACKTRANSPOSEDWEIGHTS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {
/// Columns per panel: the matmul's register blocks are 64 columns wide.
constexpr int64_t kPanelColumns = 64;
/// Weights with fewer rows are left alone: their transpose is cheap, and
/// their matmul's right-hand side is in cache anyway.
constexpr int64_t kMinColumns = 4096;
/// The deepest panel (K): 128 x 64 floats, 32 KB, still in L1 while the
/// whole batch is multiplied by it.
constexpr int64_t kMaxDepth = 128;

/// W, when `value` is the transpose of a 2-D W: a linalg.transpose, or as
/// reshape fusion leaves a dense layer's input gradient, a transpose of W
/// expanded on its rows with the columns moved first, collapsed back to 2-D
/// (`collapse(transpose(expand(W), [r-1, 0, ..., r-2]))`).
Value transposedMatrix(Value value) {
  auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>();
  auto transpose = (collapse ? collapse.getSrc() : value).getDefiningOp<linalg::TransposeOp>();
  if (!transpose)
    return nullptr;
  // The columns (the last dimension) first, the rows after them in order.
  int64_t rank = int64_t(transpose.getPermutation().size());
  SmallVector<int64_t> columnsFirst = {rank - 1};
  llvm::append_range(columnsFirst, llvm::seq<int64_t>(0, rank - 1));
  if (transpose.getPermutation() != ArrayRef<int64_t>(columnsFirst))
    return nullptr;
  if (!collapse)
    return rank == 2 ? transpose.getInput() : nullptr;
  // W [C, K] expanded on its rows, [c..., K], and the transpose [K, c...]
  // collapsed back to [K, C].
  auto expand = transpose.getInput().getDefiningOp<tensor::ExpandShapeOp>();
  SmallVector<ReassociationIndices> rowsExpanded = {llvm::to_vector(llvm::seq<int64_t>(0, rank - 1)), {rank - 1}};
  SmallVector<ReassociationIndices> rowsCollapsed = {{0}, llvm::to_vector(llvm::seq<int64_t>(1, rank))};
  if (!expand || expand.getReassociationIndices() != rowsExpanded ||
      collapse.getReassociationIndices() != rowsCollapsed)
    return nullptr;
  return expand.getSrc();
}

/// The weights W of `op`, when `op` multiplies by the transpose of a large
/// static [C, K] W that splits into panels; null otherwise.
Value packableWeights(linalg::MatmulOp op) {
  if (!op.hasPureTensorSemantics() || op->getNumResults() != 1 || op.hasUserDefinedMaps())
    return nullptr;
  Value weights = transposedMatrix(op.getDpsInputs()[1]);
  if (!weights)
    return nullptr;
  auto weightsType = dyn_cast<RankedTensorType>(weights.getType());
  auto lhs = dyn_cast<RankedTensorType>(op.getDpsInputs()[0].getType());
  auto result = cast<RankedTensorType>(op->getResult(0).getType());
  if (!weightsType || !lhs || !weightsType.hasStaticShape() || weightsType.getElementType() != lhs.getElementType() ||
      result.getElementType() != lhs.getElementType())
    return nullptr;
  int64_t columns = weightsType.getDimSize(0), depth = weightsType.getDimSize(1);
  if (columns < kMinColumns || columns % kPanelColumns != 0 || depth > kMaxDepth)
    return nullptr;
  return weights;
}

/// Erases `value`'s defining op and, in turn, its operands' when nothing
/// else uses them (the whole-matrix transpose, its reshapes and its init).
void eraseIfUnused(RewriterBase &rewriter, Value value) {
  Operation *op = value.getDefiningOp();
  if (!op || !op->use_empty() ||
      !isa<linalg::TransposeOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::EmptyOp>(op))
    return;
  SmallVector<Value> operands(op->getOperands());
  rewriter.eraseOp(op);
  for (Value operand : operands)
    eraseIfUnused(rewriter, operand);
}

void packPanels(RewriterBase &rewriter, linalg::MatmulOp op, Value weights) {
  Location loc = op.getLoc();
  Value lhs = op.getDpsInputs()[0], transposed = op.getDpsInputs()[1];
  auto weightsType = cast<RankedTensorType>(weights.getType());
  Type element = weightsType.getElementType();
  int64_t columns = weightsType.getDimSize(0), depth = weightsType.getDimSize(1);
  auto index = [&](int64_t v) -> OpFoldResult { return rewriter.getIndexAttr(v); };
  MLIRContext *context = rewriter.getContext();
  rewriter.setInsertionPoint(op);

  OpFoldResult rows = tensor::getMixedSize(rewriter, loc, lhs, 0);
  // A zero (or other constant) accumulator is filled panel by panel, so that
  // the fill stays fused into the matmul's register blocks instead of being
  // a pass of its own over all of dX.
  Value accumulatorInit = op.getDpsInits()[0];
  auto fill = accumulatorInit.getDefiningOp<linalg::FillOp>();
  auto forall = scf::ForallOp::create(rewriter, loc, ArrayRef<OpFoldResult>{index(columns / kPanelColumns)},
                                      ValueRange{fill ? fill.getOutputs()[0] : accumulatorInit}, std::nullopt);
  rewriter.setInsertionPointToStart(forall.getBody());
  OpFoldResult firstColumn = affine::makeComposedFoldedAffineApply(
      rewriter, loc, getAffineDimExpr(0, context) * kPanelColumns, {forall.getInductionVar(0)});
  // The panel's rows of W, transposed into [K, 64].
  Value rowsOfW = tensor::ExtractSliceOp::create(rewriter, loc, weights, ArrayRef<OpFoldResult>{firstColumn, index(0)},
                                                 ArrayRef<OpFoldResult>{index(kPanelColumns), index(depth)},
                                                 ArrayRef<OpFoldResult>{index(1), index(1)});
  Value panelInit = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{depth, kPanelColumns}, element);
  Value panel = linalg::TransposeOp::create(rewriter, loc, rowsOfW, panelInit, ArrayRef<int64_t>{1, 0}).getResult()[0];
  // The whole batch by the panel, into its columns of the accumulator.
  Value accumulator = tensor::ExtractSliceOp::create(
      rewriter, loc, forall.getRegionIterArgs()[0], ArrayRef<OpFoldResult>{index(0), firstColumn},
      ArrayRef<OpFoldResult>{rows, index(kPanelColumns)}, ArrayRef<OpFoldResult>{index(1), index(1)});
  if (fill)
    accumulator = linalg::FillOp::create(rewriter, loc, fill.getInputs()[0], accumulator).getResult(0);
  Value product = linalg::MatmulOp::create(rewriter, loc, TypeRange{accumulator.getType()}, ValueRange{lhs, panel},
                                           ValueRange{accumulator})
                      .getResult(0);
  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(
      rewriter, loc, product, forall.getRegionIterArgs()[0], ArrayRef<OpFoldResult>{index(0), firstColumn},
      ArrayRef<OpFoldResult>{rows, index(kPanelColumns)}, ArrayRef<OpFoldResult>{index(1), index(1)});
  rewriter.replaceOp(op, forall.getResults());
  eraseIfUnused(rewriter, transposed);
  if (fill && fill->use_empty())
    rewriter.eraseOp(fill);
}

struct KilnPackTransposedWeightsPass : kiln::impl::KilnPackTransposedWeightsBase<KilnPackTransposedWeightsPass> {
  void runOnOperation() override {
    SmallVector<std::pair<linalg::MatmulOp, Value>> matmuls;
    getOperation().walk([&](linalg::MatmulOp op) {
      if (Value weights = packableWeights(op))
        matmuls.push_back({op, weights});
    });
    IRRewriter rewriter(&getContext());
    for (auto [op, weights] : matmuls)
      packPanels(rewriter, op, weights);
  }
};
} // namespace
