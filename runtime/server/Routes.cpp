//===- Routes.cpp - What the inference server answers ---------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//

#include "Routes.h"

#include <charconv>

// The page for people at `/` (page/index.html, embedded by the build).
#include "ServerPage.html.inc"

using namespace kiln_server;

namespace {

const char *const kJson = "application/json";

void sendJson(HttpResponse &response, const json &value) { response.setContent(value.dump(), kJson); }

/// What a path names: a route, and the model and version it is about.
enum class Route {
  None,
  Page,
  Metrics,
  ServerMetadata,
  Live,
  Ready,
  RepositoryIndex,
  ModelMetadata,
  ModelReady,
  ModelCard,
  Infer,
  TfStatus,
  TfPredict
};

struct Target {
  Route route = Route::None;
  std::string model, version;
};

std::vector<std::string> splitPath(const std::string &path) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin < path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos)
      end = path.size();
    if (end > begin)
      parts.push_back(path.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

Target resolve(const std::string &path) {
  std::vector<std::string> p = splitPath(path);
  Target target;
  size_t n = p.size();
  if (n == 0)
    target.route = Route::Page;
  else if (n == 1 && p[0] == "metrics")
    target.route = Route::Metrics;
  else if (n == 1 && p[0] == "v2")
    target.route = Route::ServerMetadata;
  else if (n == 3 && p[0] == "v2" && p[1] == "health" && (p[2] == "live" || p[2] == "ready"))
    target.route = p[2] == "live" ? Route::Live : Route::Ready;
  else if (n == 3 && p[0] == "v2" && p[1] == "repository" && p[2] == "index")
    target.route = Route::RepositoryIndex;
  else if (n >= 3 && p[0] == "v2" && p[1] == "models") {
    // /v2/models/{name}[/versions/{v}][/ready|/infer|/card]
    target.model = p[2];
    size_t next = 3;
    if (n >= 5 && p[3] == "versions") {
      target.version = p[4];
      next = 5;
    }
    if (next == n)
      target.route = Route::ModelMetadata;
    else if (next + 1 == n && p[next] == "ready")
      target.route = Route::ModelReady;
    else if (next + 1 == n && p[next] == "infer")
      target.route = Route::Infer;
    else if (next + 1 == n && p[next] == "card")
      target.route = Route::ModelCard;
  } else if (n >= 3 && p[0] == "v1" && p[1] == "models") {
    // TF Serving: /v1/models/{name}[/versions/{v}][:predict]
    std::string &last = p.back();
    bool predict = last.size() > 8 && last.compare(last.size() - 8, 8, ":predict") == 0;
    if (predict)
      last.resize(last.size() - 8);
    if (n == 3 || (n == 5 && p[3] == "versions")) {
      target.model = p[2];
      if (n == 5)
        target.version = p[4];
      target.route = predict ? Route::TfPredict : Route::TfStatus;
    }
  }
  return target;
}

const char *allowedMethod(Route route) {
  switch (route) {
  case Route::RepositoryIndex:
  case Route::Infer:
  case Route::TfPredict:
    return "POST";
  default:
    return "GET";
  }
}
} // namespace

ServedModel *Routes::findModel(const std::string &name, const std::string &version, HttpResponse &response) const {
  for (const std::unique_ptr<ServedModel> &model : models_)
    if (model->name() == name) {
      if (!version.empty() && version != model->version()) {
        response.setError(404, "model '" + name + "' has no version '" + version + "' (it has version " +
                                   model->version() + ")");
        return nullptr;
      }
      return model.get();
    }
  std::string names;
  for (const std::unique_ptr<ServedModel> &model : models_)
    names += (names.empty() ? "'" : ", '") + model->name() + "'";
  response.setError(404, "unknown model '" + name + "'; this server serves " + names);
  return nullptr;
}

std::optional<Inference> Routes::dispatch(HttpRequest &request, HttpResponse &response) const {
  Target target = resolve(request.path);
  if (target.route == Route::None) {
    response.setError(404, "no route " + request.path + " (see GET /v2 and docs/serving.md)");
    return std::nullopt;
  }
  const char *method = allowedMethod(target.route);
  bool isHead = request.method == "HEAD" && std::string(method) == "GET";
  if (request.method != method && !isHead) {
    response.headers.emplace_back("Allow", method);
    response.setError(405, request.method + " is not allowed on " + request.path + "; use " + method);
    return std::nullopt;
  }
  ServedModel *model = nullptr;
  if (!target.model.empty() && !(model = findModel(target.model, target.version, response)))
    return std::nullopt;
  switch (target.route) {
  case Route::Page:
    response.setContent(std::string(kServerPage, sizeof(kServerPage) - 1), "text/html; charset=utf-8");
    break;
  case Route::Metrics:
    response.setContent(metricsText(), "text/plain; version=0.0.4; charset=utf-8");
    break;
  case Route::ServerMetadata:
    sendJson(response, serverMetadata());
    break;
  case Route::Live:
  case Route::Ready:
  case Route::ModelReady:
    // Models are loaded before the server listens: once it answers, every
    // model is ready. The body is empty, as the protocol specifies.
    response.status = 200;
    break;
  case Route::RepositoryIndex: {
    json index = json::array();
    for (const std::unique_ptr<ServedModel> &served : models_)
      index.push_back({{"name", served->name()}, {"version", served->version()}, {"state", "READY"}});
    sendJson(response, index);
    break;
  }
  case Route::ModelMetadata:
    sendJson(response, model->metadata());
    break;
  case Route::ModelCard:
    sendJson(response, model->card());
    break;
  case Route::TfStatus:
    sendJson(response,
             {{"model_version_status",
               {{{"version", model->version()}, {"state", "AVAILABLE"}, {"status", {{"error_code", "OK"}}}}}}});
    break;
  case Route::Infer:
  case Route::TfPredict:
    return parseInference(*model, request, target.route == Route::TfPredict, response);
  case Route::None:
    break;
  }
  return std::nullopt;
}

std::optional<Inference> Routes::parseInference(ServedModel &model, HttpRequest &request, bool tfServing,
                                                HttpResponse &response) const {
  Inference inference;
  inference.model = &model;
  inference.tfServing = tfServing;
  inference.start = std::chrono::steady_clock::now();
  try {
    if (tfServing) {
      inference.request = parsePredictRequest(model, request.body);
    } else {
      std::optional<size_t> jsonLength;
      if (const std::string *text = request.header("inference-header-content-length")) {
        size_t length = 0;
        auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), length);
        if (error != std::errc() || end != text->data() + text->size() || text->empty())
          throw RequestError{400, "Inference-Header-Content-Length must be a byte count, not '" + *text + "'"};
        jsonLength = length;
      }
      inference.request = parseInferRequest(model, request.body, jsonLength);
    }
  } catch (const RequestError &error) {
    model.metrics().recordFailure(FailureReason::Other);
    response.setError(error.status, error.message);
    return std::nullopt;
  }
  return inference;
}

HttpResponse Routes::finish(Inference &inference, const BatchSlice &slice, std::exception_ptr failure) const {
  ServedModel &model = *inference.model;
  ModelMetrics &metrics = model.metrics();
  HttpResponse response;
  if (failure) {
    // The model failed (the compiled code or the runtime reported an
    // error): the request gets a 500 naming it; the server goes on.
    std::string message = "the model failed";
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception &error) {
      message += std::string(": ") + error.what();
    } catch (...) {
    }
    metrics.recordFailure(FailureReason::Other);
    response.setError(500, message);
    return response;
  }
  if (inference.tfServing) {
    response.setContent(encodePredictResponse(model, inference.request, slice), kJson);
  } else {
    EncodedResponse encoded = encodeInferResponse(model, inference.request, slice);
    if (encoded.jsonLength) {
      response.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*encoded.jsonLength));
      response.setContent(std::move(encoded.body), "application/octet-stream");
    } else {
      response.setContent(std::move(encoded.body), kJson);
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - inference.start).count();
  ++metrics.requestSuccess;
  metrics.requestMicros += uint64_t(seconds * 1e6);
  metrics.requestSeconds.observe(seconds);
  return response;
}

HttpResponse Routes::busy(Inference &inference) const {
  inference.model->metrics().recordFailure(FailureReason::Rejected);
  HttpResponse response;
  response.headers.emplace_back("Retry-After", "1");
  response.setError(503, "the server is busy: its queue of requests is full; try again");
  return response;
}

json Routes::serverMetadata() const {
  return {{"name", "kiln"}, {"version", "0.1.0"}, {"extensions", {"binary_tensor_data"}}};
}

std::string Routes::metricsText() const {
  std::string text;
  for (const std::unique_ptr<ServedModel> &model : models_)
    model->metrics().write(text, model->name(), model->version());
  return text;
}

void ImmediateAnswers::onRequest(HttpConnection &connection, uint64_t slot, HttpRequest &request) {
  HttpResponse response;
  std::optional<Inference> inference = routes_.dispatch(request, response);
  if (inference) {
    // A batch of its own, through the model's Batcher as the server runs it
    // (chunks past --max-batch, the model's failure as a 500).
    std::unique_ptr<Batcher> batcher = inference->model->makeBatcher();
    int64_t rows = inference->request.rows;
    if (!batcher->submit(/*tag=*/0, std::move(inference->request.inputs), rows)) {
      response = routes_.busy(*inference);
    } else {
      std::vector<Batcher::Answer> answers = batcher->runDue(Batcher::Clock::now(), /*flush=*/true);
      response = routes_.finish(*inference, answers.at(0).slice, answers.at(0).failure);
    }
  }
  connection.answer(slot, std::move(response));
}
