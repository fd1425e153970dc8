//===- InferProtocol.cpp - Request and response bodies --------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// JSON is parsed with simdjson (its DOM API validates the whole document
// and reads a 784-float body in microseconds) and written by hand, with
// std::to_chars' shortest round-trip form of each float, so that a client
// parsing the answer gets the compiled code's exact values.
//
//===----------------------------------------------------------------------===//

#include "InferProtocol.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>

using namespace kiln_server;
namespace dom = simdjson::dom;

namespace {

[[noreturn]] void badRequest(const std::string &message) { throw RequestError{400, message}; }

/// simdjson parsers, reused across requests: a parser keeps buffers sized
/// for the largest document it has read. They live in one shared free list
/// rather than one per HTTP thread, so that their number follows the
/// requests parsed at once, not the (many) connection threads; one grown
/// by a huge body is dropped rather than kept.
class ParserLease {
public:
  ParserLease() {
    std::lock_guard<std::mutex> lock(mutex());
    if (!pool().empty()) {
      parser_ = std::move(pool().back());
      pool().pop_back();
    } else {
      parser_ = std::make_unique<dom::parser>();
    }
  }
  ~ParserLease() {
    if (parser_->capacity() > kKeepCapacity)
      return;
    std::lock_guard<std::mutex> lock(mutex());
    pool().push_back(std::move(parser_));
  }
  dom::parser &parser() { return *parser_; }

private:
  static constexpr size_t kKeepCapacity = 1 << 20;
  static std::mutex &mutex() {
    static std::mutex instance;
    return instance;
  }
  static std::vector<std::unique_ptr<dom::parser>> &pool() {
    static std::vector<std::unique_ptr<dom::parser>> instance;
    return instance;
  }
  std::unique_ptr<dom::parser> parser_;
};

dom::element parseJson(ParserLease &lease, std::string_view text) {
  dom::element root;
  if (auto error = lease.parser().parse(text.data(), text.size()).get(root))
    badRequest(std::string("malformed JSON: ") + simdjson::error_message(error));
  return root;
}

dom::object requireObject(dom::element element, const std::string &what) {
  dom::object object;
  if (element.get(object))
    badRequest(what + " must be a JSON object");
  return object;
}

std::optional<dom::element> field(dom::object object, std::string_view key) {
  dom::element value;
  if (object.at_key(key).get(value))
    return std::nullopt;
  return value;
}

const char *jsonTypeName(dom::element element) {
  switch (element.type()) {
  case dom::element_type::ARRAY:
    return "a list";
  case dom::element_type::OBJECT:
    return "an object";
  case dom::element_type::STRING:
    return "a string";
  case dom::element_type::BOOL:
    return "a boolean";
  case dom::element_type::NULL_VALUE:
    return "null";
  default:
    return "a number";
  }
}

const TensorSpec *findSpec(const std::vector<TensorSpec> &specs, std::string_view name, size_t &index) {
  for (index = 0; index < specs.size(); ++index)
    if (specs[index].name == name)
      return &specs[index];
  return nullptr;
}

std::string namesOf(const std::vector<TensorSpec> &specs) {
  std::string names;
  for (const TensorSpec &spec : specs)
    names += (names.empty() ? "'" : ", '") + spec.name + "'";
  return names;
}

/// The spec the "name" of a request's input or output entry names, with its
/// index; a 400 when the name is missing (`missingName`) or names no
/// `kind` ("input", "output") of the model.
const TensorSpec &namedSpec(simdjson::dom::object entry, const std::vector<TensorSpec> &specs, const std::string &kind,
                            const std::string &missingName, size_t &index) {
  std::string_view name;
  if (auto nameElement = field(entry, "name"); !nameElement || nameElement->get(name))
    badRequest(missingName);
  const TensorSpec *spec = findSpec(specs, name, index);
  if (!spec)
    badRequest("unknown " + kind + " '" + std::string(name) + "'; the model's " + kind + "s are " + namesOf(specs));
  return *spec;
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + (shape[i] < 0 ? std::string("N") : std::to_string(shape[i]));
  return text + "]";
}

/// Writes the numbers of `element` (a number or nested lists of them, row
/// major) into `out`, which holds `capacity` values.
class ValueReader {
public:
  ValueReader(const TensorSpec &spec, kiln_tensor_t *tensor)
      : spec_(spec), data_(kiln_tensor_data(tensor)), capacity_(kiln_tensor_num_elements(tensor)) {}

  void read(dom::element element, int depth = 0) {
    if (element.type() == dom::element_type::ARRAY) {
      if (depth > 32)
        badRequest("input '" + spec_.name + "': data is nested more than 32 lists deep");
      for (dom::element child : dom::array(element)) {
        // The common case first, without a call per value: a number in an
        // FP32 tensor that has room for it (get_double accepts exactly the
        // three number types the general path does).
        double value = 0;
        if (spec_.dtype == KILN_F32 && count_ < capacity_ && !child.get_double().get(value)) {
          static_cast<float *>(data_)[count_++] = float(value);
          continue;
        }
        read(child, depth + 1);
      }
      return;
    }
    if (count_ >= capacity_)
      badRequest("input '" + spec_.name + "': data holds more values than its shape's " + std::to_string(capacity_));
    switch (element.type()) {
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      break;
    default:
      badRequest("input '" + spec_.name + "': data holds " + jsonTypeName(element) + ", not a number");
    }
    if (spec_.dtype == KILN_F32) {
      double value = 0;
      (void)element.get_double().get(value);
      static_cast<float *>(data_)[count_++] = float(value);
      return;
    }
    int64_t value = 0;
    if (element.type() != dom::element_type::INT64 || element.get_int64().get(value) ||
        value < std::numeric_limits<int32_t>::min() || value > std::numeric_limits<int32_t>::max())
      badRequest("input '" + spec_.name + "' is INT32: data holds a value that is not a 32-bit integer");
    static_cast<int32_t *>(data_)[count_++] = int32_t(value);
  }

  int64_t count() const { return count_; }

  /// Checks that the data filled the tensor exactly.
  void finish() const {
    if (count_ != capacity_)
      badRequest("input '" + spec_.name + "': data holds " + std::to_string(count_) + " values, but its shape needs " +
                 std::to_string(capacity_));
  }

private:
  const TensorSpec &spec_;
  void *data_;
  int64_t capacity_, count_ = 0;
};

/// A tensor for `rows` examples of `spec`. `maxValues` bounds its size by
/// what the body can hold, so that a forged shape cannot allocate more.
TensorPtr makeInputTensor(const TensorSpec &spec, int64_t rows, int64_t maxValues) {
  // Small tensors are always allowed, so that a short body gets the more
  // useful error of a wrong value count.
  maxValues = std::max<int64_t>(maxValues, 1 << 16);
  int64_t values = 0;
  if (__builtin_mul_overflow(rows, spec.exampleSize(), &values) || values > maxValues)
    badRequest("input '" + spec.name + "': " + std::to_string(rows) + " examples of shape " + formatShape(spec.shape) +
               " are more values than the request holds");
  std::vector<int64_t> shape = spec.shape;
  shape[0] = rows;
  kiln_tensor_t *tensor = nullptr;
  if (kiln_status_t status = kiln_tensor_create(spec.dtype, int32_t(shape.size()), shape.data(), &tensor)) {
    kiln_status_free(status);
    throw RequestError{503, "out of memory for input '" + spec.name + "'"};
  }
  return TensorPtr(tensor);
}

/// The request's "shape" of input `spec`: its rank and per-example
/// dimensions must be the model's; returns the number of examples.
int64_t checkShape(const TensorSpec &spec, dom::element shapeElement) {
  dom::array list;
  if (shapeElement.get(list))
    badRequest("input '" + spec.name + "': shape must be a list of integers");
  std::vector<int64_t> shape;
  for (dom::element dim : list) {
    int64_t value = 0;
    if (dim.type() != dom::element_type::INT64 || dim.get_int64().get(value))
      badRequest("input '" + spec.name + "': shape must be a list of integers, not " + simdjson::to_string(list));
    if (value < 0)
      badRequest("input '" + spec.name + "': shape " + simdjson::to_string(list) + " has a negative dimension");
    shape.push_back(value);
  }
  bool matches = shape.size() == spec.shape.size();
  for (size_t i = 1; matches && i < shape.size(); ++i)
    matches = shape[i] == spec.shape[i];
  if (!matches)
    badRequest("input '" + spec.name + "': shape " + simdjson::to_string(list) + " does not fit the model's " +
               formatShape(spec.shape));
  if (shape[0] < 1)
    badRequest("input '" + spec.name + "': shape " + simdjson::to_string(list) + " has no examples");
  return shape[0];
}

bool boolParameter(dom::object object, std::string_view name) {
  std::optional<dom::element> parameters = field(object, "parameters");
  if (!parameters || parameters->type() != dom::element_type::OBJECT)
    return false;
  bool value = false;
  if (auto element = field(dom::object(*parameters), name))
    if (element->get_bool().get(value))
      badRequest(std::string("parameter '") + std::string(name) + "' must be true or false");
  return value;
}

std::optional<int64_t> sizeParameter(dom::object object, std::string_view name) {
  std::optional<dom::element> parameters = field(object, "parameters");
  if (!parameters || parameters->type() != dom::element_type::OBJECT)
    return std::nullopt;
  std::optional<dom::element> element = field(dom::object(*parameters), name);
  if (!element)
    return std::nullopt;
  int64_t value = 0;
  if (element->type() != dom::element_type::INT64 || element->get_int64().get(value) || value < 0)
    badRequest(std::string("parameter '") + std::string(name) + "' must be a non-negative integer");
  return value;
}

// ---- Writing JSON ------------------------------------------------------

void appendNumber(std::string &out, float value) {
  // JSON has no NaN or infinities: write them as JavaScript and Python's
  // json module do (docs/serving.md), or ask for binary outputs.
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "Infinity" : "-Infinity";
    return;
  }
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end);
}

void appendNumber(std::string &out, int32_t value) {
  char buffer[16];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end);
}

void appendString(std::string &out, const std::string &text) { out += json(text).dump(); }

void appendValue(std::string &out, const kiln_tensor_t *tensor, int64_t i) {
  const void *base = kiln_tensor_const_data(tensor);
  if (kiln_tensor_dtype(tensor) == KILN_F32)
    appendNumber(out, static_cast<const float *>(base)[i]);
  else
    appendNumber(out, static_cast<const int32_t *>(base)[i]);
}

int64_t valuesPerRow(const kiln_tensor_t *tensor) {
  int64_t perRow = 1;
  for (int32_t i = 1; i < kiln_tensor_rank(tensor); ++i)
    perRow *= kiln_tensor_shape(tensor)[i];
  return perRow;
}

/// Rows [begin, begin + rows) of `tensor` as one flat JSON list.
void appendFlat(std::string &out, const kiln_tensor_t *tensor, int64_t begin, int64_t rows) {
  int64_t perRow = valuesPerRow(tensor);
  out += '[';
  for (int64_t i = 0; i < rows * perRow; ++i) {
    if (i)
      out += ',';
    appendValue(out, tensor, begin * perRow + i);
  }
  out += ']';
}

/// Values from `offset` on, nested by the dimensions from `dim` on (TF
/// Serving's form of one example: a scalar for a rank-1 tensor).
void appendNested(std::string &out, const kiln_tensor_t *tensor, int32_t dim, int64_t &offset) {
  if (dim == kiln_tensor_rank(tensor)) {
    appendValue(out, tensor, offset++);
    return;
  }
  out += '[';
  for (int64_t i = 0; i < kiln_tensor_shape(tensor)[dim]; ++i) {
    if (i)
      out += ',';
    appendNested(out, tensor, dim + 1, offset);
  }
  out += ']';
}

void appendExample(std::string &out, const kiln_tensor_t *tensor, int64_t row) {
  int64_t offset = row * valuesPerRow(tensor);
  appendNested(out, tensor, 1, offset);
}

void appendShape(std::string &out, const kiln_tensor_t *tensor, int64_t rows) {
  out += '[';
  appendNumber(out, int32_t(rows));
  for (int32_t i = 1; i < kiln_tensor_rank(tensor); ++i) {
    out += ',';
    out += std::to_string(kiln_tensor_shape(tensor)[i]);
  }
  out += ']';
}

size_t rowBytes(const kiln_tensor_t *tensor) {
  return kiln_tensor_byte_size(tensor) / size_t(std::max<int64_t>(1, kiln_tensor_shape(tensor)[0]));
}

} // namespace

InferRequest kiln_server::parseInferRequest(const ServedModel &model, std::string_view body,
                                            std::optional<size_t> jsonLength) {
  if (jsonLength && *jsonLength > body.size())
    badRequest("Inference-Header-Content-Length " + std::to_string(*jsonLength) + " is past the end of the " +
               std::to_string(body.size()) + "-byte body");
  std::string_view jsonText = body.substr(0, jsonLength.value_or(body.size()));
  std::string_view binary = body.substr(jsonText.size());
  ParserLease lease;
  dom::object root = requireObject(parseJson(lease, jsonText), "the request body");
  InferRequest request;
  if (auto id = field(root, "id")) {
    std::string_view text;
    if (id->get(text))
      badRequest("\"id\" must be a string");
    request.id = std::string(text);
  }
  std::optional<dom::element> inputsElement = field(root, "inputs");
  if (!inputsElement)
    badRequest("the request has no \"inputs\"");
  dom::array inputs;
  if (inputsElement->get(inputs))
    badRequest("\"inputs\" must be a list");

  const std::vector<TensorSpec> &specs = model.inputs();
  request.inputs.resize(specs.size());
  size_t binaryOffset = 0;
  for (dom::element inputElement : inputs) {
    dom::object input = requireObject(inputElement, "each of \"inputs\"");
    size_t index = 0;
    const TensorSpec *spec = &namedSpec(input, specs, "input", "each input needs a \"name\" string", index);
    if (request.inputs[index])
      badRequest("input '" + spec->name + "' is given twice");
    std::string_view datatype;
    if (auto datatypeElement = field(input, "datatype"); !datatypeElement || datatypeElement->get(datatype))
      badRequest("input '" + spec->name + "' needs a \"datatype\" string");
    if (datatype != protocolDatatype(spec->dtype))
      badRequest("input '" + spec->name + "' has datatype " + std::string(datatype) + "; the model takes " +
                 protocolDatatype(spec->dtype));
    std::optional<dom::element> shapeElement = field(input, "shape");
    if (!shapeElement)
      badRequest("input '" + spec->name + "' needs a \"shape\"");
    int64_t rows = checkShape(*spec, *shapeElement);
    if (request.rows && rows != request.rows)
      badRequest("input '" + spec->name + "' has " + std::to_string(rows) + " examples, but another input has " +
                 std::to_string(request.rows));
    request.rows = rows;

    if (std::optional<int64_t> binarySize = sizeParameter(input, "binary_data_size")) {
      if (size_t(*binarySize) > binary.size() - binaryOffset)
        badRequest("input '" + spec->name + "': binary_data_size " + std::to_string(*binarySize) +
                   " is past the end of the body (" + std::to_string(binary.size() - binaryOffset) +
                   " binary bytes left)");
      TensorPtr tensor = makeInputTensor(*spec, rows, int64_t(binary.size()) / 4);
      if (size_t(*binarySize) != kiln_tensor_byte_size(tensor.get()))
        badRequest("input '" + spec->name + "': binary_data_size " + std::to_string(*binarySize) + " but shape " +
                   simdjson::to_string(*shapeElement) + " needs " +
                   std::to_string(kiln_tensor_byte_size(tensor.get())) + " bytes");
      std::memcpy(kiln_tensor_data(tensor.get()), binary.data() + binaryOffset, size_t(*binarySize));
      binaryOffset += size_t(*binarySize);
      request.inputs[index] = std::move(tensor);
      continue;
    }
    std::optional<dom::element> data = field(input, "data");
    if (!data)
      badRequest("input '" + spec->name + "' has neither \"data\" nor a binary_data_size");
    // Each number takes at least two bytes of JSON ("0,"), which bounds the
    // values a shape may claim.
    TensorPtr tensor = makeInputTensor(*spec, rows, int64_t(jsonText.size()) / 2 + 1);
    ValueReader reader(*spec, tensor.get());
    reader.read(*data);
    reader.finish();
    request.inputs[index] = std::move(tensor);
  }
  for (size_t i = 0; i < specs.size(); ++i)
    if (!request.inputs[i])
      badRequest("missing input '" + specs[i].name + "'");
  if (binaryOffset != binary.size())
    badRequest(std::to_string(binary.size() - binaryOffset) + " bytes after the JSON are not any input's binary data");

  bool binaryDefault = boolParameter(root, "binary_data_output");
  if (auto outputsElement = field(root, "outputs")) {
    dom::array outputs;
    if (outputsElement->get(outputs))
      badRequest("\"outputs\" must be a list");
    for (dom::element outputElement : outputs) {
      dom::object output = requireObject(outputElement, "each of \"outputs\"");
      size_t index = 0;
      namedSpec(output, model.outputs(), "output", "each requested output needs a \"name\" string", index);
      bool binaryOutput = binaryDefault;
      if (field(output, "parameters") && field(dom::object(*field(output, "parameters")), "binary_data"))
        binaryOutput = boolParameter(output, "binary_data");
      request.outputs.push_back({index, binaryOutput});
    }
  } else {
    for (size_t i = 0; i < model.outputs().size(); ++i)
      request.outputs.push_back({i, binaryDefault});
  }
  return request;
}

EncodedResponse kiln_server::encodeInferResponse(const ServedModel &model, const InferRequest &request,
                                                 const BatchSlice &slice) {
  EncodedResponse response;
  std::string &out = response.body;
  out.reserve(256 + 16 * size_t(slice.rows) * 16);
  out += "{\"model_name\":";
  appendString(out, model.name());
  out += ",\"model_version\":";
  appendString(out, model.version());
  if (request.id) {
    out += ",\"id\":";
    appendString(out, *request.id);
  }
  out += ",\"outputs\":[";
  bool anyBinary = false;
  for (size_t i = 0; i < request.outputs.size(); ++i) {
    const InferRequest::Output &wanted = request.outputs[i];
    const kiln_tensor_t *tensor = (*slice.outputs)[wanted.index].get();
    out += i ? ",{\"name\":" : "{\"name\":";
    appendString(out, model.outputs()[wanted.index].name);
    out += ",\"datatype\":\"";
    out += protocolDatatype(kiln_tensor_dtype(tensor));
    out += "\",\"shape\":";
    appendShape(out, tensor, slice.rows);
    if (wanted.binary) {
      out += ",\"parameters\":{\"binary_data_size\":";
      out += std::to_string(rowBytes(tensor) * size_t(slice.rows));
      out += "}}";
      anyBinary = true;
    } else {
      out += ",\"data\":";
      appendFlat(out, tensor, slice.begin, slice.rows);
      out += '}';
    }
  }
  out += "]}";
  if (anyBinary) {
    response.jsonLength = out.size();
    for (const InferRequest::Output &wanted : request.outputs)
      if (wanted.binary) {
        const kiln_tensor_t *tensor = (*slice.outputs)[wanted.index].get();
        size_t bytes = rowBytes(tensor);
        out.append(static_cast<const char *>(kiln_tensor_const_data(tensor)) + size_t(slice.begin) * bytes,
                   bytes * size_t(slice.rows));
      }
  }
  return response;
}

// ---- TensorFlow Serving ------------------------------------------------

InferRequest kiln_server::parsePredictRequest(const ServedModel &model, std::string_view body) {
  ParserLease lease;
  dom::object root = requireObject(parseJson(lease, body), "the request body");
  const std::vector<TensorSpec> &specs = model.inputs();
  InferRequest request;
  int64_t maxValues = int64_t(body.size()) / 2 + 1;
  if (auto instancesElement = field(root, "instances")) {
    // Row format: one entry per example; with several inputs, an object
    // per example.
    dom::array instances;
    if (instancesElement->get(instances))
      badRequest("\"instances\" must be a list");
    request.rows = int64_t(instances.size());
    if (request.rows == 0)
      badRequest("\"instances\" is empty");
    std::vector<std::optional<ValueReader>> readers(specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      request.inputs.push_back(makeInputTensor(specs[i], request.rows, maxValues));
      readers[i].emplace(specs[i], request.inputs.back().get());
    }
    int64_t index = 0;
    for (dom::element instance : instances) {
      ++index;
      if (instance.type() == dom::element_type::OBJECT) {
        dom::object object(instance);
        for (auto [key, value] : object) {
          size_t index = 0;
          if (!findSpec(specs, key, index))
            badRequest("unknown input '" + std::string(key) + "'; the model's inputs are " + namesOf(specs));
          readers[index]->read(value);
        }
      } else if (specs.size() == 1) {
        readers[0]->read(instance);
      } else {
        badRequest("the model has several inputs (" + namesOf(specs) + "): each instance must be an object");
      }
      // Each instance holds exactly one example of every input.
      for (size_t i = 0; i < specs.size(); ++i)
        if (readers[i]->count() != index * specs[i].exampleSize())
          badRequest("instance " + std::to_string(index - 1) + ": input '" + specs[i].name + "' needs " +
                     std::to_string(specs[i].exampleSize()) + " values per example");
    }
    for (const std::optional<ValueReader> &reader : readers)
      reader->finish();
  } else if (auto inputsElement = field(root, "inputs")) {
    // Columnar format: each input's whole batch.
    request.columnar = true;
    auto readColumn = [&](size_t index, dom::element value) {
      const TensorSpec &spec = specs[index];
      dom::array rows;
      if (value.get(rows))
        badRequest("input '" + spec.name + "' must be a list with one entry per example");
      int64_t count = int64_t(rows.size());
      if (count == 0 || (request.rows && count != request.rows))
        badRequest("input '" + spec.name + "' has " + std::to_string(count) + " examples" +
                   (request.rows ? ", but another input has " + std::to_string(request.rows) : std::string()));
      request.rows = count;
      request.inputs[index] = makeInputTensor(spec, count, maxValues);
      ValueReader reader(spec, request.inputs[index].get());
      reader.read(value);
      reader.finish();
    };
    request.inputs.resize(specs.size());
    if (inputsElement->type() == dom::element_type::OBJECT) {
      for (auto [key, value] : dom::object(*inputsElement)) {
        size_t index = 0;
        if (!findSpec(specs, key, index))
          badRequest("unknown input '" + std::string(key) + "'; the model's inputs are " + namesOf(specs));
        readColumn(index, value);
      }
    } else if (specs.size() == 1) {
      readColumn(0, *inputsElement);
    } else {
      badRequest("the model has several inputs (" + namesOf(specs) + "): \"inputs\" must be an object");
    }
    for (size_t i = 0; i < specs.size(); ++i)
      if (!request.inputs[i])
        badRequest("missing input '" + specs[i].name + "'");
  } else {
    badRequest("the request has neither \"instances\" nor \"inputs\"");
  }
  for (size_t i = 0; i < model.outputs().size(); ++i)
    request.outputs.push_back({i, false});
  return request;
}

std::string kiln_server::encodePredictResponse(const ServedModel &model, const InferRequest &request,
                                               const BatchSlice &slice) {
  const std::vector<TensorSpec> &outputs = model.outputs();
  bool several = outputs.size() > 1;
  std::string out;
  // With several outputs, each value is an object member named after its
  // output: `"name":` (after a comma but for the first).
  auto appendMemberName = [&](size_t i) {
    if (!several)
      return;
    out += i ? "," : "";
    appendString(out, outputs[i].name);
    out += ':';
  };
  if (request.columnar) {
    // {"outputs": batch} for one output, {"outputs": {name: batch}} else.
    out += several ? "{\"outputs\":{" : "{\"outputs\":";
    for (size_t i = 0; i < outputs.size(); ++i) {
      appendMemberName(i);
      out += '[';
      for (int64_t row = 0; row < slice.rows; ++row) {
        out += row ? "," : "";
        appendExample(out, (*slice.outputs)[i].get(), slice.begin + row);
      }
      out += ']';
    }
    out += several ? "}}" : "}";
    return out;
  }
  // {"predictions": [row, ...]}, each row an object with several outputs.
  out += "{\"predictions\":[";
  for (int64_t row = 0; row < slice.rows; ++row) {
    out += row ? "," : "";
    if (several)
      out += '{';
    for (size_t i = 0; i < outputs.size(); ++i) {
      appendMemberName(i);
      appendExample(out, (*slice.outputs)[i].get(), slice.begin + row);
    }
    if (several)
      out += '}';
  }
  out += "]}";
  return out;
}
