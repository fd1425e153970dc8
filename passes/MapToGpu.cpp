//===- MapToGpu.cpp - Linalg on buffers onto GPU kernels -----------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-map-to-gpu` pass (see Passes.td): after bufferization, every
// linalg op of a model function becomes a `gpu.launch`. Multiply-add
// contractions (matmul, convolution and their gradients) get a shared-memory
// tiled kernel built here directly with scf/memref/gpu ops; sums into few
// outputs (bias gradients) are split over many threads with atomic adds; all
// other ops are lowered to parallel loops whose iteration space is
// linearized onto a 1-D grid. Which buffers live on the device is decided
// first, in GpuBuffers.cpp. Built by hand rather than with the
// transform dialect (the documented upstream route)
// because the batch dimension is dynamic everywhere in Kiln: the kernels
// below check bounds per element instead of needing static or masked tiles,
// and they address operands through the op's indexing maps, which makes a
// convolution an implicit GEMM.
//
//===----------------------------------------------------------------------===//

#include "passes/GpuBuffers.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace kiln {
#define GEN_PASS_DEF_KILNMAPTOGPU
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace {

/// Threads per block of the elementwise/reduction kernels and of the tiled
/// contraction kernel (16 x 16).
constexpr int64_t kThreadsPerBlock = 256;
/// Contraction tile: 4 x 4 outputs per thread, so 4096 per block: 64 x 64,
/// or 128 x 32 when N is that narrow (a convolution with 32 output channels
/// would leave half the threads idle in a 64-wide tile);
/// K staged through workgroup memory 16 at a time.
constexpr int64_t kPerThread = 4;
constexpr int64_t kTileOutputs = kThreadsPerBlock * kPerThread * kPerThread;
constexpr int64_t kTileK = 16;
/// Split K when the output has fewer tiles than this many blocks' worth
/// (about two blocks per SM of an H100/H200) ...
constexpr int64_t kTargetBlocks = 264;
/// ... but keep at least this much K per block.
constexpr int64_t kMinKPerSplit = 512;

Value index(OpBuilder &b, Location loc, int64_t value) { return arith::ConstantIndexOp::create(b, loc, value); }

Value ceilDiv(OpBuilder &b, Location loc, Value x, Value y) { return arith::CeilDivUIOp::create(b, loc, x, y); }

Value product(OpBuilder &b, Location loc, ArrayRef<Value> values) {
  Value result = index(b, loc, 1);
  for (Value value : values)
    result = arith::MulIOp::create(b, loc, result, value);
  return result;
}

/// `linear` as row-major coordinates over `sizes` (the last varies fastest).
SmallVector<Value> delinearize(OpBuilder &b, Location loc, Value linear, ArrayRef<Value> sizes) {
  SmallVector<Value> coordinates(sizes.size());
  for (int64_t i = int64_t(sizes.size()) - 1; i >= 0; --i) {
    if (i == 0) {
      coordinates[i] = linear;
      break;
    }
    coordinates[i] = arith::RemUIOp::create(b, loc, linear, sizes[i]);
    linear = arith::DivUIOp::create(b, loc, linear, sizes[i]);
  }
  return coordinates;
}

/// The indices `map` gives for the loop coordinates `ivs`.
SmallVector<Value> applyMap(OpBuilder &b, Location loc, AffineMap map, ArrayRef<Value> ivs) {
  SmallVector<Value> indices;
  for (unsigned r = 0; r < map.getNumResults(); ++r)
    indices.push_back(affine::AffineApplyOp::create(b, loc, map.getSubMap({r}), ivs));
  return indices;
}

/// A launch of grid x block threads with an empty body ending in
/// gpu.terminator; the builder is left at the start of the body.
gpu::LaunchOp createLaunch(OpBuilder &b, Location loc, Value stream, std::array<Value, 3> grid, Value threads,
                           TypeRange workgroupBuffers = {}) {
  Value one = index(b, loc, 1);
  auto launch = gpu::LaunchOp::create(b, loc, grid[0], grid[1], grid[2], threads, one, one,
                                      /*dynamicSharedMemorySize=*/nullptr, b.getType<gpu::AsyncTokenType>(),
                                      ValueRange{stream}, workgroupBuffers);
  Block &body = launch.getBody().front();
  b.setInsertionPointToEnd(&body);
  gpu::TerminatorOp::create(b, loc);
  b.setInsertionPointToStart(&body);
  return launch;
}

//===----------------------------------------------------------------------===//
// Elementwise and reduction ops: one thread per output element
//===----------------------------------------------------------------------===//

/// Replaces a top-level scf.parallel (no reductions) by a launch over its
/// linearized iteration space.
LogicalResult launchParallelLoop(RewriterBase &rewriter, scf::ParallelOp loop, Value stream) {
  if (loop.getNumResults() != 0)
    return loop.emitError("kiln-map-to-gpu: parallel loops with reductions are not mapped");
  Location loc = loop.getLoc();
  rewriter.setInsertionPoint(loop);
  SmallVector<Value> counts;
  for (auto [lower, upper, step] : llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep()))
    counts.push_back(ceilDiv(rewriter, loc, arith::SubIOp::create(rewriter, loc, upper, lower), step));
  Value total = product(rewriter, loc, counts);
  Value threads = index(rewriter, loc, kThreadsPerBlock);
  Value blocks = ceilDiv(rewriter, loc, total, threads);
  Value one = index(rewriter, loc, 1);
  auto launch = createLaunch(rewriter, loc, stream, {blocks, one, one}, threads);

  Value id = arith::AddIOp::create(rewriter, loc, arith::MulIOp::create(rewriter, loc, launch.getBlockIds().x, threads),
                                   launch.getThreadIds().x);
  Value inRange = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, id, total);
  auto guard = scf::IfOp::create(rewriter, loc, inRange, /*withElseRegion=*/false);
  rewriter.setInsertionPointToStart(guard.thenBlock());
  SmallVector<Value> coordinates = delinearize(rewriter, loc, id, counts);
  IRMapping mapping;
  for (auto [iv, coordinate, lower, step] :
       llvm::zip(loop.getInductionVars(), coordinates, loop.getLowerBound(), loop.getStep()))
    mapping.map(iv,
                arith::AddIOp::create(rewriter, loc, lower, arith::MulIOp::create(rewriter, loc, coordinate, step)));
  for (Operation &op : loop.getBody()->without_terminator())
    rewriter.clone(op, mapping);
  rewriter.eraseOp(loop);
  return success();
}

/// Moves `op` (which touches memory but has no parallelism, e.g. the loops
/// of a full reduction) into a one-thread kernel.
void launchSingleThread(RewriterBase &rewriter, Operation *op, Value stream) {
  Location loc = op->getLoc();
  rewriter.setInsertionPoint(op);
  Value one = index(rewriter, loc, 1);
  auto launch = createLaunch(rewriter, loc, stream, {one, one, one}, one);
  rewriter.moveOpBefore(op, launch.getBody().front().getTerminator());
}

//===----------------------------------------------------------------------===//
// Contractions: shared-memory tiled kernels
//===----------------------------------------------------------------------===//

/// The value the op adds to its one output, when its body is `out + x` (a
/// float sum) with `out` used nowhere else; null otherwise. Such partial sums
/// can be added into the output atomically, from any number of threads.
Value summand(linalg::LinalgOp op) {
  if (op.getNumDpsInits() != 1)
    return nullptr;
  Block *body = op.getBlock();
  BlockArgument acc = body->getArguments().back();
  auto add = body->getTerminator()->getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add || !acc.hasOneUse())
    return nullptr;
  return add.getLhs() == acc ? add.getRhs() : add.getRhs() == acc ? add.getLhs() : Value();
}

/// Whether the op's body is `out + a * b` (either order): a contraction.
bool isMulAddBody(linalg::LinalgOp op) {
  Value product = summand(op);
  auto mul = product ? product.getDefiningOp<arith::MulFOp>() : nullptr;
  if (!mul)
    return false;
  Value a = op.getBlock()->getArgument(0), b = op.getBlock()->getArgument(1);
  return (mul.getLhs() == a && mul.getRhs() == b) || (mul.getLhs() == b && mul.getRhs() == a);
}

/// The sizes of the op's loops, as index values before the op.
SmallVector<Value> loopSizes(RewriterBase &rewriter, linalg::LinalgOp op) {
  SmallVector<Value> sizes;
  for (Range range : op.createLoopRanges(rewriter, op.getLoc()))
    sizes.push_back(getValueOrCreateConstantIndexOp(rewriter, op.getLoc(), range.size));
  return sizes;
}

/// `sizes[d]` for each d of `dims`.
SmallVector<Value> sizesOf(ArrayRef<Value> sizes, ArrayRef<unsigned> dims) {
  SmallVector<Value> result;
  for (unsigned d : dims)
    result.push_back(sizes[d]);
  return result;
}

/// The loop dimensions of a contraction, split GEMM-style: M are the output
/// dimensions only the first operand uses, N those only the second uses, K
/// the reductions.
struct GemmDims {
  SmallVector<unsigned> m, n, k;
};

std::optional<GemmDims> classifyContraction(linalg::LinalgOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 || !op.hasPureBufferSemantics() ||
      op.getNumReductionLoops() == 0 || !isMulAddBody(op) || op.hasIndexSemantics())
    return std::nullopt;
  AffineMap mapA = op.getMatchingIndexingMap(op.getDpsInputOperand(0));
  AffineMap mapB = op.getMatchingIndexingMap(op.getDpsInputOperand(1));
  AffineMap mapC = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (!mapC.isProjectedPermutation())
    return std::nullopt;
  auto uses = [](AffineMap map, unsigned dim) {
    return llvm::any_of(map.getResults(), [&](AffineExpr expr) { return expr.isFunctionOfDim(dim); });
  };
  GemmDims dims;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (unsigned d = 0; d < iterators.size(); ++d) {
    bool inA = uses(mapA, d), inB = uses(mapB, d);
    if (iterators[d] == utils::IteratorType::reduction) {
      if (uses(mapC, d))
        return std::nullopt;
      dims.k.push_back(d);
    } else if (inA && !inB) {
      dims.m.push_back(d);
    } else if (inB && !inA) {
      dims.n.push_back(d);
    } else {
      return std::nullopt; // a batch dimension (or one no operand reads)
    }
  }
  return dims;
}

/// Builds the tiled kernel for `op` (see Passes.td) and erases the op.
void launchTiledContraction(RewriterBase &rewriter, linalg::LinalgOp op, const GemmDims &dims, Value stream) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<Value> sizes = loopSizes(rewriter, op);
  SmallVector<Value> sizesM = sizesOf(sizes, dims.m), sizesN = sizesOf(sizes, dims.n), sizesK = sizesOf(sizes, dims.k);
  Value sizeM = product(rewriter, loc, sizesM), sizeN = product(rewriter, loc, sizesN);
  Value sizeK = product(rewriter, loc, sizesK);
  // The tile's width: N when N is known and narrow, else 64.
  int64_t staticN = 1;
  for (Value size : sizesN)
    staticN = staticN < 0 ? -1 : (getConstantIntValue(size) ? staticN * *getConstantIntValue(size) : -1);
  // (A 256 x 16 tile for N <= 16 needs about 200 registers per thread: one
  // block per SM; 128 x 32 needs about 125.)
  const int64_t tileSizeN = staticN > 0 && staticN <= 32 ? 32 : 64;
  const int64_t tileSizeM = kTileOutputs / tileSizeN;
  // Threads form a (tileSizeM / 4) x (tileSizeN / 4) grid; thread (ty, tx) owns rows
  // ty + i * rowStride and columns tx + j * columnStride.
  const int64_t rowStride = tileSizeM / kPerThread, columnStride = tileSizeN / kPerThread;
  Value tileM = index(rewriter, loc, tileSizeM), tileN = index(rewriter, loc, tileSizeN);
  Value blocksM = ceilDiv(rewriter, loc, sizeM, tileM), blocksN = ceilDiv(rewriter, loc, sizeN, tileN);

  // Split K over gridDim.z when the output alone gives too few blocks.
  // Every block adds its partial sums to the output atomically (the body is
  // a float sum, see summand), so one split needs nothing different.
  Value one = index(rewriter, loc, 1);
  Value tiles = arith::MulIOp::create(rewriter, loc, blocksM, blocksN);
  Value wanted = ceilDiv(rewriter, loc, index(rewriter, loc, kTargetBlocks), tiles);
  Value most = arith::MaxUIOp::create(
      rewriter, loc, one, arith::DivUIOp::create(rewriter, loc, sizeK, index(rewriter, loc, kMinKPerSplit)));
  Value splits = arith::MaxUIOp::create(rewriter, loc, one, arith::MinUIOp::create(rewriter, loc, wanted, most));
  Value tileK = index(rewriter, loc, kTileK);
  // K per split, rounded up to whole K tiles.
  Value chunk =
      arith::MulIOp::create(rewriter, loc, ceilDiv(rewriter, loc, ceilDiv(rewriter, loc, sizeK, splits), tileK), tileK);

  Value operandA = op.getDpsInputOperand(0)->get(), operandB = op.getDpsInputOperand(1)->get();
  Value operandC = op.getDpsInitOperand(0)->get();
  Type typeA = getElementTypeOrSelf(operandA.getType()), typeB = getElementTypeOrSelf(operandB.getType());
  Type typeC = getElementTypeOrSelf(operandC.getType());
  auto workgroup = gpu::AddressSpaceAttr::get(rewriter.getContext(), gpu::AddressSpace::Workgroup);
  auto tileTypeA = MemRefType::get({kTileK, tileSizeM}, typeA, AffineMap(), workgroup);
  auto tileTypeB = MemRefType::get({kTileK, tileSizeN}, typeB, AffineMap(), workgroup);
  // M tiles on x (up to 2^31 - 1 blocks: M grows with the batch), N tiles
  // on y and K splits on z (up to 65535 each); neighbouring blocks share
  // their N tile (the weights) in L2.
  auto launch = createLaunch(rewriter, loc, stream, {blocksM, blocksN, splits}, index(rewriter, loc, kThreadsPerBlock),
                             {tileTypeA, tileTypeB});
  Value tileA = launch.getWorkgroupAttributions()[0], tileB = launch.getWorkgroupAttributions()[1];

  Value thread = launch.getThreadIds().x;
  Value columns = index(rewriter, loc, columnStride);
  Value tx = arith::RemUIOp::create(rewriter, loc, thread, columns);
  Value ty = arith::DivUIOp::create(rewriter, loc, thread, columns);
  Value m0 = arith::MulIOp::create(rewriter, loc, launch.getBlockIds().x, tileM);
  Value n0 = arith::MulIOp::create(rewriter, loc, launch.getBlockIds().y, tileN);
  Value kBegin = arith::MulIOp::create(rewriter, loc, launch.getBlockIds().z, chunk);
  Value kEnd = arith::MinUIOp::create(rewriter, loc, sizeK, arith::AddIOp::create(rewriter, loc, kBegin, chunk));
  Value zero = index(rewriter, loc, 0);
  unsigned numLoops = op.getNumLoops();

  // The full loop coordinates from the linear (m, n, k); dimensions the
  // operand does not use are left 0.
  auto coordinates = [&](OpBuilder &b, Value m, Value n, Value k) {
    SmallVector<Value> ivs(numLoops, zero);
    auto scatter = [&](Value linear, ArrayRef<unsigned> list, ArrayRef<Value> sizes) {
      if (!linear || list.empty())
        return;
      for (auto [d, value] : llvm::zip(list, delinearize(b, loc, linear, sizes)))
        ivs[d] = value;
    };
    scatter(m, dims.m, sizesM);
    scatter(n, dims.n, sizesN);
    scatter(k, dims.k, sizesK);
    return ivs;
  };
  // Whether the operand's innermost memory dimension follows K (then
  // consecutive threads take consecutive k) or the M/N dimension.
  auto kIsInnermost = [&](AffineMap map) {
    AffineExpr last = map.getResults().back();
    return llvm::any_of(dims.k, [&](unsigned d) { return last.isFunctionOfDim(d); });
  };
  AffineMap mapA = op.getMatchingIndexingMap(op.getDpsInputOperand(0));
  AffineMap mapB = op.getMatchingIndexingMap(op.getDpsInputOperand(1));
  AffineMap mapC = op.getMatchingIndexingMap(op.getDpsInitOperand(0));

  auto outputIndex = [&](OpBuilder &b, int64_t i, int64_t j) {
    Value m = arith::AddIOp::create(b, loc, m0, arith::AddIOp::create(b, loc, ty, index(b, loc, i * rowStride)));
    Value n = arith::AddIOp::create(b, loc, n0, arith::AddIOp::create(b, loc, tx, index(b, loc, j * columnStride)));
    Value valid = arith::AndIOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, m, sizeM),
                                        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, n, sizeN));
    return std::make_tuple(m, n, valid);
  };
  // The accumulators start at 0: the partial sums go into the output.
  Value zeroC = arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(typeC));
  SmallVector<Value> initial(kPerThread * kPerThread, zeroC);

  auto outer = scf::ForOp::create(rewriter, loc, kBegin, kEnd, tileK, initial);
  {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(outer.getBody());
    Value k0 = outer.getInductionVar();
    // Stage one K tile of each operand: 1024 elements, 4 per thread.
    auto stage = [&](Value operand, AffineMap map, Value tile, Value base, Value size, int64_t width, bool isA) {
      Type type = getElementTypeOrSelf(operand.getType());
      Value zeroValue = arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(type));
      bool kFast = kIsInnermost(map);
      for (int64_t e = 0; e < kTileK * width / kThreadsPerBlock; ++e) {
        Value element = arith::AddIOp::create(rewriter, loc, thread, index(rewriter, loc, e * kThreadsPerBlock));
        Value kl, xl;
        if (kFast) {
          kl = arith::RemUIOp::create(rewriter, loc, element, tileK);
          xl = arith::DivUIOp::create(rewriter, loc, element, tileK);
        } else {
          Value w = index(rewriter, loc, width);
          xl = arith::RemUIOp::create(rewriter, loc, element, w);
          kl = arith::DivUIOp::create(rewriter, loc, element, w);
        }
        Value k = arith::AddIOp::create(rewriter, loc, k0, kl);
        Value x = arith::AddIOp::create(rewriter, loc, base, xl);
        Value valid = arith::AndIOp::create(rewriter, loc,
                                            arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, k, kEnd),
                                            arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, x, size));
        auto load = scf::IfOp::create(rewriter, loc, TypeRange{type}, valid, /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard inner(rewriter);
          rewriter.setInsertionPointToStart(load.thenBlock());
          SmallVector<Value> ivs = isA ? coordinates(rewriter, x, nullptr, k) : coordinates(rewriter, nullptr, x, k);
          Value value = memref::LoadOp::create(rewriter, loc, operand, applyMap(rewriter, loc, map, ivs));
          scf::YieldOp::create(rewriter, loc, value);
          rewriter.setInsertionPointToStart(load.elseBlock());
          scf::YieldOp::create(rewriter, loc, zeroValue);
        }
        memref::StoreOp::create(rewriter, loc, load.getResult(0), tile, ValueRange{kl, xl});
      }
    };
    stage(operandA, mapA, tileA, m0, sizeM, tileSizeM, /*isA=*/true);
    stage(operandB, mapB, tileB, n0, sizeN, tileSizeN, /*isA=*/false);
    gpu::BarrierOp::create(rewriter, loc);

    auto inner = scf::ForOp::create(rewriter, loc, zero, tileK, one, outer.getRegionIterArgs());
    {
      OpBuilder::InsertionGuard innerGuard(rewriter);
      rewriter.setInsertionPointToStart(inner.getBody());
      Value kk = inner.getInductionVar();
      SmallVector<Value> a, b;
      for (int64_t i = 0; i < kPerThread; ++i) {
        Value row = arith::AddIOp::create(rewriter, loc, ty, index(rewriter, loc, i * rowStride));
        a.push_back(memref::LoadOp::create(rewriter, loc, tileA, ValueRange{kk, row}));
        Value column = arith::AddIOp::create(rewriter, loc, tx, index(rewriter, loc, i * columnStride));
        b.push_back(memref::LoadOp::create(rewriter, loc, tileB, ValueRange{kk, column}));
      }
      // acc = body(a, b, acc), the op's own scalar body.
      Block *body = op.getBlock();
      SmallVector<Value> next;
      for (int64_t i = 0; i < kPerThread; ++i)
        for (int64_t j = 0; j < kPerThread; ++j) {
          IRMapping mapping;
          mapping.map(body->getArgument(0), a[i]);
          mapping.map(body->getArgument(1), b[j]);
          mapping.map(body->getArgument(2), inner.getRegionIterArgs()[i * kPerThread + j]);
          for (Operation &bodyOp : body->without_terminator()) {
            Operation *clone = rewriter.clone(bodyOp, mapping);
            // Let the multiply-add become one FMA (without the
            // contract flag NVPTX keeps mul.rn + add.rn apart).
            if (auto fastMath = dyn_cast<arith::ArithFastMathInterface>(clone))
              clone->setAttr(fastMath.getFastMathAttrName(),
                             arith::FastMathFlagsAttr::get(rewriter.getContext(), arith::FastMathFlags::contract));
          }
          next.push_back(mapping.lookup(body->getTerminator()->getOperand(0)));
        }
      scf::YieldOp::create(rewriter, loc, next);
    }
    gpu::BarrierOp::create(rewriter, loc);
    scf::YieldOp::create(rewriter, loc, inner.getResults());
  }

  for (int64_t i = 0; i < kPerThread; ++i)
    for (int64_t j = 0; j < kPerThread; ++j) {
      auto [m, n, valid] = outputIndex(rewriter, i, j);
      auto store = scf::IfOp::create(rewriter, loc, valid, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(store.thenBlock());
      SmallVector<Value> indices = applyMap(rewriter, loc, mapC, coordinates(rewriter, m, n, nullptr));
      memref::AtomicRMWOp::create(rewriter, loc, arith::AtomicRMWKind::addf, outer.getResult(i * kPerThread + j),
                                  operandC, indices);
    }
  rewriter.eraseOp(op);
}

bool touchesMemory(Operation *op) {
  if (isa<memref::AllocOp, memref::DeallocOp, gpu::AllocOp, gpu::DeallocOp, gpu::LaunchOp, gpu::WaitOp, func::CallOp,
          func::ReturnOp>(op))
    return false;
  if (isa<memref::ExtractAlignedPointerAsIndexOp, memref::ExtractStridedMetadataOp, memref::DimOp>(op))
    return false;
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (effects)
    return !effects.hasNoEffect();
  return op->getNumRegions() > 0 || !isMemoryEffectFree(op);
}

//===----------------------------------------------------------------------===//
// Sum reductions with few outputs: split over many threads
//===----------------------------------------------------------------------===//

/// Sum reductions whose output has at most this many elements (known at
/// compile time) are split: one thread per output would leave the GPU idle
/// and run a long serial loop (a convolution's bias gradient sums
/// batch x 26 x 26 values into each of 32 outputs).
constexpr int64_t kSplitReductionMaxOutputs = 16384;
/// Threads to aim for (about 2048 per SM of an H100/H200) ...
constexpr int64_t kSplitReductionThreads = 270336;
/// ... each summing at least this many values.
constexpr int64_t kSplitReductionMinPerThread = 64;

/// Runs a sum reduction (see summand) as threads that each add a strided
/// part of the reduction into a register and then atomically into the
/// output (which holds the initial value). Thread `s * P + p` takes output
/// `p` (outputs fastest, for coalescing) and reduction steps s, s + S, ...
LogicalResult launchSplitReduction(RewriterBase &rewriter, linalg::GenericOp op, Value summandValue, Value stream) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<Value> sizes = loopSizes(rewriter, op);
  SmallVector<unsigned> parallelDims, reductionDims;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (unsigned d = 0; d < iterators.size(); ++d)
    (iterators[d] == utils::IteratorType::parallel ? parallelDims : reductionDims).push_back(d);
  SmallVector<Value> parallelSizes = sizesOf(sizes, parallelDims), reductionSizes = sizesOf(sizes, reductionDims);
  Value outputs = product(rewriter, loc, parallelSizes), steps = product(rewriter, loc, reductionSizes);
  Value one = index(rewriter, loc, 1);
  Value splits = arith::MaxUIOp::create(
      rewriter, loc, one,
      arith::MinUIOp::create(
          rewriter, loc, arith::DivUIOp::create(rewriter, loc, index(rewriter, loc, kSplitReductionThreads), outputs),
          arith::DivUIOp::create(rewriter, loc, steps, index(rewriter, loc, kSplitReductionMinPerThread))));
  Value total = arith::MulIOp::create(rewriter, loc, outputs, splits);
  Value threads = index(rewriter, loc, kThreadsPerBlock);
  auto launch = createLaunch(rewriter, loc, stream, {ceilDiv(rewriter, loc, total, threads), one, one}, threads);
  Value id = arith::AddIOp::create(rewriter, loc, arith::MulIOp::create(rewriter, loc, launch.getBlockIds().x, threads),
                                   launch.getThreadIds().x);
  auto guard =
      scf::IfOp::create(rewriter, loc, arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, id, total),
                        /*withElseRegion=*/false);
  rewriter.setInsertionPointToStart(guard.thenBlock());
  Value p = arith::RemUIOp::create(rewriter, loc, id, outputs);
  Value s = arith::DivUIOp::create(rewriter, loc, id, outputs);
  // Reduction coordinates stay 0 here: the output does not depend on them.
  SmallVector<Value> ivs(iterators.size(), index(rewriter, loc, 0));
  for (auto [d, value] : llvm::zip(parallelDims, delinearize(rewriter, loc, p, parallelSizes)))
    ivs[d] = value;
  Type type = summandValue.getType();
  Value zero = arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(type));
  auto loop = scf::ForOp::create(rewriter, loc, s, steps, splits, ValueRange{zero});
  {
    OpBuilder::InsertionGuard inner(rewriter);
    rewriter.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> all = ivs;
    for (auto [d, value] : llvm::zip(reductionDims, delinearize(rewriter, loc, loop.getInductionVar(), reductionSizes)))
      all[d] = value;
    IRMapping mapping;
    Block *body = op.getBlock();
    for (OpOperand *input : op.getDpsInputOperands())
      mapping.map(body->getArgument(input->getOperandNumber()),
                  memref::LoadOp::create(rewriter, loc, input->get(),
                                         applyMap(rewriter, loc, op.getMatchingIndexingMap(input), all)));
    for (Operation &bodyOp : body->without_terminator()) {
      if (auto indexOp = dyn_cast<linalg::IndexOp>(bodyOp)) {
        mapping.map(indexOp.getResult(), all[indexOp.getDim()]);
        continue;
      }
      if (bodyOp.getNumResults() == 1 && bodyOp.getResult(0) == body->getTerminator()->getOperand(0))
        continue; // the accumulation itself
      rewriter.clone(bodyOp, mapping);
    }
    Value sum =
        arith::AddFOp::create(rewriter, loc, loop.getRegionIterArgs()[0], mapping.lookupOrDefault(summandValue));
    scf::YieldOp::create(rewriter, loc, sum);
  }
  OpOperand *init = op.getDpsInitOperand(0);
  memref::AtomicRMWOp::create(rewriter, loc, arith::AtomicRMWKind::addf, loop.getResult(0), init->get(),
                              applyMap(rewriter, loc, op.getMatchingIndexingMap(init), ivs));
  rewriter.eraseOp(op);
  return success();
}

/// Whether `op` is a sum reduction into few outputs (a static count; a
/// full sum into a scalar included).
bool isSplitReductionCandidate(linalg::GenericOp op) {
  if (op.getNumReductionLoops() == 0 || !summand(op))
    return false;
  if (!op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isProjectedPermutation())
    return false;
  auto outputType = cast<MemRefType>(op.getDpsInitOperand(0)->get().getType());
  return outputType.hasStaticShape() && outputType.getNumElements() <= kSplitReductionMaxOutputs;
}

/// Lowers a linalg op that is not a tiled contraction to loops: parallel
/// dimensions outermost (so that they become one scf.parallel, launched by
/// launchParallelLoop), reductions as scf.for inside. An op without
/// parallel dimensions (a full reduction, or rank 0) runs in one thread.
LogicalResult lowerToLoops(RewriterBase &rewriter, linalg::LinalgOp op, Value stream) {
  rewriter.setInsertionPoint(op);
  if (!isa<linalg::GenericOp>(op)) {
    FailureOr<linalg::GenericOp> generic = linalg::generalizeNamedOp(rewriter, op);
    if (failed(generic))
      return op.emitError("kiln-map-to-gpu: cannot generalize this op");
    op = *generic;
  }
  auto generic = cast<linalg::GenericOp>(op.getOperation());
  if (isSplitReductionCandidate(generic))
    return launchSplitReduction(rewriter, generic, summand(generic), stream);
  SmallVector<unsigned> order;
  SmallVector<utils::IteratorType> iterators = generic.getIteratorTypesArray();
  for (unsigned d = 0; d < iterators.size(); ++d)
    if (iterators[d] == utils::IteratorType::parallel)
      order.push_back(d);
  bool hasParallel = !order.empty();
  for (unsigned d = 0; d < iterators.size(); ++d)
    if (iterators[d] != utils::IteratorType::parallel)
      order.push_back(d);
  if (!llvm::equal(order, llvm::seq<unsigned>(0, iterators.size()))) {
    FailureOr<linalg::GenericOp> interchanged = linalg::interchangeGenericOp(rewriter, generic, order);
    if (failed(interchanged))
      return generic.emitError("kiln-map-to-gpu: cannot interchange this op's loops");
    generic = *interchanged;
  }
  if (!hasParallel)
    launchSingleThread(rewriter, generic, stream);
  rewriter.setInsertionPoint(generic);
  FailureOr<linalg::LinalgLoops> loops =
      hasParallel ? linalg::linalgOpToParallelLoops(rewriter, generic) : linalg::linalgOpToLoops(rewriter, generic);
  if (failed(loops))
    return generic.emitError("kiln-map-to-gpu: cannot lower this op to loops");
  rewriter.eraseOp(generic);
  return success();
}

LogicalResult mapFunction(func::FuncOp func) {
  IRRewriter rewriter(func.getContext());
  Block &entry = func.getBody().front();
  rewriter.setInsertionPointToStart(&entry);
  Value stream = gpu::WaitOp::create(rewriter, func.getLoc(), rewriter.getType<gpu::AsyncTokenType>(), ValueRange{})
                     .getAsyncToken();

  // Host bookkeeping buffers are those that stay memref.alloc; classify
  // before the linalg ops (which mark device buffers) are rewritten.
  kiln::placeBuffersOnDevice(rewriter, func, stream);

  SmallVector<linalg::LinalgOp> linalgOps;
  for (Operation &op : entry)
    if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
      linalgOps.push_back(linalgOp);
  for (linalg::LinalgOp op : linalgOps) {
    if (std::optional<GemmDims> dims = classifyContraction(op)) {
      launchTiledContraction(rewriter, op, *dims, stream);
      continue;
    }
    if (failed(lowerToLoops(rewriter, op, stream)))
      return failure();
  }

  // Each top-level loop nest that touches memory becomes a kernel.
  SmallVector<Operation *> hostOps;
  for (Operation &op : entry)
    if (touchesMemory(&op))
      hostOps.push_back(&op);
  for (Operation *op : hostOps) {
    if (auto parallel = dyn_cast<scf::ParallelOp>(op)) {
      if (failed(launchParallelLoop(rewriter, parallel, stream)))
        return failure();
      continue;
    }
    // Host bookkeeping stores and loads into host buffers stay.
    bool hostBookkeeping = false;
    if (auto store = dyn_cast<memref::StoreOp>(op))
      hostBookkeeping = store.getMemRef().getDefiningOp<memref::AllocOp>() != nullptr;
    if (auto load = dyn_cast<memref::LoadOp>(op))
      hostBookkeeping = load.getMemRef().getDefiningOp<memref::AllocOp>() != nullptr;
    if (hostBookkeeping || isa<scf::IfOp>(op))
      continue;
    if (op->getNumResults() != 0)
      return op->emitError("kiln-map-to-gpu: this op reads device memory on the host");
    launchSingleThread(rewriter, op, stream);
  }
  return success();
}

struct KilnMapToGpuPass : kiln::impl::KilnMapToGpuBase<KilnMapToGpuPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.getSymName().starts_with("kiln_impl_"))
        continue;
      if (failed(mapFunction(func)))
        return signalPassFailure();
    }
  }
};

} // namespace
