//===- Batcher.h - Dynamic batching of inference requests -------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Requests from many connections wait in one bounded queue. A single
// worker thread takes them in arrival order and merges them into one call
// of the compiled predict function: it runs as soon as the queued examples
// fill --max-batch, or when the oldest request has waited --max-delay-us
// (0: run as soon as the model is free with whatever is queued, so that a
// lone request never waits, while under load the requests that arrive
// during one call form the next batch). The results are handed back as row
// ranges of the batch's outputs, without copying.
//
// One worker is enough: the compiled code itself runs on every core
// (OpenMP), and one call on a batch of B is much faster than B calls.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SERVER_BATCHER_H
#define KILN_RUNTIME_SERVER_BATCHER_H

#include "Metrics.h"
#include "ModelBinary.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace kiln_server {

using kiln_binary::TensorPtr;

/// One request's rows [begin, begin + rows) of a batch's outputs.
struct BatchSlice {
  std::shared_ptr<const std::vector<TensorPtr>> outputs;
  int64_t begin = 0, rows = 0;
  double queueSeconds = 0, computeSeconds = 0;
};

struct BatcherOptions {
  int64_t maxBatch = 64;   ///< examples per call; a larger request runs alone, in chunks
  int64_t maxDelayUs = 0;  ///< how long the oldest request may wait for others
  int64_t maxQueue = 1024; ///< requests waiting; more are refused
  int32_t threads = 1;     ///< the compiled code's threads (--threads)
};

class Batcher {
public:
  /// Computes the outputs of a batch: inputs in the model's order, each
  /// [rows, ...].
  using Executor = std::function<std::vector<TensorPtr>(const std::vector<kiln_tensor_t *> &inputs)>;

  Batcher(Executor execute, BatcherOptions options, ModelMetrics &metrics);
  /// Finishes the queued requests, then stops the worker.
  ~Batcher();

  /// Queues one request (its inputs, each with `rows` rows). Returns no
  /// future when the queue is full.
  std::optional<std::future<BatchSlice>> submit(std::vector<TensorPtr> inputs, int64_t rows);

private:
  using Clock = std::chrono::steady_clock;
  struct Job {
    std::vector<TensorPtr> inputs;
    int64_t rows;
    Clock::time_point queued;
    std::promise<BatchSlice> done;
  };
  void run();
  /// Runs `jobs` (`rows` examples in all) as one batch and answers them.
  void execute(std::vector<Job> &jobs, int64_t rows);
  std::vector<TensorPtr> executeInChunks(const std::vector<kiln_tensor_t *> &inputs, int64_t rows);

  Executor execute_;
  BatcherOptions options_;
  ModelMetrics &metrics_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  int64_t queuedRows_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

} // namespace kiln_server

#endif // KILN_RUNTIME_SERVER_BATCHER_H
