//===- NormalizeContractions.cpp - Contractions in register-block shapes --===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-normalize-contractions` pass (see Passes.td): the first step of
// the CPU's register-block recipe, before kiln-choose-tile-sizes looks at the
// ops. The gradients' contractions are brought into shapes the blocks fit: a
// matmul of a transposed operand into a contraction generic reading it
// untransposed, and a contraction generic that reshape fusion expanded back
// into a matmul. Kept apart from the tile-size choice so that the choice is
// made on the ops that are then tiled.
//
//===----------------------------------------------------------------------===//

#include "passes/CpuTiling.h"
#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"

namespace kiln {
#define GEN_PASS_DEF_KILNNORMALIZECONTRACTIONS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

/// A contraction `linalg.generic` whose output has more than two dimensions
/// and whose trailing output dimensions run together in every operand (the
/// dense input gradient after reshape fusion: (n, y, x, c | k) reading
/// W^T[k, y, x, c]) is collapsed back to 2-D and, where it then is one,
/// rewritten as a `linalg.matmul`, so that it is blocked like a matmul
/// rather than as one matrix-vector product per output pixel.
static void collapseToMatmul(RewriterBase &rewriter, linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op->getNumResults() != 1 || op.getNumDpsInputs() != 2 ||
      !linalg::isaContractionOpInterface(cast<linalg::LinalgOp>(op.getOperation())))
    return;
  AffineMap outputMap = op.getIndexingMapMatchingResult(cast<OpResult>(op->getResult(0)));
  if (outputMap.getNumResults() <= 2 || !outputMap.isProjectedPermutation())
    return;
  ReassociationIndices trailing;
  for (unsigned r = 1; r < outputMap.getNumResults(); ++r)
    trailing.push_back(outputMap.getDimPosition(r));
  SmallVector<ReassociationIndices> groups = {trailing};
  if (!linalg::areDimSequencesPreserved(op.getIndexingMapsArray(), groups))
    return;
  rewriter.setInsertionPoint(op);
  FailureOr<linalg::CollapseResult> collapsed =
      linalg::collapseOpIterationDims(cast<linalg::LinalgOp>(op.getOperation()), groups, rewriter);
  if (failed(collapsed))
    return;
  rewriter.replaceOp(op, collapsed->results);
  if (auto generic = dyn_cast<linalg::GenericOp>(collapsed->collapsedOp.getOperation())) {
    rewriter.setInsertionPoint(generic);
    (void)linalg::specializeGenericOp(rewriter, generic);
  }
}

/// A `linalg.matmul` whose A operand is a 2-D `linalg.transpose` and whose
/// result is static (a weight gradient: activations^T @ dY) becomes a
/// contraction `linalg.generic` reading the untransposed A with a transposed
/// map: each reduction step then reads a contiguous row of A for the block's
/// rows, and the transpose (a scalar copy of the whole activation) is gone.
static void foldTransposedLhs(RewriterBase &rewriter, linalg::MatmulOp matmul) {
  if (!matmul.hasPureTensorSemantics() || matmul.hasUserDefinedMaps())
    return;
  auto transpose = matmul.getInputs()[0].getDefiningOp<linalg::TransposeOp>();
  if (!transpose || transpose.getPermutation() != ArrayRef<int64_t>{1, 0})
    return;
  auto resultType = cast<RankedTensorType>(matmul->getResult(0).getType());
  Type element = resultType.getElementType();
  if (!resultType.hasStaticShape() || !isa<FloatType>(element) ||
      cast<ShapedType>(matmul.getInputs()[1].getType()).getElementType() != element ||
      cast<ShapedType>(transpose.getInput().getType()).getElementType() != element)
    return;
  MLIRContext *context = rewriter.getContext();
  AffineExpr m = getAffineDimExpr(0, context), n = getAffineDimExpr(1, context), k = getAffineDimExpr(2, context);
  SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {k, m}, context), AffineMap::get(3, 0, {k, n}, context),
                                 AffineMap::get(3, 0, {m, n}, context)};
  rewriter.setInsertionPoint(matmul);
  auto generic = linalg::GenericOp::create(
      rewriter, matmul.getLoc(), TypeRange{resultType}, ValueRange{transpose.getInput(), matmul.getInputs()[1]},
      ValueRange{matmul.getOutputs()[0]}, maps,
      SmallVector<utils::IteratorType>{utils::IteratorType::parallel, utils::IteratorType::parallel,
                                       utils::IteratorType::reduction},
      kiln::lowering::buildMulAdd);
  rewriter.replaceOp(matmul, generic->getResults());
  if (transpose->use_empty())
    rewriter.eraseOp(transpose);
}

namespace {

struct KilnNormalizeContractionsPass : kiln::impl::KilnNormalizeContractionsBase<KilnNormalizeContractionsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    IRRewriter rewriter(&getContext());
    SmallVector<linalg::MatmulOp> matmuls;
    func.walk([&](linalg::MatmulOp op) { matmuls.push_back(op); });
    for (linalg::MatmulOp op : matmuls)
      foldTransposedLhs(rewriter, op);
    SmallVector<linalg::GenericOp> expanded;
    func.walk([&](linalg::GenericOp op) { expanded.push_back(op); });
    for (linalg::GenericOp op : expanded)
      collapseToMatmul(rewriter, op);
    if (failed(kiln::cpu::canonicalize(func)))
      return signalPassFailure();
  }
};

} // namespace
