//===- Metrics.cpp - The server's Prometheus metrics ----------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//

#include "Metrics.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

using namespace kiln_server;

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1) {}

void Histogram::observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket])
    ++bucket;
  ++buckets_[bucket];
  ++count_;
  sumMicros_ += uint64_t(std::llround(value * 1e6));
}

namespace {
template <typename... Args> void appendf(std::string &out, const char *format, Args... args) {
  if constexpr (sizeof...(Args) == 0) {
    out.append(format); // no arguments: the text as it is, never a format
  } else {
    char line[512];
    int n = std::snprintf(line, sizeof line, format, args...);
    out.append(line, size_t(std::min(n, int(sizeof line) - 1)));
  }
}
} // namespace

void Histogram::write(std::string &out, const std::string &name, const std::string &labels) const {
  // Prometheus buckets are cumulative: each counts every value <= its bound.
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load();
    if (i < bounds_.size())
      appendf(out, "%s_bucket{%s,le=\"%g\"} %" PRIu64 "\n", name.c_str(), labels.c_str(), bounds_[i], cumulative);
    else
      appendf(out, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name.c_str(), labels.c_str(), cumulative);
  }
  appendf(out, "%s_sum{%s} %.6f\n", name.c_str(), labels.c_str(), double(sumMicros_.load()) * 1e-6);
  appendf(out, "%s_count{%s} %" PRIu64 "\n", name.c_str(), labels.c_str(), count_.load());
}

ModelMetrics::ModelMetrics()
    : requestSeconds({0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}),
      batchSize({1, 2, 4, 8, 16, 32, 64, 128, 256, 512}) {}

void ModelMetrics::write(std::string &out, const std::string &model, const std::string &version) const {
  std::string labels = "model=\"" + model + "\",version=\"" + version + "\"";
  auto counter = [&](const char *name, const char *help, uint64_t value) {
    appendf(out, "# HELP %s %s\n# TYPE %s counter\n%s{%s} %" PRIu64 "\n", name, help, name, name, labels.c_str(),
            value);
  };
  counter("nv_inference_request_success", "Number of successful inference requests, all batch sizes",
          requestSuccess.load());
  appendf(out, "# HELP nv_inference_request_failure Number of failed inference requests, all batch sizes\n"
               "# TYPE nv_inference_request_failure counter\n");
  const char *reasons[] = {"REJECTED", "OTHER"};
  for (size_t i = 0; i < requestFailure.size(); ++i)
    appendf(out, "nv_inference_request_failure{%s,reason=\"%s\"} %" PRIu64 "\n", labels.c_str(), reasons[i],
            requestFailure[i].load());
  counter("nv_inference_count", "Number of inferences performed (examples, not requests)", inferenceCount.load());
  counter("nv_inference_exec_count", "Number of model executions performed (batches)", executionCount.load());
  counter("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds",
          requestMicros.load());
  counter("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds",
          queueMicros.load());
  counter("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds",
          computeMicros.load());
  appendf(out, "# HELP kiln_inference_request_duration_seconds Inference request duration, parse to answer\n"
               "# TYPE kiln_inference_request_duration_seconds histogram\n");
  requestSeconds.write(out, "kiln_inference_request_duration_seconds", labels);
  appendf(out, "# HELP kiln_inference_batch_size Examples per model execution (dynamic batching)\n"
               "# TYPE kiln_inference_batch_size histogram\n");
  batchSize.write(out, "kiln_inference_batch_size", labels);
}
