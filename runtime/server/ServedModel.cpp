//===- ServedModel.cpp - One model behind the inference server ------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//

#include "ServedModel.h"

#include <cstring>

using namespace kiln_server;
using namespace kiln_binary;

int64_t TensorSpec::exampleSize() const {
  int64_t size = 1;
  for (size_t i = 1; i < shape.size(); ++i)
    size *= shape[i];
  return size;
}

const char *kiln_server::protocolDatatype(kiln_dtype_t dtype) { return dtype == KILN_I32 ? "INT32" : "FP32"; }

namespace {
std::vector<TensorSpec> specsOf(const json &tensors) {
  std::vector<TensorSpec> specs;
  for (const json &tensor : tensors) {
    std::vector<int64_t> shape = shapeOf(tensor);
    shape[0] = -1;
    specs.push_back({tensor.at("name").get<std::string>(), dtypeOf(tensor), shape});
  }
  return specs;
}

json specsJson(const std::vector<TensorSpec> &specs) {
  json list = json::array();
  for (const TensorSpec &spec : specs)
    list.push_back({{"name", spec.name}, {"datatype", protocolDatatype(spec.dtype)}, {"shape", spec.shape}});
  return list;
}

/// The checkpoint's string metadata (step, epoch, losses, metrics), for
/// the model card; empty without weights.
std::map<std::string, std::string> readTrainingMetadata(const std::string &weights) {
  std::map<std::string, std::string> metadata;
  if (weights.empty())
    return metadata;
  kiln_checkpoint_t *checkpoint = nullptr;
  check(kiln_checkpoint_load(weights.c_str(), &checkpoint));
  for (const char *key : {"step", "epoch"})
    if (const char *value = kiln_checkpoint_metadata(checkpoint, key))
      metadata[key] = value;
  // Metrics are saved as train_<name> and test_<name>.
  if (const char *names = kiln_checkpoint_metadata(checkpoint, "metrics")) {
    std::string list = names;
    for (size_t begin = 0; begin < list.size();) {
      size_t end = list.find(',', begin);
      std::string name = list.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
      for (const std::string &key : {"train_" + name, "test_" + name})
        if (const char *value = kiln_checkpoint_metadata(checkpoint, key.c_str()))
          metadata[key] = value;
      begin = end == std::string::npos ? list.size() : end + 1;
    }
  }
  kiln_checkpoint_free(checkpoint);
  return metadata;
}
} // namespace

ServedModel::ServedModel(const json &model, const ModelDescriptor &descriptor, const std::string &weights,
                         const BatcherOptions &batching)
    : model_(model), predict_(descriptor.predict), name_(model.at("name").get<std::string>()), weights_(weights),
      batching_(batching) {
  batching_.threads = kiln_get_num_threads(); // set by --threads
  if (!model.contains("predict") || !predict_)
    fail("the model has no predict function to serve");
  inputs_ = specsOf(model["predict"].at("inputs"));
  outputs_ = specsOf(model["predict"].at("results"));
  requireDevice(model);
  params_ = loadParams(model, weights, /*seed=*/0);
  trainingMetadata_ = readTrainingMetadata(weights);
  // One call on a zero example before serving starts the compiled code's
  // thread pool and buffers, so that the first request is not the slowest.
  std::vector<TensorPtr> zeros;
  std::vector<kiln_tensor_t *> warmUp;
  for (const TensorSpec &spec : inputs_) {
    std::vector<int64_t> shape = spec.shape;
    shape[0] = 1;
    kiln_tensor_t *tensor = nullptr;
    check(kiln_tensor_create(spec.dtype, int32_t(shape.size()), shape.data(), &tensor));
    std::memset(kiln_tensor_data(tensor), 0, kiln_tensor_byte_size(tensor));
    zeros.emplace_back(tensor);
    warmUp.push_back(tensor);
  }
  predict(warmUp);
}

std::unique_ptr<Batcher> ServedModel::makeBatcher() {
  return std::make_unique<Batcher>([this](const std::vector<kiln_tensor_t *> &inputs) { return predict(inputs); },
                                   batching_, metrics_, waiting_);
}

bool ServedModel::onGpu() const { return runsOnGpu(model_); }

std::vector<TensorPtr> ServedModel::predict(const std::vector<kiln_tensor_t *> &inputs) const {
  std::vector<kiln_tensor_t *> args;
  for (const TensorPtr &param : params_)
    args.push_back(param.get());
  args.insert(args.end(), inputs.begin(), inputs.end());
  std::vector<kiln_dtype_t> dtypes;
  std::vector<int32_t> ranks;
  for (const TensorSpec &output : outputs_) {
    dtypes.push_back(output.dtype);
    ranks.push_back(int32_t(output.shape.size()));
  }
  std::vector<kiln_tensor_t *> results;
  invokeModel(model_, predict_, args, dtypes, ranks, results);
  std::vector<TensorPtr> owned;
  for (kiln_tensor_t *result : results)
    owned.emplace_back(result);
  return owned;
}

json ServedModel::metadata() const {
  return {{"name", name_},
          {"versions", {version_}},
          {"platform", "kiln"},
          {"inputs", specsJson(inputs_)},
          {"outputs", specsJson(outputs_)}};
}

json ServedModel::card() const {
  json card = metadata();
  card["device"] = runsOnGpu(model_) ? "cuda" : "cpu";
  card["weights"] = weights_.empty() ? json(nullptr) : json(weights_);
  json params = json::array();
  int64_t total = 0;
  for (const json &param : model_.at("params")) {
    std::vector<int64_t> shape = shapeOf(param);
    int64_t count = 1;
    for (int64_t dim : shape)
      count *= dim;
    total += count;
    params.push_back({{"name", param.at("name")}, {"shape", shape}, {"count", count}});
  }
  card["parameters"] = params;
  card["parameter_count"] = total;
  if (model_.contains("optimizer"))
    card["optimizer"] = model_["optimizer"];
  card["training"] = trainingMetadata_;
  card["max_batch"] = batching_.maxBatch;
  return card;
}
