//===- Jit.cpp - Compile and run Kiln models in process -------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// kiln::Jit (include/kiln/Jit.h): a CompileSession (include/kiln/
// CompileSession.h) down to the LLVM dialect, then mlir::ExecutionEngine. Entry points are called
// through their C interface (`_mlir_ciface_<model>_<function>`, made by
// kiln-flatten-models), which takes pointers to memref descriptors
// `{allocated, aligned, offset, sizes[rank], strides[rank]}` and writes the
// results, as descriptors of buffers the callee malloc'ed, through a pointer
// passed first.
//
//===----------------------------------------------------------------------===//

#include "kiln/Jit.h"

#include "kiln/CompileSession.h"

#include "codegen/ObjectEmitter.h"
#include "passes/Passes.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/MLIRContext.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

using namespace kiln;

//===----------------------------------------------------------------------===//
// Tensor
//===----------------------------------------------------------------------===//

Tensor::Tensor(ElementType type, std::vector<int64_t> shape) : type(type), shape(std::move(shape)) {
  storage.assign((getNumElements() * 4 + 7) / 8, 0);
}

int64_t Tensor::getNumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

//===----------------------------------------------------------------------===//
// Jit
//===----------------------------------------------------------------------===//

struct Jit::Impl {
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  std::vector<ModelInfo> models;
};

Jit::Jit(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Jit::~Jit() = default;

const std::vector<ModelInfo> &Jit::getModels() const { return impl->models; }

const void *Jit::getModelDescriptor(llvm::StringRef name) const {
  if (!findModel(name))
    return nullptr;
  auto address = impl->engine->lookup(("kiln_model_" + name).str());
  if (!address) {
    llvm::consumeError(address.takeError());
    return nullptr;
  }
  return *address;
}

const ModelInfo *Jit::findModel(llvm::StringRef name) const {
  for (const ModelInfo &model : impl->models)
    if (model.name == name)
      return &model;
  return nullptr;
}

namespace {
llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Compiles the source `load` gives a session, through the CPU pipeline
/// (or the emulated GPU one), and JIT-compiles the result. The session's
/// diagnostics become the error's message.
llvm::Expected<std::unique_ptr<Jit::Impl>> compile(llvm::function_ref<mlir::LogicalResult(CompileSession &)> load,
                                                   const JitOptions &options) {
  std::string diagnosticText;
  llvm::raw_string_ostream diagnostics(diagnosticText);
  CompileOptions compileOptions;
  compileOptions.target = options.emulateGpu ? CompileTarget::EmulatedGpu : CompileTarget::Cpu;
  CompileSession session(compileOptions, diagnostics);
  if (failed(load(session)) || failed(session.runTo(CompileStage::LLVMDialect)))
    return makeError(diagnosticText);
  auto impl = std::make_unique<Jit::Impl>();
  impl->models = session.getModels();
  auto engine = createCpuExecutionEngine(session.getModule(), impl->models, options.optLevel);
  if (!engine)
    return makeError("JIT compilation failed: " + llvm::toString(engine.takeError()));
  impl->engine = std::move(*engine);
  impl->context = session.takeContext();
  return impl;
}

/// Copies a (possibly strided) result buffer into a dense tensor.
void copyStrided(const char *base, int64_t offset, const int64_t *sizes, const int64_t *strides, size_t rank,
                 Tensor &out) {
  char *dst = static_cast<char *>(out.data());
  int64_t count = out.getNumElements();
  std::vector<int64_t> index(rank, 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t element = offset;
    for (size_t d = 0; d < rank; ++d)
      element += index[d] * strides[d];
    std::memcpy(dst + n * 4, base + element * 4, 4);
    for (int64_t d = int64_t(rank) - 1; d >= 0; --d) {
      if (++index[d] < sizes[d])
        break;
      index[d] = 0;
    }
  }
}
} // namespace

llvm::Expected<std::unique_ptr<Jit>> Jit::compileFile(llvm::StringRef path, const JitOptions &options) {
  auto impl = compile([&](CompileSession &session) { return session.loadFile(path); }, options);
  if (!impl)
    return impl.takeError();
  return std::unique_ptr<Jit>(new Jit(std::move(*impl)));
}

llvm::Expected<std::unique_ptr<Jit>> Jit::compileString(llvm::StringRef source, llvm::StringRef bufferName,
                                                        const JitOptions &options) {
  auto impl = compile(
      [&](CompileSession &session) {
        session.loadSource(source, bufferName);
        return mlir::success();
      },
      options);
  if (!impl)
    return impl.takeError();
  return std::unique_ptr<Jit>(new Jit(std::move(*impl)));
}

llvm::Expected<std::vector<Tensor>> Jit::call(llvm::StringRef modelName, llvm::StringRef function,
                                              llvm::ArrayRef<const Tensor *> args) const {
  const ModelInfo *model = findModel(modelName);
  if (!model)
    return makeError("no model named '" + modelName + "'");
  static const std::optional<FunctionInfo> none;
  std::optional<FunctionInfo> gather;
  // gather_<input>: rows of a whole dataset (no parameters; the dataset
  // and the row indices have batch sizes of their own).
  bool isGather = function.starts_with("gather_");
  for (const FunctionInfo &candidate : model->gathers)
    if (isGather && llvm::StringRef(candidate.symbol).ends_with("_" + function.str()))
      gather = candidate;
  const std::optional<FunctionInfo> &entry = isGather                   ? gather
                                             : function == "predict"    ? model->predict
                                             : function == "loss"       ? model->loss
                                             : function == "grad"       ? model->grad
                                             : function == "train_step" ? model->trainStep
                                                                        : none;
  if (!entry)
    return makeError("model '" + modelName + "' has no function '" + function + "'");

  // Expected argument types: the parameters, then (train_step) the optimizer
  // state, lr and step (and seed, for a model with dropout), then the inputs.
  std::vector<TensorInfo> expected;
  if (!isGather)
    for (const ParamInfo &param : model->params)
      expected.push_back({param.name, ElementType::F32, param.shape});
  if (function == "train_step") {
    for (const StateInfo &slot : model->state)
      expected.push_back({slot.param + "/" + slot.slot, ElementType::F32, slot.shape});
    expected.push_back({"lr", ElementType::F32, {}});
    expected.push_back({"step", ElementType::F32, {}});
    if (model->trainStepSeeded)
      expected.push_back({"seed", ElementType::I32, {}});
  }
  expected.insert(expected.end(), entry->inputs.begin(), entry->inputs.end());
  if (args.size() != expected.size())
    return makeError(entry->symbol + " takes " + llvm::Twine(expected.size()) + " arguments (" +
                     llvm::Twine(model->params.size()) + " parameters, then the inputs), got " +
                     llvm::Twine(args.size()));
  int64_t batch = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    const TensorInfo &want = expected[i];
    const std::vector<int64_t> &got = args[i]->getShape();
    bool ok = args[i]->getElementType() == want.type && got.size() == want.shape.size();
    for (size_t d = 0; ok && d < got.size(); ++d) {
      if (want.shape[d] != kBatchDim) {
        ok = got[d] == want.shape[d];
      } else if (batch < 0 || isGather) {
        batch = got[d];
      } else {
        ok = got[d] == batch;
      }
    }
    if (!ok)
      return makeError("argument '" + want.name + "' of " + entry->symbol + " must be " + elementTypeName(want.type) +
                       formatShape(want.shape) + " (batch " + llvm::Twine(batch) + "), got " +
                       elementTypeName(args[i]->getElementType()) + formatShape(got));
  }

  // Results first (one struct of descriptors), then one descriptor per argument.
  size_t resultWords = 0;
  for (const TensorInfo &result : entry->results)
    resultWords += 3 + 2 * result.shape.size();
  std::vector<int64_t> resultStruct(resultWords, 0);
  std::vector<std::vector<int64_t>> descriptors;
  for (const Tensor *arg : args)
    descriptors.push_back(memrefDescriptorWords(arg->data(), arg->getShape()));
  std::vector<void *> pointers;
  pointers.push_back(resultStruct.data());
  for (auto &descriptor : descriptors)
    pointers.push_back(descriptor.data());
  std::vector<void *> packed;
  for (void *&pointer : pointers)
    packed.push_back(&pointer);

  if (llvm::Error error = impl->engine->invokePacked("_mlir_ciface_" + implementationSymbol(entry->symbol), packed))
    return std::move(error);

  // Copy the results out and free their buffers (once each, and never a
  // buffer that is one of the arguments).
  std::set<const void *> argumentData;
  for (const Tensor *arg : args)
    argumentData.insert(arg->data());
  // Results may share a buffer (CSE merges equal values): copy all first.
  std::set<void *> toFree;
  std::vector<Tensor> results;
  size_t word = 0;
  for (const TensorInfo &result : entry->results) {
    size_t rank = result.shape.size();
    void *allocated = reinterpret_cast<void *>(resultStruct[word]);
    const char *aligned = reinterpret_cast<const char *>(resultStruct[word + 1]);
    const int64_t *sizes = &resultStruct[word + 3];
    const int64_t *strides = &resultStruct[word + 3 + rank];
    Tensor out(result.type, std::vector<int64_t>(sizes, sizes + rank));
    copyStrided(aligned, resultStruct[word + 2], sizes, strides, rank, out);
    results.push_back(std::move(out));
    if (!argumentData.count(allocated))
      toFree.insert(allocated);
    word += 3 + 2 * rank;
  }
  for (void *allocated : toFree)
    std::free(allocated);
  return results;
}
