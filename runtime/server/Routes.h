//===- Routes.h - What the inference server answers -------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The server's routes over a list of models, independent of how bytes move:
// a request goes in, and either its answer comes out, or (for inference)
// the parsed request, which the caller batches and then turns into the
// answer with finish(). A known path with the wrong method is a 405, not a
// 404. Request bodies are InferProtocol.cpp's.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SERVER_ROUTES_H
#define KILN_RUNTIME_SERVER_ROUTES_H

#include "HttpConnection.h"
#include "InferProtocol.h"

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

namespace kiln_server {

/// An inference request waiting for its batch.
struct Inference {
  ServedModel *model = nullptr;
  InferRequest request;
  bool tfServing = false; ///< TF Serving's :predict, not the Open Inference Protocol
  std::chrono::steady_clock::time_point start;
};

class Routes {
public:
  /// `models` must outlive the routes.
  explicit Routes(const std::vector<std::unique_ptr<ServedModel>> &models) : models_(models) {}

  /// Answers `request` in `response`, or returns the inference it asks for.
  std::optional<Inference> dispatch(HttpRequest &request, HttpResponse &response) const;
  /// The answer to `inference` once its batch has run; `failure` when the
  /// model failed.
  HttpResponse finish(Inference &inference, const BatchSlice &slice, std::exception_ptr failure) const;
  /// The answer to `inference` when its model's queue is full.
  HttpResponse busy(Inference &inference) const;

private:
  ServedModel *findModel(const std::string &name, const std::string &version, HttpResponse &response) const;
  std::optional<Inference> parseInference(ServedModel &model, HttpRequest &request, bool tfServing,
                                          HttpResponse &response) const;
  json serverMetadata() const;
  std::string metricsText() const;

  const std::vector<std::unique_ptr<ServedModel>> &models_;
};

/// Answers each request at once on the calling thread, inference included
/// (each request a batch of its own): the server the HTTP fuzzer and the
/// unit tests drive with bytes from memory.
class ImmediateAnswers : public RequestSink {
public:
  explicit ImmediateAnswers(const Routes &routes) : routes_(routes) {}
  void onRequest(HttpConnection &connection, uint64_t slot, HttpRequest &request) override;

private:
  const Routes &routes_;
};

} // namespace kiln_server

#endif // KILN_RUNTIME_SERVER_ROUTES_H
