//===- Batcher.cpp - Dynamic batching of inference requests ---------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//

#include "Batcher.h"

#include "core/LibOmp.h"

#include <algorithm>
#include <cstring>

using namespace kiln_server;
using kiln_binary::check;

Batcher::Batcher(Executor execute, BatcherOptions options, ModelMetrics &metrics, std::atomic<int64_t> &waiting)
    : execute_(std::move(execute)), options_(options), metrics_(metrics), waiting_(waiting) {}

Batcher::~Batcher() { waiting_ -= int64_t(queue_.size()); }

bool Batcher::submit(uint64_t tag, std::vector<TensorPtr> inputs, int64_t rows) {
  if (waiting_.fetch_add(1) >= options_.maxQueue) {
    --waiting_;
    return false;
  }
  queue_.push_back(Job{tag, std::move(inputs), rows, Clock::now()});
  queuedRows_ += rows;
  return true;
}

std::optional<Batcher::Clock::time_point> Batcher::due() const {
  if (queue_.empty())
    return std::nullopt;
  Clock::time_point oldest = queue_.front().queued;
  if (queuedRows_ >= options_.maxBatch)
    return oldest;
  if (options_.maxDelayUs)
    return oldest + std::chrono::microseconds(*options_.maxDelayUs);
  return expectedSenders_ == 0 ? oldest : oldest + kAutoMaxDelay;
}

std::vector<Batcher::Answer> Batcher::runDue(Clock::time_point now, bool flush) {
  std::vector<Answer> answers;
  while (std::optional<Clock::time_point> when = due()) {
    if (!flush && *when > now)
      break;
    // Take requests in arrival order while they fit; the first always goes.
    std::vector<Job> jobs;
    int64_t rows = 0;
    while (!queue_.empty() && (jobs.empty() || rows + queue_.front().rows <= options_.maxBatch)) {
      rows += queue_.front().rows;
      queuedRows_ -= queue_.front().rows;
      jobs.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    waiting_ -= int64_t(jobs.size());
    execute(jobs, rows, answers);
  }
  return answers;
}

namespace {
/// The rows of several tensors of the same dtype and example shape, stacked.
TensorPtr concatRows(const std::vector<const kiln_tensor_t *> &parts) {
  const kiln_tensor_t *first = parts.front();
  int32_t rank = kiln_tensor_rank(first);
  std::vector<int64_t> shape(kiln_tensor_shape(first), kiln_tensor_shape(first) + rank);
  shape[0] = 0;
  for (const kiln_tensor_t *part : parts)
    shape[0] += kiln_tensor_shape(part)[0];
  kiln_tensor_t *tensor = nullptr;
  check(kiln_tensor_create(kiln_tensor_dtype(first), rank, shape.data(), &tensor));
  char *out = static_cast<char *>(kiln_tensor_data(tensor));
  for (const kiln_tensor_t *part : parts) {
    size_t bytes = kiln_tensor_byte_size(part);
    std::memcpy(out, kiln_tensor_const_data(part), bytes);
    out += bytes;
  }
  return TensorPtr(tensor);
}
} // namespace

std::vector<TensorPtr> Batcher::executeInChunks(const std::vector<kiln_tensor_t *> &inputs, int64_t rows) {
  // A request larger than --max-batch runs --max-batch rows at a time, so
  // that its working memory and each call's duration stay those of a full
  // batch; its outputs are stacked back together.
  std::vector<std::vector<TensorPtr>> chunks;
  for (int64_t begin = 0; begin < rows; begin += options_.maxBatch) {
    int64_t end = std::min(rows, begin + options_.maxBatch);
    std::vector<TensorPtr> slices;
    std::vector<kiln_tensor_t *> chunk;
    for (kiln_tensor_t *input : inputs) {
      slices.push_back(kiln_binary::sliceRows(input, begin, end));
      chunk.push_back(slices.back().get());
    }
    chunks.push_back(execute_(chunk));
  }
  std::vector<TensorPtr> outputs;
  for (size_t i = 0; i < chunks[0].size(); ++i) {
    std::vector<const kiln_tensor_t *> parts;
    for (const std::vector<TensorPtr> &chunk : chunks)
      parts.push_back(chunk[i].get());
    outputs.push_back(concatRows(parts));
  }
  return outputs;
}

namespace {
/// Batches being computed now, by every Batcher of the process (one event
/// loop each): a large batch may take every core only when it is alone.
std::atomic<int> computingBatches{0};
/// Rows from which a batch computed alone uses every compute thread. Below
/// it (every batch of wrk's single-example load), the loops already fill the
/// cores, and a team would only take a core from another loop.
constexpr int64_t kParallelRows = 64;

struct ComputingBatch {
  ComputingBatch(int64_t rows, int32_t threads) {
    bool alone = computingBatches.fetch_add(1) == 0;
    omp_set_num_threads(alone && rows >= kParallelRows ? threads : 1);
  }
  ~ComputingBatch() { --computingBatches; }
};
} // namespace

void Batcher::execute(std::vector<Job> &jobs, int64_t rows, std::vector<Answer> &answers) {
  Clock::time_point start = Clock::now();
  ComputingBatch computing(rows, options_.threads);
  // One request runs on its own tensors; several are stacked.
  std::vector<TensorPtr> stacked;
  std::vector<kiln_tensor_t *> inputs;
  if (jobs.size() == 1) {
    for (const TensorPtr &input : jobs[0].inputs)
      inputs.push_back(input.get());
  } else {
    for (size_t i = 0; i < jobs[0].inputs.size(); ++i) {
      std::vector<const kiln_tensor_t *> parts;
      for (const Job &job : jobs)
        parts.push_back(job.inputs[i].get());
      stacked.push_back(concatRows(parts));
      inputs.push_back(stacked.back().get());
    }
  }
  std::shared_ptr<const std::vector<TensorPtr>> outputs;
  try {
    outputs = std::make_shared<const std::vector<TensorPtr>>(rows > options_.maxBatch ? executeInChunks(inputs, rows)
                                                                                      : execute_(inputs));
  } catch (const kiln_binary::Failure &) {
    // The model failed (the compiled code or the runtime reported an error):
    // each waiting request gets it (a 500 naming it); the server goes on.
    for (Job &job : jobs)
      answers.push_back(Answer{job.tag, BatchSlice(), std::current_exception()});
    return;
  }
  Clock::time_point end = Clock::now();
  double computeSeconds = std::chrono::duration<double>(end - start).count();
  ++metrics_.executionCount;
  metrics_.inferenceCount += uint64_t(rows);
  metrics_.computeMicros += uint64_t(computeSeconds * 1e6);
  metrics_.batchSize.observe(double(rows));
  int64_t begin = 0;
  for (Job &job : jobs) {
    double queueSeconds = std::chrono::duration<double>(start - job.queued).count();
    metrics_.queueMicros += uint64_t(queueSeconds * 1e6);
    answers.push_back(Answer{job.tag, BatchSlice{outputs, begin, job.rows, queueSeconds, computeSeconds}, nullptr});
    begin += job.rows;
  }
}
