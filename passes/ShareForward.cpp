//===- ShareForward.cpp - predict and loss call one forward function ------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The `kiln-share-forward` pass (see Passes.td). A model's predict and loss
// both compute its forward pass, op for op, before they part ways (softmax
// for one, the loss and the metrics for the other). The CPU pipeline tiled,
// vectorized and lowered that forward pass twice, and LLVM compiled it twice:
// for FashionCnn, a quarter of the compile time. This pass moves the ops the
// two functions start with in common into a private function, `<Model>_forward`,
// that both call; its results are the values either function goes on to use.
//
// The correspondence between the two functions' arguments comes from the
// kiln.param and kiln.input attributes (the same parameter or input), so the
// pass runs before kiln-flatten-models removes them. Results are unchanged:
// the ops are the same ops, run once per call as before.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/SetVector.h"

namespace kiln {
#define GEN_PASS_DEF_KILNSHAREFORWARD
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using kiln::KilnDialect;

namespace {

/// What argument `index` of `func` is: its kiln.param symbol or kiln.input
/// name, as an attribute (null when it has neither).
Attribute argumentRole(func::FuncOp func, unsigned index) {
  if (Attribute param = func.getArgAttr(index, KilnDialect::getParamAttrName()))
    return param;
  return func.getArgAttr(index, KilnDialect::getInputAttrName());
}

/// Moves the ops `first` and `second` start with in common into a new
/// private function named `name` (inserted before `first`), and makes both
/// call it. Does nothing when they share no contraction or convolution
/// (outlining a few cheap ops would gain nothing).
void shareCommonStart(func::FuncOp first, func::FuncOp second, StringRef name) {
  if (first.getBody().getBlocks().size() != 1 || second.getBody().getBlocks().size() != 1)
    return;
  // first's values -> second's, starting from the arguments with the same role.
  DenseMap<Value, Value> same;
  for (unsigned i = 0, e = first.getNumArguments(); i < e; ++i) {
    Attribute role = argumentRole(first, i);
    if (!role)
      continue;
    for (unsigned j = 0, f = second.getNumArguments(); j < f; ++j)
      if (argumentRole(second, j) == role && first.getArgumentTypes()[i] == second.getArgumentTypes()[j])
        same[first.getArgument(i)] = second.getArgument(j);
  }
  // Constants are equivalent by value: canonicalization gathers each
  // function's constants at its start, in an order of its own.
  auto check = [&](Value a, Value b) {
    Attribute x, y;
    return success(same.lookup(a) == b || (a.getType() == b.getType() && matchPattern(a, m_Constant(&x)) &&
                                           matchPattern(b, m_Constant(&y)) && x == y));
  };
  auto mark = [&](Value a, Value b) { same[a] = b; };

  Block &firstBody = first.getBody().front(), &secondBody = second.getBody().front();
  auto computing = [](Block &body) {
    SmallVector<Operation *> ops;
    for (Operation &op : body.without_terminator())
      if (!op.hasTrait<OpTrait::ConstantLike>())
        ops.push_back(&op);
    return ops;
  };
  SmallVector<Operation *> common, secondCommon;
  bool worthIt = false;
  for (auto [a, b] : llvm::zip(computing(firstBody), computing(secondBody))) {
    if (!OperationEquivalence::isEquivalentTo(a, b, check, mark, OperationEquivalence::IgnoreLocations))
      break;
    for (auto [x, y] : llvm::zip(a->getResults(), b->getResults()))
      same[x] = y;
    common.push_back(a);
    secondCommon.push_back(b);
    worthIt |= isa<linalg::ConvolutionOpInterface, linalg::ContractionOpInterface>(a);
  }
  if (!worthIt)
    return;
  // Destinations (empty tensors and their fills) are cheap to have twice:
  // the forward function gets copies, and each caller keeps its own for the
  // ops after the common ones. Returned, each would be one more allocation,
  // and one buffer seen through two results. (Sizes are returned as index
  // values: a caller's tensor.dim of a flattened feature map would otherwise
  // keep the whole map a result.)
  auto cheap = [](Operation *op) { return isa<tensor::EmptyOp, linalg::FillOp>(op); };
  // The forward function's arguments: first's arguments the common ops use;
  // its results: the values of the common ops that move (all but the cheap
  // ones) that either function uses after them.
  DenseSet<Operation *> inCommon, inSecondCommon;
  for (auto [a, b] : llvm::zip(common, secondCommon))
    if (!cheap(a)) {
      inCommon.insert(a);
      inSecondCommon.insert(b);
    }
  llvm::SetVector<Value> arguments, results;
  llvm::SetVector<Operation *> constants; // first's, used by the common ops
  for (Operation *op : common)
    op->walk([&](Operation *nested) {
      for (Value operand : nested->getOperands()) {
        if (auto argument = dyn_cast<BlockArgument>(operand); argument && argument.getOwner() == &firstBody)
          arguments.insert(argument);
        else if (Operation *definition = operand.getDefiningOp();
                 definition && definition->getBlock() == &firstBody && definition->hasTrait<OpTrait::ConstantLike>())
          constants.insert(definition);
      }
    });
  // Whether a user of `v` outside `moved` (the ops that leave) remains.
  auto usedLater = [](Value v, const DenseSet<Operation *> &moved) {
    return llvm::any_of(v.getUsers(), [&](Operation *user) {
      Operation *top = user;
      while (top->getParentOp() && !isa<func::FuncOp>(top->getParentOp()))
        top = top->getParentOp();
      return !moved.contains(top);
    });
  };
  for (auto [a, b] : llvm::zip(common, secondCommon))
    for (auto [x, y] : llvm::zip(a->getResults(), b->getResults())) {
      if (cheap(a))
        continue;
      if (usedLater(x, inCommon) || usedLater(y, inSecondCommon))
        results.insert(x);
    }

  OpBuilder builder(first);
  SmallVector<Type> argumentTypes, resultTypes;
  for (Value v : arguments)
    argumentTypes.push_back(v.getType());
  for (Value v : results)
    resultTypes.push_back(v.getType());
  auto forward =
      func::FuncOp::create(builder, first.getLoc(), name, builder.getFunctionType(argumentTypes, resultTypes));
  forward.setPrivate();
  Block *body = forward.addEntryBlock();
  IRMapping mapping;
  for (auto [old, replacement] : llvm::zip(arguments, body->getArguments()))
    mapping.map(old, replacement);
  builder.setInsertionPointToStart(body);
  for (Operation *op : constants)
    builder.clone(*op, mapping);
  for (Operation *op : common)
    builder.clone(*op, mapping);
  SmallVector<Value> returned;
  for (Value v : results)
    returned.push_back(mapping.lookup(v));
  func::ReturnOp::create(builder, forward.getLoc(), returned);

  // Each function calls it in place of the common ops.
  auto replace = [&](Block &block, ArrayRef<Operation *> ops, auto valueOf) {
    OpBuilder at(&block, block.begin());
    SmallVector<Value> operands;
    for (Value v : arguments)
      operands.push_back(valueOf(v));
    auto call = func::CallOp::create(at, forward.getLoc(), forward, operands);
    for (auto [v, result] : llvm::zip(results, call.getResults()))
      valueOf(v).replaceAllUsesWith(result);
    for (Operation *op : llvm::reverse(ops))
      if (!cheap(op))
        op->erase();
  };
  replace(secondBody, secondCommon, [&](Value v) { return same.lookup(v); });
  replace(firstBody, common, [](Value v) { return v; });
}

struct KilnShareForwardPass : kiln::impl::KilnShareForwardBase<KilnShareForwardPass> {
  void runOnOperation() override {
    for (ModuleOp model : getOperation().getOps<ModuleOp>()) {
      if (!model->hasAttr(KilnDialect::getModelAttrName()) || !model.getSymName())
        continue;
      std::string prefix = model.getSymName()->str() + "_";
      auto predict = model.lookupSymbol<func::FuncOp>(prefix + "predict");
      auto loss = model.lookupSymbol<func::FuncOp>(prefix + "loss");
      if (!predict || !loss || model.lookupSymbol(prefix + "forward"))
        continue;
      shareCommonStart(predict, loss, prefix + "forward");
    }
  }
};

} // namespace
