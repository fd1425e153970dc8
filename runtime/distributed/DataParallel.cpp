//===- DataParallel.cpp - One training step over the ranks of an MPI job --===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// See DataParallel.h. Why the result equals one process's: the loss is a
// mean over the batch, so one process's gradient on B examples is
// sum_r (n_r / B) * g_r, where g_r is the mean gradient of rank r's n_r
// examples. Each rank scales its gradient by n_r / B before the sum; uneven
// shards (B not a multiple of the ranks) need nothing more.
//
//===----------------------------------------------------------------------===//

#include "distributed/DataParallel.h"

#include <chrono>
#include <cstring>

using namespace kiln_binary;

namespace kiln_distributed {

DataParallelStep::DataParallelStep(const json &model, const ModelDescriptor &descriptor, Mpi &mpi)
    : model_(model), descriptor_(descriptor), mpi_(mpi) {
  if (runsOnGpu(model))
    fail("data-parallel training over MPI runs models compiled for the CPU; this one was compiled with "
         "--target=cuda");
  if (!model.contains("train_grad") || !model.contains("apply") || !descriptor.trainGrad || !descriptor.apply)
    fail("this model binary has no separate gradient and update entry points; rebuild it with this kilnc to train "
         "it over MPI");
  const json &grad = model["train_grad"];
  seeded_ = grad.value("seeded", false);
  const json &results = grad.at("results");
  const json &params = model.at("params");
  numValues_ = results.size() - params.size();
  size_t total = numValues_;
  for (const json &result : results) {
    resultTypes_.push_back(dtypeOf(result));
    resultRanks_.push_back(int32_t(shapeOf(result).size()));
  }
  for (const json &param : params) {
    std::vector<int64_t> shape = shapeOf(param);
    kiln_tensor_t *tensor = nullptr;
    check(kiln_tensor_create(KILN_F32, int32_t(shape.size()), shape.data(), &tensor));
    grads_.emplace_back(tensor);
    total += size_t(kiln_tensor_num_elements(tensor));
  }
  packed_.resize(total);
}

std::pair<int64_t, int64_t> DataParallelStep::shard(int64_t begin, int64_t end) const {
  int64_t count = end - begin, ranks = mpi_.size(), rank = mpi_.rank();
  return {begin + count * rank / ranks, begin + count * (rank + 1) / ranks};
}

std::vector<double> DataParallelStep::step(const std::vector<TensorPtr> &params, const std::vector<TensorPtr> &state,
                                           kiln_tensor_t *lr, kiln_tensor_t *step, kiln_tensor_t *seed,
                                           const std::vector<TensorPtr> &inputs, int64_t shardCount,
                                           int64_t globalCount, int64_t stepNumber) {
  // This rank's share of the global mean.
  float weight = float(double(shardCount) / double(globalCount));
  std::fill(packed_.begin(), packed_.end(), 0.0f);
  if (shardCount > 0) {
    std::vector<kiln_tensor_t *> args;
    for (const TensorPtr &param : params)
      args.push_back(param.get());
    for (const TensorPtr &input : inputs)
      args.push_back(input.get());
    if (seeded_) {
      // Each rank draws its own dropout masks: the same key would give its
      // first row the masks of every other rank's first row.
      if (!rankSeed_) {
        kiln_tensor_t *made = nullptr;
        check(kiln_tensor_create(KILN_I32, 0, nullptr, &made));
        rankSeed_.reset(made);
        int32_t base = *static_cast<const int32_t *>(kiln_tensor_const_data(seed));
        *static_cast<int32_t *>(kiln_tensor_data(made)) = int32_t(uint32_t(base) + 0x9E3779B9u * uint32_t(mpi_.rank()));
      }
      args.push_back(rankSeed_.get());
      args.push_back(step);
    }
    std::vector<kiln_tensor_t *> results;
    invokeModel(model_, descriptor_.trainGrad, args, resultTypes_, resultRanks_, results);
    std::vector<TensorPtr> owned;
    for (kiln_tensor_t *result : results)
      owned.emplace_back(result);
    float *out = packed_.data();
    for (size_t r = numValues_; r < owned.size(); ++r) {
      const float *gradient = static_cast<const float *>(kiln_tensor_const_data(owned[r].get()));
      for (int64_t i = 0, n = kiln_tensor_num_elements(owned[r].get()); i < n; ++i)
        *out++ = gradient[i] * weight;
    }
    for (size_t r = 0; r < numValues_; ++r)
      *out++ = *static_cast<const float *>(kiln_tensor_const_data(owned[r].get())) * weight;
  }

  auto start = std::chrono::steady_clock::now();
  mpi_.allreduceSum(packed_.data(), packed_.size(), "the gradient allreduce of step " + std::to_string(stepNumber));
  allreduceSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++steps_;

  const float *in = packed_.data();
  for (const TensorPtr &gradient : grads_) {
    size_t bytes = kiln_tensor_byte_size(gradient.get());
    std::memcpy(kiln_tensor_data(gradient.get()), in, bytes);
    in += bytes / sizeof(float);
  }
  std::vector<kiln_tensor_t *> args;
  for (const TensorPtr &param : params)
    args.push_back(param.get());
  for (const TensorPtr &slot : state)
    args.push_back(slot.get());
  args.push_back(lr);
  args.push_back(step);
  for (const TensorPtr &gradient : grads_)
    args.push_back(gradient.get());
  std::vector<kiln_tensor_t *> none;
  invokeModel(model_, descriptor_.apply, args, {}, {}, none);
  return std::vector<double>(in, in + numValues_);
}

void DataParallelStep::broadcastFromLeader(const std::vector<TensorPtr> &params, const std::vector<TensorPtr> &state,
                                           int64_t &step) {
  for (const std::vector<TensorPtr> *group : {&params, &state})
    for (const TensorPtr &tensor : *group)
      mpi_.broadcast(kiln_tensor_data(tensor.get()), kiln_tensor_byte_size(tensor.get()), 0,
                     "the broadcast of the initial parameters and state");
  mpi_.broadcast(&step, sizeof step, 0, "the broadcast of the step count");
}

} // namespace kiln_distributed
