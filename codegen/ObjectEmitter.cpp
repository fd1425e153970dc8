//===- ObjectEmitter.cpp - LLVM IR, assembly and objects for the host CPU -===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// See ObjectEmitter.h. The model ABI added here is what the runtime's
// generic `main` (runtime/model/ModelMain.cpp) and the generated C header call:
//
//   void <Model>_<fn>_packed(void **args);
//     args[0] points to the results (memref descriptors, one after the
//     other), args[1..] to one memref descriptor per argument (parameters,
//     then inputs). It forwards to MLIR's `_mlir_ciface_` wrapper.
//
//   const struct { const char *json; void (*predict)(void **);
//                  void (*loss)(void **); void (*train_step)(void **);
//                  void (**gather)(void **); void (*train_grad)(void **);
//                  void (*apply)(void **); }
//     kiln_model_<Model>;   (null for a function the model lacks)
//
//===----------------------------------------------------------------------===//

#include "codegen/ObjectEmitter.h"

#include "passes/Passes.h"

#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Transforms/IPO/MergeFunctions.h"

#include <algorithm>
#include <mutex>
#include <sstream>

using namespace kiln;

llvm::Expected<std::unique_ptr<llvm::TargetMachine>> kiln::createCpuTargetMachine(const CpuTargetOptions &options) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "no target for " + triple.str() + ": " + error);
  std::string cpu = options.cpu, features;
  if (cpu == "native") {
    cpu = llvm::sys::getHostCPUName().str();
    std::vector<std::string> enabled;
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      enabled.push_back((feature.second ? "+" : "-") + feature.getKey().str());
    features = llvm::join(enabled, ",");
  } else {
    // Reject a CPU name LLVM does not know instead of silently using a generic one.
    std::unique_ptr<llvm::MCSubtargetInfo> info(target->createMCSubtargetInfo(triple, cpu, ""));
    if (!info || !info->isCPUStringValid(cpu))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "unknown target CPU '" + cpu +
                                         "' (try 'native', 'x86-64-v3' or 'sapphirerapids')");
  }
  llvm::CodeGenOptLevel level = options.optLevel == 0   ? llvm::CodeGenOptLevel::None
                                : options.optLevel == 1 ? llvm::CodeGenOptLevel::Less
                                : options.optLevel == 2 ? llvm::CodeGenOptLevel::Default
                                                        : llvm::CodeGenOptLevel::Aggressive;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(triple, cpu, features, llvm::TargetOptions(),
                                                                           llvm::Reloc::PIC_, std::nullopt, level));
  if (!machine)
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "cannot create a target machine for " + cpu);
  return machine;
}

namespace {
llvm::json::Array shapeJson(llvm::ArrayRef<int64_t> shape) { return llvm::json::Array(shape); }

llvm::json::Value tensorJson(const TensorInfo &tensor) {
  llvm::json::Object object{
      {"name", tensor.name}, {"dtype", elementTypeName(tensor.type)}, {"shape", shapeJson(tensor.shape)}};
  if (tensor.classes > 0)
    object["classes"] = tensor.classes;
  return object;
}

llvm::json::Value functionJson(const FunctionInfo &function) {
  llvm::json::Array inputs, results;
  for (const TensorInfo &input : function.inputs)
    inputs.push_back(tensorJson(input));
  for (const TensorInfo &result : function.results)
    results.push_back(tensorJson(result));
  return llvm::json::Object{
      {"symbol", function.symbol}, {"inputs", std::move(inputs)}, {"results", std::move(results)}};
}

/// Adds `void <symbol>_packed(ptr args)` forwarding to the C interface of
/// the implementation function. Returns null if the function is missing.
llvm::Function *addPackedWrapper(llvm::Module &module, const std::string &symbol) {
  llvm::Function *ciface = module.getFunction("_mlir_ciface_" + implementationSymbol(symbol));
  if (!ciface)
    return nullptr;
  llvm::LLVMContext &context = module.getContext();
  llvm::Type *ptr = llvm::PointerType::getUnqual(context);
  auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(context), {ptr}, false);
  auto *wrapper = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage, symbol + "_packed", module);
  llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context, "entry", wrapper));
  // A function without results (one that only updates its arguments, like
  // apply) has no result pointer first: its arguments start at args[1].
  llvm::Function *implementation = module.getFunction(implementationSymbol(symbol));
  unsigned first = implementation && implementation->getReturnType()->isVoidTy() ? 1 : 0;
  std::vector<llvm::Value *> args;
  for (unsigned i = 0; i < ciface->arg_size(); ++i) {
    llvm::Value *slot = builder.CreateConstGEP1_64(ptr, wrapper->getArg(0), first + i);
    args.push_back(builder.CreateLoad(ptr, slot));
  }
  builder.CreateCall(ciface, args);
  builder.CreateRetVoid();
  return wrapper;
}
} // namespace

std::string kiln::modelInfoToJson(const ModelInfo &model) {
  llvm::json::Array params;
  for (const ParamInfo &param : model.params) {
    llvm::json::Object entry{
        {"name", param.name}, {"shape", shapeJson(param.shape)}, {"init", param.init}, {"value", param.value}};
    if (!param.trainable)
      entry["trainable"] = false;
    params.push_back(std::move(entry));
  }
  llvm::json::Object hyper;
  for (const auto &[name, value] : model.hyperParams)
    hyper[name] = value;
  llvm::json::Object root{{"name", model.name}, {"device", model.device}, {"params", std::move(params)}};
  if (model.predict)
    root["predict"] = functionJson(*model.predict);
  if (model.loss)
    root["loss"] = functionJson(*model.loss);
  // The gradient training uses (JSON "train_grad", descriptor `grad`):
  // with dropout or batch_norm, the training-mode one (which with dropout
  // takes the masks' key, as train_step does).
  if (const std::optional<FunctionInfo> &grad = model.gradTraining ? model.gradTraining : model.grad) {
    llvm::json::Object trainGrad = *functionJson(*grad).getAsObject();
    if (model.trainStepSeeded) // then grad is _grad_training, keyed like train_step
      trainGrad["seeded"] = true;
    root["train_grad"] = std::move(trainGrad);
  }
  if (model.apply)
    root["apply"] = functionJson(*model.apply);
  if (model.trainStep) {
    llvm::json::Object trainStep = *functionJson(*model.trainStep).getAsObject();
    llvm::json::Array state;
    for (const StateInfo &slot : model.state) {
      state.push_back(llvm::json::Object{
          {"param", slot.param}, {"slot", slot.slot}, {"shape", shapeJson(slot.shape)}, {"init", slot.init}});
    }
    trainStep["state"] = std::move(state);
    if (model.trainStepSeeded)
      trainStep["seeded"] = true;
    root["train_step"] = std::move(trainStep);
  }
  if (!model.gathers.empty()) {
    llvm::json::Array gathers;
    for (const FunctionInfo &gather : model.gathers)
      gathers.push_back(gather.symbol);
    root["gather"] = std::move(gathers);
  }
  if (!model.optimizer.empty())
    root["optimizer"] = llvm::json::Object{{"name", model.optimizer}, {"hyperparameters", std::move(hyper)}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(root));
  return text;
}

llvm::Error kiln::addModelABI(llvm::Module &module, const std::vector<ModelInfo> &models,
                              const std::string &mainModel) {
  llvm::LLVMContext &context = module.getContext();
  llvm::Type *ptr = llvm::PointerType::getUnqual(context);
  auto *descriptorType = llvm::StructType::get(context, {ptr, ptr, ptr, ptr, ptr, ptr, ptr});
  bool foundMain = mainModel.empty();
  for (const ModelInfo &model : models) {
    llvm::Constant *null = llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(context));
    // In the descriptor's order (after json and gather's place).
    const std::optional<FunctionInfo> *functions[] = {&model.predict, &model.loss, &model.trainStep,
                                                      model.gradTraining ? &model.gradTraining : &model.grad,
                                                      &model.apply};
    constexpr int numFunctions = std::size(functions);
    llvm::Constant *entries[numFunctions];
    std::fill(std::begin(entries), std::end(entries), null);
    for (int i = 0; i < numFunctions; ++i) {
      if (!*functions[i])
        continue;
      llvm::Function *wrapper = addPackedWrapper(module, (*functions[i])->symbol);
      if (!wrapper)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "internal error: no C interface for " + (*functions[i])->symbol);
      entries[i] = wrapper;
    }
    // The gather functions, as an array in the loss's input order.
    llvm::Constant *gathers = null;
    if (!model.gathers.empty()) {
      std::vector<llvm::Constant *> wrappers;
      for (const FunctionInfo &gather : model.gathers) {
        llvm::Function *wrapper = addPackedWrapper(module, gather.symbol);
        if (!wrapper)
          return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                         "internal error: no C interface for " + gather.symbol);
        wrappers.push_back(wrapper);
      }
      auto *arrayType = llvm::ArrayType::get(ptr, wrappers.size());
      gathers = new llvm::GlobalVariable(module, arrayType, true, llvm::GlobalValue::PrivateLinkage,
                                         llvm::ConstantArray::get(arrayType, wrappers),
                                         "kiln_model_" + model.name + "_gathers");
    }
    llvm::Constant *json = llvm::ConstantDataArray::getString(context, modelInfoToJson(model));
    auto *jsonGlobal = new llvm::GlobalVariable(module, json->getType(), true, llvm::GlobalValue::PrivateLinkage, json,
                                                "kiln_model_" + model.name + "_json");
    auto *descriptor = new llvm::GlobalVariable(
        module, descriptorType, true, llvm::GlobalValue::ExternalLinkage,
        llvm::ConstantStruct::get(descriptorType,
                                  {jsonGlobal, entries[0], entries[1], entries[2], gathers, entries[3], entries[4]}),
        "kiln_model_" + model.name);
    if (model.name == mainModel) {
      foundMain = true;
      new llvm::GlobalVariable(module, ptr, true, llvm::GlobalValue::ExternalLinkage, descriptor, "kiln_main_model");
    }
  }
  if (!foundMain)
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "no model named '" + mainModel + "'");
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<llvm::Module>> kiln::translateToLLVMIR(mlir::ModuleOp module, llvm::LLVMContext &context,
                                                                      const std::vector<ModelInfo> &models,
                                                                      const std::string &mainModel,
                                                                      llvm::TargetMachine &targetMachine) {
  std::unique_ptr<llvm::Module> llvmModule = mlir::translateModuleToLLVMIR(module, context);
  if (!llvmModule)
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "translation to LLVM IR failed");
  llvmModule->setTargetTriple(targetMachine.getTargetTriple());
  llvmModule->setDataLayout(targetMachine.createDataLayout());

  if (llvm::Error error = linkBufferCache(*llvmModule))
    return std::move(error);
  if (llvm::Error error = addModelABI(*llvmModule, models, mainModel))
    return std::move(error);
  flushDenormalsInComputeCode(*llvmModule, targetMachine.getTargetTriple());
  mergeIdenticalFunctions(*llvmModule);
  return llvmModule;
}

void kiln::mergeIdenticalFunctions(llvm::Module &module) {
  // The generated code never compares the addresses of its own functions.
  // Saying so lets MergeFunctions point every use at the one it keeps;
  // otherwise it keeps each duplicate as a thunk that calls the other, and
  // the optimizer inlines the body back into the thunk.
  for (llvm::Function &function : module)
    if (function.hasLocalLinkage())
      function.setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  llvm::MergeFunctionsPass::runOnModule(module);
}

void kiln::optimizeModule(llvm::Module &module, unsigned optLevel, llvm::TargetMachine *targetMachine) {
  llvm::PipelineTuningOptions tuning;
  // No loop unrolling: the loops that matter arrive register-blocked and
  // vectorized by kiln-tile-and-vectorize, their vector ops already unrolled.
  // LLVM's unroller then only multiplied the remaining loops (copies,
  // reductions, the serial code between kernels): on FashionCnn it doubled
  // the machine code and the time spent in LLVM (compiling to a binary took
  // 3.5 s instead of 2.4 s on one thread) without making the model faster
  // (docs/performance.md). The loop vectorizer still interleaves.
  tuning.LoopUnrolling = false;
  tuning.LoopInterleaving = true;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager sccs;
  llvm::ModuleAnalysisManager modules;
  llvm::PassBuilder builder(targetMachine, tuning);
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(sccs);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, sccs, modules);
  llvm::OptimizationLevel level = optLevel == 0   ? llvm::OptimizationLevel::O0
                                  : optLevel == 1 ? llvm::OptimizationLevel::O1
                                  : optLevel == 2 ? llvm::OptimizationLevel::O2
                                                  : llvm::OptimizationLevel::O3;
  builder.buildPerModuleDefaultPipeline(level).run(module, modules);
}

llvm::Error kiln::emitMachineCode(llvm::Module &module, llvm::TargetMachine &targetMachine, llvm::raw_pwrite_stream &os,
                                  llvm::CodeGenFileType fileType) {
  llvm::legacy::PassManager passes;
  if (targetMachine.addPassesToEmitFile(passes, os, nullptr, fileType))
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "the target cannot emit this file type");
  passes.run(module);
  return llvm::Error::success();
}
