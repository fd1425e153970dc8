//===- HttpConnectionTest.cpp - One HTTP/1.1 connection, byte by byte ----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The server's connection (runtime/server/HttpConnection.h) driven with
// bytes from memory, checked against HTTP/1.1 as RFC 9112 and RFC 9110
// specify it: requests split anywhere across reads, pipelined requests
// answered in order whatever order their answers come in, persistence
// (keep-alive, Connection: close, HTTP/1.0), HEAD, 100-continue, and the
// framing the server refuses before reading a body (413, 411, 415, 431,
// 400). The end-to-end tests (test/e2e/serve-*.test) send the same over
// sockets with real clients.
//
//===----------------------------------------------------------------------===//

#include "HttpConnection.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace kiln_server;

namespace {
/// Keeps the requests; answers none until told to.
struct Recorder : RequestSink {
  struct Received {
    uint64_t slot;
    HttpRequest request;
  };
  std::vector<Received> received;
  void onRequest(HttpConnection &, uint64_t slot, HttpRequest &request) override {
    received.push_back({slot, request});
  }
};

HttpResponse textAnswer(const std::string &body) {
  HttpResponse response;
  response.setContent(body, "text/plain");
  return response;
}

std::string output(HttpConnection &connection) {
  std::string out;
  connection.takeOutput(out);
  return out;
}

const char kPost[] = "POST /v2/models/M%20x/infer?verbose=1 HTTP/1.1\r\n"
                     "Host: localhost\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
                     "{\"inputs\":1}";
} // namespace

TEST(HttpConnection, RequestSplitAtEveryByte) {
  HttpConnection connection{HttpLimits()};
  Recorder sink;
  std::string bytes = std::string(kPost, sizeof kPost - 2); // 11 body bytes: {"inputs":1
  for (char c : bytes)
    connection.receive(&c, 1, sink);
  ASSERT_EQ(sink.received.size(), 1u);
  const HttpRequest &request = sink.received[0].request;
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/v2/models/M%20x/infer?verbose=1");
  EXPECT_EQ(request.path, "/v2/models/M x/infer");    // decoded, without the query
  ASSERT_NE(request.header("content-type"), nullptr); // names are case-insensitive
  EXPECT_EQ(*request.header("content-type"), "application/json");
  EXPECT_EQ(request.body, "{\"inputs\":1");
  EXPECT_FALSE(connection.midRequest());
  connection.answer(sink.received[0].slot, textAnswer("ok"));
  EXPECT_EQ(output(connection), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok");
  EXPECT_FALSE(connection.closing()); // HTTP/1.1 persists by default
}

TEST(HttpConnection, PipelinedAnswersLeaveInRequestOrder) {
  HttpConnection connection{HttpLimits()};
  Recorder sink;
  std::string bytes;
  for (const char *path : {"/a", "/b", "/c"})
    bytes += std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  connection.receive(bytes.data(), bytes.size(), sink);
  ASSERT_EQ(sink.received.size(), 3u);
  connection.answer(sink.received[2].slot, textAnswer("c"));
  EXPECT_EQ(output(connection), ""); // /a is not answered yet
  connection.answer(sink.received[0].slot, textAnswer("a"));
  std::string first = output(connection);
  EXPECT_EQ(first.substr(first.size() - 1), "a");
  connection.answer(sink.received[1].slot, textAnswer("b"));
  std::string rest = output(connection);
  EXPECT_LT(rest.find("\r\n\r\nb"), rest.find("\r\n\r\nc"));
  EXPECT_FALSE(connection.awaitingAnswers());
}

TEST(HttpConnection, PipelineLimitKeepsBytesUntilAnswered) {
  HttpLimits limits;
  limits.maxPipelined = 2;
  HttpConnection connection(limits);
  Recorder sink;
  std::string bytes;
  for (int i = 0; i < 3; ++i)
    bytes += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  connection.receive(bytes.data(), bytes.size(), sink);
  EXPECT_EQ(sink.received.size(), 2u);
  EXPECT_TRUE(connection.hasBacklog());
  connection.answer(sink.received[0].slot, textAnswer("0"));
  output(connection);
  connection.resume(sink);
  ASSERT_EQ(sink.received.size(), 3u);
  EXPECT_EQ(sink.received[2].request.path, "/2");
  EXPECT_FALSE(connection.hasBacklog());
}

TEST(HttpConnection, ConnectionCloseAndHttp10) {
  {
    HttpConnection connection{HttpLimits()};
    Recorder sink;
    std::string bytes = "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n";
    connection.receive(bytes.data(), bytes.size(), sink);
    ASSERT_EQ(sink.received.size(), 1u); // nothing after the last request is read
    connection.answer(sink.received[0].slot, textAnswer(""));
    EXPECT_NE(output(connection).find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(connection.closing());
  }
  {
    HttpConnection connection{HttpLimits()};
    Recorder sink;
    std::string bytes = "GET / HTTP/1.0\r\n\r\n";
    connection.receive(bytes.data(), bytes.size(), sink);
    ASSERT_EQ(sink.received.size(), 1u);
    connection.answer(sink.received[0].slot, textAnswer(""));
    EXPECT_NE(output(connection).find("Connection: close\r\n"), std::string::npos); // 1.0 closes by default
  }
  {
    HttpConnection connection{HttpLimits()};
    Recorder sink;
    std::string bytes = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    connection.receive(bytes.data(), bytes.size(), sink);
    connection.answer(sink.received.at(0).slot, textAnswer(""));
    EXPECT_NE(output(connection).find("Connection: keep-alive\r\n"), std::string::npos);
    EXPECT_FALSE(connection.closing());
  }
}

TEST(HttpConnection, HeadAnswersHeadersOnly) {
  HttpConnection connection{HttpLimits()};
  Recorder sink;
  std::string bytes = "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
  connection.receive(bytes.data(), bytes.size(), sink);
  ASSERT_EQ(sink.received.size(), 1u);
  EXPECT_EQ(sink.received[0].request.method, "HEAD");
  connection.answer(sink.received[0].slot, textAnswer("hello"));
  // RFC 9110 9.3.2: the Content-Length of the GET answer, and no content.
  EXPECT_EQ(output(connection), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n");
}

TEST(HttpConnection, ExpectContinueIsAnsweredBeforeTheBody) {
  HttpConnection connection{HttpLimits()};
  Recorder sink;
  std::string head = "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  connection.receive(head.data(), head.size(), sink);
  EXPECT_EQ(output(connection), "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_TRUE(connection.midRequest());
  connection.receive("body", 4, sink);
  ASSERT_EQ(sink.received.size(), 1u);
  EXPECT_EQ(sink.received[0].request.body, "body");
}

namespace {
/// The answer to `bytes` on a fresh connection whose requests are all refused
/// by its framing, and whether the connection then closes.
std::string refusedAnswer(const std::string &bytes, uint64_t maxBody = uint64_t(64) << 20) {
  HttpLimits limits;
  limits.maxBodyBytes = maxBody;
  HttpConnection connection(limits);
  Recorder sink;
  connection.receive(bytes.data(), bytes.size(), sink);
  EXPECT_TRUE(sink.received.empty());
  EXPECT_TRUE(connection.closing());
  std::string out = output(connection);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("{\"error\":"), std::string::npos) << out;
  return out;
}
} // namespace

TEST(HttpConnection, RefusedFraming) {
  // Over the body limit: refused from Content-Length, before the body.
  EXPECT_EQ(refusedAnswer("POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 1000).substr(0, 12), "HTTP/1.1 413");
  EXPECT_EQ(refusedAnswer("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").substr(0, 12),
            "HTTP/1.1 411");
  EXPECT_EQ(refusedAnswer("POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc").substr(0, 12),
            "HTTP/1.1 415");
  EXPECT_EQ(refusedAnswer("GET / HTTP/1.1\r\nX-Big: " + std::string(90 * 1024, 'a') + "\r\n\r\n").substr(0, 12),
            "HTTP/1.1 431");
  EXPECT_EQ(refusedAnswer("GARBAGE\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
  // RFC 9112 6.3: Content-Length that is not a number.
  EXPECT_EQ(refusedAnswer("POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
}

TEST(HttpConnection, StopAnswersWhatIsInFlightThenCloses) {
  HttpConnection connection{HttpLimits()};
  Recorder sink;
  std::string head = "POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nbo";
  connection.receive(head.data(), head.size(), sink);
  connection.stop();
  EXPECT_FALSE(connection.closing()); // a request is half received
  connection.receive("dy", 2, sink);
  ASSERT_EQ(sink.received.size(), 1u);
  EXPECT_TRUE(connection.closing());
  connection.answer(sink.received[0].slot, textAnswer("done"));
  EXPECT_NE(output(connection).find("Connection: close\r\n"), std::string::npos);
}

TEST(HttpConnection, ErrorBodiesAreJsonEvenForBadBytes) {
  HttpResponse response;
  response.setError(404, std::string("no route /\xff\xfe"));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.contentType, "application/json");
  EXPECT_EQ(response.body.rfind("{\"error\":\"no route /", 0), 0u); // invalid UTF-8 replaced, not thrown
}
