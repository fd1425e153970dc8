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
#include <map>

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
  // apply's gradient arguments, by the names the gradient results carry.
  std::map<std::string, size_t> gradientArg, paramIndex;
  for (const json &input : model["apply"].at("inputs")) {
    std::vector<int64_t> shape = shapeOf(input);
    kiln_tensor_t *tensor = nullptr;
    check(kiln_tensor_create(KILN_F32, int32_t(shape.size()), shape.data(), &tensor));
    gradientArg[input.at("name").get<std::string>()] = grads_.size();
    grads_.emplace_back(tensor);
  }
  const json &params = model.at("params");
  for (size_t p = 0; p < params.size(); ++p)
    paramIndex["new_" + params[p].at("name").get<std::string>()] = p;
  size_t total = 0;
  for (const json &result : grad.at("results")) {
    std::string name = result.at("name").get<std::string>();
    if (auto it = gradientArg.find(name); it != gradientArg.end())
      roles_.push_back({ResultKind::Gradient, it->second});
    else if (auto it = paramIndex.find(name); it != paramIndex.end())
      roles_.push_back({ResultKind::NewParam, it->second});
    else
      roles_.push_back({ResultKind::Value, numValues_++});
    resultTypes_.push_back(dtypeOf(result));
    std::vector<int64_t> shape = shapeOf(result);
    resultRanks_.push_back(int32_t(shape.size()));
    int64_t count = 1;
    for (int64_t dim : shape)
      count *= dim;
    total += size_t(count);
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
    for (const TensorPtr &result : owned) {
      const float *values = static_cast<const float *>(kiln_tensor_const_data(result.get()));
      for (int64_t i = 0, n = kiln_tensor_num_elements(result.get()); i < n; ++i)
        *out++ = values[i] * weight;
    }
  }

  auto start = std::chrono::steady_clock::now();
  mpi_.allreduceSum(packed_.data(), packed_.size(), "the gradient allreduce of step " + std::to_string(stepNumber));
  allreduceSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++steps_;

  std::vector<double> values(numValues_);
  const float *in = packed_.data();
  for (const ResultRole &role : roles_) {
    if (role.kind == ResultKind::Value) {
      values[role.index] = *in++;
      continue;
    }
    kiln_tensor_t *target = role.kind == ResultKind::Gradient ? grads_[role.index].get() : params[role.index].get();
    size_t bytes = kiln_tensor_byte_size(target);
    std::memcpy(kiln_tensor_data(target), in, bytes);
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
  return values;
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
