//===- MLIRGen.cpp - Emission of the kiln dialect from a checked AST ------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Walks a checked AST and builds kiln ops. Sema has already computed every
// type, resolved every name and normalised every layer argument, so this
// file only maps tree nodes to ops; it never re-derives a shape. Layers are
// expanded here into their ops (dense = matmul + bias add + activation,
// conv2d = conv2d + bias add + activation), their parameters arriving as
// function arguments tagged `{kiln.param = @"dense_0.kernel"}`.
//
// Each function emits only what its results need: a name is emitted the
// first time it is used (memoised per function), so `_predict` holds no
// loss or metric ops and takes only the inputs its outputs read.
//
//===----------------------------------------------------------------------===//

#include "frontend/MLIRGen.h"

#include "dialect/KilnDialect.h"
#include "dialect/KilnOps.h"
#include "frontend/Sema.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

using kiln::KilnDialect;

using namespace kiln;
using llvm::cast;
using llvm::dyn_cast;
using llvm::isa;

namespace {

/// Converts a front-end type to a ranked tensor type (`N` becomes `?`).
mlir::RankedTensorType toTensorType(mlir::MLIRContext *context, const ast::TensorType &type) {
  llvm::SmallVector<int64_t> shape;
  for (int64_t dim : type.dims)
    shape.push_back(dim == ast::kDynamic ? mlir::ShapedType::kDynamic : dim);
  mlir::Type element = type.dtype == ast::DType::F32 ? mlir::Type(mlir::Float32Type::get(context))
                                                     : mlir::Type(mlir::IntegerType::get(context, 32));
  return mlir::RankedTensorType::get(shape, element);
}

/// Converts a front-end source range to the `FileLineColLoc` of its start.
mlir::Location toMLIRLocation(mlir::MLIRContext *context, const llvm::SourceMgr &sourceMgr, const Location &location) {
  LineCol pos = getLineCol(sourceMgr, location);
  unsigned buffer = location.isValid() ? sourceMgr.FindBufferContainingLoc(location.loc) : 0;
  llvm::StringRef file =
      buffer ? sourceMgr.getMemoryBuffer(buffer)->getBufferIdentifier() : llvm::StringRef("<unknown>");
  return mlir::FileLineColLoc::get(context, file, pos.line, pos.col);
}

kiln::InitKind toDialectInit(ast::InitKind kind) {
  switch (kind) {
  case ast::InitKind::Zeros:
    return kiln::InitKind::Zeros;
  case ast::InitKind::Ones:
    return kiln::InitKind::Ones;
  case ast::InitKind::GlorotUniform:
    return kiln::InitKind::GlorotUniform;
  case ast::InitKind::Constant:
    return kiln::InitKind::Constant;
  }
  llvm_unreachable("unknown initializer");
}

kiln::ComparePredicate toPredicate(ast::BinaryOp op) {
  switch (op) {
  case ast::BinaryOp::Eq:
    return kiln::ComparePredicate::EQ;
  case ast::BinaryOp::Ne:
    return kiln::ComparePredicate::NE;
  case ast::BinaryOp::Lt:
    return kiln::ComparePredicate::LT;
  case ast::BinaryOp::Le:
    return kiln::ComparePredicate::LE;
  case ast::BinaryOp::Gt:
    return kiln::ComparePredicate::GT;
  case ast::BinaryOp::Ge:
    return kiln::ComparePredicate::GE;
  default:
    llvm_unreachable("not a comparison");
  }
}

/// Emits the ops of one function of one model.
class FunctionEmitter {
public:
  FunctionEmitter(mlir::OpBuilder &builder, const llvm::SourceMgr &sourceMgr, llvm::ArrayRef<mlir::Value> paramArgs,
                  const llvm::StringMap<mlir::Value> &inputArgs)
      : builder(builder), sourceMgr(sourceMgr), paramArgs(paramArgs), inputArgs(inputArgs) {}

  /// Returns the value a statement defines (input, param, let, metric,
  /// output, loss), emitting it on first use. Null on internal error.
  mlir::Value emitStmt(const ast::Stmt *stmt) {
    if (auto it = stmtValues.find(stmt); it != stmtValues.end())
      return it->second;
    mlir::Value value;
    if (auto *input = dyn_cast<ast::InputStmt>(stmt)) {
      value = inputArgs.lookup(input->getName());
    } else if (auto *param = dyn_cast<ast::ParamStmt>(stmt)) {
      if (param->paramIndex >= 0 && unsigned(param->paramIndex) < paramArgs.size())
        value = paramArgs[param->paramIndex];
    } else if (auto *exprStmt = dyn_cast<ast::ExprStmt>(stmt)) {
      if (exprStmt->getExpr())
        value = emitExpr(*exprStmt->getExpr());
      else if (auto *output = dyn_cast<ast::OutputStmt>(stmt); output && output->source)
        value = emitStmt(output->source);
    }
    if (!value) {
      mlir::emitError(loc(stmt->getLoc())) << "internal error: no value for this statement";
      return nullptr;
    }
    stmtValues[stmt] = value;
    return value;
  }

  mlir::Location loc(const Location &location) { return toMLIRLocation(builder.getContext(), sourceMgr, location); }

private:
  mlir::RankedTensorType typeOf(const ast::Expr &expr) { return toTensorType(builder.getContext(), expr.getType()); }

  /// Emits `expr`; its value has the type Sema gave it (the ops infer their
  /// types by the same ShapeRules.h, which this checks).
  mlir::Value emitExpr(const ast::Expr &expr) {
    mlir::Value value = emitExprImpl(expr);
    if (value && value.getType() != typeOf(expr)) {
      mlir::emitError(loc(expr.getLoc()))
          << "internal error: emitted type " << value.getType() << " differs from the checked type " << typeOf(expr);
      return nullptr;
    }
    return value;
  }

  mlir::Value emitExprImpl(const ast::Expr &expr) {
    switch (expr.getKind()) {
    case ast::Expr::Expr_Number:
      return emitNumber(cast<ast::NumberExpr>(expr));
    case ast::Expr::Expr_Name: {
      auto &name = cast<ast::NameExpr>(expr);
      if (name.targetKind == ast::NameKind::Param && name.paramIndex >= 0 &&
          unsigned(name.paramIndex) < paramArgs.size())
        return paramArgs[name.paramIndex];
      if (!name.target) {
        mlir::emitError(loc(expr.getLoc())) << "internal error: unresolved name '" << name.getName() << "'";
        return nullptr;
      }
      return emitStmt(name.target);
    }
    case ast::Expr::Expr_Unary: {
      auto &unary = cast<ast::UnaryExpr>(expr);
      // A negated literal is a constant of the literal's type, which may be
      // i32 (`label == -1`), where kiln.neg (float only) would not apply.
      if (std::optional<double> value = getConstantValue(expr))
        return emitConstant(typeOf(expr), *value, loc(expr.getLoc()));
      mlir::Value operand = emitExpr(unary.getOperand());
      if (!operand)
        return nullptr;
      return kiln::NegOp::create(builder, loc(unary.getOpLoc()), operand);
    }
    case ast::Expr::Expr_Binary:
      return emitBinary(cast<ast::BinaryExpr>(expr));
    case ast::Expr::Expr_Call:
      return emitCall(cast<ast::CallExpr>(expr));
    case ast::Expr::Expr_List:
      break; // Sema allows lists only as constant arguments, never emitted
    }
    llvm_unreachable("unknown expression kind");
  }

  mlir::Value emitNumber(const ast::NumberExpr &number) {
    return emitConstant(typeOf(number), number.getValue(), loc(number.getLoc()));
  }

  /// Emits a scalar constant of `type` (f32, or i32 for a literal compared
  /// with labels; Sema has checked that an i32 literal is integer-valued).
  mlir::Value emitConstant(mlir::RankedTensorType type, double number, mlir::Location location) {
    mlir::DenseElementsAttr value;
    if (isa<mlir::FloatType>(type.getElementType()))
      value = mlir::DenseElementsAttr::get(type, llvm::APFloat(float(number)));
    else
      value = mlir::DenseElementsAttr::get(type, llvm::APInt(32, uint64_t(int64_t(number)), /*isSigned=*/true));
    return kiln::ConstantOp::create(builder, location, value);
  }

  mlir::Value emitBinary(const ast::BinaryExpr &binary) {
    mlir::Value lhs = emitExpr(binary.getLHS());
    if (!lhs)
      return nullptr;
    mlir::Value rhs = emitExpr(binary.getRHS());
    if (!rhs)
      return nullptr;
    // The ops infer the types Sema computed (both apply ShapeRules.h).
    mlir::Location opLoc = loc(binary.getOpLoc());
    switch (binary.getOp()) {
    case ast::BinaryOp::Add:
      return kiln::AddOp::create(builder, opLoc, lhs, rhs);
    case ast::BinaryOp::Sub:
      return kiln::SubOp::create(builder, opLoc, lhs, rhs);
    case ast::BinaryOp::Mul:
      return kiln::MulOp::create(builder, opLoc, lhs, rhs);
    case ast::BinaryOp::Div:
      return kiln::DivOp::create(builder, opLoc, lhs, rhs);
    case ast::BinaryOp::Pow:
      return kiln::PowOp::create(builder, opLoc, lhs, rhs);
    case ast::BinaryOp::MatMul:
      return kiln::MatmulOp::create(builder, opLoc, lhs, rhs);
    default:
      return kiln::CompareOp::create(
          builder, opLoc, kiln::ComparePredicateAttr::get(builder.getContext(), toPredicate(binary.getOp())), lhs, rhs);
    }
  }

  /// Applies a dense/conv2d activation to `value` (of type `type`).
  mlir::Value emitActivation(ast::Activation activation, mlir::Location location, mlir::Value value,
                             mlir::RankedTensorType type) {
    switch (activation) {
    case ast::Activation::Linear:
      return value;
    case ast::Activation::Relu:
      return kiln::ReluOp::create(builder, location, value);
    case ast::Activation::Sigmoid:
      return kiln::SigmoidOp::create(builder, location, value);
    case ast::Activation::Tanh:
      return kiln::TanhOp::create(builder, location, value);
    case ast::Activation::Softmax:
      return kiln::SoftmaxOp::create(builder, location, value, builder.getI64IntegerAttr(type.getRank() - 1));
    }
    llvm_unreachable("unknown activation");
  }

  /// A pooling's `padding` attribute: none when there is nothing to pad
  /// (valid, or same where the windows fit exactly).
  mlir::DenseI64ArrayAttr poolPadding(const ast::LayerAttrs &layer) {
    if (llvm::all_of(layer.pads, [](int64_t p) { return p == 0; }))
      return nullptr;
    return builder.getDenseI64ArrayAttr(llvm::ArrayRef<int64_t>(layer.pads.data(), layer.pads.size()));
  }

  mlir::Value paramArg(const ast::CallExpr &call, unsigned which) {
    if (which >= call.paramIndices.size() || call.paramIndices[which] >= paramArgs.size())
      return nullptr;
    return paramArgs[call.paramIndices[which]];
  }

  /// A call; with `keepdims = true` the reduction's result is reshaped to
  /// Sema's type, which has the reduced axes back with size 1.
  mlir::Value emitCall(const ast::CallExpr &call) {
    mlir::Value value = emitCallOp(call);
    if (!value || !call.keepDims)
      return value;
    return kiln::ReshapeOp::create(builder, loc(call.getCalleeLoc()), typeOf(call), value);
  }

  mlir::Value emitCallOp(const ast::CallExpr &call) {
    llvm::SmallVector<mlir::Value, 2> operands;
    for (const ast::Expr *operand : call.operands) {
      mlir::Value value = emitExpr(*operand);
      if (!value)
        return nullptr;
      operands.push_back(value);
    }
    mlir::Location callLoc = loc(call.getCalleeLoc());
    // Only reshape, keepdims, one_hot and the activations need Sema's type; the other
    // ops infer the same one from their operands.
    mlir::RankedTensorType type = typeOf(call);
    auto operand = [&](unsigned i) -> mlir::Value { return i < operands.size() ? operands[i] : nullptr; };
    auto axisAttr = [&]() -> mlir::IntegerAttr {
      return call.axis ? builder.getI64IntegerAttr(*call.axis) : mlir::IntegerAttr();
    };
    const ast::LayerAttrs &layer = call.layer;

    // Every builtin needs its operands; Sema guarantees their number.
    unsigned needed = (call.builtin == ast::Builtin::Maximum || call.builtin == ast::Builtin::Minimum ||
                       call.builtin == ast::Builtin::CrossEntropy || call.builtin == ast::Builtin::BinaryCrossEntropy ||
                       call.builtin == ast::Builtin::Mse || call.builtin == ast::Builtin::Take ||
                       call.builtin == ast::Builtin::Concat)
                          ? 2
                          : 1;
    if (operands.size() < needed) {
      mlir::emitError(callLoc) << "internal error: '" << call.getCallee() << "' lacks operands";
      return nullptr;
    }

    switch (call.builtin) {
    case ast::Builtin::Relu:
      return kiln::ReluOp::create(builder, callLoc, operand(0));
    case ast::Builtin::Sigmoid:
      return kiln::SigmoidOp::create(builder, callLoc, operand(0));
    case ast::Builtin::Tanh:
      return kiln::TanhOp::create(builder, callLoc, operand(0));
    case ast::Builtin::Exp:
      return kiln::ExpOp::create(builder, callLoc, operand(0));
    case ast::Builtin::Log:
      return kiln::LogOp::create(builder, callLoc, operand(0));
    case ast::Builtin::Sqrt:
      return kiln::SqrtOp::create(builder, callLoc, operand(0));
    case ast::Builtin::Abs:
      return kiln::AbsOp::create(builder, callLoc, operand(0));
    case ast::Builtin::Softmax:
      return kiln::SoftmaxOp::create(builder, callLoc, operand(0), axisAttr());
    case ast::Builtin::LogSoftmax:
      return kiln::LogSoftmaxOp::create(builder, callLoc, operand(0), axisAttr());
    case ast::Builtin::Maximum:
      return kiln::MaximumOp::create(builder, callLoc, operand(0), operand(1));
    case ast::Builtin::Minimum:
      return kiln::MinimumOp::create(builder, callLoc, operand(0), operand(1));
    case ast::Builtin::Sum:
      return kiln::ReduceSumOp::create(builder, callLoc, operand(0), axisAttr());
    case ast::Builtin::Mean:
      return kiln::ReduceMeanOp::create(builder, callLoc, operand(0), axisAttr());
    case ast::Builtin::ReduceMax:
      return kiln::ReduceMaxOp::create(builder, callLoc, operand(0), axisAttr());
    case ast::Builtin::ReduceMin:
      return kiln::ReduceMinOp::create(builder, callLoc, operand(0), axisAttr());
    case ast::Builtin::Argmax:
      return kiln::ArgmaxOp::create(builder, callLoc, operand(0), axisAttr());
    case ast::Builtin::Argmin:
      return kiln::ArgminOp::create(builder, callLoc, operand(0), axisAttr());
    case ast::Builtin::StopGradient:
      return kiln::StopGradientOp::create(builder, callLoc, operand(0));
    case ast::Builtin::OneHot:
      // The classes are the last dimension of Sema's type; the batch size
      // comes from the index (no `like`).
      return kiln::OneHotOp::create(builder, callLoc, type, operand(0), builder.getI64IntegerAttr(type.getRank() - 1),
                                    mlir::Value());
    case ast::Builtin::Take:
      return kiln::TakeOp::create(builder, callLoc, operand(0), operand(1), axisAttr());
    case ast::Builtin::Reshape:
      return kiln::ReshapeOp::create(builder, callLoc, type, operand(0));
    case ast::Builtin::Transpose:
      return kiln::TransposeOp::create(builder, callLoc, operand(0), builder.getDenseI64ArrayAttr(call.permutation));
    case ast::Builtin::Concat:
      return kiln::ConcatOp::create(builder, callLoc, operand(0), operand(1), axisAttr());
    case ast::Builtin::CrossEntropy:
      return kiln::CrossEntropyOp::create(builder, callLoc, operand(0), operand(1));
    case ast::Builtin::BinaryCrossEntropy:
      return kiln::BinaryCrossEntropyOp::create(builder, callLoc, operand(0), operand(1));
    case ast::Builtin::Mse:
      return kiln::MseOp::create(builder, callLoc, operand(0), operand(1));
    case ast::Builtin::Dense: {
      mlir::Value kernel = paramArg(call, 0), bias = paramArg(call, 1);
      if (!kernel || !bias)
        break;
      mlir::Value product = kiln::MatmulOp::create(builder, callLoc, operand(0), kernel);
      mlir::Value biased = kiln::AddOp::create(builder, callLoc, product, bias);
      return emitActivation(layer.activation, callLoc, biased, type);
    }
    case ast::Builtin::Conv2D: {
      mlir::Value kernel = paramArg(call, 0), bias = paramArg(call, 1);
      if (!kernel || !bias)
        break;
      mlir::Value conv = kiln::Conv2DOp::create(
          builder, callLoc, operand(0), kernel, builder.getDenseI64ArrayAttr({layer.stride, layer.stride}),
          builder.getDenseI64ArrayAttr(llvm::ArrayRef<int64_t>(layer.pads.data(), layer.pads.size())));
      mlir::Value biased = kiln::AddOp::create(builder, callLoc, conv, bias);
      return emitActivation(layer.activation, callLoc, biased, type);
    }
    case ast::Builtin::MaxPool:
      return kiln::MaxPoolOp::create(builder, callLoc, operand(0),
                                     builder.getDenseI64ArrayAttr({layer.kernelSize, layer.kernelSize}),
                                     builder.getDenseI64ArrayAttr({layer.stride, layer.stride}), poolPadding(layer));
    case ast::Builtin::AvgPool:
      return kiln::AvgPoolOp::create(builder, callLoc, operand(0),
                                     builder.getDenseI64ArrayAttr({layer.kernelSize, layer.kernelSize}),
                                     builder.getDenseI64ArrayAttr({layer.stride, layer.stride}), poolPadding(layer));
    case ast::Builtin::Flatten:
      return kiln::ReshapeOp::create(builder, callLoc, type, operand(0));
    case ast::Builtin::Dropout: {
      // dropout_<k>: k tells the layers' random masks apart.
      llvm::StringRef instance = llvm::StringRef(call.instanceName).rsplit('_').second;
      int64_t index = 0;
      (void)instance.getAsInteger(10, index);
      return kiln::DropoutOp::create(builder, callLoc, operand(0), layer.rate, index);
    }
    case ast::Builtin::BatchNorm: {
      mlir::Value gamma = paramArg(call, 0), beta = paramArg(call, 1), mean = paramArg(call, 2),
                  variance = paramArg(call, 3);
      if (!gamma || !beta || !mean || !variance)
        break;
      return kiln::BatchNormOp::create(builder, callLoc, operand(0), gamma, beta, mean, variance, layer.epsilon,
                                       layer.momentum);
    }
    case ast::Builtin::None:
      break;
    }
    mlir::emitError(callLoc) << "internal error: '" << call.getCallee() << "' was not resolved by the checks";
    return nullptr;
  }

  mlir::OpBuilder &builder;
  const llvm::SourceMgr &sourceMgr;
  llvm::ArrayRef<mlir::Value> paramArgs;
  const llvm::StringMap<mlir::Value> &inputArgs;
  llvm::DenseMap<const ast::Stmt *, mlir::Value> stmtValues;
};

/// Emits the nested module of one model.
class ModelEmitter {
public:
  ModelEmitter(mlir::OpBuilder &builder, const llvm::SourceMgr &sourceMgr, const ast::Model &model)
      : builder(builder), sourceMgr(sourceMgr), model(model) {}

  mlir::LogicalResult emit(mlir::ModuleOp parent) {
    mlir::MLIRContext *context = builder.getContext();
    builder.setInsertionPointToEnd(parent.getBody());
    mlir::Location modelLoc = locOf(model.getLoc());
    auto modelModule = mlir::ModuleOp::create(builder, modelLoc, model.getName());
    modelModule->setAttr(KilnDialect::getModelAttrName(), mlir::UnitAttr::get(context));
    if (model.optimizer)
      modelModule->setAttr(KilnDialect::getOptimizerAttrName(), optimizerAttr(*model.optimizer));

    builder.setInsertionPointToEnd(modelModule.getBody());
    for (const ast::ParamInfo &param : model.params) {
      std::optional<double> value;
      if (param.init == ast::InitKind::Constant)
        value = param.initValue;
      kiln::ParamOp::create(builder, locOf(param.loc), param.name, toTensorType(context, param.type),
                            toDialectInit(param.init), value, !param.trainable);
    }

    // _predict: the outputs, in declaration order.
    std::vector<const ast::Stmt *> outputs;
    std::vector<std::string> outputNames;
    for (ast::OutputStmt *output : model.getOutputs()) {
      outputs.push_back(output);
      outputNames.push_back(output->getName().str());
    }
    if (failed(emitFunction(modelModule, (model.getName() + "_predict").str(), outputs, outputNames)))
      return mlir::failure();

    // _loss: the loss, then the metrics in declaration order.
    if (ast::LossStmt *loss = model.getLoss()) {
      std::vector<const ast::Stmt *> results = {loss};
      std::vector<std::string> names = {"loss"};
      for (ast::MetricStmt *metric : model.getMetrics()) {
        results.push_back(metric);
        names.push_back(metric->getName().str());
      }
      if (failed(emitFunction(modelModule, (model.getName() + "_loss").str(), results, names)))
        return mlir::failure();
    }
    return mlir::success();
  }

private:
  mlir::Location locOf(const Location &location) { return toMLIRLocation(builder.getContext(), sourceMgr, location); }

  mlir::DictionaryAttr optimizerAttr(const ast::OptimizerInfo &optimizer) {
    llvm::SmallVector<mlir::NamedAttribute> entries;
    entries.push_back(builder.getNamedAttr("name", builder.getStringAttr(optimizer.name)));
    for (const auto &[name, value] : optimizer.hyperParams) {
      mlir::Attribute attr = ast::isBooleanHyperParam(name) ? mlir::Attribute(builder.getBoolAttr(value != 0.0))
                                                            : mlir::Attribute(builder.getF64FloatAttr(value));
      entries.push_back(builder.getNamedAttr(name, attr));
    }
    return builder.getDictionaryAttr(entries);
  }

  /// The inputs (by name) that the values of `roots` read.
  llvm::SetVector<llvm::StringRef> inputsReadBy(llvm::ArrayRef<const ast::Stmt *> roots) {
    llvm::SetVector<llvm::StringRef> names;
    for (const ast::Stmt *root : roots) {
      // `output NAME` without an expression reads what NAME is.
      while (auto *output = dyn_cast<ast::OutputStmt>(root)) {
        if (output->getExpr() || !output->source)
          break;
        root = output->source;
      }
      if (auto *input = dyn_cast<ast::InputStmt>(root))
        names.insert(input->getName());
      else if (auto *exprStmt = dyn_cast<ast::ExprStmt>(root))
        for (const std::string &name : exprStmt->deps.inputs)
          names.insert(name);
    }
    return names;
  }

  mlir::LogicalResult emitFunction(mlir::ModuleOp modelModule, const std::string &name,
                                   llvm::ArrayRef<const ast::Stmt *> results, llvm::ArrayRef<std::string> resultNames) {
    mlir::MLIRContext *context = builder.getContext();
    llvm::SetVector<llvm::StringRef> inputsRead = inputsReadBy(results);

    // Arguments: every parameter, then the inputs read, in declaration order.
    llvm::SmallVector<mlir::Type> argTypes;
    llvm::SmallVector<mlir::NamedAttribute> argAttr;
    llvm::SmallVector<mlir::DictionaryAttr> argAttrs;
    for (const ast::ParamInfo &param : model.params) {
      argTypes.push_back(toTensorType(context, param.type));
      argAttrs.push_back(builder.getDictionaryAttr(
          builder.getNamedAttr(KilnDialect::getParamAttrName(), mlir::FlatSymbolRefAttr::get(context, param.name))));
    }
    std::vector<const ast::InputStmt *> inputs;
    for (ast::InputStmt *input : model.getInputs()) {
      if (!inputsRead.contains(input->getName()))
        continue;
      inputs.push_back(input);
      argTypes.push_back(toTensorType(context, input->getType()));
      argAttrs.push_back(builder.getDictionaryAttr(
          builder.getNamedAttr(KilnDialect::getInputAttrName(), builder.getStringAttr(input->getName()))));
    }

    builder.setInsertionPointToEnd(modelModule.getBody());
    auto func = mlir::func::FuncOp::create(builder, locOf(model.getLoc()), name, builder.getFunctionType(argTypes, {}));
    mlir::Block *entry = func.addEntryBlock();
    for (unsigned i = 0; i < argAttrs.size(); ++i)
      func.setArgAttrs(i, argAttrs[i]);

    llvm::SmallVector<mlir::Value> paramArgs(entry->getArguments().take_front(model.params.size()));
    llvm::StringMap<mlir::Value> inputArgs;
    for (auto [i, input] : llvm::enumerate(inputs))
      inputArgs[input->getName()] = entry->getArgument(model.params.size() + i);

    builder.setInsertionPointToEnd(entry);
    FunctionEmitter emitter(builder, sourceMgr, paramArgs, inputArgs);
    llvm::SmallVector<mlir::Value> values;
    for (const ast::Stmt *result : results) {
      mlir::Value value = emitter.emitStmt(result);
      if (!value)
        return mlir::failure();
      values.push_back(value);
    }
    mlir::func::ReturnOp::create(builder, locOf(model.getLoc()), values);

    // A label input fed straight into cross_entropy records its number of
    // classes, so that the runtime can check labels before training.
    func.walk([&](kiln::CrossEntropyOp op) {
      auto labels = llvm::dyn_cast<mlir::BlockArgument>(op.getRhs());
      auto logits = llvm::cast<mlir::RankedTensorType>(op.getLhs().getType());
      if (labels && labels.getOwner() == entry && !logits.isDynamicDim(1))
        func.setArgAttr(labels.getArgNumber(), KilnDialect::getClassesAttrName(),
                        builder.getI64IntegerAttr(logits.getDimSize(1)));
    });

    llvm::SmallVector<mlir::Type> resultTypes;
    for (mlir::Value value : values)
      resultTypes.push_back(value.getType());
    func.setFunctionType(builder.getFunctionType(argTypes, resultTypes));
    for (auto [i, resultName] : llvm::enumerate(resultNames))
      func.setResultAttr(i, KilnDialect::getOutputAttrName(), builder.getStringAttr(resultName));
    return mlir::success();
  }

  mlir::OpBuilder &builder;
  const llvm::SourceMgr &sourceMgr;
  const ast::Model &model;
};

} // namespace

mlir::OwningOpRef<mlir::ModuleOp> kiln::emitKilnDialect(mlir::MLIRContext &context, const ast::Module &module,
                                                        const llvm::SourceMgr &sourceMgr) {
  mlir::OpBuilder builder(&context);
  mlir::OwningOpRef<mlir::ModuleOp> top = mlir::ModuleOp::create(builder.getUnknownLoc());
  for (const auto &model : module.getModels()) {
    ModelEmitter emitter(builder, sourceMgr, *model);
    if (failed(emitter.emit(*top)))
      return nullptr;
  }
  return top;
}
