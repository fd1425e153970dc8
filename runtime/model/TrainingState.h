//===- TrainingState.h - Training state: initial values, checkpoints -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// What training state is, in one place: how parameters and dropout seeds
// start, and what a checkpoint holds. The model binaries (ModelSupport.cpp,
// ModelTraining.cpp) and kiln::TrainingSession (compiler/TrainingSession.cpp)
// both go through these functions, so that a session and `train --seed S`
// start from the same values and read and write the same files. A checkpoint is a safetensors file holding the
// parameters under their own names and the optimizer state as `optimizer/<param>/<slot>`, with the metadata "format" =
// "kiln", "model" = the model's name and "step" = the number of training steps taken.
//
// Nothing here throws (the JIT library is built without exceptions): errors
// come back as runtime statuses (kiln/runtime.h) whose messages start with
// the file's path.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_MODEL_TRAININGCHECKPOINT_H
#define KILN_RUNTIME_MODEL_TRAININGCHECKPOINT_H

#include "kiln/runtime.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kiln_binary {

/// `[N, 28, 28, 1]` (a negative dim is the batch, N).
std::string formatShape(const std::vector<int64_t> &shape);
/// "NaN" or "infinite", for messages about a value that is not finite.
const char *nonFiniteKind(double value);
/// "" if every value of an f32 tensor (on the host) is finite; else, for
/// messages, "NaN values (value 3)" about the first that is not.
std::string nonFiniteValues(const kiln_tensor_t *tensor);

/// The initializer kind of a parameter's "init" ("zeros", "ones",
/// "glorot_uniform"; anything else is "constant").
kiln_init_kind_t initKind(const std::string &name);
/// train_step's `seed` argument (models with dropout) for `train --seed
/// seed`: its own stream of the seed, folded to 32 bits, so that the masks
/// differ from the initializers' and the shuffle's draws.
int32_t dropoutSeed(uint64_t seed);

/// The checkpoint name of an optimizer state slot: `optimizer/<param>/<slot>`.
std::string optimizerStateName(const std::string &param, const std::string &slot);

/// A tensor of a checkpoint with the name it has there.
struct NamedTensor {
  std::string name;
  const kiln_tensor_t *tensor;
};

/// Writes a training checkpoint (atomically, through kiln_checkpoint_save):
/// `params` and `state` (state names as optimizerStateName makes them), the
/// metadata format/model/step, then `metadata` (e.g. the epoch's metrics).
/// The tensors must be on the host.
kiln_status_t saveTrainingCheckpoint(const std::string &path, const std::string &model,
                                     const std::vector<NamedTensor> &params, const std::vector<NamedTensor> &state,
                                     int64_t step, const std::vector<std::pair<std::string, std::string>> &metadata);

/// Fails (FAILED_PRECONDITION) if `checkpoint`, read from `path`, says it was
/// saved by a model other than `model` (its metadata "model"); a checkpoint
/// without that metadata passes.
kiln_status_t checkCheckpointModel(const kiln_checkpoint_t *checkpoint, const std::string &path,
                                   const std::string &model);
/// The checkpoint's step count (metadata "step"; 0 without it): a whole
/// number from 0 to 2^53 (the step reaches the compiled code as a float,
/// exact up to 2^24 and still ordered up to 2^53).
kiln_status_t checkpointStep(const kiln_checkpoint_t *checkpoint, const std::string &path, int64_t *step);
/// Copies the parameter `name` into `dst` (same shape, f32), failing if the
/// checkpoint lacks it or it holds values that are not finite.
kiln_status_t readCheckpointParam(const kiln_checkpoint_t *checkpoint, const std::string &path, const std::string &name,
                                  kiln_tensor_t *dst);
/// The same for an optimizer state slot `name` (`optimizer/<param>/<slot>`).
kiln_status_t readCheckpointState(const kiln_checkpoint_t *checkpoint, const std::string &path, const std::string &name,
                                  kiln_tensor_t *dst);

} // namespace kiln_binary

#endif // KILN_RUNTIME_MODEL_TRAININGCHECKPOINT_H
