//===- Metrics.h - The server's Prometheus metrics --------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Counters and histograms of one served model, updated lock-free by the HTTP
// threads and the batcher, and written in Prometheus' text format at
// `GET /metrics`. Names follow Triton Inference Server's where Triton has
// one (nv_inference_*), so that its dashboards work; the histograms Triton
// lacks are kiln_*.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SERVER_METRICS_H
#define KILN_RUNTIME_SERVER_METRICS_H

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln_server {

/// A Prometheus histogram with fixed upper bounds; observe() is lock-free.
class Histogram {
public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  /// `name_bucket{labels,le="..."} n` lines, then _sum and _count.
  void write(std::string &out, const std::string &name, const std::string &labels) const;

private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> buckets_; ///< one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sumMicros_{0}; ///< the sum, in millionths (atomic add)
};

/// Why a request failed, as Triton's `reason` label spells it.
enum class FailureReason { Rejected, Other };

/// What one model's requests did.
struct ModelMetrics {
  ModelMetrics();
  std::atomic<uint64_t> requestSuccess{0};
  std::array<std::atomic<uint64_t>, 2> requestFailure{}; ///< by FailureReason
  std::atomic<uint64_t> inferenceCount{0};               ///< examples computed
  std::atomic<uint64_t> executionCount{0};               ///< compiled predict calls
  std::atomic<uint64_t> requestMicros{0};                ///< cumulative, as Triton's *_duration_us
  std::atomic<uint64_t> queueMicros{0};
  std::atomic<uint64_t> computeMicros{0};
  Histogram requestSeconds; ///< end to end, parse to answer
  Histogram batchSize;      ///< examples per compiled call

  void recordFailure(FailureReason reason) { ++requestFailure[size_t(reason)]; }
  /// Appends this model's metrics in the text format.
  void write(std::string &out, const std::string &model, const std::string &version) const;
};

} // namespace kiln_server

#endif // KILN_RUNTIME_SERVER_METRICS_H
