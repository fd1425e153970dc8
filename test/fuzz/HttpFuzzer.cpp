//===- HttpFuzzer.cpp - libFuzzer entry point for raw HTTP requests -------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Feeds arbitrary bytes, as one connection's worth of HTTP, to the server a
// model binary runs: cpp-httplib's request parsing (request line, headers,
// Content-Length, keep-alive) with Kiln's routes, limits and error bodies
// installed by installRoutes(), for a real compiled model
// (test/e2e/Inputs/pick.kiln, linked in as an object). The bytes come from an
// in-memory stream instead of a socket; everything above the socket is the
// code that serves. ProtocolFuzzer.cpp goes deeper into the bodies; this one
// covers paths, methods, headers and framing. A crash, a sanitizer report, a
// leak or a hang is a finding; so is an answer that is not HTTP.
//
//===----------------------------------------------------------------------===//

#include "Server.h"

#include <httplib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" const kiln_binary::ModelDescriptor kiln_model_Pick;

namespace {
/// A connection whose incoming bytes are the fuzzer's input; what the server
/// writes back is kept.
class BytesStream : public httplib::Stream {
public:
  BytesStream(const uint8_t *data, size_t size) : data_(data), size_(size) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char *ptr, size_t size) override {
    size_t n = std::min(size, size_ - position_);
    std::memcpy(ptr, data_ + position_, n);
    position_ += n;
    return ssize_t(n);
  }
  ssize_t write(const char *ptr, size_t size) override {
    written.append(ptr, size);
    return ssize_t(size);
  }
  void get_remote_ip_and_port(std::string &ip, int &port) const override { ip = "127.0.0.1", port = 40000; }
  void get_local_ip_and_port(std::string &ip, int &port) const override { ip = "127.0.0.1", port = 8000; }
  socket_t socket() const override { return -1; }
  bool exhausted() const { return position_ >= size_; }

  std::string written;

private:
  const uint8_t *data_;
  size_t size_;
  size_t position_ = 0;
};

/// cpp-httplib's server with its per-request entry point reachable.
class FuzzedServer : public httplib::Server {
public:
  bool serveOne(httplib::Stream &stream, bool last, bool &closed) {
    return process_request(stream, last, closed, nullptr);
  }
};

FuzzedServer &server() {
  static auto *models = [] {
    auto *list = new std::vector<std::unique_ptr<kiln_server::ServedModel>>();
    kiln_binary::json info = kiln_binary::json::parse(kiln_model_Pick.json);
    list->push_back(
        std::make_unique<kiln_server::ServedModel>(info, kiln_model_Pick, "", kiln_server::BatcherOptions{}));
    return list;
  }();
  static FuzzedServer *http = [] {
    auto *created = new FuzzedServer();
    kiln_server::ServeOptions options;
    options.maxBodyMb = 1; // a fuzzer's inputs are small; the limit's path still runs
    kiln_server::installRoutes(*created, *models, options);
    return created;
  }();
  return *http;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedServer &http = server();
  BytesStream stream(data, size);
  // Keep-alive: requests follow each other on the connection until the
  // bytes run out or the server closes it (at most 8, as a bound).
  bool closed = false;
  for (int request = 0; request < 8 && !closed && !stream.exhausted(); ++request) {
    size_t before = stream.written.size();
    http.serveOne(stream, /*last=*/false, closed);
    if (stream.written.size() > before && stream.written.compare(before, 9, "HTTP/1.1 ") != 0) {
      std::fprintf(stderr, "kiln fuzzer: an answer that does not start with a status line\n");
      std::abort();
    }
  }
  return 0;
}
