//===- KilnDialect.cpp - The kiln dialect ------------------------*- C++ -*-===//
//
// Registers the kiln ops and attributes, materializes folded constants, and
// verifies the dialect's discardable attributes, which carry the calling
// convention of docs/internals.md:
//
//   - on function arguments: `kiln.param = @sym` (the argument receives the
//     `kiln.param` @sym and has its type) and `kiln.input = "name"`;
//   - on function results: `kiln.output = "name"`, `kiln.grad = @param`,
//     `kiln.assign = @param` (a non-trainable one's new value),
//     `kiln.update = <argument index>`;
//   - on train_step arguments: `kiln.state = {param, slot, init}` and
//     `kiln.hyper = "lr" | "step" | "seed"` (seed: models with dropout);
//   - on the model module: `kiln.model` (unit) and
//     `kiln.optimizer = {name = "...", ...}`;
//   - on a batch gather function: `kiln.gather = "<input>"`.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnDialect.h"
#include "dialect/KilnOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace kiln;

#include "dialect/KilnDialect.cpp.inc"

// The enum attributes and the dialect's attribute parser/printer; in this
// file because initialize() needs the complete storage types.
#define GET_ATTRDEF_CLASSES
#include "dialect/KilnAttrs.cpp.inc"

void KilnDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/KilnAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialect/KilnOps.cpp.inc"
      >();
}

Operation *KilnDialect::materializeConstant(OpBuilder &builder, Attribute value, Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, type, elements);
}

//===----------------------------------------------------------------------===//
// Attribute verification
//===----------------------------------------------------------------------===//

/// Returns the type of argument `argIndex` of region `regionIndex` of `op`:
/// from the function type for a function (so that declarations without a
/// body work too), from the region's entry block otherwise.
static Type getRegionArgType(Operation *op, unsigned regionIndex, unsigned argIndex) {
  if (auto func = dyn_cast<FunctionOpInterface>(op))
    return func.getArgumentTypes()[argIndex];
  Region &region = op->getRegion(regionIndex);
  if (region.empty())
    return {};
  return region.getArgument(argIndex).getType();
}

LogicalResult KilnDialect::verifyRegionArgAttribute(Operation *op, unsigned regionIndex, unsigned argIndex,
                                                    NamedAttribute attribute) {
  StringRef name = attribute.getName().strref();
  if (name == getInputAttrName()) {
    if (!isa<StringAttr>(attribute.getValue()))
      return op->emitError() << "'" << name << "' on argument #" << argIndex
                             << " must be a string naming the model input";
    return success();
  }
  if (name == getStateAttrName()) {
    auto state = dyn_cast<DictionaryAttr>(attribute.getValue());
    if (!state || !state.getAs<FlatSymbolRefAttr>("param") || !state.getAs<StringAttr>("slot") ||
        !state.getAs<FloatAttr>("init"))
      return op->emitError() << "'" << name << "' on argument #" << argIndex
                             << " must be {param = @sym, slot = \"...\", "
                                "init = <f64>}";
    return success();
  }
  if (name == getClassesAttrName()) {
    auto classes = dyn_cast<IntegerAttr>(attribute.getValue());
    if (!classes || classes.getInt() < 1)
      return op->emitError() << "'" << name << "' on argument #" << argIndex << " must be a positive number of classes";
    return success();
  }
  if (name == getHyperAttrName()) {
    auto hyper = dyn_cast<StringAttr>(attribute.getValue());
    if (!hyper || (hyper.getValue() != "lr" && hyper.getValue() != "step" && hyper.getValue() != "seed"))
      return op->emitError() << "'" << name << "' on argument #" << argIndex << " must be \"lr\", \"step\" or \"seed\"";
    return success();
  }
  if (name != getParamAttrName())
    return op->emitError() << "unknown kiln argument attribute '" << name << "' on argument #" << argIndex;

  auto symbol = dyn_cast<FlatSymbolRefAttr>(attribute.getValue());
  if (!symbol)
    return op->emitError() << "'" << name << "' on argument #" << argIndex << " must be a flat symbol reference to a "
                           << KilnDialect::getParamAttrName();
  auto param = SymbolTable::lookupNearestSymbolFrom<ParamOp>(op, symbol);
  if (!param)
    return op->emitError() << "argument #" << argIndex << " refers to " << symbol << ", which is not a kiln.param";
  // Read the attribute defensively: the kiln.param may not be verified yet.
  auto declared = param->getAttrOfType<TypeAttr>("type");
  Type argType = getRegionArgType(op, regionIndex, argIndex);
  if (declared && argType && declared.getValue() != argType)
    return op->emitError() << "argument #" << argIndex << " has type " << argType << " but parameter " << symbol
                           << " is declared " << declared.getValue();
  return success();
}

LogicalResult KilnDialect::verifyRegionResultAttribute(Operation *op, unsigned /*regionIndex*/, unsigned resultIndex,
                                                       NamedAttribute attribute) {
  StringRef name = attribute.getName().strref();
  if (name == getGradAttrName() || name == getAssignAttrName()) {
    auto symbol = dyn_cast<FlatSymbolRefAttr>(attribute.getValue());
    auto param = symbol ? SymbolTable::lookupNearestSymbolFrom<ParamOp>(op, symbol) : ParamOp();
    if (!param)
      return op->emitError() << "'" << name << "' on result #" << resultIndex
                             << " must be a flat symbol reference to a " << KilnDialect::getParamAttrName();
    // A gradient is of a trainable parameter; an assignment sets one that
    // the optimizer does not. (Read defensively: it may not be verified yet.)
    if ((name == getAssignAttrName()) != param->hasAttr("non_trainable"))
      return op->emitError() << "'" << name << "' on result #" << resultIndex << " refers to " << symbol
                             << (name == getAssignAttrName() ? ", which is trainable" : ", which is non-trainable");
    return success();
  }
  if (name == getUpdateAttrName()) {
    if (!isa<IntegerAttr>(attribute.getValue()))
      return op->emitError() << "'" << name << "' on result #" << resultIndex
                             << " must be the index of the argument it updates";
    return success();
  }
  if (name != getOutputAttrName())
    return op->emitError() << "unknown kiln result attribute '" << name << "' on result #" << resultIndex;
  if (!isa<StringAttr>(attribute.getValue()))
    return op->emitError() << "'" << name << "' on result #" << resultIndex
                           << " must be a string naming the model output";
  return success();
}

LogicalResult KilnDialect::verifyOperationAttribute(Operation *op, NamedAttribute attribute) {
  StringRef name = attribute.getName().strref();
  // kiln.gather = "<input>" marks a batch gather function (kiln-add-batch-gather).
  if (name == KilnDialect::getGatherAttrName()) {
    if (!isa<FunctionOpInterface>(op) || !isa<StringAttr>(attribute.getValue()))
      return op->emitError() << "'kiln.gather' must be a string (the input it gathers) on a function";
    return success();
  }
  // kiln.training marks a function that trains (kiln-flatten-models).
  if (name == getTrainingAttrName()) {
    if (!isa<FunctionOpInterface>(op) || !isa<UnitAttr>(attribute.getValue()))
      return op->emitError() << "'" << name << "' must be a unit attribute on a function";
    return success();
  }
  // kiln.tile_sizes = array<i64: ...>: an op's CPU tile sizes, one per loop
  // (kiln-choose-tile-sizes; read by kiln-tile-and-vectorize).
  if (name == getTileSizesAttrName()) {
    if (!isa<DenseI64ArrayAttr>(attribute.getValue()))
      return op->emitError() << "'" << name << "' must be an array<i64> of tile sizes, one per loop";
    return success();
  }
  if (name != getModelAttrName() && name != getOptimizerAttrName())
    return op->emitError() << "unknown kiln attribute '" << name << "'";
  if (!isa<ModuleOp>(op))
    return op->emitError() << "'" << name << "' may only be attached to a builtin.module";
  if (name == getModelAttrName()) {
    if (!isa<UnitAttr>(attribute.getValue()))
      return op->emitError() << "'" << name << "' must be a unit attribute";
    return success();
  }
  auto dict = dyn_cast<DictionaryAttr>(attribute.getValue());
  if (!dict)
    return op->emitError() << "'" << name << "' must be a dictionary";
  if (!dict.getAs<StringAttr>("name"))
    return op->emitError() << "'" << name << "' must have a string entry 'name'";
  return success();
}
