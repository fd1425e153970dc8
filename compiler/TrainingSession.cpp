//===- TrainingSession.cpp - Training a JIT-compiled model from host code -===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// kiln::TrainingSession (include/kiln/Jit.h): parameters, optimizer state and
// the step count of one model, trained by calling its compiled
// `<Model>_train_step` through Jit::call, exactly as the model binaries'
// `train` loop calls it (runtime/model/ModelTraining.cpp): the same
// initializers and dropout seed for a seed, the same 1-based step argument,
// and checkpoints written and read by the same code
// (runtime/model/TrainingState.h), so that the binaries and a session can
// resume from each other's files.
//
//===----------------------------------------------------------------------===//

#include "kiln/Jit.h"

#include "TrainingState.h"

#include <cmath>
#include <cstring>

using namespace kiln;
using kiln_binary::NamedTensor;

namespace {
llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Turns a runtime status into an llvm::Error (and frees it).
llvm::Error toError(kiln_status_t status) {
  if (!status)
    return llvm::Error::success();
  std::string message = kiln_status_message(status);
  kiln_status_free(status);
  return makeError(message);
}

struct RuntimeTensorDeleter {
  void operator()(kiln_tensor_t *tensor) const { kiln_tensor_free(tensor); }
};
using RuntimeTensor = std::unique_ptr<kiln_tensor_t, RuntimeTensorDeleter>;

/// A runtime tensor of `tensor`'s shape (f32), holding a copy of its data
/// when `copy` is set.
llvm::Expected<RuntimeTensor> runtimeTensor(const Tensor &tensor, bool copy) {
  const std::vector<int64_t> &shape = tensor.getShape();
  kiln_tensor_t *created = nullptr;
  if (llvm::Error error = toError(kiln_tensor_create(KILN_F32, int32_t(shape.size()), shape.data(), &created)))
    return std::move(error);
  RuntimeTensor result(created);
  if (copy)
    std::memcpy(kiln_tensor_data(created), tensor.data(), size_t(tensor.getNumElements()) * 4);
  return result;
}

std::string typeText(const Tensor &tensor) {
  return std::string(elementTypeName(tensor.getElementType())) + formatShape(tensor.getShape());
}

/// "" if every value is finite; else which one is not, for messages.
std::string nonFinite(const Tensor &tensor) {
  for (int64_t i = 0; i < tensor.getNumElements(); ++i)
    if (!std::isfinite(tensor.f32()[i]))
      return std::string(kiln_binary::nonFiniteKind(tensor.f32()[i])) + " (value " + std::to_string(i) + ")";
  return "";
}
} // namespace

// The model binaries' initial values (ModelSupport.cpp, loadParams).
llvm::Expected<Tensor> kiln::initialParameter(const ParamInfo &param, uint64_t seed) {
  Tensor value(ElementType::F32, param.shape);
  auto initial = runtimeTensor(value, /*copy=*/false);
  if (!initial)
    return initial.takeError();
  if (llvm::Error error = toError(
          kiln_init_param(initial->get(), kiln_binary::initKind(param.init), param.value, seed, param.name.c_str())))
    return std::move(error);
  std::memcpy(value.data(), kiln_tensor_const_data(initial->get()), size_t(value.getNumElements()) * 4);
  return value;
}

struct TrainingSession::Impl {
  const Jit *jit = nullptr;
  const ModelInfo *model = nullptr;
  std::vector<Tensor> params, state;
  double lr = 0;
  int64_t step = 0;
  /// train_step's `seed` (rank-0 i32) for a model with dropout.
  std::optional<Tensor> dropoutSeed;

  /// Fails unless `value` can be parameter `index`: f32 of its shape.
  llvm::Error checkParam(size_t index, const Tensor &value, llvm::StringRef what) const {
    const ParamInfo &param = model->params[index];
    if (value.getElementType() != ElementType::F32 || value.getShape() != param.shape)
      return makeError(what + " parameter '" + param.name + "' of " + model->name + " must be f32" +
                       formatShape(param.shape) + ", got " + typeText(value));
    if (std::string bad = nonFinite(value); !bad.empty())
      return makeError(what + " parameter '" + param.name + "' of " + model->name + ": the value is " + bad +
                       "; parameters must be finite");
    return llvm::Error::success();
  }

  /// Fails unless `inputs` are as many as `function` takes; Jit::call checks
  /// their types and shapes.
  llvm::Error checkInputCount(const FunctionInfo &function, llvm::ArrayRef<const Tensor *> inputs,
                              llvm::StringRef what) const {
    if (inputs.size() == function.inputs.size())
      return llvm::Error::success();
    std::string names;
    for (const TensorInfo &input : function.inputs)
      names += (names.empty() ? "" : ", ") + input.name;
    return makeError(what + " of " + model->name + " takes " + llvm::Twine(function.inputs.size()) + " inputs (" +
                     names + "), got " + llvm::Twine(inputs.size()));
  }

  /// Integer labels must name a class: out of range, the compiled loss
  /// turns NaN (docs/artifacts.md), and "the loss became NaN" would hide
  /// which example is wrong.
  llvm::Error checkLabels(const FunctionInfo &function, llvm::ArrayRef<const Tensor *> inputs) const {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const TensorInfo &input = function.inputs[i];
      if (input.type != ElementType::I32 || input.classes <= 0 || inputs[i]->getElementType() != ElementType::I32)
        continue;
      for (int64_t e = 0; e < inputs[i]->getNumElements(); ++e)
        if (int32_t label = inputs[i]->i32()[e]; label < 0 || label >= input.classes)
          return makeError("input '" + input.name + "' of " + model->name + ": example " + llvm::Twine(e) +
                           " has label " + llvm::Twine(label) + ", but the model has " + llvm::Twine(input.classes) +
                           " classes (labels 0 to " + llvm::Twine(input.classes - 1) + ")");
    }
    return llvm::Error::success();
  }
};

TrainingSession::TrainingSession(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
TrainingSession::~TrainingSession() = default;

llvm::Expected<std::unique_ptr<TrainingSession>> TrainingSession::create(const Jit &jit, llvm::StringRef modelName,
                                                                         const TrainingOptions &options) {
  const ModelInfo *model = jit.findModel(modelName);
  if (!model) {
    std::string names;
    for (const ModelInfo &candidate : jit.getModels())
      names += (names.empty() ? "'" : ", '") + candidate.name + "'";
    return makeError("no model named '" + modelName + "' (the module has " + (names.empty() ? "none" : names) + ")");
  }
  if (!model->trainStep)
    return makeError("model '" + modelName + "' cannot be trained: it has no loss and optimizer");
  auto impl = std::make_unique<Impl>();
  impl->jit = &jit;
  impl->model = model;
  for (const ParamInfo &param : model->params) {
    auto value = initialParameter(param, options.seed);
    if (!value)
      return value.takeError();
    impl->params.push_back(std::move(*value));
  }
  for (const StateInfo &slot : model->state) {
    Tensor value(ElementType::F32, slot.shape);
    std::fill(value.f32(), value.f32() + value.getNumElements(), float(slot.init));
    impl->state.push_back(std::move(value));
  }
  auto lr = model->hyperParams.find("lr");
  impl->lr = lr != model->hyperParams.end() ? lr->second : 0;
  if (options.lr)
    impl->lr = *options.lr;
  if (!(std::isfinite(impl->lr) && impl->lr > 0))
    return makeError("the learning rate must be a positive number, not " + std::to_string(impl->lr));
  if (model->trainStepSeeded) {
    impl->dropoutSeed = Tensor(ElementType::I32, {});
    impl->dropoutSeed->i32()[0] = kiln_binary::dropoutSeed(options.seed);
  }
  return std::unique_ptr<TrainingSession>(new TrainingSession(std::move(impl)));
}

const ModelInfo &TrainingSession::getModel() const { return *impl->model; }

llvm::Expected<StepResult> TrainingSession::step(llvm::ArrayRef<const Tensor *> inputs) {
  const FunctionInfo &trainStep = *impl->model->trainStep;
  if (llvm::Error error = impl->checkInputCount(trainStep, inputs, "step (train_step)"))
    return std::move(error);
  if (llvm::Error error = impl->checkLabels(trainStep, inputs))
    return std::move(error);
  // As the binaries' loop: lr as f32, the step count 1-based, as f32.
  Tensor lr(ElementType::F32, {}), step(ElementType::F32, {});
  lr.f32()[0] = float(impl->lr);
  step.f32()[0] = float(impl->step + 1);
  std::vector<const Tensor *> args;
  for (const Tensor &param : impl->params)
    args.push_back(&param);
  for (const Tensor &slot : impl->state)
    args.push_back(&slot);
  args.push_back(&lr);
  args.push_back(&step);
  if (impl->dropoutSeed)
    args.push_back(&*impl->dropoutSeed);
  args.insert(args.end(), inputs.begin(), inputs.end());
  // train_step checks every argument before it runs and updates the
  // parameters and state in place.
  auto results = impl->jit->call(impl->model->name, "train_step", args);
  if (!results)
    return results.takeError();
  ++impl->step;
  StepResult result;
  result.loss = (*results)[0].f32()[0];
  for (size_t r = 1; r < results->size(); ++r)
    result.metrics.emplace_back(trainStep.results[r].name, (*results)[r].f32()[0]);
  if (!std::isfinite(result.loss))
    return makeError("training diverged: the loss became " + llvm::Twine(kiln_binary::nonFiniteKind(result.loss)) +
                     " at step " + llvm::Twine(impl->step) + " (try a smaller learning rate)");
  return result;
}

llvm::Expected<std::vector<Tensor>> TrainingSession::predict(llvm::ArrayRef<const Tensor *> inputs) const {
  return predictWith(impl->params, inputs);
}

llvm::Expected<std::vector<Tensor>> TrainingSession::predictWith(const std::vector<Tensor> &params,
                                                                 llvm::ArrayRef<const Tensor *> inputs) const {
  const ModelInfo &model = *impl->model;
  if (!model.predict)
    return makeError("model '" + model.name + "' has no output to predict");
  if (params.size() != model.params.size())
    return makeError("a parameter set of " + model.name + " has " + llvm::Twine(model.params.size()) +
                     " parameters, got " + llvm::Twine(params.size()));
  for (size_t i = 0; i < params.size(); ++i)
    if (llvm::Error error = impl->checkParam(i, params[i], "predict:"))
      return std::move(error);
  if (llvm::Error error = impl->checkInputCount(*model.predict, inputs, "predict"))
    return std::move(error);
  std::vector<const Tensor *> args;
  for (const Tensor &param : params)
    args.push_back(&param);
  args.insert(args.end(), inputs.begin(), inputs.end());
  return impl->jit->call(model.name, "predict", args);
}

std::vector<Tensor> TrainingSession::getParams() const { return impl->params; }

llvm::Error TrainingSession::setParams(const std::vector<Tensor> &params) {
  if (params.size() != impl->model->params.size())
    return makeError("setParams: " + impl->model->name + " has " + llvm::Twine(impl->model->params.size()) +
                     " parameters, got " + llvm::Twine(params.size()));
  for (size_t i = 0; i < params.size(); ++i)
    if (llvm::Error error = impl->checkParam(i, params[i], "setParams:"))
      return error;
  impl->params = params;
  return llvm::Error::success();
}

namespace {
/// The index of parameter `name`, or an error that lists the model's.
llvm::Expected<size_t> findParam(const ModelInfo &model, llvm::StringRef name) {
  std::string names;
  for (size_t i = 0; i < model.params.size(); ++i) {
    if (model.params[i].name == name)
      return i;
    names += (i ? ", '" : "'") + model.params[i].name + "'";
  }
  return makeError("model '" + model.name + "' has no parameter '" + name + "' (its parameters: " + names + ")");
}
} // namespace

llvm::Expected<Tensor> TrainingSession::getParam(llvm::StringRef name) const {
  auto index = findParam(*impl->model, name);
  if (!index)
    return index.takeError();
  return impl->params[*index];
}

llvm::Error TrainingSession::setParam(llvm::StringRef name, const Tensor &value) {
  auto index = findParam(*impl->model, name);
  if (!index)
    return index.takeError();
  if (llvm::Error error = impl->checkParam(*index, value, "setParam:"))
    return error;
  impl->params[*index] = value;
  return llvm::Error::success();
}

double TrainingSession::getLearningRate() const { return impl->lr; }

llvm::Error TrainingSession::setLearningRate(double lr) {
  if (!(std::isfinite(lr) && lr > 0))
    return makeError("the learning rate must be a positive number, not " + std::to_string(lr));
  impl->lr = lr;
  return llvm::Error::success();
}

int64_t TrainingSession::getStep() const { return impl->step; }

llvm::Error TrainingSession::save(llvm::StringRef path) const {
  const ModelInfo &model = *impl->model;
  // The checkpoint code takes runtime tensors: copies of ours.
  std::vector<RuntimeTensor> owned;
  std::vector<NamedTensor> params, state;
  for (size_t i = 0; i < impl->params.size() + impl->state.size(); ++i) {
    bool isParam = i < impl->params.size();
    auto copy = runtimeTensor(isParam ? impl->params[i] : impl->state[i - impl->params.size()], /*copy=*/true);
    if (!copy)
      return copy.takeError();
    if (isParam) {
      params.push_back({model.params[i].name, copy->get()});
    } else {
      const StateInfo &slot = model.state[i - impl->params.size()];
      state.push_back({kiln_binary::optimizerStateName(slot.param, slot.slot), copy->get()});
    }
    owned.push_back(std::move(*copy));
  }
  return toError(kiln_binary::saveTrainingCheckpoint(path.str(), model.name, params, state, impl->step, {}));
}

llvm::Error TrainingSession::load(llvm::StringRef pathRef) {
  const ModelInfo &model = *impl->model;
  std::string path = pathRef.str();
  kiln_checkpoint_t *loaded = nullptr;
  if (llvm::Error error = toError(kiln_checkpoint_load(path.c_str(), &loaded)))
    return error;
  std::unique_ptr<kiln_checkpoint_t, void (*)(kiln_checkpoint_t *)> checkpoint(loaded, kiln_checkpoint_free);
  if (llvm::Error error = toError(kiln_binary::checkCheckpointModel(loaded, path, model.name)))
    return error;
  int64_t step = 0;
  if (llvm::Error error = toError(kiln_binary::checkpointStep(loaded, path, &step)))
    return error;
  // Read everything into copies first: a failure changes nothing.
  std::vector<Tensor> params = impl->params, state = impl->state;
  for (size_t i = 0; i < params.size() + state.size(); ++i) {
    bool isParam = i < params.size();
    Tensor &target = isParam ? params[i] : state[i - params.size()];
    auto read = runtimeTensor(target, /*copy=*/false);
    if (!read)
      return read.takeError();
    kiln_status_t status;
    if (isParam) {
      status = kiln_binary::readCheckpointParam(loaded, path, model.params[i].name, read->get());
    } else {
      const StateInfo &slot = model.state[i - params.size()];
      status = kiln_binary::readCheckpointState(loaded, path, kiln_binary::optimizerStateName(slot.param, slot.slot),
                                                read->get());
    }
    if (llvm::Error error = toError(status))
      return error;
    std::memcpy(target.data(), kiln_tensor_const_data(read->get()), size_t(target.getNumElements()) * 4);
  }
  impl->params = std::move(params);
  impl->state = std::move(state);
  impl->step = step;
  return llvm::Error::success();
}
