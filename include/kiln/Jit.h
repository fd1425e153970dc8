//===- kiln/Jit.h - Compile and run Kiln models in process ------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The JIT: `kiln::Jit` compiles a .kiln file or string in process through
// the same pipeline as kilnc (front end, kiln dialect, linalg, LLVM) and
// hands back callable entry points with tensors in and out.
//
//   auto jit = kiln::Jit::compileFile("model.kiln");
//   if (!jit) { llvm::errs() << llvm::toString(jit.takeError()); ... }
//   const kiln::ModelInfo *info = (*jit)->findModel("LinearRegression");
//   std::vector<kiln::Tensor> args = ...;   // the parameters, then the inputs
//   auto outputs = (*jit)->call("LinearRegression", "predict", args);
//
// kiln::TrainingSession (below) trains a model of a Jit step by step on its
// compiled train_step, owning parameters, optimizer state and step count.
//
// Thread-safety: a compiled Jit is immutable; `call` may run concurrently
// from several threads (each call allocates its own results). Ownership:
// `call` copies nothing in; results are owned by the returned tensors.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_JIT_H
#define KILN_JIT_H

#include "kiln/ModelInfo.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

/// A dense, row-major host tensor that owns its data.
class Tensor {
public:
  Tensor() = default;
  /// A zero-filled tensor of the given element type and shape.
  Tensor(ElementType type, std::vector<int64_t> shape);

  ElementType getElementType() const { return type; }
  const std::vector<int64_t> &getShape() const { return shape; }
  int64_t getNumElements() const;
  /// The raw bytes (4 per element for f32 and i32).
  void *data() { return storage.data(); }
  const void *data() const { return storage.data(); }
  float *f32() { return reinterpret_cast<float *>(storage.data()); }
  const float *f32() const { return reinterpret_cast<const float *>(storage.data()); }
  int32_t *i32() { return reinterpret_cast<int32_t *>(storage.data()); }
  const int32_t *i32() const { return reinterpret_cast<const int32_t *>(storage.data()); }

private:
  ElementType type = ElementType::F32;
  std::vector<int64_t> shape;
  // 64-bit words keep the data 8-byte aligned.
  std::vector<uint64_t> storage;
};

/// Options of the JIT.
struct JitOptions {
  /// LLVM optimization level (0-3).
  unsigned optLevel = 3;
  /// Compile through the GPU lowering (kiln-map-to-gpu) and run its kernels
  /// as CPU loops (kiln-emulate-gpu-on-cpu): slow, for testing the GPU
  /// code generation on machines without a GPU.
  bool emulateGpu = false;
};

/// A compiled .kiln module with callable entry points.
class Jit {
public:
  ~Jit();

  /// Compiles a .kiln file. Errors (syntax, shapes, ...) come back as an
  /// llvm::Error whose message is the diagnostic text kilnc would print.
  static llvm::Expected<std::unique_ptr<Jit>> compileFile(llvm::StringRef path, const JitOptions &options = {});
  /// Compiles .kiln source text; `bufferName` names it in diagnostics.
  static llvm::Expected<std::unique_ptr<Jit>> compileString(llvm::StringRef source, llvm::StringRef bufferName,
                                                            const JitOptions &options = {});

  /// The models of the module, in source order.
  const std::vector<ModelInfo> &getModels() const;
  /// The model called `name`, or null.
  const ModelInfo *findModel(llvm::StringRef name) const;
  /// The address of the compiled `kiln_model_<name>` descriptor, the same
  /// struct an object file defines (`{json, predict, loss, train_step, gather}`
  /// packed entry points, docs/artifacts.md), or null. Valid while the Jit lives.
  const void *getModelDescriptor(llvm::StringRef name) const;

  /// Calls `<model>_<function>` (`predict`, `loss`, `grad` or `train_step`)
  /// with `args`: every parameter of the model in declaration order, then
  /// for `train_step` every optimizer state slot (ModelInfo::state), `lr`
  /// and `step` (rank-0 f32), then the function's inputs (see FunctionInfo).
  /// `gather_<input>` takes no parameters: a whole dataset of that input and
  /// i32 row indices, each with its own batch size (ModelInfo::gathers).
  /// Checks every argument's element type and shape (the batch size must
  /// agree across inputs) and returns the results. `train_step` updates the
  /// parameter and state tensors passed to it in place.
  llvm::Expected<std::vector<Tensor>> call(llvm::StringRef model, llvm::StringRef function,
                                           llvm::ArrayRef<const Tensor *> args) const;

  struct Impl;

private:
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

/// Options of a TrainingSession.
struct TrainingOptions {
  /// Seeds the parameters' initializers and the dropout masks exactly as a
  /// model binary's `train --seed` does, so that the same seed, data and
  /// batches give the same weights.
  uint64_t seed = 0;
  /// The learning rate; none: the one the model file gives its optimizer.
  std::optional<double> lr;
};

/// The value `param` starts from in a model binary's `train --seed S` and a
/// TrainingSession with that seed: its initializer, drawn from the
/// parameter's own seeded stream.
llvm::Expected<Tensor> initialParameter(const ParamInfo &param, uint64_t seed);

/// What one training step returns: the batch's loss and the model's
/// metrics (name and value, in declaration order), both before the update.
struct StepResult {
  float loss = 0;
  std::vector<std::pair<std::string, float>> metrics;
};

/// Training a model from host code, one batch at a time, on the same
/// compiled `<Model>_train_step` the model binaries' `train` calls. The
/// session owns the parameters, the optimizer state and the step count;
/// checkpoints are the binaries' (`train --save`/`--resume` read and write
/// the same files, docs/training.md).
///
///   auto session = kiln::TrainingSession::create(*jit, "LinearRegression");
///   auto result = (*session)->step({&x, &y});     // inputs of train_step
///   auto outputs = (*session)->predict({&x});     // inputs of predict
///   llvm::Error saved = (*session)->save("w.safetensors");
///
/// A parameter set is a std::vector<Tensor> in declaration order
/// (ModelInfo::params): getParams copies it out, setParams puts one in, and
/// predictWith predicts with a set the session does not own (a DQN's target
/// network). Not thread-safe: one thread uses a session at a time. The Jit
/// must outlive it.
class TrainingSession {
public:
  /// Parameters from the model's seeded initializers, optimizer state at
  /// its initial values, step 0. Fails if there is no model `model` or it
  /// has no loss and optimizer.
  static llvm::Expected<std::unique_ptr<TrainingSession>> create(const Jit &jit, llvm::StringRef model,
                                                                 const TrainingOptions &options = {});
  ~TrainingSession();

  const ModelInfo &getModel() const;

  /// One step on a batch: `inputs` are train_step's (ModelInfo::trainStep
  /// ->inputs, e.g. x and y), with any batch size. Updates the parameters
  /// and optimizer state and counts the step. Fails, changing nothing, on
  /// inputs of the wrong number, type or shape, or when the loss is not
  /// finite (then the parameters have taken the diverging update).
  llvm::Expected<StepResult> step(llvm::ArrayRef<const Tensor *> inputs);
  /// The model's `predict` outputs for `inputs`, with the current parameters.
  llvm::Expected<std::vector<Tensor>> predict(llvm::ArrayRef<const Tensor *> inputs) const;
  /// The same with the parameter set `params` (as getParams returns one).
  llvm::Expected<std::vector<Tensor>> predictWith(const std::vector<Tensor> &params,
                                                  llvm::ArrayRef<const Tensor *> inputs) const;

  /// A copy of the current parameters, in declaration order.
  std::vector<Tensor> getParams() const;
  /// Replaces every parameter (the optimizer state and step are kept):
  /// `params` must have the model's parameters' count and shapes.
  llvm::Error setParams(const std::vector<Tensor> &params);
  /// A copy of the parameter called `name`; an error names the model's.
  llvm::Expected<Tensor> getParam(llvm::StringRef name) const;
  /// Sets the parameter `name` (f32 of its shape, finite values): host-chosen
  /// initial values, e.g. k-means' initial centres.
  llvm::Error setParam(llvm::StringRef name, const Tensor &value);

  double getLearningRate() const;
  /// Takes effect from the next step; must be positive and finite.
  llvm::Error setLearningRate(double lr);
  /// The number of steps taken (what checkpoints store as "step").
  int64_t getStep() const;

  /// Writes a checkpoint as `train --save` does (atomically).
  llvm::Error save(llvm::StringRef path) const;
  /// Restores parameters, optimizer state and step from a checkpoint of
  /// this model (one `train --save` or save wrote). Changes nothing on failure.
  llvm::Error load(llvm::StringRef path);

  struct Impl;

private:
  explicit TrainingSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace kiln

#endif // KILN_JIT_H
