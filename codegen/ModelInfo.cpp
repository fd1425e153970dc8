//===- ModelInfo.cpp - Read ModelInfo from the kiln dialect ---------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Walks the model modules MLIRGen emits (docs/internals.md, "Calling
// convention") and collects what callers need to know: parameter
// declarations and each entry point's named inputs and results.
//
//===----------------------------------------------------------------------===//

#include "codegen/ModelInfoExtraction.h"

#include "dialect/KilnDialect.h"
#include "dialect/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <sstream>

using namespace mlir;
using kiln::KilnDialect;

std::string kiln::formatShape(const std::vector<int64_t> &shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      os << ", ";
    if (shape[i] == kBatchDim)
      os << 'N';
    else
      os << shape[i];
  }
  os << ']';
  return os.str();
}

const char *kiln::elementTypeName(ElementType type) { return type == ElementType::F32 ? "f32" : "i32"; }

namespace {
std::vector<int64_t> shapeOf(RankedTensorType type) {
  std::vector<int64_t> shape;
  for (int64_t dim : type.getShape())
    shape.push_back(ShapedType::isDynamic(dim) ? kiln::kBatchDim : dim);
  return shape;
}

kiln::TensorInfo tensorInfo(std::string name, Type type) {
  auto tensor = cast<RankedTensorType>(type);
  kiln::ElementType element = isa<FloatType>(tensor.getElementType()) ? kiln::ElementType::F32 : kiln::ElementType::I32;
  return {std::move(name), element, shapeOf(tensor)};
}

/// Argument `i` of `func`, the input called `name`.
kiln::TensorInfo inputInfo(func::FuncOp func, unsigned i, std::string name) {
  kiln::TensorInfo info = tensorInfo(std::move(name), func.getArgument(i).getType());
  if (auto classes = func.getArgAttrOfType<IntegerAttr>(i, KilnDialect::getClassesAttrName()))
    info.classes = classes.getInt();
  return info;
}

kiln::FunctionInfo functionInfo(func::FuncOp func) {
  kiln::FunctionInfo info;
  info.symbol = func.getSymName().str();
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (auto name = func.getArgAttrOfType<StringAttr>(i, KilnDialect::getInputAttrName()))
      info.inputs.push_back(inputInfo(func, i, name.str()));
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
    auto name = func.getResultAttrOfType<StringAttr>(i, KilnDialect::getOutputAttrName());
    std::string resultName = name ? name.str() : "result" + std::to_string(i);
    if (auto param = func.getResultAttrOfType<FlatSymbolRefAttr>(i, KilnDialect::getGradAttrName()))
      resultName = "grad_" + param.getValue().str();
    if (auto param = func.getResultAttrOfType<FlatSymbolRefAttr>(i, KilnDialect::getAssignAttrName()))
      resultName = "new_" + param.getValue().str();
    info.results.push_back(tensorInfo(resultName, func.getResultTypes()[i]));
  }
  return info;
}

/// `<model>_train_step` or `<model>_apply`: its data (or gradient) inputs
/// and its loss and metric results (the results tagged kiln.update are
/// in-place updates, not results), and its optimizer state slots from the
/// `kiln.state` argument attributes.
kiln::FunctionInfo updatingFunctionInfo(func::FuncOp func, std::vector<kiln::StateInfo> &state) {
  kiln::FunctionInfo info;
  info.symbol = func.getSymName().str();
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    if (auto name = func.getArgAttrOfType<StringAttr>(i, KilnDialect::getInputAttrName()))
      info.inputs.push_back(inputInfo(func, i, name.str()));
    if (auto slot = func.getArgAttrOfType<DictionaryAttr>(i, KilnDialect::getStateAttrName()))
      state.push_back({slot.getAs<FlatSymbolRefAttr>("param").getValue().str(), slot.getAs<StringAttr>("slot").str(),
                       shapeOf(cast<RankedTensorType>(func.getArgument(i).getType())),
                       slot.getAs<FloatAttr>("init").getValueAsDouble()});
  }
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
    if (auto name = func.getResultAttrOfType<StringAttr>(i, KilnDialect::getOutputAttrName()))
      info.results.push_back(tensorInfo(name.str(), func.getResultTypes()[i]));
  return info;
}

} // namespace

std::vector<kiln::ModelInfo> kiln::extractModelInfo(ModuleOp module) {
  std::vector<ModelInfo> models;
  for (ModuleOp model : module.getOps<ModuleOp>()) {
    if (!model->hasAttr(KilnDialect::getModelAttrName()))
      continue;
    ModelInfo info;
    info.name = model.getSymName().value_or("").str();
    for (kiln::ParamOp param : model.getOps<kiln::ParamOp>())
      info.params.push_back({param.getSymName().str(), shapeOf(param.getTensorType()),
                             kiln::stringifyInitKind(param.getInit()).str(),
                             param.getValue() ? param.getValue()->convertToDouble() : 0.0, !param.getNonTrainable()});
    for (func::FuncOp func : model.getOps<func::FuncOp>()) {
      if (auto input = func->getAttrOfType<StringAttr>(KilnDialect::getGatherAttrName()))
        info.gathers.push_back(
            {func.getSymName().str(),
             {tensorInfo(input.str(), func.getArgumentTypes()[0]), tensorInfo("rows", func.getArgumentTypes()[1])},
             {tensorInfo(input.str(), func.getResultTypes()[0])}});
      else if (func.getSymName().ends_with("_predict"))
        info.predict = functionInfo(func);
      else if (func.getSymName().ends_with("_loss"))
        info.loss = functionInfo(func);
      else if (func.getSymName().ends_with("_grad"))
        info.grad = functionInfo(func);
      else if (func.getSymName().ends_with("_grad_training"))
        info.gradTraining = functionInfo(func);
      else if (func.getSymName().ends_with("_apply")) {
        std::vector<kiln::StateInfo> sameState; // train_step's, read below
        info.apply = updatingFunctionInfo(func, sameState);
      } else if (func.getSymName().ends_with("_train_step")) {
        info.trainStep = updatingFunctionInfo(func, info.state);
        for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
          if (auto hyper = func.getArgAttrOfType<StringAttr>(i, KilnDialect::getHyperAttrName());
              hyper && hyper.getValue() == "seed")
            info.trainStepSeeded = true;
      }
    }
    if (auto optimizer = model->getAttrOfType<DictionaryAttr>(KilnDialect::getOptimizerAttrName())) {
      for (NamedAttribute entry : optimizer) {
        if (auto name = dyn_cast<StringAttr>(entry.getValue()); name && entry.getName() == "name")
          info.optimizer = name.str();
        else if (auto number = dyn_cast<FloatAttr>(entry.getValue()))
          info.hyperParams[entry.getName().str()] = number.getValueAsDouble();
        else if (auto flag = dyn_cast<BoolAttr>(entry.getValue()))
          info.hyperParams[entry.getName().str()] = flag.getValue() ? 1.0 : 0.0;
      }
    }
    models.push_back(std::move(info));
  }
  return models;
}
