//===- TrainingState.cpp - Training state: initial values, checkpoints ----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Initial values and training checkpoints for the model binaries and the
// JIT's training session; see TrainingState.h. Built without relying
// on exceptions, as the JIT library that links it is.
//
//===----------------------------------------------------------------------===//

#include "TrainingState.h"

#include <cmath>
#include <memory>

namespace kiln_binary {

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + (shape[i] < 0 ? std::string("N") : std::to_string(shape[i]));
  return text + "]";
}

const char *nonFiniteKind(double value) { return std::isnan(value) ? "NaN" : "infinite"; }

std::string nonFiniteValues(const kiln_tensor_t *tensor) {
  const float *values = static_cast<const float *>(kiln_tensor_const_data(tensor));
  for (int64_t i = 0, n = kiln_tensor_num_elements(tensor); i < n; ++i)
    if (!std::isfinite(values[i]))
      return std::string(nonFiniteKind(values[i])) + " values (value " + std::to_string(i) + ")";
  return "";
}

kiln_init_kind_t initKind(const std::string &name) {
  if (name == "zeros")
    return KILN_INIT_ZEROS;
  if (name == "ones")
    return KILN_INIT_ONES;
  if (name == "glorot_uniform")
    return KILN_INIT_GLOROT_UNIFORM;
  return KILN_INIT_CONSTANT;
}

int32_t dropoutSeed(uint64_t seed) { return int32_t(uint32_t(kiln_param_stream_seed(seed, "dropout"))); }

std::string optimizerStateName(const std::string &param, const std::string &slot) {
  return "optimizer/" + param + "/" + slot;
}

kiln_status_t saveTrainingCheckpoint(const std::string &path, const std::string &model,
                                     const std::vector<NamedTensor> &params, const std::vector<NamedTensor> &state,
                                     int64_t step, const std::vector<std::pair<std::string, std::string>> &metadata) {
  kiln_checkpoint_t *checkpoint = nullptr;
  if (kiln_status_t status = kiln_checkpoint_create(&checkpoint))
    return status;
  std::unique_ptr<kiln_checkpoint_t, void (*)(kiln_checkpoint_t *)> owner(checkpoint, kiln_checkpoint_free);
  for (const std::vector<NamedTensor> *group : {&params, &state})
    for (const NamedTensor &entry : *group)
      if (kiln_status_t status = kiln_checkpoint_add(checkpoint, entry.name.c_str(), entry.tensor))
        return status;
  std::vector<std::pair<std::string, std::string>> all = {
      {"format", "kiln"}, {"model", model}, {"step", std::to_string(step)}};
  all.insert(all.end(), metadata.begin(), metadata.end());
  for (const auto &[key, value] : all)
    if (kiln_status_t status = kiln_checkpoint_set_metadata(checkpoint, key.c_str(), value.c_str()))
      return status;
  return kiln_checkpoint_save(checkpoint, path.c_str());
}

kiln_status_t checkCheckpointModel(const kiln_checkpoint_t *checkpoint, const std::string &path,
                                   const std::string &model) {
  const char *saved = kiln_checkpoint_metadata(checkpoint, "model");
  if (!saved || model == saved)
    return nullptr;
  return kiln_status_create(KILN_STATUS_FAILED_PRECONDITION, "%s: this checkpoint was saved by model '%s', not by '%s'",
                            path.c_str(), saved, model.c_str());
}

kiln_status_t checkpointStep(const kiln_checkpoint_t *checkpoint, const std::string &path, int64_t *step) {
  *step = 0;
  const char *text = kiln_checkpoint_metadata(checkpoint, "step");
  if (!text)
    return nullptr;
  std::string value = text;
  bool digits = !value.empty() && value.size() <= 16 && value.find_first_not_of("0123456789") == std::string::npos;
  int64_t parsed = digits ? std::stoll(value) : -1;
  if (parsed < 0 || parsed > (int64_t(1) << 53))
    return kiln_status_create(KILN_STATUS_INVALID_ARGUMENT,
                              "%s: its metadata \"step\" is \"%s\", not a whole number of steps (0 or more); this "
                              "is not a checkpoint `train --save` wrote",
                              path.c_str(), value.c_str());
  *step = parsed;
  return nullptr;
}

namespace {
/// Copies `name` into `dst`. `missing` is the message when the checkpoint
/// lacks it; a value that is not finite fails as "<path>: <what> '<name>'
/// holds NaN values (value 3)<diverged>".
kiln_status_t readTensor(const kiln_checkpoint_t *checkpoint, const std::string &path, const std::string &name,
                         kiln_tensor_t *dst, const std::string &missing, const char *what, const char *diverged) {
  if (!kiln_checkpoint_find(checkpoint, name.c_str()))
    return kiln_status_create(KILN_STATUS_FAILED_PRECONDITION, "%s", missing.c_str());
  if (kiln_status_t status = kiln_checkpoint_copy_to(checkpoint, name.c_str(), dst))
    return status;
  if (std::string bad = nonFiniteValues(dst); !bad.empty())
    return kiln_status_create(KILN_STATUS_FAILED_PRECONDITION, "%s: %s '%s' holds %s%s", path.c_str(), what,
                              name.c_str(), bad.c_str(), diverged);
  return nullptr;
}
} // namespace

kiln_status_t readCheckpointParam(const kiln_checkpoint_t *checkpoint, const std::string &path, const std::string &name,
                                  kiln_tensor_t *dst) {
  const int64_t *shape = kiln_tensor_shape(dst);
  std::string type = "f32" + formatShape(std::vector<int64_t>(shape, shape + kiln_tensor_rank(dst)));
  return readTensor(checkpoint, path, name, dst,
                    path + ": no tensor '" + name + "', a parameter of the model (" + type + ")", "parameter",
                    "; these weights came from a run that diverged");
}

kiln_status_t readCheckpointState(const kiln_checkpoint_t *checkpoint, const std::string &path, const std::string &name,
                                  kiln_tensor_t *dst) {
  return readTensor(checkpoint, path, name, dst, path + ": no optimizer state '" + name + "' to resume from",
                    "optimizer state", "; this checkpoint came from a run that diverged");
}

} // namespace kiln_binary
