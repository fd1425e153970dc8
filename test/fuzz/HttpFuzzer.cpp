//===- HttpFuzzer.cpp - libFuzzer entry point for raw HTTP requests -------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Feeds arbitrary bytes, as one connection's worth of HTTP, to the server a
// model binary runs: the connection's parsing and framing (HttpConnection:
// request line, headers, Content-Length, keep-alive, pipelining, limits)
// with Kiln's routes and error bodies, for a real compiled model
// (test/e2e/Inputs/pick.kiln, linked in as an object). The bytes arrive in
// pieces of varying size, as a socket delivers them; everything above the
// socket is the code that serves. ProtocolFuzzer.cpp goes deeper into the
// bodies; this one covers paths, methods, headers and framing. A crash, a
// sanitizer report, a leak or a hang is a finding; so is an answer that is
// not HTTP.
//
//===----------------------------------------------------------------------===//

#include "Routes.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" const kiln_binary::ModelDescriptor kiln_model_Pick;

namespace {
const kiln_server::Routes &routes() {
  static auto *models = [] {
    auto *list = new std::vector<std::unique_ptr<kiln_server::ServedModel>>();
    kiln_binary::json info = kiln_binary::json::parse(kiln_model_Pick.json);
    list->push_back(
        std::make_unique<kiln_server::ServedModel>(info, kiln_model_Pick, "", kiln_server::BatcherOptions{}));
    return list;
  }();
  static auto *served = new kiln_server::Routes(*models);
  return *served;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln_server::HttpLimits limits;
  limits.maxBodyBytes = 1 << 20; // a fuzzer's inputs are small; the limit's path still runs
  limits.maxPipelined = 4;
  kiln_server::HttpConnection connection(limits);
  kiln_server::ImmediateAnswers sink(routes());
  // The first byte chooses the piece size, so that requests split at every
  // place across reads.
  size_t piece = size ? 1 + data[0] % 64 : 1;
  std::string out;
  for (size_t at = size ? 1 : 0; at < size; at += piece) {
    connection.receive(reinterpret_cast<const char *>(data) + at, std::min(piece, size - at), sink);
    connection.takeOutput(out);
    connection.resume(sink);
  }
  connection.takeOutput(out);
  if (!out.empty() && out.compare(0, 9, "HTTP/1.1 ") != 0) {
    std::fprintf(stderr, "kiln fuzzer: an answer that does not start with a status line\n");
    std::abort();
  }
  return 0;
}
