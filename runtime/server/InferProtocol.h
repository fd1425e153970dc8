//===- InferProtocol.h - Request and response bodies ------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The bodies of inference requests and responses, in two dialects:
//  - the Open Inference Protocol (KServe v2, Triton's HTTP API), with the
//    binary tensor data extension as Triton implements it;
//  - TensorFlow Serving's `:predict` (row "instances" and columnar
//    "inputs"), for users coming from Keras.
// Parsing validates everything against the model's signature and throws a
// RequestError (HTTP status and message) for what a client got wrong; it
// never trusts a size it was sent before checking it against the body.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SERVER_INFERPROTOCOL_H
#define KILN_RUNTIME_SERVER_INFERPROTOCOL_H

#include "Batcher.h"
#include "ServedModel.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln_server {

/// A request the server refuses: the HTTP status and the message of the
/// `{"error": ...}` body.
struct RequestError {
  int status;
  std::string message;
};

struct InferRequest {
  std::optional<std::string> id;
  std::vector<TensorPtr> inputs; ///< the model's order, each [rows, ...]
  int64_t rows = 0;
  struct Output {
    size_t index; ///< into ServedModel::outputs()
    bool binary;
  };
  std::vector<Output> outputs; ///< what to answer, in the requested order
  bool columnar = false;       ///< TF Serving: "inputs" rather than "instances"
};

/// The answer's bytes; `jsonLength` is set when binary outputs follow the
/// JSON (the Inference-Header-Content-Length header).
struct EncodedResponse {
  std::string body;
  std::optional<size_t> jsonLength;
};

/// `POST /v2/models/{name}/infer`. `jsonLength` is the request's
/// Inference-Header-Content-Length, if any: the JSON is that prefix of the
/// body and the binary tensors follow it.
InferRequest parseInferRequest(const ServedModel &model, std::string_view body, std::optional<size_t> jsonLength);
EncodedResponse encodeInferResponse(const ServedModel &model, const InferRequest &request, const BatchSlice &slice);

/// `POST /v1/models/{name}:predict`.
InferRequest parsePredictRequest(const ServedModel &model, std::string_view body);
std::string encodePredictResponse(const ServedModel &model, const InferRequest &request, const BatchSlice &slice);

} // namespace kiln_server

#endif // KILN_RUNTIME_SERVER_INFERPROTOCOL_H
