//===- SplitInputGradients.cpp - Input gradients per example, scattered ---===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-split-input-gradients` pass (see Passes.td): a CPU-pipeline step.
// kiln-lower-to-linalg lowers a convolution's input gradient for every target
// as a convolution of the output gradient, dilated by the strides inside a
// zero frame of kh-1 / kw-1, with the flipped filter. On the CPU that costs
// a zeroed frame and a copy into it, and the products with the frame's zeros
// (15% of them for FashionCnn's second convolution). This pass computes it
// instead the way the forward pass spreads it: for each example and window
// offset (i, j), dX[y*sh + i, x*sw + j, c] += sum over f of dY[y, x, f] *
// K[i, j, c, f], one matmul-shaped contraction per offset accumulated into a
// strided view of the example's gradient, all of an example's in one
// scf.forall iteration (its 160 KB stay in L2). Every product is one the
// gradient needs; each example's sum runs in the same order for any thread
// count.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln {
#define GEN_PASS_DEF_KILNSPLITINPUTGRADIENTS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln::lowering;

namespace {

/// An input gradient as kiln-lower-to-linalg builds it (LowerContractions.cpp):
/// its output gradient, its strides, and the flipped filter [kh, kw, f, c].
struct InputGradient {
  Value dy;
  std::array<int64_t, 2> strides;
  Value flipped;
};

/// Whether `op` is the generic flipped[i, j, f, c] = filter[kh-1-i, kw-1-j, c, f].
bool isFlippedFilter(linalg::GenericOp op) {
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 1 || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() != 0 || op.getNumLoops() != 4)
    return false;
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  if (!type.hasStaticShape())
    return false;
  Block &body = op.getRegion().front();
  if (body.getOperations().size() != 1 ||
      cast<linalg::YieldOp>(body.getTerminator()).getValues()[0] != body.getArgument(0))
    return false;
  MLIRContext *context = op.getContext();
  ArrayRef<int64_t> k = type.getShape(); // (kh, kw, f, c)
  AffineExpr i = getAffineDimExpr(0, context), j = getAffineDimExpr(1, context), f = getAffineDimExpr(2, context),
             c = getAffineDimExpr(3, context);
  SmallVector<AffineMap> expected = {AffineMap::get(4, 0, {k[0] - 1 - i, k[1] - 1 - j, c, f}, context),
                                     AffineMap::getMultiDimIdentityMap(4, context)};
  return op.getIndexingMapsArray() == expected;
}

/// The parts of `conv` when it is an input gradient's convolution: a stride
/// 1, dilation 1 conv_2d_nhwc_hwcf into zeros, of the output gradient
/// inserted with strides at (kh-1, kw-1) into zeros whose every other
/// position no window of the result reaches, with the flipped filter.
std::optional<InputGradient> inputGradient(linalg::Conv2DNhwcHwcfOp conv) {
  if (!conv.hasPureTensorSemantics() ||
      !llvm::all_of(conv.getStrides().getValues<int64_t>(), [](int64_t s) { return s == 1; }) ||
      !llvm::all_of(conv.getDilations().getValues<int64_t>(), [](int64_t d) { return d == 1; }))
    return std::nullopt;
  if (!isZeroFilled(conv.getDpsInits()[0]))
    return std::nullopt;
  auto frame = conv.getInputs()[0].getDefiningOp<tensor::InsertSliceOp>();
  auto flip = conv.getInputs()[1].getDefiningOp<linalg::GenericOp>();
  if (!frame || !isZeroFilled(frame.getDest()) || !isFlippedFilter(flip))
    return std::nullopt;
  auto flippedType = cast<RankedTensorType>(flip->getResult(0).getType());
  auto dyType = dyn_cast<RankedTensorType>(frame.getSource().getType());
  auto resultType = cast<RankedTensorType>(conv->getResult(0).getType());
  if (!dyType || dyType.getRank() != 4 || resultType.getRank() != 4)
    return std::nullopt;
  for (int64_t dim = 1; dim < 4; ++dim)
    if (resultType.isDynamicDim(dim) || dyType.isDynamicDim(dim))
      return std::nullopt;
  ArrayRef<int64_t> k = flippedType.getShape();
  if (dyType.getDimSize(3) != k[2] || resultType.getDimSize(3) != k[3])
    return std::nullopt;
  // The output gradient whole (every size but the batch's constant), at
  // (0, kh-1, kw-1, 0), with constant strides, 1 over batch and channels.
  std::optional<SmallVector<int64_t>> offsets = getConstantIntValues(frame.getMixedOffsets());
  std::optional<SmallVector<int64_t>> steps = getConstantIntValues(frame.getMixedStrides());
  std::optional<SmallVector<int64_t>> sizes = getConstantIntValues(ArrayRef(frame.getMixedSizes()).drop_front());
  if (!offsets || !steps || !sizes || *offsets != SmallVector<int64_t>{0, k[0] - 1, k[1] - 1, 0} || (*steps)[0] != 1 ||
      (*steps)[3] != 1 || ArrayRef<int64_t>(*sizes) != dyType.getShape().drop_front())
    return std::nullopt;
  int64_t sh = (*steps)[1], sw = (*steps)[2];
  // Every scattered position inside the result: (H-1)*sh + kh <= result H.
  if ((dyType.getDimSize(1) - 1) * sh + k[0] > resultType.getDimSize(1) ||
      (dyType.getDimSize(2) - 1) * sw + k[1] > resultType.getDimSize(2))
    return std::nullopt;
  return InputGradient{frame.getSource(), {sh, sw}, flip->getResult(0)};
}

/// Replaces the input gradient's convolution `conv` by one scf.forall over
/// the batch that, for each example, zeroes the example's slice of the
/// result (with unit strides, only what offset (0, 0) does not cover) and
/// adds into it, for each window offset (i, j), the contraction
/// over f of the example's output gradient with the filter's [f, c] at
/// (i, j), at rows y*sh + i and columns x*sw + j (a strided view).
void scatterPerExample(RewriterBase &rewriter, linalg::Conv2DNhwcHwcfOp conv, const InputGradient &gradient) {
  Location loc = conv.getLoc();
  MLIRContext *context = rewriter.getContext();
  rewriter.setInsertionPoint(conv);
  auto index = [&](int64_t v) -> OpFoldResult { return rewriter.getIndexAttr(v); };
  auto resultType = cast<RankedTensorType>(conv->getResult(0).getType());
  Type element = resultType.getElementType();
  RankedTensorType dyType = tensorTypeOf(gradient.dy);
  ArrayRef<int64_t> k = tensorTypeOf(gradient.flipped).getShape(); // (kh, kw, f, c)
  int64_t height = dyType.getDimSize(1), width = dyType.getDimSize(2);
  int64_t resultH = resultType.getDimSize(1), resultW = resultType.getDimSize(2);

  Value batch = tensor::DimOp::create(rewriter, loc, gradient.dy, 0);
  SmallVector<Value> dynamicBatch;
  if (resultType.isDynamicDim(0))
    dynamicBatch.push_back(batch);
  Value resultInit = tensor::EmptyOp::create(rewriter, loc, resultType, dynamicBatch); // every example written
  auto forall =
      scf::ForallOp::create(rewriter, loc, ArrayRef<OpFoldResult>{batch}, ValueRange{resultInit}, std::nullopt);
  Value example = forall.getInductionVar(0);
  rewriter.setInsertionPointToStart(forall.getBody());

  SmallVector<OpFoldResult> unitSteps4(4, index(1)), unitSteps3(3, index(1));
  auto exampleType = RankedTensorType::get({resultH, resultW, k[3]}, element);
  SmallVector<OpFoldResult> exampleOffsets = {example, index(0), index(0), index(0)};
  SmallVector<OpFoldResult> exampleSizes = {index(1), index(resultH), index(resultW), index(k[3])};
  Value exampleResult = tensor::ExtractSliceOp::create(rewriter, loc, exampleType, forall.getRegionIterArgs()[0],
                                                       exampleOffsets, exampleSizes, unitSteps4);
  Value zero = floatConstant(rewriter, loc, element, 0.0);
  // The zeros the sums start from. With unit strides, window offset (0, 0)
  // writes rows [0, H) x columns [0, W) first, from zeros of its own (a fill
  // the register blocks fuse: zeroed accumulators, no pass over memory), so
  // only the strips beyond it are filled; otherwise the whole example is.
  bool firstOffsetCovers = gradient.strides == std::array<int64_t, 2>{1, 1};
  Value sum = exampleResult;
  auto fillRegion = [&](ArrayRef<int64_t> offsets, ArrayRef<int64_t> sizes) {
    SmallVector<OpFoldResult> at, extent;
    for (auto [offset, size] : llvm::zip(offsets, sizes)) {
      at.push_back(index(offset));
      extent.push_back(index(size));
    }
    Value region = tensor::ExtractSliceOp::create(rewriter, loc, sum, at, extent, unitSteps3);
    Value zeros = linalg::FillOp::create(rewriter, loc, ValueRange{zero}, ValueRange{region}).getResult(0);
    sum = tensor::InsertSliceOp::create(rewriter, loc, zeros, sum, at, extent, unitSteps3);
  };
  if (!firstOffsetCovers)
    fillRegion({0, 0, 0}, {resultH, resultW, k[3]});
  else {
    if (resultH > height)
      fillRegion({height, 0, 0}, {resultH - height, resultW, k[3]});
    if (resultW > width)
      fillRegion({0, width, 0}, {height, resultW - width, k[3]});
  }
  Value exampleDy = exampleOf(rewriter, loc, gradient.dy, example);

  SmallVector<AffineExpr> d;
  for (unsigned e = 0; e < 4; ++e)
    d.push_back(getAffineDimExpr(e, context));
  // d = (y, x, c | f)
  SmallVector<AffineMap> maps = {AffineMap::get(4, 0, {d[0], d[1], d[3]}, context),
                                 AffineMap::get(4, 0, {d[3], d[2]}, context),
                                 AffineMap::get(4, 0, {d[0], d[1], d[2]}, context)};
  auto tapType = RankedTensorType::get({k[2], k[3]}, element);
  auto viewType = RankedTensorType::get({height, width, k[3]}, element);
  SmallVector<OpFoldResult> viewSizes = {index(height), index(width), index(k[3])};
  SmallVector<OpFoldResult> viewSteps = {index(gradient.strides[0]), index(gradient.strides[1]), index(1)};
  for (int64_t i = 0; i < k[0]; ++i)
    for (int64_t j = 0; j < k[1]; ++j) {
      // The filter at (i, j) is the flipped filter at (kh-1-i, kw-1-j).
      Value tap = tensor::ExtractSliceOp::create(
          rewriter, loc, tapType, gradient.flipped,
          ArrayRef<OpFoldResult>{index(k[0] - 1 - i), index(k[1] - 1 - j), index(0), index(0)},
          ArrayRef<OpFoldResult>{index(1), index(1), index(k[2]), index(k[3])}, unitSteps4);
      SmallVector<OpFoldResult> viewOffsets = {index(i), index(j), index(0)};
      Value view = tensor::ExtractSliceOp::create(rewriter, loc, viewType, sum, viewOffsets, viewSizes, viewSteps);
      if (firstOffsetCovers && i == 0 && j == 0)
        view = linalg::FillOp::create(rewriter, loc, ValueRange{zero}, ValueRange{view}).getResult(0);
      Value added =
          linalg::GenericOp::create(rewriter, loc, TypeRange{viewType}, ValueRange{exampleDy, tap}, ValueRange{view},
                                    maps, iteratorTypes({false, false, false, true}), buildMulAdd)
              .getResult(0);
      sum = tensor::InsertSliceOp::create(rewriter, loc, added, sum, viewOffsets, viewSizes, viewSteps);
    }
  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(rewriter, loc, sum, forall.getRegionIterArgs()[0], exampleOffsets, exampleSizes,
                                        unitSteps4);
  rewriter.replaceOp(conv, forall->getResults());
}

struct KilnSplitInputGradientsPass : kiln::impl::KilnSplitInputGradientsBase<KilnSplitInputGradientsPass> {
  void runOnOperation() override {
    SmallVector<std::pair<linalg::Conv2DNhwcHwcfOp, InputGradient>> gradients;
    getOperation().walk([&](linalg::Conv2DNhwcHwcfOp conv) {
      if (std::optional<InputGradient> gradient = inputGradient(conv))
        gradients.push_back({conv, *gradient});
    });
    IRRewriter rewriter(&getContext());
    for (auto &[conv, gradient] : gradients)
      scatterPerExample(rewriter, conv, gradient);
  }
};

} // namespace
