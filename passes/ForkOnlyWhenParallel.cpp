//===- ForkOnlyWhenParallel.cpp - No fork/join for a one-iteration loop ---===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-fork-only-when-parallel` pass (see Passes.td): a CPU-pipeline
// step right after convert-scf-to-openmp. Each omp.parallel it made runs one
// worksharing loop; when that loop has a single iteration (the batch loop or
// the row chunks of a dense layer at batch 1), waking the thread pool only
// to leave every thread but one idle costs a fork and a join (2-2.5 us each
// in a VM, 10 of them per FashionCnn predict at batch 1). The pass gives
// each such region an `if` clause, "the loop has more than one iteration",
// so that libomp runs a one-iteration loop on the calling thread.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"

namespace kiln {
#define GEN_PASS_DEF_KILNFORKONLYWHENPARALLEL
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

struct KilnForkOnlyWhenParallelPass : kiln::impl::KilnForkOnlyWhenParallelBase<KilnForkOnlyWhenParallelPass> {
  void runOnOperation() override {
    getOperation().walk([](omp::ParallelOp parallel) {
      if (parallel.getIfExpr())
        return;
      // The region's worksharing loop: the first loop nest inside it.
      omp::LoopNestOp nest;
      parallel.walk<WalkOrder::PreOrder>([&](omp::LoopNestOp op) {
        nest = op;
        return WalkResult::interrupt();
      });
      if (!nest || nest.getLoopInclusive())
        return;
      SmallVector<Value> bounds = llvm::to_vector(
          llvm::concat<Value>(nest.getLoopLowerBounds(), nest.getLoopUpperBounds(), nest.getLoopSteps()));
      // The trip count is computed before the region, from values defined there.
      if (llvm::any_of(bounds, [&](Value v) { return parallel.getRegion().isAncestor(v.getParentRegion()); }))
        return;
      OpBuilder b(parallel);
      Location loc = parallel.getLoc();
      Value iterations;
      for (auto [lower, upper, step] :
           llvm::zip(nest.getLoopLowerBounds(), nest.getLoopUpperBounds(), nest.getLoopSteps())) {
        // ceil((upper - lower) / step); scf loops have positive steps.
        Value span = arith::SubIOp::create(b, loc, upper, lower);
        Value count = arith::CeilDivSIOp::create(b, loc, span, step);
        iterations = iterations ? arith::MulIOp::create(b, loc, iterations, count).getResult() : count;
      }
      Value one = arith::ConstantOp::create(b, loc, b.getIntegerAttr(iterations.getType(), 1));
      Value several = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, iterations, one);
      parallel.getIfExprMutable().assign(several);
    });
  }
};

} // namespace
