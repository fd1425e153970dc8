//===- ProtocolFuzzer.cpp - libFuzzer entry point for request decoding ----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Feeds arbitrary request bodies to the server's decoders (InferProtocol.cpp)
// for a real compiled model, test/e2e/Inputs/pick.kiln (an f32 and an i32
// input, two outputs), linked in as an object file. The first byte picks the
// endpoint:
//   0  POST /v2/models/Pick/infer, JSON only
//   1  the same with the binary tensor extension: the next two bytes give
//      the Inference-Header-Content-Length, the rest is the body
//   2  POST /v1/models/Pick:predict (TF Serving)
// A request the decoder accepts is run through the model and its response
// encoded, as the server does. A RequestError is the expected way to refuse;
// a crash, another exception, a sanitizer report, a leak or a hang is a
// finding.
//
//===----------------------------------------------------------------------===//

#include "InferProtocol.h"
#include "ServedModel.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

extern "C" const kiln_binary::ModelDescriptor kiln_model_Pick;

namespace {
kiln_server::ServedModel &servedModel() {
  static kiln_server::ServedModel *model = [] {
    kiln_binary::json info = kiln_binary::json::parse(kiln_model_Pick.json);
    kiln_server::BatcherOptions batching;
    return new kiln_server::ServedModel(info, kiln_model_Pick, "", batching);
  }();
  return *model;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  kiln_server::ServedModel &model = servedModel();
  int endpoint = data[0] % 3;
  std::string_view body(reinterpret_cast<const char *>(data) + 1, size - 1);
  std::optional<size_t> jsonLength;
  if (endpoint == 1) {
    if (body.size() < 2)
      return 0;
    jsonLength = size_t(uint8_t(body[0])) | size_t(uint8_t(body[1])) << 8;
    body.remove_prefix(2);
  }
  try {
    kiln_server::InferRequest request = endpoint == 2 ? kiln_server::parsePredictRequest(model, body)
                                                      : kiln_server::parseInferRequest(model, body, jsonLength);
    if (request.rows > 4096)
      return 0; // valid, but slow to run for a fuzzer
    std::vector<kiln_tensor_t *> inputs;
    for (const auto &input : request.inputs)
      inputs.push_back(input.get());
    kiln_server::BatchSlice slice;
    slice.outputs = std::make_shared<const std::vector<kiln_server::TensorPtr>>(model.predict(inputs));
    slice.rows = request.rows;
    if (endpoint == 2)
      (void)kiln_server::encodePredictResponse(model, request, slice);
    else
      (void)kiln_server::encodeInferResponse(model, request, slice);
  } catch (const kiln_server::RequestError &error) {
    if (error.status < 400 || error.status > 599 || error.message.empty()) {
      std::fprintf(stderr, "kiln fuzzer: a refusal without a 4xx/5xx status and a message\n");
      std::abort();
    }
  }
  return 0;
}
