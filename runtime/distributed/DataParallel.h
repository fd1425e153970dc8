//===- DataParallel.h - One training step over the ranks of an MPI job -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Data-parallel training (docs/distributed.md): every rank holds the same
// parameters and optimizer state, computes the gradient of its shard of
// each global batch with the compiled `<Model>_grad` (or, with dropout or
// batch_norm, `_grad_training`), and all ranks sum their example-weighted
// gradients, losses, metrics and new moving statistics in one allreduce.
// Every rank then applies the same update with the compiled `<Model>_apply`
// and stores the same moving statistics, so they stay identical without
// ever sending parameters again.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_DISTRIBUTED_DATAPARALLEL_H
#define KILN_RUNTIME_DISTRIBUTED_DATAPARALLEL_H

#include "ModelBinary.h"
#include "distributed/Mpi.h"

#include <utility>
#include <vector>

namespace kiln_distributed {

class DataParallelStep {
public:
  /// Fails if the model lacks the entry points (a binary compiled before
  /// they existed) or does not run on the CPU.
  DataParallelStep(const kiln_binary::json &model, const kiln_binary::ModelDescriptor &descriptor, Mpi &mpi);

  /// The rows [first, last) of the global batch [begin, end) this rank
  /// computes: consecutive, as even as possible (sizes differ by at most
  /// one; a rank may get none when the batch has fewer rows than ranks).
  std::pair<int64_t, int64_t> shard(int64_t begin, int64_t end) const;

  /// One step on `globalCount` examples, of which this rank holds `inputs`
  /// (its shard, `shardCount` rows; unused when 0). Updates `params` and
  /// `state` in place, identically on every rank; returns the loss and the
  /// metrics averaged over the global batch, as train_step would. Each
  /// rank's batch_norm layers normalise with its shard's statistics (as
  /// PyTorch's DistributedDataParallel without SyncBatchNorm); the new
  /// moving statistics are the ranks' example-weighted mean.
  std::vector<double> step(const std::vector<kiln_binary::TensorPtr> &params,
                           const std::vector<kiln_binary::TensorPtr> &state, kiln_tensor_t *lr, kiln_tensor_t *step,
                           kiln_tensor_t *seed, const std::vector<kiln_binary::TensorPtr> &inputs, int64_t shardCount,
                           int64_t globalCount, int64_t stepNumber);

  /// Makes every rank's parameters, optimizer state and step rank 0's.
  void broadcastFromLeader(const std::vector<kiln_binary::TensorPtr> &params,
                           const std::vector<kiln_binary::TensorPtr> &state, int64_t &step);

  /// Seconds spent in the gradient allreduce, and the steps it served.
  double allreduceSeconds() const { return allreduceSeconds_; }
  int64_t steps() const { return steps_; }

private:
  const kiln_binary::json &model_;
  const kiln_binary::ModelDescriptor &descriptor_;
  Mpi &mpi_;
  bool seeded_;
  /// What each result of the training gradient is, in its order: the loss
  /// or a metric (Value), the gradient of apply's gradient argument
  /// `index`, or the new value of parameter `index` (batch_norm's moving
  /// statistics). All are averaged over the ranks.
  enum class ResultKind { Value, Gradient, NewParam };
  struct ResultRole {
    ResultKind kind;
    size_t index;
  };
  std::vector<ResultRole> roles_;
  size_t numValues_ = 0; ///< the loss and the metrics
  std::vector<kiln_dtype_t> resultTypes_;
  std::vector<int32_t> resultRanks_;
  /// One buffer for the allreduce: every result, in the training gradient's
  /// order.
  std::vector<float> packed_;
  std::vector<kiln_binary::TensorPtr> grads_; ///< apply's gradient arguments
  kiln_binary::TensorPtr rankSeed_;
  double allreduceSeconds_ = 0;
  int64_t steps_ = 0;
};

} // namespace kiln_distributed

#endif // KILN_RUNTIME_DISTRIBUTED_DATAPARALLEL_H
