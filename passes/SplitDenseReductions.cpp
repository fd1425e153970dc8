//===- SplitDenseReductions.cpp - A dense layer's long reduction in halves -===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-split-dense-reductions` pass (see Passes.td). A dense layer on a
// flattened feature map (FashionCnn's dense_0: [N, 18432] x [18432, 64]) is
// a matmul whose rows are the batch. The CPU tiling runs it in parallel by
// chunks of 16 rows, so at batch <= 16, where its time is streaming the 4.7
// MB of weights, one chunk is all there is and one core does it all.
//
// Its reduction is split in two halves instead, each a task of its own for
// every row chunk: a core streams each half of the weights, and the two
// partial products are added, in order, into the result. Each row's value is
// the same whatever the batch or the thread count (the split does not depend
// on either), so answers stay bitwise identical across dynamic batching and
// threads. The columns are not split: a block of one row keeps its 64
// columns, four independent FMA chains.
//
//===----------------------------------------------------------------------===//

#include "passes/CpuTiling.h"
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
#define GEN_PASS_DEF_KILNSPLITDENSEREDUCTIONS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln::lowering;

namespace {
/// Reductions at least this long are split (a dense layer on a flattened
/// feature map; an MLP's 784 inputs are not worth the partials).
constexpr int64_t kMinReduction = 4096;
/// The halves.
constexpr int64_t kParts = 2;
/// Rows per task: kiln-tile-and-vectorize's row chunk of a dynamic-row
/// matmul inside a task, which then finds one chunk in each task: a task
/// reads its half of the weights once for up to 64 rows.
constexpr int64_t kRowChunk = kiln::cpu::kMatmulRowChunkInTask;

/// Whether `op` is a dynamic-row matmul on tensors with a static reduction of
/// at least kMinReduction that halves into whole register-block steps.
bool isLongDenseReduction(linalg::MatmulOp op) {
  if (!op.hasPureTensorSemantics() || op->getNumResults() != 1)
    return false;
  auto lhs = dyn_cast<RankedTensorType>(op.getDpsInputs()[0].getType());
  auto rhs = dyn_cast<RankedTensorType>(op.getDpsInputs()[1].getType());
  if (!lhs || !rhs || lhs.getRank() != 2 || rhs.getRank() != 2 || !rhs.hasStaticShape() ||
      !ShapedType::isDynamic(lhs.getDimSize(0)))
    return false;
  // Default indexing maps only (no transposed or broadcast operands).
  if (op.hasUserDefinedMaps())
    return false;
  int64_t reduction = rhs.getDimSize(0);
  // Each half a whole number of register-block steps (16 floats).
  return reduction >= kMinReduction && reduction % (kParts * 16) == 0;
}

void splitReduction(RewriterBase &rewriter, linalg::MatmulOp op) {
  Location loc = op.getLoc();
  Value lhs = op.getDpsInputs()[0], rhs = op.getDpsInputs()[1];
  auto rhsType = cast<RankedTensorType>(rhs.getType());
  Type element = rhsType.getElementType();
  int64_t half = rhsType.getDimSize(0) / kParts, columns = rhsType.getDimSize(1);
  auto index = [&](int64_t v) -> OpFoldResult { return rewriter.getIndexAttr(v); };
  MLIRContext *context = rewriter.getContext();
  rewriter.setInsertionPoint(op);

  // [parts, N, columns], every element written by the tasks below.
  Value rows = tensor::DimOp::create(rewriter, loc, lhs, 0);
  Value partialsInit =
      tensor::EmptyOp::create(rewriter, loc, ArrayRef<OpFoldResult>{index(kParts), rows, index(columns)}, element);
  AffineExpr n = getAffineSymbolExpr(0, context);
  OpFoldResult chunks = affine::makeComposedFoldedAffineApply(rewriter, loc, n.ceilDiv(kRowChunk), {rows});
  // The part outermost: with the iterations split evenly between threads in
  // order, two threads each stream one half of the weights.
  auto forall = scf::ForallOp::create(rewriter, loc, ArrayRef<OpFoldResult>{index(kParts), chunks},
                                      ValueRange{partialsInit}, std::nullopt);
  Value part = forall.getInductionVar(0), chunk = forall.getInductionVar(1);
  rewriter.setInsertionPointToStart(forall.getBody());
  AffineExpr i = getAffineDimExpr(0, context);
  OpFoldResult firstRow = affine::makeComposedFoldedAffineApply(rewriter, loc, i * kRowChunk, {chunk});
  OpFoldResult chunkRows = affine::makeComposedFoldedAffineMin(
      rewriter, loc, AffineMap::get(1, 1, {getAffineConstantExpr(kRowChunk, context), n - i * kRowChunk}, context),
      {chunk, rows});
  OpFoldResult firstStep = affine::makeComposedFoldedAffineApply(rewriter, loc, i * half, {part});

  Value lhsPart = tensor::ExtractSliceOp::create(rewriter, loc, lhs, ArrayRef<OpFoldResult>{firstRow, firstStep},
                                                 ArrayRef<OpFoldResult>{chunkRows, index(half)},
                                                 ArrayRef<OpFoldResult>{index(1), index(1)});
  Value rhsPart = tensor::ExtractSliceOp::create(rewriter, loc, rhs, ArrayRef<OpFoldResult>{firstStep, index(0)},
                                                 ArrayRef<OpFoldResult>{index(half), index(columns)},
                                                 ArrayRef<OpFoldResult>{index(1), index(1)});
  auto productType = RankedTensorType::get({ShapedType::kDynamic, columns}, element);
  Value zeros = filledTensor(rewriter, loc, productType, {getValueOrCreateConstantIndexOp(rewriter, loc, chunkRows)},
                             floatConstant(rewriter, loc, element, 0.0));
  Value product =
      linalg::MatmulOp::create(rewriter, loc, TypeRange{productType}, ValueRange{lhsPart, rhsPart}, ValueRange{zeros})
          .getResult(0);
  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(
      rewriter, loc, product, forall.getRegionIterArgs()[0], ArrayRef<OpFoldResult>{part, firstRow, index(0)},
      ArrayRef<OpFoldResult>{index(1), chunkRows, index(columns)}, SmallVector<OpFoldResult>(3, index(1)));

  // The halves added, in order, into the matmul's accumulator.
  rewriter.setInsertionPoint(op);
  rewriter.replaceOp(op, sumOverOuterDim(rewriter, loc, forall.getResult(0), op.getDpsInits()[0]));
}

struct KilnSplitDenseReductionsPass : kiln::impl::KilnSplitDenseReductionsBase<KilnSplitDenseReductionsPass> {
  void runOnOperation() override {
    SmallVector<linalg::MatmulOp> matmuls;
    getOperation().walk([&](linalg::MatmulOp op) {
      if (isLongDenseReduction(op))
        matmuls.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::MatmulOp op : matmuls)
      splitReduction(rewriter, op);
  }
};
} // namespace
