//===- HttpConnection.cpp - One HTTP/1.1 connection, as bytes -------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The parser is paused after each complete request (http_parser_pause in
// onMessageComplete), so that parse() hands requests to the sink one at a
// time, outside the parser's callbacks, and can stop between two pipelined
// requests when the pipeline is full.
//
//===----------------------------------------------------------------------===//

#include "HttpConnection.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <strings.h>

using namespace kiln_server;

namespace {
HttpConnection &connectionOf(http_parser *parser) { return *static_cast<HttpConnection *>(parser->data); }

std::string lowerCase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return text;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// The path of a request target ("/v2/models/x?y=1" -> "/v2/models/x"),
/// with %XX escapes decoded (a malformed escape stays as it is).
std::string decodedPath(const std::string &target) {
  std::string_view path(target);
  path = path.substr(0, path.find_first_of("?#"));
  std::string decoded;
  decoded.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    int high = 0, low = 0;
    if (path[i] == '%' && i + 2 < path.size() && (high = hexValue(path[i + 1])) >= 0 &&
        (low = hexValue(path[i + 2])) >= 0) {
      decoded.push_back(char(high * 16 + low));
      i += 2;
    } else {
      decoded.push_back(path[i]);
    }
  }
  return decoded;
}

bool isIdentity(const std::string *coding) {
  return !coding || coding->empty() || strcasecmp(coding->c_str(), "identity") == 0;
}
} // namespace

const std::string *HttpRequest::header(std::string_view lowerCaseName) const {
  for (const auto &[name, value] : headers)
    if (name == lowerCaseName)
      return &value;
  return nullptr;
}

void HttpResponse::setError(int errorStatus, const std::string &message) {
  status = errorStatus;
  // Messages quote what the client sent, which need not be UTF-8.
  nlohmann::json error = {{"error", message}};
  setContent(error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

const http_parser_settings HttpConnection::kSettings = [] {
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_message_begin = onMessageBegin;
  settings.on_url = onUrl;
  settings.on_header_field = onHeaderField;
  settings.on_header_value = onHeaderValue;
  settings.on_headers_complete = onHeadersComplete;
  settings.on_body = onBody;
  settings.on_message_complete = onMessageComplete;
  return settings;
}();

HttpConnection::HttpConnection(const HttpLimits &limits) : limits_(limits) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

int HttpConnection::onMessageBegin(http_parser *parser) {
  HttpConnection &self = connectionOf(parser);
  self.request_ = HttpRequest();
  self.lastWasValue_ = false;
  self.inMessage_ = true;
  return 0;
}

int HttpConnection::onUrl(http_parser *parser, const char *at, size_t length) {
  connectionOf(parser).request_.target.append(at, length);
  return 0;
}

int HttpConnection::onHeaderField(http_parser *parser, const char *at, size_t length) {
  HttpConnection &self = connectionOf(parser);
  // A name may arrive in pieces: a new header starts after a value.
  if (self.lastWasValue_ || self.request_.headers.empty())
    self.request_.headers.emplace_back();
  self.request_.headers.back().first.append(at, length);
  self.lastWasValue_ = false;
  return 0;
}

int HttpConnection::onHeaderValue(http_parser *parser, const char *at, size_t length) {
  HttpConnection &self = connectionOf(parser);
  if (self.request_.headers.empty())
    self.request_.headers.emplace_back();
  self.request_.headers.back().second.append(at, length);
  self.lastWasValue_ = true;
  return 0;
}

int HttpConnection::onHeadersComplete(http_parser *parser) {
  HttpConnection &self = connectionOf(parser);
  HttpRequest &request = self.request_;
  for (auto &header : request.headers)
    header.first = lowerCase(std::move(header.first));
  request.method = http_method_str(http_method(parser->method));
  request.path = decodedPath(request.target);
  // Refuse what cannot be checked before the body is read; returning
  // nonzero stops the parser before the body.
  const std::string *transfer = request.header("transfer-encoding");
  const std::string *encoding = request.header("content-encoding");
  bool hasLength = parser->content_length != ULLONG_MAX;
  if (!isIdentity(transfer)) {
    self.refusedStatus_ = 411;
    self.refusedMessage_ = "send the body with a Content-Length: Transfer-Encoding '" + *transfer + "' is not accepted";
  } else if (!isIdentity(encoding)) {
    self.refusedStatus_ = 415;
    self.refusedMessage_ = "send the body uncompressed: Content-Encoding '" + *encoding + "' is not accepted";
  } else if (hasLength && parser->content_length > self.limits_.maxBodyBytes) {
    self.refusedStatus_ = 413;
    self.refusedMessage_ = "the body (" + std::to_string(parser->content_length) +
                           " bytes) is larger than the server's limit of " +
                           std::to_string(self.limits_.maxBodyBytes >> 20) + " MiB (--max-body-mb)";
  }
  if (self.refusedStatus_)
    return -1;
  if (hasLength)
    request.body.reserve(size_t(parser->content_length));
  // A client that asks before sending its body (curl does past 1 KiB) is
  // told to go on, unless earlier answers are still to be sent first.
  const std::string *expect = request.header("expect");
  if (expect && strcasecmp(expect->c_str(), "100-continue") == 0 && hasLength && parser->content_length > 0 &&
      self.slots_.empty() && parser->http_minor >= 1)
    self.interim_ += "HTTP/1.1 100 Continue\r\n\r\n";
  return 0;
}

int HttpConnection::onBody(http_parser *parser, const char *at, size_t length) {
  connectionOf(parser).request_.body.append(at, length);
  return 0;
}

int HttpConnection::onMessageComplete(http_parser *parser) {
  HttpConnection &self = connectionOf(parser);
  self.inMessage_ = false;
  self.messageComplete_ = true;
  http_parser_pause(parser, 1);
  return 0;
}

uint64_t HttpConnection::openSlot(bool head, bool keepAlive, bool http10) {
  Slot slot;
  slot.head = head;
  slot.keepAlive = keepAlive;
  slot.http10 = http10;
  slots_.push_back(std::move(slot));
  return firstSlot_ + slots_.size() - 1;
}

void HttpConnection::refuse(int status, const std::string &message) {
  HttpResponse response;
  response.setError(status, message);
  response.close = true;
  answer(openSlot(/*head=*/false, /*keepAlive=*/false, /*http10=*/false), std::move(response));
  closing_ = true;
  inMessage_ = false;
}

void HttpConnection::receive(const char *data, size_t size, RequestSink &sink) {
  if (closing_ || size == 0)
    return; // the bytes after the last request are not read
  if (!backlog_.empty()) {
    backlog_.append(data, size);
    resume(sink);
    return;
  }
  parse(data, size, sink);
}

void HttpConnection::resume(RequestSink &sink) {
  if (backlog_.empty() || slots_.size() >= limits_.maxPipelined)
    return;
  std::string pending = std::move(backlog_);
  backlog_.clear();
  parse(pending.data(), pending.size(), sink);
}

void HttpConnection::parse(const char *data, size_t size, RequestSink &sink) {
  while (size > 0 && !closing_) {
    if (slots_.size() >= limits_.maxPipelined) {
      backlog_.assign(data, size);
      return;
    }
    size_t parsed = http_parser_execute(&parser_, &kSettings, data, size);
    http_errno error = HTTP_PARSER_ERRNO(&parser_);
    data += parsed;
    size -= parsed;
    if (messageComplete_) {
      messageComplete_ = false;
      http_parser_pause(&parser_, 0);
      bool keepAlive = http_should_keep_alive(&parser_) && !stopping_ && !parser_.upgrade;
      uint64_t slot =
          openSlot(request_.method == "HEAD", keepAlive, parser_.http_major == 1 && parser_.http_minor == 0);
      if (!keepAlive)
        closing_ = true;
      HttpRequest request = std::move(request_);
      request_ = HttpRequest();
      sink.onRequest(*this, slot, request);
      continue;
    }
    if (refusedStatus_) {
      refuse(refusedStatus_, refusedMessage_);
      return;
    }
    if (error != HPE_OK) {
      if (error == HPE_HEADER_OVERFLOW)
        refuse(431, "the request's headers are larger than 80 KiB");
      else
        refuse(400, std::string("malformed HTTP request: ") + http_errno_description(error));
      return;
    }
  }
}

void HttpConnection::answer(uint64_t slot, HttpResponse response) {
  if (slot < firstSlot_ || slot - firstSlot_ >= slots_.size())
    return; // not a waiting request (a bug, but not one to crash on)
  Slot &target = slots_[size_t(slot - firstSlot_)];
  target.closes = response.close || !target.keepAlive || stopping_;
  std::string &out = target.bytes;
  const char *reason = http_status_str(http_status(response.status));
  out.reserve(160 + response.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  out += reason;
  out += "\r\nContent-Length: ";
  out += std::to_string(response.body.size());
  out += "\r\n";
  if (!response.contentType.empty()) {
    out += "Content-Type: ";
    out += response.contentType;
    out += "\r\n";
  }
  for (const auto &[name, value] : response.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (target.closes)
    out += "Connection: close\r\n";
  else if (target.http10)
    out += "Connection: keep-alive\r\n";
  out += "\r\n";
  if (!target.head)
    out += response.body;
  target.ready = true;
}

void HttpConnection::takeOutput(std::string &out) {
  if (!interim_.empty()) {
    out += interim_;
    interim_.clear();
  }
  while (!slots_.empty() && slots_.front().ready) {
    out += slots_.front().bytes;
    bool closes = slots_.front().closes;
    slots_.pop_front();
    ++firstSlot_;
    if (closes) {
      // Nothing after an answer that ends the connection is sent.
      closing_ = true;
      firstSlot_ += slots_.size();
      slots_.clear();
      backlog_.clear();
      return;
    }
  }
}

void HttpConnection::stop() {
  stopping_ = true;
  // A request partly received, or received but not yet parsed, is in
  // flight: it is answered, and its answer ends the connection.
  if (!inMessage_ && backlog_.empty())
    closing_ = true;
}

void HttpConnection::timeOut() { refuse(408, "the request was not received in time (--timeout)"); }

std::string HttpConnection::refusal(int status, const std::string &message) {
  refuse(status, message);
  std::string out;
  takeOutput(out);
  return out;
}
