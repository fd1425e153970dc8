//===- LinalgBuilders.cpp - Builders shared by the lowering to linalg -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Definitions of the builders declared (and documented) in LinalgBuilders.h.
//
//===----------------------------------------------------------------------===//

#include "passes/LinalgBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace kiln::lowering;

RankedTensorType kiln::lowering::tensorTypeOf(Value value) { return cast<RankedTensorType>(value.getType()); }

Value kiln::lowering::floatConstant(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

SmallVector<Value> kiln::lowering::broadcastDynamicSizes(OpBuilder &b, Location loc, RankedTensorType resultType,
                                                         ValueRange operands) {
  SmallVector<Value> sizes;
  int64_t rank = resultType.getRank();
  for (int64_t i = 0; i < rank; ++i) {
    if (!resultType.isDynamicDim(i))
      continue;
    for (Value operand : operands) {
      RankedTensorType type = tensorTypeOf(operand);
      int64_t j = i - (rank - type.getRank());
      if (j >= 0 && type.isDynamicDim(j)) {
        sizes.push_back(tensor::DimOp::create(b, loc, operand, j));
        break;
      }
    }
  }
  return sizes;
}

Value kiln::lowering::emptyLike(OpBuilder &b, Location loc, RankedTensorType type, ValueRange operands) {
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 broadcastDynamicSizes(b, loc, type, operands));
}

AffineMap kiln::lowering::broadcastMap(MLIRContext *context, RankedTensorType operandType,
                                       RankedTensorType resultType) {
  int64_t rank = resultType.getRank(), offset = rank - operandType.getRank();
  SmallVector<AffineExpr> exprs;
  for (int64_t j = 0; j < operandType.getRank(); ++j) {
    int64_t i = j + offset;
    if (operandType.getDimSize(j) == 1 && resultType.getDimSize(i) != 1)
      exprs.push_back(getAffineConstantExpr(0, context));
    else
      exprs.push_back(getAffineDimExpr(i, context));
  }
  return AffineMap::get(rank, 0, exprs, context);
}

Value kiln::lowering::buildElementwise(OpBuilder &b, Location loc, RankedTensorType resultType, ValueRange operands,
                                       BodyFn body) {
  MLIRContext *context = b.getContext();
  SmallVector<AffineMap> maps;
  for (Value operand : operands)
    maps.push_back(broadcastMap(context, tensorTypeOf(operand), resultType));
  maps.push_back(AffineMap::getMultiDimIdentityMap(resultType.getRank(), context));
  SmallVector<utils::IteratorType> iterators(resultType.getRank(), utils::IteratorType::parallel);
  Value init = emptyLike(b, loc, resultType, operands);
  auto generic = linalg::GenericOp::create(b, loc, TypeRange{resultType}, operands, ValueRange{init}, maps, iterators,
                                           [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
                                             Value result = body(nested, nestedLoc, args.drop_back());
                                             linalg::YieldOp::create(nested, nestedLoc, result);
                                           });
  return generic.getResult(0);
}

RankedTensorType kiln::lowering::dropDims(RankedTensorType type, ArrayRef<int64_t> reduced, Type elementType) {
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!llvm::is_contained(reduced, i))
      shape.push_back(type.getDimSize(i));
  return RankedTensorType::get(shape, elementType ? elementType : type.getElementType());
}

SmallVector<Value> kiln::lowering::keptDynamicSizes(OpBuilder &b, Location loc, Value input,
                                                    ArrayRef<int64_t> reduced) {
  SmallVector<Value> sizes;
  RankedTensorType type = tensorTypeOf(input);
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!llvm::is_contained(reduced, i) && type.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, input, i));
  return sizes;
}

Value kiln::lowering::filledTensor(OpBuilder &b, Location loc, RankedTensorType type, ValueRange dynamicSizes,
                                   Value value) {
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(), dynamicSizes);
  return linalg::FillOp::create(b, loc, ValueRange{value}, ValueRange{empty}).getResult(0);
}

bool kiln::lowering::isZeroFilled(Value value) {
  auto fill = value.getDefiningOp<linalg::FillOp>();
  auto zero = fill ? fill.getInputs()[0].getDefiningOp<arith::ConstantOp>() : nullptr;
  auto zeroAttr = zero ? dyn_cast<FloatAttr>(zero.getValue()) : nullptr;
  return zeroAttr && zeroAttr.getValue().isZero() && !zeroAttr.getValue().isNegative();
}

bool kiln::lowering::isInPlaceEpilogue(Operation *op, Value result) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  auto type = dyn_cast<RankedTensorType>(result.getType());
  if (!generic || !type || !generic.hasPureTensorSemantics() || generic->getNumResults() != 1 ||
      generic.getNumDpsInits() != 1 || generic->getResult(0).getType() != type ||
      generic.getNumLoops() != generic.getNumParallelLoops() || generic.getNumLoops() != unsigned(type.getRank()) ||
      generic.payloadUsesValueFromOperand(generic.getDpsInitOperand(0)) ||
      !generic.getBody()->getOps<linalg::IndexOp>().empty() ||
      !generic.getMatchingIndexingMap(generic.getDpsInitOperand(0)).isIdentity())
    return false;
  return llvm::all_of(generic.getDpsInputOperands(), [&](OpOperand *input) {
    return input->get() != result || generic.getMatchingIndexingMap(input).isIdentity();
  });
}

Value kiln::lowering::buildReduction(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced,
                                     double initValue, BodyFn combine, FloatType accumulator) {
  MLIRContext *context = b.getContext();
  RankedTensorType inputType = tensorTypeOf(input);
  Type element = accumulator ? Type(accumulator) : inputType.getElementType();
  RankedTensorType resultType = dropDims(inputType, reduced, element);
  Value init = filledTensor(b, loc, resultType, keptDynamicSizes(b, loc, input, reduced),
                            floatConstant(b, loc, element, initValue));
  SmallVector<AffineExpr> kept;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t i = 0; i < inputType.getRank(); ++i) {
    bool isReduced = llvm::is_contained(reduced, i);
    iterators.push_back(isReduced ? utils::IteratorType::reduction : utils::IteratorType::parallel);
    if (!isReduced)
      kept.push_back(getAffineDimExpr(i, context));
  }
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(inputType.getRank(), context),
                                 AffineMap::get(inputType.getRank(), 0, kept, context)};
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, ValueRange{input}, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value value = args[0];
        if (accumulator)
          value = arith::ExtFOp::create(nested, nestedLoc, accumulator, value);
        linalg::YieldOp::create(nested, nestedLoc, combine(nested, nestedLoc, ValueRange{value, args[1]}));
      });
  return generic.getResult(0);
}

Value kiln::lowering::sumOver(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced,
                              FloatType accumulator) {
  auto add = [](OpBuilder &nb, Location l, ValueRange args) {
    return arith::AddFOp::create(nb, l, args[0], args[1]).getResult();
  };
  return buildReduction(b, loc, input, reduced, 0.0, add, accumulator);
}

Value kiln::lowering::accurateSumOver(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced) {
  RankedTensorType inputType = tensorTypeOf(input);
  if (!inputType.getElementType().isF32())
    return sumOver(b, loc, input, reduced);
  Value wideSum = sumOver(b, loc, input, reduced, b.getF64Type());
  return buildElementwise(b, loc, dropDims(inputType, reduced), ValueRange{wideSum},
                          [&](OpBuilder &nb, Location l, ValueRange args) {
                            return arith::TruncFOp::create(nb, l, inputType.getElementType(), args[0]).getResult();
                          });
}

Value kiln::lowering::maxOver(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced) {
  return buildReduction(b, loc, input, reduced, -std::numeric_limits<double>::infinity(),
                        [](OpBuilder &nb, Location l, ValueRange args) {
                          return arith::MaximumFOp::create(nb, l, args[0], args[1]).getResult();
                        });
}

Value kiln::lowering::elementCount(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> reduced, Type floatType) {
  RankedTensorType type = tensorTypeOf(input);
  int64_t staticCount = 1;
  Value dynamicCount;
  for (int64_t i : reduced) {
    if (!type.isDynamicDim(i)) {
      staticCount *= type.getDimSize(i);
      continue;
    }
    Value dim = tensor::DimOp::create(b, loc, input, i);
    dynamicCount = dynamicCount ? arith::MulIOp::create(b, loc, dynamicCount, dim).getResult() : dim;
  }
  Value count = floatConstant(b, loc, floatType, double(staticCount));
  if (dynamicCount) {
    Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), dynamicCount);
    Value asFloat = arith::SIToFPOp::create(b, loc, floatType, asInt);
    count = arith::MulFOp::create(b, loc, count, asFloat);
  }
  return count;
}

Value kiln::lowering::divideBy(OpBuilder &b, Location loc, Value value, Value divisor) {
  return buildElementwise(b, loc, tensorTypeOf(value), ValueRange{value},
                          [&](OpBuilder &nb, Location l, ValueRange args) {
                            return arith::DivFOp::create(nb, l, args[0], divisor).getResult();
                          });
}

Value kiln::lowering::meanOfAll(OpBuilder &b, Location loc, Value value) {
  RankedTensorType type = tensorTypeOf(value);
  SmallVector<int64_t> all = llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
  Value count = elementCount(b, loc, value, all, type.getElementType());
  return divideBy(b, loc, accurateSumOver(b, loc, value, all), count);
}

SmallVector<int64_t> kiln::lowering::reducedDims(RankedTensorType type, std::optional<uint64_t> axis) {
  if (axis)
    return {int64_t(*axis)};
  return llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
}

AffineMap kiln::lowering::mapDroppingDim(MLIRContext *context, int64_t rank, int64_t axis) {
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis)
      exprs.push_back(getAffineDimExpr(i, context));
  return AffineMap::get(rank, 0, exprs, context);
}

Value kiln::lowering::buildAlongAxis(OpBuilder &b, Location loc, Value full, ValueRange reducedInputs, int64_t axis,
                                     BodyFn body) {
  MLIRContext *context = b.getContext();
  RankedTensorType type = tensorTypeOf(full);
  int64_t rank = type.getRank();
  SmallVector<Value> inputs = {full};
  llvm::append_range(inputs, reducedInputs);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, context)};
  for (size_t i = 0; i < reducedInputs.size(); ++i)
    maps.push_back(mapDroppingDim(context, rank, axis));
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, context));
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  Value init = emptyLike(b, loc, type, ValueRange{full});
  auto generic =
      linalg::GenericOp::create(b, loc, TypeRange{type}, inputs, ValueRange{init}, maps, iterators,
                                [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
                                  linalg::YieldOp::create(nested, nestedLoc, body(nested, nestedLoc, args.drop_back()));
                                });
  return generic.getResult(0);
}

Value kiln::lowering::indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

SmallVector<Value> kiln::lowering::dynamicSizesFrom(OpBuilder &b, Location loc, RankedTensorType type, Value source,
                                                    llvm::function_ref<int64_t(int64_t)> sourceDim) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, source, sourceDim(i)));
  return sizes;
}

Value kiln::lowering::zerosWithBatchOf(OpBuilder &b, Location loc, RankedTensorType type, Value batchSource) {
  SmallVector<Value> sizes = dynamicSizesFrom(b, loc, type, batchSource, [](int64_t i) { return i; });
  return filledTensor(b, loc, type, sizes, floatConstant(b, loc, type.getElementType(), 0.0));
}

Value kiln::lowering::padSpatial(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> pad, double value) {
  if (llvm::all_of(pad, [](int64_t p) { return p == 0; }))
    return input;
  RankedTensorType type = tensorTypeOf(input);
  SmallVector<int64_t> shape(type.getShape());
  shape[1] += pad[0] + pad[1];
  shape[2] += pad[2] + pad[3];
  SmallVector<OpFoldResult> low = {b.getIndexAttr(0), b.getIndexAttr(pad[0]), b.getIndexAttr(pad[2]),
                                   b.getIndexAttr(0)};
  SmallVector<OpFoldResult> high = {b.getIndexAttr(0), b.getIndexAttr(pad[1]), b.getIndexAttr(pad[3]),
                                    b.getIndexAttr(0)};
  return tensor::PadOp::create(b, loc, RankedTensorType::get(shape, type.getElementType()), input, low, high,
                               floatConstant(b, loc, type.getElementType(), value));
}

SmallVector<utils::IteratorType> kiln::lowering::iteratorTypes(ArrayRef<bool> isReduction) {
  SmallVector<utils::IteratorType> result;
  for (bool reduction : isReduction)
    result.push_back(reduction ? utils::IteratorType::reduction : utils::IteratorType::parallel);
  return result;
}

void kiln::lowering::buildMulAdd(OpBuilder &b, Location loc, ValueRange args) {
  Value product = arith::MulFOp::create(b, loc, args[0], args[1]);
  linalg::YieldOp::create(b, loc, ValueRange{arith::AddFOp::create(b, loc, args[2], product).getResult()});
}

Value kiln::lowering::sumOverOuterDim(OpBuilder &b, Location loc, Value partials, Value init) {
  MLIRContext *context = b.getContext();
  int64_t rank = tensorTypeOf(partials).getRank();
  SmallVector<AffineExpr> kept;
  for (int64_t i = 1; i < rank; ++i)
    kept.push_back(b.getAffineDimExpr(i));
  SmallVector<bool> isReduction(rank, false);
  isReduction[0] = true;
  return linalg::GenericOp::create(b, loc, TypeRange{init.getType()}, ValueRange{partials}, ValueRange{init},
                                   ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, context),
                                                       AffineMap::get(rank, 0, kept, context)},
                                   iteratorTypes(isReduction),
                                   [](OpBuilder &nested, Location bodyLoc, ValueRange args) {
                                     Value added = arith::AddFOp::create(nested, bodyLoc, args[1], args[0]);
                                     linalg::YieldOp::create(nested, bodyLoc, added);
                                   })
      .getResult(0);
}

Value kiln::lowering::exampleOf(OpBuilder &b, Location loc, Value batched, Value example) {
  RankedTensorType type = tensorTypeOf(batched);
  ArrayRef<int64_t> shape = type.getShape().drop_front();
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)), sizes = {b.getIndexAttr(1)};
  offsets[0] = example;
  for (int64_t size : shape)
    sizes.push_back(b.getIndexAttr(size));
  return tensor::ExtractSliceOp::create(b, loc, RankedTensorType::get(shape, type.getElementType()), batched, offsets,
                                        sizes, SmallVector<OpFoldResult>(type.getRank(), b.getIndexAttr(1)));
}
