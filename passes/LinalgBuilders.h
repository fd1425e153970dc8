//===- LinalgBuilders.h - Builders shared by the linalg lowering *- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The small IR builders that every family of kiln-lower-to-linalg's patterns
// (Lower*.cpp, collected by LoweringPatterns.h) uses: constants, filled and
// empty tensors whose `?` sizes come from an operand, NumPy-broadcasting
// elementwise generics, reductions, spatial padding. One definition each, so
// that the families build the same IR for the same thing (canonicalization
// and CSE then merge it).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_LINALGBUILDERS_H
#define KILN_PASSES_LINALGBUILDERS_H

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <optional>

namespace kiln::lowering {

/// The body of a generic: scalars in (one per input), the yielded scalar out.
using BodyFn = llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::ValueRange)>;

/// The ranked tensor type of `value` (every kiln tensor is ranked).
mlir::RankedTensorType tensorTypeOf(mlir::Value value);

/// A scalar constant of a float type.
mlir::Value floatConstant(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type, double value);

/// The `?` sizes of `resultType`, read from the first operand that has the
/// same dimension dynamic when operands are aligned on the right (NumPy
/// broadcasting). The verifier guarantees such an operand exists.
llvm::SmallVector<mlir::Value> broadcastDynamicSizes(mlir::OpBuilder &b, mlir::Location loc,
                                                     mlir::RankedTensorType resultType, mlir::ValueRange operands);

/// An empty tensor of `type` whose `?` sizes come from `operands`.
mlir::Value emptyLike(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type, mlir::ValueRange operands);

/// The indexing map that reads `operandType` broadcast into `resultType`:
/// dimensions aligned on the right; a static 1 against a larger result
/// dimension reads index 0.
mlir::AffineMap broadcastMap(mlir::MLIRContext *context, mlir::RankedTensorType operandType,
                             mlir::RankedTensorType resultType);

/// A `linalg.generic` computing `resultType` elementwise from `operands`
/// (broadcast NumPy-style); `body` gets one scalar per operand.
mlir::Value buildElementwise(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType resultType,
                             mlir::ValueRange operands, BodyFn body);

/// The tensor type of `type` with the dimensions in `reduced` removed.
mlir::RankedTensorType dropDims(mlir::RankedTensorType type, llvm::ArrayRef<int64_t> reduced,
                                mlir::Type elementType = {});

/// The `?` sizes of `input` kept after dropping `reduced`.
llvm::SmallVector<mlir::Value> keptDynamicSizes(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input,
                                                llvm::ArrayRef<int64_t> reduced);

/// A tensor of `type` filled with `value`.
mlir::Value filledTensor(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                         mlir::ValueRange dynamicSizes, mlir::Value value);

/// Whether `value` is a `linalg.fill` of the float constant +0.0 (what
/// filledTensor makes for a sum's accumulator), for passes that rewrite a
/// sum into that accumulator as the sum alone.
bool isZeroFilled(mlir::Value value);

/// Whether `op` can run in place on slices of `result` (which it reads): an
/// elementwise generic of `result`'s type, all loops parallel, that reads
/// `result` element for element, writes its init element for element
/// without reading it, and does not use its indices (a bias + activation
/// epilogue). Its other inputs are the caller's to check, for the passes
/// that move such an op into the loop computing `result`.
bool isInPlaceEpilogue(mlir::Operation *op, mlir::Value result);

/// Example `example` of `batched`, a tensor whose dimension 0 is the batch
/// and whose other dimensions are static: the slice at [example, 0, ...]
/// without the batch dimension, for the passes that rewrite a batch op
/// into one scf.forall iteration per example.
mlir::Value exampleOf(mlir::OpBuilder &b, mlir::Location loc, mlir::Value batched, mlir::Value example);

/// The sum of `partials` over its outer dimension, in order, added into
/// `init` (whose shape is the partials' without that dimension): one
/// generic (n | ...) that every thread count computes the same way, for the
/// passes that split a reduction over the batch into per-example partials.
mlir::Value sumOverOuterDim(mlir::OpBuilder &b, mlir::Location loc, mlir::Value partials, mlir::Value init);

/// Reduces `input` over the dimensions `reduced` with `combine(element,
/// accumulator)`, starting from `initValue`. With an `accumulator` type the
/// result has that element type and each element is extended to it first.
mlir::Value buildReduction(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input, llvm::ArrayRef<int64_t> reduced,
                           double initValue, BodyFn combine, mlir::FloatType accumulator = {});

/// The sum over `reduced`, accumulated in `accumulator` if given (the result
/// then has that element type).
mlir::Value sumOver(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input, llvm::ArrayRef<int64_t> reduced,
                    mlir::FloatType accumulator = {});

/// sumOver accumulating in f64 and rounding once at the end: the user's
/// `sum` and `mean` and the losses' means may add millions of values, and a
/// float32 running sum stops growing at 2^24 (the sum of 20 million ones
/// was 16777216). Internal sums over a softmax axis stay in f32.
mlir::Value accurateSumOver(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input, llvm::ArrayRef<int64_t> reduced);

mlir::Value maxOver(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input, llvm::ArrayRef<int64_t> reduced);

/// The number of elements of `input` in the dimensions `reduced`, as a float
/// scalar of `floatType` (read at run time when a dimension is `?`).
mlir::Value elementCount(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input, llvm::ArrayRef<int64_t> reduced,
                         mlir::Type floatType);

/// Divides every element of `value` by the scalar `divisor`.
mlir::Value divideBy(mlir::OpBuilder &b, mlir::Location loc, mlir::Value value, mlir::Value divisor);

/// The mean of all elements of `value`, as a rank-0 tensor.
mlir::Value meanOfAll(mlir::OpBuilder &b, mlir::Location loc, mlir::Value value);

/// The dimensions a reduction with an optional axis reduces.
llvm::SmallVector<int64_t> reducedDims(mlir::RankedTensorType type, std::optional<uint64_t> axis);

/// An indexing map over `rank` dimensions that drops dimension `axis`.
mlir::AffineMap mapDroppingDim(mlir::MLIRContext *context, int64_t rank, int64_t axis);

/// A `linalg.generic` over the shape of `full` reading `full` with the
/// identity map and each of `reducedInputs` (shaped like `full` without
/// `axis`) broadcast along `axis`.
mlir::Value buildAlongAxis(mlir::OpBuilder &b, mlir::Location loc, mlir::Value full, mlir::ValueRange reducedInputs,
                           int64_t axis, BodyFn body);

mlir::Value indexConstant(mlir::OpBuilder &b, mlir::Location loc, int64_t value);

/// The `?` sizes of `type`, where dimension i of `type` is dimension
/// `sourceDim(i)` of `source` (skipped when it returns -1).
llvm::SmallVector<mlir::Value> dynamicSizesFrom(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                                                mlir::Value source, llvm::function_ref<int64_t(int64_t)> sourceDim);

/// A zero-filled tensor of `type` whose batch size (dimension 0, if `?`) is
/// that of `batchSource`.
mlir::Value zerosWithBatchOf(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                             mlir::Value batchSource);

/// Pads the H and W dimensions of an NHWC tensor by `pad` [top, bottom,
/// left, right] with `value` (zeros for convolutions, -inf for maxpool).
mlir::Value padSpatial(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input, llvm::ArrayRef<int64_t> pad,
                       double value = 0.0);

/// Parallel or reduction iterators, one per entry of `isReduction`.
llvm::SmallVector<mlir::utils::IteratorType> iteratorTypes(llvm::ArrayRef<bool> isReduction);

/// The body of a multiply-add contraction: yields `args[2] + args[0] *
/// args[1]` (a linalg.generic body builder; kiln-map-to-gpu and
/// kiln-tile-and-vectorize recognize this form).
void buildMulAdd(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange args);

} // namespace kiln::lowering

#endif // KILN_PASSES_LINALGBUILDERS_H
