//===- Server.h - The inference server of a model binary --------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `MODEL serve` (runtime/model/ModelMain.cpp) loads its model into a ServedModel
// and calls serve(). The server speaks the Open Inference Protocol (KServe
// v2) and TensorFlow Serving's predict over HTTP, shows a page for people
// at `/`, and exports Prometheus metrics; see docs/serving.md. It takes a
// list of models so that a model repository can reuse it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SERVER_SERVER_H
#define KILN_RUNTIME_SERVER_SERVER_H

#include "ServedModel.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln_server {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8000; ///< 0: any free port (the ready line says which)
  int64_t maxBodyMb = 64;
  /// Connections open at once; more are answered 503 and closed.
  int connections = 1024;
  /// Seconds a client may take to send a request or read the answer, and
  /// an idle keep-alive connection stays open.
  int timeoutSeconds = 5;
};

/// Blocks SIGINT and SIGTERM in the calling thread and so in every thread
/// it creates from then on (the event loops', OpenMP's), so that serve() can
/// take them on a thread of its own. Call it before creating the models.
void blockStopSignals();

/// Serves `models` on one event loop per compute thread (kiln_get_num_threads;
/// one for models on a GPU) until SIGINT or SIGTERM, then stops accepting
/// connections, answers the requests already received, and returns 0.
/// Returns 1 (after saying why) if it cannot listen.
int serve(std::vector<std::unique_ptr<ServedModel>> models, const ServeOptions &options);

} // namespace kiln_server

#endif // KILN_RUNTIME_SERVER_SERVER_H
