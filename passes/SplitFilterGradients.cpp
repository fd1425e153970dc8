//===- SplitFilterGradients.cpp - Filter gradients per window offset ------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-split-filter-gradients` pass (see Passes.td): a CPU-pipeline
// step. kiln-lower-to-linalg lowers a convolution's filter gradient for every
// target as one contraction over (kh, kw, c, f | n, y, x), which the GPU runs
// as one implicit GEMM; the CPU's register blocks want a matmul-shaped
// contraction instead (c x f accumulators, every map a projected
// permutation), so this pass splits it into one such contraction per window
// offset. The choice lives here, in the CPU pipeline, and not as a target
// flag of the target-neutral lowering.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln {
#define GEN_PASS_DEF_KILNSPLITFILTERGRADIENTS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln::lowering;

namespace {

/// The window strides (sh, sw) of a filter gradient as kiln-lower-to-linalg
/// builds it (LowerContractions.cpp): loops d = (i, j, c, f | n, y, x), maps
/// (n, y*sh + i, x*sw + j, c), (n, y, x, f) -> (i, j, c, f), a multiply-add
/// body, into a zero fill of a static type; nullopt for any other op.
std::optional<std::array<int64_t, 2>> filterGradientStrides(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 || op.getNumLoops() != 7 ||
      op.getNumReductionLoops() != 3)
    return std::nullopt;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  if (iterators != iteratorTypes({false, false, false, false, true, true, true}))
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!type || !type.hasStaticShape())
    return std::nullopt;
  if (!isZeroFilled(op.getDpsInits()[0]))
    return std::nullopt;

  // The body: out + in * dy, exactly as buildMulAdd makes it.
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  auto mul = add ? add.getRhs().getDefiningOp<arith::MulFOp>() : nullptr;
  if (body.getOperations().size() != 3 || !mul || add.getLhs() != body.getArgument(2) ||
      mul.getLhs() != body.getArgument(0) || mul.getRhs() != body.getArgument(1))
    return std::nullopt;

  MLIRContext *context = op.getContext();
  SmallVector<AffineExpr> d;
  for (unsigned e = 0; e < 7; ++e)
    d.push_back(getAffineDimExpr(e, context));
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AffineMap input = maps[0];
  if (input.getNumResults() != 4)
    return std::nullopt;
  // An input coordinate y*sh + i: the sum of the window loop `offset` and
  // the output loop `loop`, scaled by the stride unless it is 1.
  auto strideOf = [](AffineExpr coordinate, AffineExpr offset, AffineExpr loop) -> std::optional<int64_t> {
    auto sum = dyn_cast<AffineBinaryOpExpr>(coordinate);
    if (!sum || sum.getKind() != AffineExprKind::Add)
      return std::nullopt;
    AffineExpr scaled = sum.getLHS() == offset ? sum.getRHS() : sum.getLHS();
    if (scaled == loop)
      return 1;
    auto mul = dyn_cast<AffineBinaryOpExpr>(scaled);
    if (!mul || mul.getKind() != AffineExprKind::Mul || mul.getLHS() != loop)
      return std::nullopt;
    if (auto constant = dyn_cast<AffineConstantExpr>(mul.getRHS()))
      return constant.getValue();
    return std::nullopt;
  };
  std::optional<int64_t> sh = strideOf(input.getResult(1), d[0], d[5]);
  std::optional<int64_t> sw = strideOf(input.getResult(2), d[1], d[6]);
  if (!sh || !sw)
    return std::nullopt;
  SmallVector<AffineMap> expected = {AffineMap::get(7, 0, {d[4], d[5] * *sh + d[0], d[6] * *sw + d[1], d[2]}, context),
                                     AffineMap::get(7, 0, {d[4], d[5], d[6], d[3]}, context),
                                     AffineMap::get(7, 0, {d[0], d[1], d[2], d[3]}, context)};
  if (maps != expected)
    return std::nullopt;
  return std::array<int64_t, 2>{*sh, *sw};
}

/// Replaces the filter gradient `op` by, for each window offset (i, j), a
/// strided slice of the padded input and one contraction `linalg.generic`
/// with loops (c, f | n, y, x) whose maps are all projected permutations (so
/// that kiln-tile-and-vectorize blocks it like a matmul: c x f accumulators,
/// one (n, y, x) step at a time), inserted at [i, j] of the result.
void splitPerWindowOffset(RewriterBase &rewriter, linalg::GenericOp op, std::array<int64_t, 2> strides) {
  Location loc = op.getLoc();
  MLIRContext *context = rewriter.getContext();
  rewriter.setInsertionPoint(op);
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  Type element = type.getElementType();
  Value input = op.getDpsInputs()[0], dy = op.getDpsInputs()[1];
  RankedTensorType dyType = tensorTypeOf(dy);
  ArrayRef<int64_t> k = type.getShape(); // (kh, kw, c, f)
  SmallVector<AffineExpr> d;
  for (unsigned e = 0; e < 5; ++e)
    d.push_back(getAffineDimExpr(e, context));
  // d = (c, f, n, y, x)
  SmallVector<AffineMap> maps = {AffineMap::get(5, 0, {d[2], d[3], d[4], d[0]}, context),
                                 AffineMap::get(5, 0, {d[2], d[3], d[4], d[1]}, context),
                                 AffineMap::get(5, 0, {d[0], d[1]}, context)};
  auto sliceType =
      RankedTensorType::get({dyType.getDimSize(0), dyType.getDimSize(1), dyType.getDimSize(2), k[2]}, element);
  auto blockType = RankedTensorType::get({k[2], k[3]}, element);
  Value zero = floatConstant(rewriter, loc, element, 0.0);
  Value result = tensor::EmptyOp::create(rewriter, loc, type.getShape(), element);
  SmallVector<OpFoldResult> sliceSizes = tensor::getMixedSizes(rewriter, loc, dy);
  sliceSizes[3] = rewriter.getIndexAttr(k[2]);
  SmallVector<OpFoldResult> sliceSteps = {rewriter.getIndexAttr(1), rewriter.getIndexAttr(strides[0]),
                                          rewriter.getIndexAttr(strides[1]), rewriter.getIndexAttr(1)};
  for (int64_t i = 0; i < k[0]; ++i)
    for (int64_t j = 0; j < k[1]; ++j) {
      SmallVector<OpFoldResult> offsets = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(i), rewriter.getIndexAttr(j),
                                           rewriter.getIndexAttr(0)};
      Value window = tensor::ExtractSliceOp::create(rewriter, loc, sliceType, input, offsets, sliceSizes, sliceSteps);
      Value init = filledTensor(rewriter, loc, blockType, {}, zero);
      Value block =
          linalg::GenericOp::create(rewriter, loc, TypeRange{blockType}, ValueRange{window, dy}, ValueRange{init}, maps,
                                    iteratorTypes({false, false, true, true, true}), buildMulAdd)
              .getResult(0);
      SmallVector<OpFoldResult> at = {rewriter.getIndexAttr(i), rewriter.getIndexAttr(j), rewriter.getIndexAttr(0),
                                      rewriter.getIndexAttr(0)};
      SmallVector<OpFoldResult> blockSizes = {rewriter.getIndexAttr(1), rewriter.getIndexAttr(1),
                                              rewriter.getIndexAttr(k[2]), rewriter.getIndexAttr(k[3])};
      SmallVector<OpFoldResult> ones(4, rewriter.getIndexAttr(1));
      result = tensor::InsertSliceOp::create(rewriter, loc, block, result, at, blockSizes, ones);
    }
  // The zeros of the one contraction are dead now (each block has its own).
  auto fill = op.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  rewriter.replaceOp(op, result);
  if (fill->use_empty()) {
    Operation *empty = fill.getOutputs()[0].getDefiningOp<tensor::EmptyOp>();
    rewriter.eraseOp(fill);
    if (empty && empty->use_empty())
      rewriter.eraseOp(empty);
  }
}

struct KilnSplitFilterGradientsPass : kiln::impl::KilnSplitFilterGradientsBase<KilnSplitFilterGradientsPass> {
  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, std::array<int64_t, 2>>> gradients;
    getOperation().walk([&](linalg::GenericOp op) {
      if (std::optional<std::array<int64_t, 2>> strides = filterGradientStrides(op))
        gradients.push_back({op, *strides});
    });
    IRRewriter rewriter(&getContext());
    for (auto [op, strides] : gradients)
      splitPerWindowOffset(rewriter, op, strides);
  }
};

} // namespace
