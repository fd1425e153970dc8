//===- HttpConnection.h - One HTTP/1.1 connection, as bytes -----*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The server's side of one HTTP/1.1 connection, without its socket: the
// bytes received go in (receive), complete requests come out to a
// RequestSink, answers go in (answer) in any order, and the bytes to send
// come out in request order (takeOutput), as HTTP/1.1 pipelining requires.
// The event loop (EventLoop.cpp) moves the bytes between this and a socket;
// the HTTP fuzzer and the unit tests move them from memory.
//
// Parsing is Debian's libhttp-parser (node.js's http_parser): request line,
// headers, Content-Length framing and keep-alive rules; this file only
// gathers what it reports. The framing Kiln refuses is decided here, before
// any body is read: a body over the limit (413), a chunked body (411; the
// limit could not be checked up front), a compressed one (415).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SERVER_HTTPCONNECTION_H
#define KILN_RUNTIME_SERVER_HTTPCONNECTION_H

#include <http_parser.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln_server {

struct HttpRequest {
  std::string method;                                       ///< "GET", "POST", ...
  std::string target;                                       ///< as sent: the path and any query
  std::string path;                                         ///< the target's path, percent-decoded, without the query
  std::vector<std::pair<std::string, std::string>> headers; ///< names in lower case
  std::string body;

  /// The value of header `lowerCaseName`, or nullptr when it is absent.
  const std::string *header(std::string_view lowerCaseName) const;
};

struct HttpResponse {
  int status = 200;
  std::string contentType; ///< empty: no Content-Type
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false; ///< close the connection after this answer

  void setContent(std::string content, std::string type) {
    body = std::move(content);
    contentType = std::move(type);
  }
  /// `status` with the `{"error": message}` body every error has.
  void setError(int errorStatus, const std::string &message);
};

class HttpConnection;

/// Where a connection's complete requests go. The sink answers each one
/// with connection.answer(slot, ...), at once or later.
class RequestSink {
public:
  virtual ~RequestSink() = default;
  virtual void onRequest(HttpConnection &connection, uint64_t slot, HttpRequest &request) = 0;
};

struct HttpLimits {
  uint64_t maxBodyBytes = uint64_t(64) << 20;
  /// Requests received but not yet answered and sent. Past this, received
  /// bytes wait unparsed (and the event loop stops reading), so that a
  /// client that pipelines without reading cannot grow the server's memory.
  size_t maxPipelined = 64;
};

class HttpConnection {
public:
  explicit HttpConnection(const HttpLimits &limits);
  HttpConnection(const HttpConnection &) = delete;
  HttpConnection &operator=(const HttpConnection &) = delete;

  /// Parses received bytes; each complete request goes to `sink`. Bytes
  /// past the pipelining limit are kept for resume().
  void receive(const char *data, size_t size, RequestSink &sink);
  /// Parses the kept bytes once answers have been taken.
  void resume(RequestSink &sink);
  /// Answers request `slot` (the number onRequest gave).
  void answer(uint64_t slot, HttpResponse response);
  /// Appends the answers that are ready, in request order, to `out`.
  void takeOutput(std::string &out);
  /// The server is stopping: answer what has been received (and a request
  /// partly received, once it is whole), the last answer saying
  /// Connection: close, and read no further request.
  void stop();
  /// The client took too long to send its request: answer 408 and read no
  /// further.
  void timeOut();
  /// The bytes of an error answer that ends the connection, for a
  /// connection refused before it is served.
  std::string refusal(int status, const std::string &message);

  /// No further request is read (a framing error, Connection: close,
  /// HTTP/1.0 without keep-alive, stop()): once the answers are sent, the
  /// connection ends.
  bool closing() const { return closing_; }
  /// Part of a request has arrived, not all of it.
  bool midRequest() const { return inMessage_; }
  /// Requests whose answers have not all been taken by takeOutput.
  bool awaitingAnswers() const { return !slots_.empty(); }
  /// Received bytes wait unparsed for room in the pipeline.
  bool hasBacklog() const { return !backlog_.empty(); }

private:
  struct Slot {
    bool ready = false;
    bool head = false;     ///< HEAD: the answer's headers only
    bool keepAlive = true; ///< the request allows another on this connection
    bool http10 = false;   ///< answer keep-alive explicitly (HTTP/1.0)
    std::string bytes;     ///< the serialized answer, once ready
    bool closes = false;   ///< the answer ends the connection
  };

  void parse(const char *data, size_t size, RequestSink &sink);
  /// Answers a request the framing refuses, and reads no further.
  void refuse(int status, const std::string &message);
  uint64_t openSlot(bool head, bool keepAlive, bool http10);

  static int onMessageBegin(http_parser *parser);
  static int onUrl(http_parser *parser, const char *at, size_t length);
  static int onHeaderField(http_parser *parser, const char *at, size_t length);
  static int onHeaderValue(http_parser *parser, const char *at, size_t length);
  static int onHeadersComplete(http_parser *parser);
  static int onBody(http_parser *parser, const char *at, size_t length);
  static int onMessageComplete(http_parser *parser);
  static const http_parser_settings kSettings;

  HttpLimits limits_;
  http_parser parser_;
  HttpRequest request_; ///< the request being parsed
  bool lastWasValue_ = false;
  bool inMessage_ = false;
  bool messageComplete_ = false; ///< request_ is whole; the parser is paused
  /// The framing refusal onHeadersComplete chose, answered by parse().
  int refusedStatus_ = 0;
  std::string refusedMessage_;
  bool closing_ = false;
  bool stopping_ = false;
  std::string backlog_;
  std::string interim_; ///< "100 Continue", sent before any later answer
  std::deque<Slot> slots_;
  uint64_t firstSlot_ = 0; ///< the number of slots_.front()
};

} // namespace kiln_server

#endif // KILN_RUNTIME_SERVER_HTTPCONNECTION_H
