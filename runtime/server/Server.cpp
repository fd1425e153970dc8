//===- Server.cpp - The inference server of a model binary ----------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// HTTP comes from cpp-httplib (Debian's libcpp-httplib-dev): a thread pool
// of blocking connections with keep-alive and timeouts, and a body limit
// that answers 413 before reading the body. Every request goes to one
// dispatcher here, which routes by path (so that a known path with the
// wrong method is a 405, not a 404) to the handlers below. Request bodies
// are InferProtocol.cpp's; answers to inference requests come from the
// model's Batcher.
//
//===----------------------------------------------------------------------===//

#include "Server.h"

#include "InferProtocol.h"

#include <httplib.h>

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <thread>

// The page for people at `/` (page/index.html, embedded by the build).
#include "ServerPage.html.inc"

using namespace kiln_server;

namespace {

const char *const kJson = "application/json";

void sendError(httplib::Response &res, int status, const std::string &message) {
  res.status = status;
  res.set_content(errorBody(message), kJson);
}

void sendJson(httplib::Response &res, const json &value) { res.set_content(value.dump(), kJson); }

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

sigset_t stopSignalSet() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

/// What the server answers: the routes over a list of models. The handlers
/// installRoutes() gives cpp-httplib share one Routes.
class Routes {
public:
  Routes(const std::vector<std::unique_ptr<ServedModel>> &models, const ServeOptions &options)
      : models_(models), options_(options) {}

  void dispatch(const httplib::Request &req, httplib::Response &res);

private:
  ServedModel *findModel(const Target &target, httplib::Response &res);
  void infer(ServedModel &model, const httplib::Request &req, httplib::Response &res, bool tfServing);
  json serverMetadata() const;
  std::string metricsText() const;

  const std::vector<std::unique_ptr<ServedModel>> &models_;
  ServeOptions options_;
};

/// serve(): the routes on a listening socket, stopped by SIGINT or SIGTERM.
class InferenceServer {
public:
  InferenceServer(std::vector<std::unique_ptr<ServedModel>> models, const ServeOptions &options)
      : models_(std::move(models)), options_(options) {}

  int run();

private:
  std::vector<std::unique_ptr<ServedModel>> models_;
  ServeOptions options_;
  httplib::Server http_;
  std::atomic<bool> listenReturned_{false};
};

ServedModel *Routes::findModel(const Target &target, httplib::Response &res) {
  for (const std::unique_ptr<ServedModel> &model : models_)
    if (model->name() == target.model) {
      if (!target.version.empty() && target.version != model->version()) {
        sendError(res, 404,
                  "model '" + target.model + "' has no version '" + target.version + "' (it has version " +
                      model->version() + ")");
        return nullptr;
      }
      return model.get();
    }
  std::string names;
  for (const std::unique_ptr<ServedModel> &model : models_)
    names += (names.empty() ? "'" : ", '") + model->name() + "'";
  sendError(res, 404, "unknown model '" + target.model + "'; this server serves " + names);
  return nullptr;
}

void Routes::dispatch(const httplib::Request &req, httplib::Response &res) {
  Target target = resolve(req.path);
  if (target.route == Route::None) {
    sendError(res, 404, "no route " + req.path + " (see GET /v2 and docs/serving.md)");
    return;
  }
  const char *method = allowedMethod(target.route);
  bool isHead = req.method == "HEAD" && std::string(method) == "GET";
  if (req.method != method && !isHead) {
    res.set_header("Allow", method);
    sendError(res, 405, req.method + " is not allowed on " + req.path + "; use " + method);
    return;
  }
  ServedModel *model = nullptr;
  if (!target.model.empty() && !(model = findModel(target, res)))
    return;
  switch (target.route) {
  case Route::Page:
    res.set_content(kServerPage, sizeof(kServerPage) - 1, "text/html; charset=utf-8");
    return;
  case Route::Metrics:
    res.set_content(metricsText(), "text/plain; version=0.0.4; charset=utf-8");
    return;
  case Route::ServerMetadata:
    sendJson(res, serverMetadata());
    return;
  case Route::Live:
  case Route::Ready:
  case Route::ModelReady:
    // Models are loaded before the server listens: once it answers, every
    // model is ready. The body is empty, as the protocol specifies.
    res.status = 200;
    return;
  case Route::RepositoryIndex: {
    json index = json::array();
    for (const std::unique_ptr<ServedModel> &served : models_)
      index.push_back({{"name", served->name()}, {"version", served->version()}, {"state", "READY"}});
    sendJson(res, index);
    return;
  }
  case Route::ModelMetadata:
    sendJson(res, model->metadata());
    return;
  case Route::ModelCard:
    sendJson(res, model->card());
    return;
  case Route::TfStatus:
    sendJson(res, {{"model_version_status",
                    {{{"version", model->version()}, {"state", "AVAILABLE"}, {"status", {{"error_code", "OK"}}}}}}});
    return;
  case Route::Infer:
  case Route::TfPredict:
    infer(*model, req, res, target.route == Route::TfPredict);
    return;
  case Route::None:
    return;
  }
}

void Routes::infer(ServedModel &model, const httplib::Request &req, httplib::Response &res, bool tfServing) {
  auto start = std::chrono::steady_clock::now();
  ModelMetrics &metrics = model.metrics();
  InferRequest request;
  try {
    if (tfServing) {
      request = parsePredictRequest(model, req.body);
    } else {
      std::optional<size_t> jsonLength;
      if (req.has_header("Inference-Header-Content-Length")) {
        std::string text = req.get_header_value("Inference-Header-Content-Length");
        size_t length = 0;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), length);
        if (error != std::errc() || end != text.data() + text.size() || text.empty())
          throw RequestError{400, "Inference-Header-Content-Length must be a byte count, not '" + text + "'"};
        jsonLength = length;
      }
      request = parseInferRequest(model, req.body, jsonLength);
    }
  } catch (const RequestError &error) {
    metrics.recordFailure(FailureReason::Other);
    sendError(res, error.status, error.message);
    return;
  }
  std::optional<std::future<BatchSlice>> answer = model.batcher().submit(std::move(request.inputs), request.rows);
  if (!answer) {
    metrics.recordFailure(FailureReason::Rejected);
    res.set_header("Retry-After", "1");
    sendError(res, 503, "the server is busy: its queue of requests is full; try again");
    return;
  }
  BatchSlice slice = answer->get();
  if (tfServing) {
    res.set_content(encodePredictResponse(model, request, slice), kJson);
  } else {
    EncodedResponse response = encodeInferResponse(model, request, slice);
    if (response.jsonLength) {
      res.set_header("Inference-Header-Content-Length", std::to_string(*response.jsonLength));
      res.set_content(std::move(response.body), "application/octet-stream");
    } else {
      res.set_content(std::move(response.body), kJson);
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++metrics.requestSuccess;
  metrics.requestMicros += uint64_t(seconds * 1e6);
  metrics.requestSeconds.observe(seconds);
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

int InferenceServer::run() {
  // SIGINT and SIGTERM are taken by a thread of their own (sigwait), which
  // stops the server; every other thread blocks them (blockStopSignals).
  blockStopSignals();
  sigset_t stopSignals = stopSignalSet();
  signal(SIGPIPE, SIG_IGN); // a client that hangs up is an error on its socket

  installRoutes(http_, models_, options_);
  int connections = options_.connections;
  http_.new_task_queue = [connections] { return new httplib::ThreadPool(size_t(connections)); };

  // cpp-httplib listens with a backlog of 5, so that a burst of new
  // connections (a load balancer, wrk -c64) overflows it and the kernel
  // drops SYNs, which clients resend after a second. Remember the socket
  // and listen again with a deep backlog once bound (Linux updates it).
  int listenSocket = -1;
  http_.set_socket_options([&listenSocket](int socket) {
    int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listenSocket = socket;
  });
  int port = options_.port;
  if (port == 0) {
    port = http_.bind_to_any_port(options_.host);
    if (port < 0)
      port = 0;
  } else if (!http_.bind_to_port(options_.host, port)) {
    port = 0;
  }
  if (port == 0) {
    std::fprintf(stderr, "%s: error: cannot listen on %s port %d (in use, or not an address of this machine)\n",
                 kiln_binary::programName.c_str(), options_.host.c_str(), options_.port);
    return 1;
  }
  ::listen(listenSocket, SOMAXCONN);
  std::thread signalWaiter([this, stopSignals] {
    int signal = 0;
    sigwait(&stopSignals, &signal);
    // stop() does nothing until the server runs: a signal that arrives
    // right after the ready line must wait for listen to start.
    while (!http_.is_running() && !listenReturned_)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    http_.stop();
  });
  std::string url = "http://" +
                    (options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host) + ":" +
                    std::to_string(port) + "/";
  for (const std::unique_ptr<ServedModel> &model : models_)
    std::printf("Serving %s at %s (weights: %s)\n", model->name().c_str(), url.c_str(),
                model->weights().empty() ? "seeded initializers, untrained" : model->weights().c_str());
  std::fflush(stdout);
  bool listened = http_.listen_after_bind();
  listenReturned_ = true;
  // listen_after_bind returns once stop() has closed the socket and every
  // connection's thread has answered its request.
  if (signalWaiter.joinable()) {
    if (listened)
      signalWaiter.join();
    else
      signalWaiter.detach();
  }
  models_.clear(); // each batcher answers what is queued, then stops
  std::printf("Stopped\n");
  return listened ? 0 : 1;
}
} // namespace

void kiln_server::blockStopSignals() {
  sigset_t signals = stopSignalSet();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int kiln_server::serve(std::vector<std::unique_ptr<ServedModel>> models, const ServeOptions &options) {
  InferenceServer server(std::move(models), options);
  return server.run();
}

void kiln_server::installRoutes(httplib::Server &http, const std::vector<std::unique_ptr<ServedModel>> &models,
                                const ServeOptions &options) {
  size_t maxBody = size_t(options.maxBodyMb) << 20;
  http.set_payload_max_length(maxBody);
  http.set_read_timeout(options.timeoutSeconds);
  http.set_write_timeout(options.timeoutSeconds);
  http.set_keep_alive_timeout(options.timeoutSeconds);
  http.set_keep_alive_max_count(1u << 30);
  http.set_tcp_nodelay(true);
  auto routes = std::make_shared<Routes>(models, options);
  auto handler = [routes](const httplib::Request &req, httplib::Response &res) { routes->dispatch(req, res); };
  http.Get(".*", handler);
  http.Post(".*", handler);
  http.Put(".*", handler);
  http.Delete(".*", handler);
  http.Patch(".*", handler);
  http.Options(".*", handler);
  // cpp-httplib enforces the body limit only on a Content-Length: it reads
  // chunked bodies and inflates compressed ones whole. Refuse both before
  // the body is read (and close the connection, which still holds it).
  http.set_pre_routing_handler([](const httplib::Request &req, httplib::Response &res) {
    std::string transfer = req.get_header_value("Transfer-Encoding");
    std::string encoding = req.get_header_value("Content-Encoding");
    if (!transfer.empty() && transfer != "identity") {
      sendError(res, 411, "send the body with a Content-Length: Transfer-Encoding '" + transfer + "' is not accepted");
    } else if (!encoding.empty() && encoding != "identity") {
      sendError(res, 415, "send the body uncompressed: Content-Encoding '" + encoding + "' is not accepted");
    } else {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib answers itself (413, a malformed request line) get the
  // same JSON body as ours.
  int64_t maxBodyMb = options.maxBodyMb;
  http.set_error_handler([maxBodyMb](const httplib::Request &req, httplib::Response &res) {
    if (!res.body.empty())
      return;
    // cpp-httplib limits form-encoded bodies to 8 KiB: curl's -d sends that
    // type unless told otherwise.
    if (res.status == 413 && req.get_header_value("Content-Type") == "application/x-www-form-urlencoded")
      sendError(res, 413,
                "a form-encoded body is limited to 8 KiB: send JSON with Content-Type: application/json "
                "(curl: -H 'Content-Type: application/json')");
    else if (res.status == 413)
      sendError(res, 413,
                "the body is larger than the server's limit of " + std::to_string(maxBodyMb) + " MiB (--max-body-mb)");
    else
      sendError(res, res.status, res.status < 500 ? "bad request" : "server error");
  });
  http.set_exception_handler([](const httplib::Request &, httplib::Response &res, std::exception_ptr error) {
    std::string message = "internal error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception &exception) {
      message += std::string(": ") + exception.what();
    } catch (...) {
    }
    sendError(res, 500, message);
  });
}
