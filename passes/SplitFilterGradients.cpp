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
// permutation), so this pass splits it into one such contraction per
// example and window offset (for a one-channel input, one per example over
// all offsets' windows copied into planes), all of an example's in one scf.forall
// iteration (its data stays in L2 while they read it), and a sum of the
// per-example partials over the batch, in order (the same for any thread
// count). The choice lives here, in the CPU pipeline, and not as a target
// flag of the target-neutral lowering.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
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

/// What both rewrites read of a filter gradient `op`: its location and
/// result type, the padded input, the output gradient dY, the filter shape
/// k = (kh, kw, c, f) and dY's height and width.
struct FilterGradient {
  Location loc;
  RankedTensorType type;
  Type element;
  Value input, dy;
  ArrayRef<int64_t> k;
  int64_t height, width;

  static FilterGradient of(linalg::GenericOp op) {
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    Value dy = op.getDpsInputs()[1];
    RankedTensorType dyType = tensorTypeOf(dy);
    return {op.getLoc(),
            type,
            type.getElementType(),
            op.getDpsInputs()[0],
            dy,
            type.getShape(),
            dyType.getDimSize(1),
            dyType.getDimSize(2)};
  }
};

/// Replaces the filter gradient `op` by per-example partials, computed in
/// one scf.forall over the batch: for each example n and window offset
/// (i, j), a strided slice of the example's padded input and one contraction
/// `linalg.generic` with loops (c, f | y, x) whose maps are all projected
/// permutations (so that kiln-tile-and-vectorize blocks it like a matmul:
/// c x f accumulators, one (y, x) step at a time), written to
/// partials[n, i, j]. An example's input and output gradient (160 KB for
/// FashionCnn's second convolution) stay in L2 while all window offsets and
/// channel blocks read them; a contraction per offset over the whole batch
/// streamed the batch from memory once per (offset, channel block), 36 times.
/// Then the partials are summed over the batch, in order, into the result:
/// the same additions for any number of threads.
void splitPerExampleAndWindowOffset(RewriterBase &rewriter, linalg::GenericOp op, std::array<int64_t, 2> strides) {
  auto [loc, type, element, input, dy, k, height, width] = FilterGradient::of(op); // k: (kh, kw, c, f)
  MLIRContext *context = rewriter.getContext();
  rewriter.setInsertionPoint(op);
  auto index = [&](int64_t v) -> OpFoldResult { return rewriter.getIndexAttr(v); };

  // [N, kh, kw, c, f], every element written by the loop below.
  Value batch = tensor::DimOp::create(rewriter, loc, dy, 0);
  SmallVector<OpFoldResult> partialSizes = {batch, index(k[0]), index(k[1]), index(k[2]), index(k[3])};
  Value partialsInit = tensor::EmptyOp::create(rewriter, loc, partialSizes, element);
  auto forall =
      scf::ForallOp::create(rewriter, loc, ArrayRef<OpFoldResult>{batch}, ValueRange{partialsInit}, std::nullopt);
  Value example = forall.getInductionVar(0);
  Value partials = forall.getRegionIterArgs()[0];
  rewriter.setInsertionPointToStart(forall.getBody());

  SmallVector<AffineExpr> d;
  for (unsigned e = 0; e < 4; ++e)
    d.push_back(getAffineDimExpr(e, context));
  // d = (c, f, y, x)
  SmallVector<AffineMap> maps = {AffineMap::get(4, 0, {d[2], d[3], d[0]}, context),
                                 AffineMap::get(4, 0, {d[2], d[3], d[1]}, context),
                                 AffineMap::get(4, 0, {d[0], d[1]}, context)};
  auto windowType = RankedTensorType::get({height, width, k[2]}, element);
  auto blockType = RankedTensorType::get({k[2], k[3]}, element);
  Value exampleDy = exampleOf(rewriter, loc, dy, example);
  Value zero = floatConstant(rewriter, loc, element, 0.0);
  Value init = filledTensor(rewriter, loc, blockType, {}, zero);
  SmallVector<OpFoldResult> windowSizes = {index(1), index(height), index(width), index(k[2])};
  SmallVector<OpFoldResult> windowSteps = {index(1), index(strides[0]), index(strides[1]), index(1)};
  SmallVector<Value> blocks;
  for (int64_t i = 0; i < k[0]; ++i)
    for (int64_t j = 0; j < k[1]; ++j) {
      Value window = tensor::ExtractSliceOp::create(rewriter, loc, windowType, input,
                                                    ArrayRef<OpFoldResult>{example, index(i), index(j), index(0)},
                                                    windowSizes, windowSteps);
      blocks.push_back(linalg::GenericOp::create(rewriter, loc, TypeRange{blockType}, ValueRange{window, exampleDy},
                                                 ValueRange{init}, maps, iteratorTypes({false, false, true, true}),
                                                 buildMulAdd)
                           .getResult(0));
    }
  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  SmallVector<OpFoldResult> blockSizes = {index(1), index(1), index(1), index(k[2]), index(k[3])};
  SmallVector<OpFoldResult> unitSteps(5, index(1));
  for (int64_t i = 0; i < k[0]; ++i)
    for (int64_t j = 0; j < k[1]; ++j)
      tensor::ParallelInsertSliceOp::create(rewriter, loc, blocks[i * k[1] + j], partials,
                                            ArrayRef<OpFoldResult>{example, index(i), index(j), index(0), index(0)},
                                            blockSizes, unitSteps);

  // The sum over the batch, in order, into the op's zeros.
  rewriter.setInsertionPoint(op);
  rewriter.replaceOp(op, sumOverOuterDim(rewriter, loc, forall.getResult(0), op.getDpsInits()[0]));
}

/// The same for a one-channel input (an image's first convolution), whose
/// blocks per offset would be a single row of F accumulators: a few FMA
/// chains that wait on each other. Per example, the offsets' windows are
/// copied into planes [taps, y, x], and one contraction over (t, f | y, x)
/// makes every offset's row at once, blocked like a matmul (several taps per
/// register block). The partials are [N, taps, f]; their sum over the batch,
/// in order, is [taps, f], viewed as [kh, kw, 1, f].
void splitOneChannelPerExample(RewriterBase &rewriter, linalg::GenericOp op, std::array<int64_t, 2> strides) {
  auto [loc, type, element, input, dy, k, height, width] = FilterGradient::of(op); // k: (kh, kw, 1, f)
  MLIRContext *context = rewriter.getContext();
  rewriter.setInsertionPoint(op);
  int64_t taps = k[0] * k[1];
  auto index = [&](int64_t v) -> OpFoldResult { return rewriter.getIndexAttr(v); };
  Value zero = floatConstant(rewriter, loc, element, 0.0);

  Value batch = tensor::DimOp::create(rewriter, loc, dy, 0);
  Value partialsInit =
      tensor::EmptyOp::create(rewriter, loc, ArrayRef<OpFoldResult>{batch, index(taps), index(k[3])}, element);
  auto forall =
      scf::ForallOp::create(rewriter, loc, ArrayRef<OpFoldResult>{batch}, ValueRange{partialsInit}, std::nullopt);
  Value example = forall.getInductionVar(0);
  rewriter.setInsertionPointToStart(forall.getBody());

  auto planeType = RankedTensorType::get({height, width}, element);
  SmallVector<OpFoldResult> windowSizes = {index(1), index(height), index(width), index(1)};
  SmallVector<OpFoldResult> windowSteps = {index(1), index(strides[0]), index(strides[1]), index(1)};
  SmallVector<OpFoldResult> planeSizes = {index(1), index(height), index(width)};
  SmallVector<OpFoldResult> unitSteps3(3, index(1));
  Value planes = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{taps, height, width}, element);
  for (int64_t i = 0; i < k[0]; ++i)
    for (int64_t j = 0; j < k[1]; ++j) {
      Value window = tensor::ExtractSliceOp::create(rewriter, loc, planeType, input,
                                                    ArrayRef<OpFoldResult>{example, index(i), index(j), index(0)},
                                                    windowSizes, windowSteps);
      planes = tensor::InsertSliceOp::create(rewriter, loc, window, planes,
                                             ArrayRef<OpFoldResult>{index(i * k[1] + j), index(0), index(0)},
                                             planeSizes, unitSteps3);
    }
  Value exampleDy = exampleOf(rewriter, loc, dy, example);
  SmallVector<AffineExpr> d;
  for (unsigned e = 0; e < 4; ++e)
    d.push_back(getAffineDimExpr(e, context));
  // d = (t, f | y, x)
  SmallVector<AffineMap> maps = {AffineMap::get(4, 0, {d[0], d[2], d[3]}, context),
                                 AffineMap::get(4, 0, {d[2], d[3], d[1]}, context),
                                 AffineMap::get(4, 0, {d[0], d[1]}, context)};
  auto rowsType = RankedTensorType::get({taps, k[3]}, element);
  Value rows = linalg::GenericOp::create(rewriter, loc, TypeRange{rowsType}, ValueRange{planes, exampleDy},
                                         ValueRange{filledTensor(rewriter, loc, rowsType, {}, zero)}, maps,
                                         iteratorTypes({false, false, true, true}), buildMulAdd)
                   .getResult(0);
  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(rewriter, loc, rows, forall.getRegionIterArgs()[0],
                                        ArrayRef<OpFoldResult>{example, index(0), index(0)},
                                        ArrayRef<OpFoldResult>{index(1), index(taps), index(k[3])}, unitSteps3);

  // The sum over the batch, in order, viewed as the op's [kh, kw, 1, f].
  rewriter.setInsertionPoint(op);
  Value sum = sumOverOuterDim(rewriter, loc, forall.getResult(0), filledTensor(rewriter, loc, rowsType, {}, zero));
  rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, type, sum, SmallVector<ReassociationIndices>{{0, 1}, {2, 3}});
}

struct KilnSplitFilterGradientsPass : kiln::impl::KilnSplitFilterGradientsBase<KilnSplitFilterGradientsPass> {
  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, std::array<int64_t, 2>>> gradients;
    getOperation().walk([&](linalg::GenericOp op) {
      if (std::optional<std::array<int64_t, 2>> strides = filterGradientStrides(op))
        gradients.push_back({op, *strides});
    });
    IRRewriter rewriter(&getContext());
    for (auto [op, strides] : gradients) {
      if (cast<RankedTensorType>(op->getResult(0).getType()).getDimSize(2) == 1)
        splitOneChannelPerExample(rewriter, op, strides);
      else
        splitPerExampleAndWindowOffset(rewriter, op, strides);
    }
  }
};

} // namespace
