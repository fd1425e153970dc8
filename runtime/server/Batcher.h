//===- Batcher.h - Dynamic batching of inference requests -------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The inference requests one event loop has received for one model, merged
// into calls of the compiled predict function. A batch runs, in arrival
// order, as soon as the queued examples fill --max-batch, or when it has
// waited long enough for others:
//   - `--max-delay-us auto` (the default): until every connection that is
//     expected to send again soon has a request queued (the event loop
//     counts them: expectSenders), at most kAutoMaxDelay. A closed-loop
//     client (one request after the other, as wrk's connections and most
//     load balancers' pools) is expected once its last answer has gone out;
//     so a lone client never waits, and 16 clients on a loop are batched
//     together instead of in the pieces that happened to arrive during the
//     previous call.
//   - `--max-delay-us D`: until the oldest request has waited D
//     microseconds (0: the end of the loop's current round, with whatever
//     its connections have sent).
// The results are handed back as row ranges of the batch's outputs,
// without copying.
//
// A Batcher has no thread of its own: its event loop asks when the next
// batch is due, and runs it on the loop's thread (EventLoop.cpp says why);
// a batch of 64 rows or more that no other loop's batch runs beside uses
// every compute thread (OpenMP), so that large requests still get the
// whole machine.
// The bound on waiting requests (--max-queue) is the model's, shared by
// every loop's Batcher.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SERVER_BATCHER_H
#define KILN_RUNTIME_SERVER_BATCHER_H

#include "Metrics.h"
#include "ModelBinary.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace kiln_server {

using kiln_binary::TensorPtr;

/// One request's rows [begin, begin + rows) of a batch's outputs.
struct BatchSlice {
  std::shared_ptr<const std::vector<TensorPtr>> outputs;
  int64_t begin = 0, rows = 0;
  double queueSeconds = 0, computeSeconds = 0;
};

/// How long a batch waits for the connections expected to send, at most, in
/// the default (`auto`) mode: about one small batch's compute.
constexpr std::chrono::microseconds kAutoMaxDelay{500};

struct BatcherOptions {
  int64_t maxBatch = 64; ///< examples per call; a larger request runs alone, in chunks
  /// How long the oldest request may wait for others; unset: `auto` (above).
  std::optional<int64_t> maxDelayUs;
  int64_t maxQueue = 1024; ///< requests waiting, over every loop; more are refused
  /// Compute threads a large batch may use when no other loop is
  /// computing (--threads); other batches run on their loop's thread only.
  int32_t threads = 1;
};

class Batcher {
public:
  using Clock = std::chrono::steady_clock;
  /// Computes the outputs of a batch: inputs in the model's order, each
  /// [rows, ...].
  using Executor = std::function<std::vector<TensorPtr>(const std::vector<kiln_tensor_t *> &inputs)>;

  /// `waiting` counts the model's waiting requests over every Batcher.
  Batcher(Executor execute, BatcherOptions options, ModelMetrics &metrics, std::atomic<int64_t> &waiting);
  ~Batcher();
  Batcher(const Batcher &) = delete;
  Batcher &operator=(const Batcher &) = delete;

  /// Queues one request (its inputs, each with `rows` rows), known to the
  /// caller by `tag`. Returns false when the model's queue is full.
  bool submit(uint64_t tag, std::vector<TensorPtr> inputs, int64_t rows);
  /// When the next batch is due; nothing when no request waits.
  std::optional<Clock::time_point> due() const;
  /// Whether due() depends on expectSenders (auto mode, requests queued).
  bool waitsForSenders() const { return !options_.maxDelayUs && !queue_.empty(); }
  /// How many of the loop's connections are expected to send this model a
  /// request soon and have none queued (auto mode: the batch waits for them).
  void expectSenders(size_t connections) { expectedSenders_ = connections; }

  /// A request's answer: its rows of the outputs, or the model's failure.
  struct Answer {
    uint64_t tag;
    BatchSlice slice;
    std::exception_ptr failure;
  };
  /// Runs the batches that are due at `now` (every queued request when
  /// `flush`), and returns their answers in arrival order.
  std::vector<Answer> runDue(Clock::time_point now, bool flush);

private:
  struct Job {
    uint64_t tag;
    std::vector<TensorPtr> inputs;
    int64_t rows;
    Clock::time_point queued;
  };
  /// Runs `jobs` (`rows` examples in all) as one batch; appends the answers.
  void execute(std::vector<Job> &jobs, int64_t rows, std::vector<Answer> &answers);
  std::vector<TensorPtr> executeInChunks(const std::vector<kiln_tensor_t *> &inputs, int64_t rows);

  Executor execute_;
  BatcherOptions options_;
  ModelMetrics &metrics_;
  std::atomic<int64_t> &waiting_;
  std::deque<Job> queue_;
  int64_t queuedRows_ = 0;
  size_t expectedSenders_ = 0;
};

} // namespace kiln_server

#endif // KILN_RUNTIME_SERVER_BATCHER_H
