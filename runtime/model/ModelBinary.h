//===- ModelBinary.h - Internals of the standalone model binary -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The pieces the standalone binary's commands share (libkiln_model_main.a:
// ModelMain.cpp, ModelSupport.cpp, ModelTraining.cpp). Not a public header:
// the binary's interface is its command line (docs/artifacts.md).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_MODELBINARY_H
#define KILN_RUNTIME_MODELBINARY_H

#include "ModelCommands.h"
#include "TrainingState.h"
#include "kiln/runtime.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln_binary {

/// What kilnc emits per model (codegen/ObjectEmitter.cpp): the metadata as
/// JSON and the packed entry points (null when the model lacks one).
struct ModelDescriptor {
  const char *json;
  kiln_packed_fn_t predict;
  kiln_packed_fn_t loss;
  kiln_packed_fn_t trainStep;
  /// `<model>_gather_<input>` per data input of the loss, in its order
  /// (JSON "gather"); null without a loss.
  const kiln_packed_fn_t *gather;
  /// The gradient training computes (JSON "train_grad": `<model>_grad`, or
  /// with dropout `<model>_grad_training`, which also takes seed and step)
  /// and `<model>_apply` (the optimizer update from given gradients): what
  /// data-parallel training calls instead of the fused train_step.
  kiln_packed_fn_t trainGrad;
  kiln_packed_fn_t apply;
};

using json = nlohmann::json;

struct TensorDeleter {
  void operator()(kiln_tensor_t *tensor) const { kiln_tensor_free(tensor); }
};
using TensorPtr = std::unique_ptr<kiln_tensor_t, TensorDeleter>;

/// The model's metadata (its descriptor's JSON); fails if it does not parse.
json modelMetadata(const ModelDescriptor &descriptor);

/// argv[0], for messages.
extern std::string programName;

/// What fail() throws: an error in the work asked for, already worded for
/// the user. It unwinds to the command's entry point (reportFailures), or,
/// in the server, to the request that needed the work, so that library code
/// never ends the process.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Throws Failure(message).
[[noreturn]] void fail(const std::string &message);
/// Fails with the status's message if `status` is an error (and frees it).
void check(kiln_status_t status);
/// Runs a command: its status, or 1 after printing
/// `<program>: error: <message>` for a Failure it threw.
int reportFailures(const std::function<int()> &command);

std::vector<int64_t> shapeOf(const json &tensor);
/// KILN_F32 or KILN_I32, from the metadata's "dtype".
kiln_dtype_t dtypeOf(const json &tensor);
/// `f32[N, 28, 28, 1]`.
std::string formatTensorType(const json &tensor);
bool endsWith(const std::string &text, const std::string &suffix);

/// The model's parameters: from a safetensors file, or seeded initializers;
/// on the GPU for a GPU model.
std::vector<TensorPtr> loadParams(const json &model, const std::string &weights, uint64_t seed);
/// Whether the model was compiled with --target=cuda (its JSON `device`):
/// then loadParams puts the parameters on the GPU, and calls go through
/// kiln_invoke_device.
bool runsOnGpu(const json &model);
/// For a GPU model: initializes CUDA, or fails saying why it cannot.
void requireDevice(const json &model);
/// Calls a model function on its device; `results` receives new host tensors.
void invokeModel(const json &model, kiln_packed_fn_t fn, const std::vector<kiln_tensor_t *> &args,
                 const std::vector<kiln_dtype_t> &dtypes, const std::vector<int32_t> &ranks,
                 std::vector<kiln_tensor_t *> &results);
/// Reads one input file (.npy, .csv with `columns`, IDX) and converts it to
/// the model input `input` (dtype, per-example shape; u8 scaled to [0, 1]).
TensorPtr readInput(const std::string &path, const json &input, const std::vector<std::string> &columns);
/// Converts an already-read tensor; `path` names it in errors.
TensorPtr convertInput(TensorPtr file, const std::string &path, const json &input);
/// Rows [begin, end) of `tensor` as a new tensor.
TensorPtr sliceRows(const kiln_tensor_t *tensor, int64_t begin, int64_t end);
/// A rank-0 f32 tensor holding `value` (train_step's lr and step).
TensorPtr scalarTensor(float value);
/// train_step's `seed` argument, for a model with dropout (JSON
/// train_step.seeded): a rank-0 i32 tensor derived from --seed. Null when
/// the model takes none.
TensorPtr dropoutSeedTensor(const json &model, uint64_t seed);
/// train_step's optimizer state slots (the metadata's train_step.state), on
/// the host, each filled with its initial value.
std::vector<TensorPtr> initialOptimizerState(const json &model);
/// The learning rate the model file gives its optimizer.
double modelLearningRate(const json &model);

/// `train` and `eval` (ModelTraining.cpp); they fail() on errors.
int runTrain(const json &model, const ModelDescriptor &descriptor, const TrainOptions &options);
int runEval(const json &model, const ModelDescriptor &descriptor, const TrainOptions &options);

} // namespace kiln_binary

extern "C" const kiln_binary::ModelDescriptor *const kiln_main_model;

#endif // KILN_RUNTIME_MODELBINARY_H
