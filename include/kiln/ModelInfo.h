//===- kiln/ModelInfo.h - What a compiled model looks like from outside -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The metadata of a model as its callers see it: parameters (names, shapes,
// initializers), and for each entry point its inputs and results. Read from
// the kiln dialect (the `kiln.param` declarations and the `kiln.param`,
// `kiln.input`, `kiln.output` argument and result attributes) before the
// lowering erases them; kilnc's summary, the JIT and the generated C headers
// all work from it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELINFO_H
#define KILN_MODELINFO_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// Element types visible at the model boundary.
enum class ElementType { F32, I32 };

/// The batch dimension `N` in a shape.
constexpr int64_t kBatchDim = -1;

/// A named tensor at the model boundary; `shape` may start with kBatchDim.
struct TensorInfo {
  std::string name;
  ElementType type = ElementType::F32;
  std::vector<int64_t> shape;
  /// For an i32 label input of cross_entropy: the number of classes (0: none).
  int64_t classes = 0;
};

/// A parameter.
struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  /// "zeros", "ones", "glorot_uniform" or "constant".
  std::string init;
  /// The fill value when init is "constant".
  double value = 0.0;
  /// False for one the training step sets instead of the optimizer
  /// (batch_norm's moving statistics): no gradient, no optimizer state.
  bool trainable = true;
};

/// One entry point (`<model>_predict`, `<model>_loss` or `<model>_grad`): it
/// takes every parameter, then `inputs`; it returns `results`.
struct FunctionInfo {
  std::string symbol; ///< e.g. "FashionCnn_predict"
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> results;
};

/// One slot of optimizer state (e.g. Adam's "m" of one parameter).
struct StateInfo {
  std::string param; ///< the parameter it belongs to
  std::string slot;  ///< "m", "v", "momentum", "accumulator", "rms"
  std::vector<int64_t> shape;
  double init = 0.0; ///< its initial value
};

/// A model: its parameters and entry points.
struct ModelInfo {
  std::string name;
  std::vector<ParamInfo> params;
  std::optional<FunctionInfo> predict;
  std::optional<FunctionInfo> loss;
  /// `<model>_grad` (made by kiln-autodiff for every model with a loss): the
  /// loss function's inputs; results the loss, the metrics, then one
  /// gradient per trainable parameter in parameter order, named
  /// `grad_<param>`.
  std::optional<FunctionInfo> grad;
  /// `<model>_grad_training` (kiln-training-mode and kiln-autodiff, for
  /// models with dropout or batch_norm): the gradient train_step computes;
  /// `grad` itself is the inference-mode gradient. With dropout the masks
  /// are drawn from `seed` (rank-0 i32) and `step` (rank-0 f32), two
  /// arguments after the inputs (trainStepSeeded). With batch_norm the new
  /// moving statistics follow the metrics, named `new_<param>`.
  std::optional<FunctionInfo> gradTraining;
  /// `<model>_train_step` (made by kiln-optimizer): takes every parameter,
  /// then every `state` slot, then `lr` and `step` (rank-0 f32), then
  /// `seed` (rank-0 i32) if trainStepSeeded, then `inputs`; updates parameters and state in place; returns the loss and
  /// the metrics. Only present once the kiln-level passes have run.
  std::optional<FunctionInfo> trainStep;
  /// `<model>_apply` (made by kiln-optimizer next to train_step): takes
  /// every parameter, every `state` slot, `lr` and `step` as train_step
  /// does, then one gradient per trainable parameter (`inputs`, named
  /// `grad_<param>`); applies the optimizer update in place; no results.
  std::optional<FunctionInfo> apply;
  /// Whether train_step also takes `seed` (rank-0 i32) after `step`: the
  /// model has dropout, whose masks it keys (JSON train_step "seeded").
  bool trainStepSeeded = false;
  std::vector<StateInfo> state;
  /// `<model>_gather_<input>` (kiln-add-batch-gather), one per data input of
  /// the loss, in that order: inputs the dataset and the row indices.
  std::vector<FunctionInfo> gathers;
  /// The optimizer's name ("" without one) and hyper-parameters.
  std::string optimizer;
  std::map<std::string, double> hyperParams;
  /// Where the compiled functions run and their buffers live: "cpu" (host
  /// memory) or "cuda" (device pointers; the runtime moves data).
  std::string device = "cpu";
};

/// Formats a shape the way the language writes it: `[N, 28, 28, 1]`.
std::string formatShape(const std::vector<int64_t> &shape);
/// "f32" or "i32".
const char *elementTypeName(ElementType type);

} // namespace kiln

#endif // KILN_MODELINFO_H
