//===- AddBatchGather.cpp - <Model>_gather_<input> functions -------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-add-batch-gather` pass (see Passes.td): for every data input of
// a model's loss (what training and evaluation feed), a function that picks
// rows of a whole dataset by index. On the GPU, the training loop uploads
// each dataset once and builds every shuffled batch with it on the device
// (compiled like any model function, so it is one coalesced kernel), instead
// of gathering on the host and uploading every batch.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/KilnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace kiln {
#define GEN_PASS_DEF_KILNADDBATCHGATHER
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using kiln::KilnDialect;

namespace {
/// `func @<model>_gather_<input>(%data: T, %rows: tensor<?xi32>) -> T`:
/// result[i, ...] = data[rows[i], ...].
void addGather(OpBuilder &b, Location loc, StringRef model, StringRef input, RankedTensorType inputType) {
  MLIRContext *context = b.getContext();
  // Datasets and batches have sizes of their own, whatever the input's.
  SmallVector<int64_t> shape(inputType.getShape());
  shape[0] = ShapedType::kDynamic;
  auto type = RankedTensorType::get(shape, inputType.getElementType());
  auto rowsType = RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type());
  auto func =
      func::FuncOp::create(b, loc, (model + "_gather_" + input).str(), b.getFunctionType({type, rowsType}, {type}));
  func->setAttr(KilnDialect::getGatherAttrName(), b.getStringAttr(input));
  Block *entry = func.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(entry);
  Value data = entry->getArgument(0), rows = entry->getArgument(1);
  Value count = tensor::DimOp::create(b, loc, rows, 0);
  SmallVector<Value> dynamicSizes = {count};
  for (int64_t d = 1; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamicSizes.push_back(tensor::DimOp::create(b, loc, data, d));
  Value empty = tensor::EmptyOp::create(b, loc, type, dynamicSizes);
  unsigned rank = type.getRank();
  AffineMap rowMap = AffineMap::get(rank, 0, {getAffineDimExpr(0, context)}, context);
  SmallVector<AffineMap> maps = {rowMap, b.getMultiDimIdentityMap(rank)};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type}, ValueRange{rows}, ValueRange{empty}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        SmallVector<Value> indices = {arith::IndexCastOp::create(nested, nestedLoc, nested.getIndexType(), args[0])};
        for (unsigned d = 1; d < rank; ++d)
          indices.push_back(linalg::IndexOp::create(nested, nestedLoc, d));
        Value value = tensor::ExtractOp::create(nested, nestedLoc, data, indices);
        linalg::YieldOp::create(nested, nestedLoc, value);
      });
  func::ReturnOp::create(b, loc, generic.getResult(0));
}

struct KilnAddBatchGatherPass : kiln::impl::KilnAddBatchGatherBase<KilnAddBatchGatherPass> {
  void runOnOperation() override {
    for (ModuleOp model : getOperation().getOps<ModuleOp>()) {
      if (!model->hasAttr(KilnDialect::getModelAttrName()))
        continue;
      StringRef name = model.getSymName().value_or("");
      auto loss = model.lookupSymbol<func::FuncOp>((name + "_loss").str());
      if (!loss)
        continue;
      // All inputs or none: the runtime gathers every input of a batch on
      // the device, or all on the host. A scalar input has no rows.
      SmallVector<unsigned> inputs;
      bool allHaveRows = true;
      for (unsigned i = 0, e = loss.getNumArguments(); i < e; ++i)
        if (loss.getArgAttrOfType<StringAttr>(i, KilnDialect::getInputAttrName())) {
          inputs.push_back(i);
          allHaveRows &= cast<RankedTensorType>(loss.getArgument(i).getType()).getRank() > 0;
        }
      if (!allHaveRows)
        continue;
      OpBuilder b(model.getBodyRegion());
      b.setInsertionPointToEnd(model.getBody());
      for (unsigned i : inputs)
        addGather(b, loss.getLoc(), name,
                  loss.getArgAttrOfType<StringAttr>(i, KilnDialect::getInputAttrName()).getValue(),
                  cast<RankedTensorType>(loss.getArgument(i).getType()));
    }
  }
};
} // namespace
