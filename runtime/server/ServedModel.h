//===- ServedModel.h - One model behind the inference server ----*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// What the server knows of one model: its signature (the predict
// function's inputs and outputs), its loaded parameters, its batching
// options and its metrics; each event loop makes its own Batcher of it. The HTTP layer (Server.cpp) routes by model
// name to one of these; today a model binary serves its own model, and a model repository would hold several.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SERVER_SERVEDMODEL_H
#define KILN_RUNTIME_SERVER_SERVEDMODEL_H

#include "Batcher.h"
#include "Metrics.h"
#include "ModelBinary.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln_server {

using kiln_binary::json;

/// An input or output of the predict function.
struct TensorSpec {
  std::string name;
  kiln_dtype_t dtype;
  std::vector<int64_t> shape; ///< the first dimension is -1 (the batch)
  /// Values per example: the product of shape[1:].
  int64_t exampleSize() const;
};

/// "FP32" or "INT32", as the Open Inference Protocol spells the dtype.
const char *protocolDatatype(kiln_dtype_t dtype);

class ServedModel {
public:
  /// Loads the parameters (`weights`, or the seeded initializers when
  /// empty) and runs the compiled code once. Fails (exits) as the other commands do
  /// when the weights do not fit the model.
  ServedModel(const json &model, const kiln_binary::ModelDescriptor &descriptor, const std::string &weights,
              const BatcherOptions &batching);

  const std::string &name() const { return name_; }
  const std::string &version() const { return version_; }
  const std::vector<TensorSpec> &inputs() const { return inputs_; }
  const std::vector<TensorSpec> &outputs() const { return outputs_; }
  int64_t maxBatch() const { return batching_.maxBatch; }
  /// The weights file, or "" for the seeded initializers.
  const std::string &weights() const { return weights_; }
  /// A batcher of this model's requests, for one event loop.
  std::unique_ptr<Batcher> makeBatcher();
  /// The compiled code runs on a GPU (one event loop calls it).
  bool onGpu() const;
  ModelMetrics &metrics() { return metrics_; }
  const ModelMetrics &metrics() const { return metrics_; }

  /// The Open Inference Protocol's model metadata.
  json metadata() const;
  /// Kiln's model card (`GET /v2/models/{name}/card`): the metadata plus the
  /// parameters, the optimizer and the checkpoint's training metadata.
  json card() const;

  /// Runs the compiled predict function on `inputs` (model order), now, on
  /// the calling thread. The compiled code is reentrant: every event loop
  /// calls this from its own thread.
  std::vector<TensorPtr> predict(const std::vector<kiln_tensor_t *> &inputs) const;

private:
  json model_;
  kiln_packed_fn_t predict_;
  std::string name_, version_ = "1", weights_;
  std::vector<TensorSpec> inputs_, outputs_;
  std::vector<TensorPtr> params_;
  std::map<std::string, std::string> trainingMetadata_;
  BatcherOptions batching_;
  ModelMetrics metrics_;
  std::atomic<int64_t> waiting_{0}; ///< requests queued in every loop's Batcher
};

} // namespace kiln_server

#endif // KILN_RUNTIME_SERVER_SERVEDMODEL_H
