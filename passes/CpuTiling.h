//===- CpuTiling.h - Shared by the CPU tiling passes ------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// What the three passes of the CPU's register-block recipe share:
// kiln-normalize-contractions brings contractions into shapes the blocks fit,
// kiln-choose-tile-sizes (the policy, ChooseTileSizes.cpp) records each op's
// tile sizes as `kiln.tile_sizes`, and kiln-tile-and-vectorize (the
// mechanism) tiles by what it finds there. Policy and mechanism are apart so
// that the choice can be read and tested on its own.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_CPUTILING_H
#define KILN_PASSES_CPUTILING_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>

namespace kiln::cpu {

/// Largest statically shaped op (in elements per operand) that is vectorized
/// whole; bigger ones would become one huge transfer (measured: llc then takes
/// a minute).
constexpr int64_t kMaxVectorElements = 16384;

/// Rows of a dynamic-row matmul per parallel chunk (a multiple of both row
/// block heights): 8 chunks at batch 128, one at batch 1.
/// kiln-tile-and-vectorize chunks by it.
constexpr int64_t kMatmulRowChunk = 16;
/// The same inside a task that is parallel already (a forall of
/// kiln-split-dense-reductions or kiln-pack-transposed-weights), where a
/// chunk only decides how many rows share each reduction panel read from
/// memory: dense_0's 4.7 MB of weights are streamed once per 64 rows instead
/// of per 16 (alternating: predict b64 and b256 on 2 threads 3-15% faster,
/// training ~2%, batch <= 48 unchanged). kiln-split-dense-reductions makes
/// its tasks that size, so that each holds one chunk.
constexpr int64_t kMatmulRowChunkInTask = 64;

/// The side of the transpose tiles kept in registers: a 16 x 16 f32 block
/// is 16 zmm loads, 64 shuffles (vector.transpose's Shuffle16x16 lowering,
/// in kiln-lower-vectors) and 16 stores; larger blocks are copied by scalar
/// loops, which LLVM turns into gathers.
constexpr int64_t kShuffleTransposeTile = 16;

/// Whether `type` (a transpose's init or one of its tiles) is a 2-D f32
/// matrix made of kShuffleTransposeTile-square tiles.
bool isShuffleTransposable(mlir::ShapedType type);

/// A 2-D convolution or pooling (named NHWC op).
bool isConvOrPool(mlir::Operation *op);
/// A named contraction: matmul, matvec, vecmat, dot.
bool isContraction(mlir::Operation *op);
/// A `linalg.generic` contraction into a 2-D result (m, n) whose reduction
/// loops may be several (the convolution filter gradient's (n, y, x)),
/// blocked like a matmul; the result must also be static unless
/// `requireStaticShape` is false (a register block of it always is).
bool isGenericMatmul(mlir::Operation *op, bool requireStaticShape = true);
/// A `linalg.generic` contraction into a static 3-D result (y, x, c), one
/// image's pixels by channels (kiln-split-input-gradients makes them), every
/// map a projected permutation: blocked like a convolution's output row,
/// pixels by channels, one reduction step at a time.
bool isGenericPixelContraction(mlir::Operation *op);

/// One unit of tiling: `root` is tiled, `compute` (a contraction,
/// convolution or pooling whose only user is `root`, or `root` itself) and
/// the fills feeding them are fused into the tile. `compute` carries the
/// tile sizes.
struct TilingRoot {
  mlir::linalg::LinalgOp root;
  mlir::linalg::LinalgOp compute;
};

/// The tiling units of `func`: every tileable linalg op on tensors, with an
/// elementwise epilogue (bias + activation) as the root of its producer.
llvm::SmallVector<TilingRoot> collectRoots(mlir::func::FuncOp func);

/// Tile sizes over the loops of `op` for the dimensions of its (first)
/// output, `outTile` giving one per output dimension; other loops get 0.
llvm::SmallVector<int64_t> parallelTileSizes(mlir::linalg::LinalgOp op, llvm::ArrayRef<int64_t> outTile);

/// The `kiln.tile_sizes` of `op` (one per loop), if it has them.
std::optional<llvm::SmallVector<int64_t>> getTileSizes(mlir::Operation *op);
void setTileSizes(mlir::Operation *op, llvm::ArrayRef<int64_t> sizes);

/// Every op's canonicalization patterns (what the canonicalizer pass uses),
/// applied inside the recipe's passes between their steps.
void populateCanonicalizationPatterns(mlir::RewritePatternSet &patterns);
mlir::LogicalResult canonicalize(mlir::func::FuncOp func);

/// Applies the patterns `populate` adds to `root` greedily, in at most
/// `maxIterations` sweeps (none: MLIR's default). Fails if they do not
/// converge, so that a pass stops rather than leave half-rewritten IR.
mlir::LogicalResult applyPatterns(mlir::Operation *root, llvm::function_ref<void(mlir::RewritePatternSet &)> populate,
                                  std::optional<int64_t> maxIterations = std::nullopt);

} // namespace kiln::cpu

#endif // KILN_PASSES_CPUTILING_H
