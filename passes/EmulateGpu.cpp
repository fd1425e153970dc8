//===- EmulateGpu.cpp - Run kiln-map-to-gpu's kernels on the CPU ----------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-emulate-gpu-on-cpu` pass (see Passes.td): turns each gpu.launch
// that kiln-map-to-gpu made into CPU loops over blocks and threads, so that
// the GPU lowering's index arithmetic, tiling, bounds checks and split-K can
// be checked numerically (against PyTorch, through the JIT) on machines
// without a GPU. It is a test instrument, not a fast path.
//
// Kernels without barriers run each thread to completion in turn. A kernel
// with barriers must have them directly in one top-level scf.for of its
// body (the tiled contraction's K loop): the loop runs once per block, and
// each stretch between barriers runs for all threads before the next one
// starts ("loop fission at barriers"). Per-thread values do not survive
// across stretches except the loop's iter_args, which live in a per-thread
// buffer; the ops before the loop (index arithmetic, initial loads) are
// computed again in every stretch, which is correct because they only read.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln {
#define GEN_PASS_DEF_KILNEMULATEGPUONCPU
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

Value index(OpBuilder &b, Location loc, int64_t value) { return arith::ConstantIndexOp::create(b, loc, value); }

/// Builds `for i in [0, upper)` and calls `body(i)` inside it.
void forEach(OpBuilder &b, Location loc, Value upper, llvm::function_ref<void(Value)> body) {
  auto loop = scf::ForOp::create(b, loc, index(b, loc, 0), upper, index(b, loc, 1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  body(loop.getInductionVar());
}

/// The ops of `block` (its terminator excepted) in the stretches between
/// its gpu.barrier ops.
SmallVector<SmallVector<Operation *>> splitAtBarriers(Block &block) {
  SmallVector<SmallVector<Operation *>> stretches(1);
  for (Operation &op : block.without_terminator()) {
    if (isa<gpu::BarrierOp>(op))
      stretches.emplace_back();
    else
      stretches.back().push_back(&op);
  }
  return stretches;
}

struct LaunchEmulator {
  gpu::LaunchOp launch;
  OpBuilder &b;
  Location loc;
  Value numThreads;
  IRMapping blockMapping; ///< block ids, grid and block sizes, workgroup buffers

  /// Maps thread `t`'s ids (x fastest) into `mapping`.
  void mapThread(IRMapping &mapping, Value t) {
    gpu::KernelDim3 sizes = launch.getBlockSizeOperandValues();
    gpu::KernelDim3 ids = launch.getThreadIds();
    Value x = arith::RemUIOp::create(b, loc, t, sizes.x);
    Value rest = arith::DivUIOp::create(b, loc, t, sizes.x);
    Value y = arith::RemUIOp::create(b, loc, rest, sizes.y);
    Value z = arith::DivUIOp::create(b, loc, rest, sizes.y);
    mapping.map(ids.x, x);
    mapping.map(ids.y, y);
    mapping.map(ids.z, z);
  }

  IRMapping threadMapping(Value t) {
    IRMapping mapping = blockMapping;
    mapThread(mapping, t);
    return mapping;
  }

  void cloneRange(iterator_range<Block::iterator> ops, IRMapping &mapping) {
    for (Operation &op : ops)
      b.clone(op, mapping);
  }

  /// One block of a kernel without barriers.
  void emulateSimpleBlock() {
    Block &body = launch.getBody().front();
    forEach(b, loc, numThreads, [&](Value t) {
      IRMapping mapping = threadMapping(t);
      cloneRange(body.without_terminator(), mapping);
    });
  }

  /// One block of a kernel whose barriers are in `loop` (see the file comment).
  LogicalResult emulateFissionedBlock(scf::ForOp loop) {
    Block &body = launch.getBody().front();
    auto pre = llvm::make_range(body.begin(), Block::iterator(loop));
    auto post = llvm::make_range(std::next(Block::iterator(loop)), Block::iterator(body.getTerminator()));
    // Stretches of the loop body between barriers.
    SmallVector<SmallVector<Operation *>> stretches = splitAtBarriers(*loop.getBody());
    // Values may not flow from one stretch to another (except iter_args).
    for (auto [i, stretch] : llvm::enumerate(stretches))
      for (Operation *op : stretch)
        for (Value result : op->getResults())
          for (Operation *user : result.getUsers()) {
            Operation *top = loop.getBody()->findAncestorOpInBlock(*user);
            bool sameStretch = llvm::is_contained(stretch, top);
            if (!sameStretch && !isa<scf::YieldOp>(top))
              return op->emitError("kiln-emulate-gpu-on-cpu: a value crosses a barrier");
          }
    // Which stretch computes each yielded value (none: an iter_arg or a
    // value from before the loop, stored after the last stretch).
    auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
    SmallVector<int64_t> yieldStretch;
    for (Value value : yield.getOperands()) {
      int64_t found = int64_t(stretches.size()) - 1;
      if (Operation *def = value.getDefiningOp())
        for (auto [i, stretch] : llvm::enumerate(stretches))
          if (llvm::is_contained(stretch, def))
            found = int64_t(i);
      yieldStretch.push_back(found);
    }

    // The carried values, one buffer per iter_arg, indexed by thread.
    // The next iteration's values go to `next` as they are computed and
    // become `carried` after the last stretch.
    SmallVector<Value> carried, next;
    for (Value init : loop.getInitArgs()) {
      auto type = MemRefType::get({ShapedType::kDynamic}, init.getType());
      carried.push_back(memref::AllocOp::create(b, loc, type, ValueRange{numThreads}));
      next.push_back(memref::AllocOp::create(b, loc, type, ValueRange{numThreads}));
    }
    forEach(b, loc, numThreads, [&](Value t) {
      IRMapping mapping = threadMapping(t);
      cloneRange(pre, mapping);
      for (auto [buffer, init] : llvm::zip(carried, loop.getInitArgs()))
        memref::StoreOp::create(b, loc, mapping.lookupOrDefault(init), buffer, ValueRange{t});
    });
    // The loop bounds are the same for every thread: take thread 0's.
    IRMapping first = threadMapping(index(b, loc, 0));
    cloneRange(pre, first);
    auto outer = scf::ForOp::create(b, loc, first.lookupOrDefault(loop.getLowerBound()),
                                    first.lookupOrDefault(loop.getUpperBound()), first.lookupOrDefault(loop.getStep()));
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(outer.getBody());
      for (size_t i = 0; i < stretches.size(); ++i) {
        ArrayRef<Operation *> stretch = stretches[i];
        bool last = i + 1 == stretches.size();
        forEach(b, loc, numThreads, [&](Value t) {
          IRMapping mapping = threadMapping(t);
          cloneRange(pre, mapping);
          mapping.map(loop.getInductionVar(), outer.getInductionVar());
          for (auto [buffer, arg] : llvm::zip(carried, loop.getRegionIterArgs()))
            mapping.map(arg, memref::LoadOp::create(b, loc, buffer, ValueRange{t}));
          for (Operation *op : stretch)
            b.clone(*op, mapping);
          for (auto [buffer, value, where] : llvm::zip(next, yield.getOperands(), yieldStretch))
            if (where == int64_t(i))
              memref::StoreOp::create(b, loc, mapping.lookupOrDefault(value), buffer, ValueRange{t});
        });
        if (last)
          forEach(b, loc, numThreads, [&](Value t) {
            for (auto [from, to] : llvm::zip(next, carried))
              memref::StoreOp::create(b, loc, memref::LoadOp::create(b, loc, from, ValueRange{t}), to, ValueRange{t});
          });
      }
    }
    forEach(b, loc, numThreads, [&](Value t) {
      IRMapping mapping = threadMapping(t);
      cloneRange(pre, mapping);
      for (auto [buffer, result] : llvm::zip(carried, loop.getResults()))
        mapping.map(result, memref::LoadOp::create(b, loc, buffer, ValueRange{t}));
      cloneRange(post, mapping);
    });
    for (Value buffer : llvm::concat<Value>(carried, next))
      memref::DeallocOp::create(b, loc, buffer);
    return success();
  }

  /// One block of a kernel with barriers directly in its body (a tiled
  /// kernel whose K loop had one iteration and was folded away): values
  /// that cross a barrier go through per-thread buffers.
  void emulateTopLevelFission() {
    Block &body = launch.getBody().front();
    SmallVector<SmallVector<Operation *>> stretches = splitAtBarriers(body);
    DenseMap<Operation *, size_t> stretchOf;
    for (auto [i, stretch] : llvm::enumerate(stretches))
      for (Operation *op : stretch)
        stretchOf[op] = i;
    // Spill buffers for values used in a later stretch.
    DenseMap<Value, Value> spills;
    for (auto [i, stretch] : llvm::enumerate(stretches))
      for (Operation *op : stretch)
        for (Value result : op->getResults())
          for (Operation *user : result.getUsers()) {
            Operation *top = body.findAncestorOpInBlock(*user);
            if (top && stretchOf.lookup(top) != i && !spills.count(result))
              spills[result] = memref::AllocOp::create(
                  b, loc, MemRefType::get({ShapedType::kDynamic}, result.getType()), ValueRange{numThreads});
          }
    for (size_t i = 0; i < stretches.size(); ++i) {
      ArrayRef<Operation *> stretch = stretches[i];
      forEach(b, loc, numThreads, [&](Value t) {
        IRMapping mapping = threadMapping(t);
        for (auto [value, buffer] : spills)
          if (Operation *def = value.getDefiningOp(); def && stretchOf.lookup(def) < i)
            mapping.map(value, memref::LoadOp::create(b, loc, buffer, ValueRange{t}));
        for (Operation *op : stretch) {
          b.clone(*op, mapping);
          for (Value result : op->getResults())
            if (Value buffer = spills.lookup(result))
              memref::StoreOp::create(b, loc, mapping.lookup(result), buffer, ValueRange{t});
        }
      });
    }
    for (auto [value, buffer] : spills)
      memref::DeallocOp::create(b, loc, buffer);
  }

  LogicalResult run() {
    Block &body = launch.getBody().front();
    // Where the barriers are: in one top-level loop, or in the body itself.
    scf::ForOp barrierLoop;
    bool topLevelBarriers = false, unsupported = false;
    launch.getBody().walk([&](gpu::BarrierOp barrier) {
      if (barrier->getBlock() == &body) {
        topLevelBarriers = true;
        return;
      }
      auto loop = dyn_cast<scf::ForOp>(barrier->getParentOp());
      if (!loop || loop->getBlock() != &body || (barrierLoop && barrierLoop != loop))
        unsupported = true;
      barrierLoop = loop;
    });
    if (unsupported || (topLevelBarriers && barrierLoop))
      return launch.emitError("kiln-emulate-gpu-on-cpu: barriers must sit directly in one top-level loop or "
                              "directly in the kernel body");

    gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
    gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
    numThreads = arith::MulIOp::create(b, loc, arith::MulIOp::create(b, loc, block.x, block.y), block.z);
    blockMapping.map(launch.getGridSize().x, grid.x);
    blockMapping.map(launch.getGridSize().y, grid.y);
    blockMapping.map(launch.getGridSize().z, grid.z);
    blockMapping.map(launch.getBlockSize().x, block.x);
    blockMapping.map(launch.getBlockSize().y, block.y);
    blockMapping.map(launch.getBlockSize().z, block.z);
    LogicalResult result = success();
    forEach(b, loc, grid.z, [&](Value bz) {
      forEach(b, loc, grid.y, [&](Value by) {
        forEach(b, loc, grid.x, [&](Value bx) {
          blockMapping.map(launch.getBlockIds().x, bx);
          blockMapping.map(launch.getBlockIds().y, by);
          blockMapping.map(launch.getBlockIds().z, bz);
          SmallVector<Value> shared;
          for (BlockArgument buffer : launch.getWorkgroupAttributions()) {
            auto type = cast<MemRefType>(buffer.getType());
            Value local = memref::AllocaOp::create(b, loc, MemRefType::get(type.getShape(), type.getElementType()));
            blockMapping.map(buffer, local);
          }
          if (barrierLoop)
            result = emulateFissionedBlock(barrierLoop);
          else if (topLevelBarriers)
            emulateTopLevelFission();
          else
            emulateSimpleBlock();
        });
      });
    });
    return result;
  }
};

struct KilnEmulateGpuOnCpuPass : kiln::impl::KilnEmulateGpuOnCpuBase<KilnEmulateGpuOnCpuPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    SmallVector<gpu::LaunchOp> launches;
    getOperation().walk([&](gpu::LaunchOp launch) { launches.push_back(launch); });
    for (gpu::LaunchOp launch : launches) {
      rewriter.setInsertionPoint(launch);
      LaunchEmulator emulator{launch, rewriter, launch.getLoc(), Value(), IRMapping()};
      if (failed(emulator.run()))
        return signalPassFailure();
      if (launch.getAsyncToken())
        rewriter.replaceAllUsesWith(launch.getAsyncToken(), launch.getAsyncDependencies().front());
      rewriter.eraseOp(launch);
    }
    // Device buffers become host buffers; the stream disappears.
    SmallVector<Operation *> gpuOps;
    getOperation().walk([&](Operation *op) {
      if (isa<gpu::AllocOp, gpu::DeallocOp, gpu::WaitOp>(op))
        gpuOps.push_back(op);
    });
    for (Operation *op : gpuOps) {
      rewriter.setInsertionPoint(op);
      if (auto alloc = dyn_cast<gpu::AllocOp>(op)) {
        Value memref = memref::AllocOp::create(rewriter, alloc.getLoc(), alloc.getMemref().getType(),
                                               alloc.getDynamicSizes(), alloc.getSymbolOperands());
        rewriter.replaceAllUsesWith(alloc.getMemref(), memref);
      } else if (auto dealloc = dyn_cast<gpu::DeallocOp>(op)) {
        memref::DeallocOp::create(rewriter, dealloc.getLoc(), dealloc.getMemref());
      }
    }
    // Tokens are only used by other gpu ops, which all go: erase users first.
    for (Operation *op : llvm::reverse(gpuOps)) {
      for (Value result : op->getResults())
        if (isa<gpu::AsyncTokenType>(result.getType()))
          for (Operation *user : llvm::make_early_inc_range(result.getUsers()))
            if (!llvm::is_contained(gpuOps, user)) {
              user->emitError("kiln-emulate-gpu-on-cpu: an async token is used outside the GPU ops");
              return signalPassFailure();
            }
    }
    for (Operation *op : llvm::reverse(gpuOps)) {
      op->dropAllUses();
      rewriter.eraseOp(op);
    }
  }
};
} // namespace
