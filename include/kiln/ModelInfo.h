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
};

/// A trainable parameter.
struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  /// "zeros", "ones", "glorot_uniform" or "constant".
  std::string init;
  /// The fill value when init is "constant".
  double value = 0.0;
};

/// One entry point (`<model>_predict` or `<model>_loss`): it takes every
/// parameter, then `inputs`; it returns `results`.
struct FunctionInfo {
  std::string symbol; ///< e.g. "FashionCnn_predict"
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> results;
};

/// A model: its parameters and entry points.
struct ModelInfo {
  std::string name;
  std::vector<ParamInfo> params;
  std::optional<FunctionInfo> predict;
  std::optional<FunctionInfo> loss;
  /// The optimizer's name ("" without one) and hyper-parameters.
  std::string optimizer;
  std::map<std::string, double> hyperParams;
};

/// Formats a shape the way the language writes it: `[N, 28, 28, 1]`.
std::string formatShape(const std::vector<int64_t> &shape);
/// "f32" or "i32".
const char *elementTypeName(ElementType type);

} // namespace kiln

#endif // KILN_MODELINFO_H
