//===- CopyToLinalg.cpp - memref.copy as linalg.copy ----------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-copy-to-linalg` pass (see Passes.td): keeps compiled models free
// of the `memrefCopy` runtime call by turning copies into linalg ops, and
// runs large ones in parallel.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_KILNCOPYTOLINALG
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {
/// Copies of at least this many elements, outside any loop, run in
/// parallel over their outermost dimension (a training step's padded
/// gradient buffers: FashionCnn copies 9 MB per step this way).
constexpr int64_t kParallelCopyElements = 1 << 16;

/// Whether `op` copies a large buffer (by static sizes, a dynamic batch
/// counted as 1) with an outermost dimension to split, outside any loop.
bool isLargeTopLevelCopy(memref::CopyOp op) {
  auto type = cast<MemRefType>(op.getSource().getType());
  if (type.getRank() < 2 || !isa<func::FuncOp>(op->getParentOp()))
    return false;
  int64_t elements = 1;
  for (int64_t dim : type.getShape())
    elements *= ShapedType::isDynamic(dim) ? 1 : dim;
  return elements * (type.isDynamicDim(0) ? 8 : 1) >= kParallelCopyElements &&
         (type.isDynamicDim(0) || type.getDimSize(0) > 1);
}

struct CopyToLinalgPattern : OpRewritePattern<memref::CopyOp> {
  CopyToLinalgPattern(MLIRContext *context, bool parallel) : OpRewritePattern(context), parallel(parallel) {}
  bool parallel;
  LogicalResult matchAndRewrite(memref::CopyOp op, PatternRewriter &rewriter) const override {
    if (!parallel || !isLargeTopLevelCopy(op)) {
      rewriter.replaceOpWithNewOp<linalg::CopyOp>(op, op.getSource(), op.getTarget());
      return success();
    }
    // One linalg.copy per index of the outermost dimension, in an
    // scf.parallel that the pipeline runs on the thread pool. Each index
    // copies its own rows, so the result does not depend on the threads.
    Location loc = op.getLoc();
    Value source = op.getSource(), target = op.getTarget();
    auto type = cast<MemRefType>(source.getType());
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value rows = memref::DimOp::create(rewriter, loc, source, 0);
    scf::ParallelOp::create(rewriter, loc, ValueRange{zero}, ValueRange{rows}, ValueRange{one},
                            [&](OpBuilder &builder, Location bodyLoc, ValueRange indices) {
                              SmallVector<OpFoldResult> offsets(type.getRank(), builder.getIndexAttr(0));
                              SmallVector<OpFoldResult> sizes, strides(type.getRank(), builder.getIndexAttr(1));
                              offsets[0] = indices[0];
                              sizes.push_back(builder.getIndexAttr(1));
                              for (int64_t i = 1; i < type.getRank(); ++i)
                                sizes.push_back(memref::getMixedSize(builder, bodyLoc, source, i));
                              Value from = memref::SubViewOp::create(builder, bodyLoc, source, offsets, sizes, strides);
                              Value to = memref::SubViewOp::create(builder, bodyLoc, target, offsets, sizes, strides);
                              linalg::CopyOp::create(builder, bodyLoc, from, to);
                              scf::ReduceOp::create(builder, bodyLoc);
                            });
    rewriter.eraseOp(op);
    return success();
  }
};

struct KilnCopyToLinalgPass : kiln::impl::KilnCopyToLinalgBase<KilnCopyToLinalgPass> {
  using KilnCopyToLinalgBase::KilnCopyToLinalgBase;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<CopyToLinalgPattern>(&getContext(), parallel);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
