//===- Safetensors.cpp - Checkpoints in the safetensors format ------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// A checkpoint is a set of named tensors plus string metadata, stored in the
// safetensors layout (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of UTF-8 JSON mapping each name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
// first byte after the header) plus an optional "__metadata__" object of
// strings, then the data. Loading trusts nothing in the file: the header is
// parsed by nlohmann-json without exceptions (through a SAX wrapper that
// keeps the parser's error message and catches duplicate names), and every
// entry is checked against the data before any tensor is read. Saving goes
// through `AtomicFileWriter`.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <new>
#include <unordered_map>
#include <unordered_set>
#include <vector>

using namespace kiln::runtime;
using Json = nlohmann::json;

namespace {

struct Entry {
  std::string name;
  kiln_tensor_t *tensor;
};

} // namespace

struct kiln_checkpoint_s {
  /// Where the checkpoint came from, for messages ("checkpoint" when built in
  /// memory).
  std::string source = "checkpoint";
  std::vector<Entry> entries;
  std::unordered_map<std::string, size_t> index;
  std::vector<std::pair<std::string, std::string>> metadata;

  ~kiln_checkpoint_s() {
    for (Entry &entry : entries)
      kiln_tensor_free(entry.tensor);
  }
};

namespace {

/// The largest header accepted (the limit the reference implementation
/// uses), so that a corrupt length cannot make us allocate gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100000000;

struct SafetensorsDtype {
  const char *name;
  bool supported;
  kiln_dtype_t dtype;
};

// Every dtype the format defines; Kiln holds the supported ones.
const SafetensorsDtype safetensorsDtypes[] = {
    {"F32", true, KILN_F32}, {"F64", true, KILN_F64},     {"I32", true, KILN_I32},     {"I64", true, KILN_I64},
    {"U8", true, KILN_U8},   {"BOOL", false, KILN_U8},    {"I8", false, KILN_U8},      {"I16", false, KILN_U8},
    {"U16", false, KILN_U8}, {"F16", false, KILN_U8},     {"BF16", false, KILN_U8},    {"U32", false, KILN_U8},
    {"U64", false, KILN_U8}, {"F8_E4M3", false, KILN_U8}, {"F8_E5M2", false, KILN_U8}, {"F8_E8M0", false, KILN_U8},
    {"F4", false, KILN_U8},  {"F6_E2M3", false, KILN_U8}, {"F6_E3M2", false, KILN_U8}, {"C64", false, KILN_U8},
};

const char *safetensorsName(kiln_dtype_t dtype) {
  for (const SafetensorsDtype &d : safetensorsDtypes)
    if (d.supported && d.dtype == dtype)
      return d.name;
  return "?";
}

/// Forwards SAX events to nlohmann's DOM builder, keeping the parse error
/// message (which `parse(..., allow_exceptions=false)` would drop), refusing
/// duplicate top-level keys and absurd nesting.
class HeaderSax {
public:
  explicit HeaderSax(Json &result) : dom_(result, /*allow_exceptions=*/false) {}

  bool null() { return dom_.null(); }
  bool boolean(bool value) { return dom_.boolean(value); }
  bool number_integer(Json::number_integer_t value) { return dom_.number_integer(value); }
  bool number_unsigned(Json::number_unsigned_t value) { return dom_.number_unsigned(value); }
  bool number_float(Json::number_float_t value, const Json::string_t &text) { return dom_.number_float(value, text); }
  bool string(Json::string_t &value) { return dom_.string(value); }
  bool binary(Json::binary_t &value) { return dom_.binary(value); }
  bool start_object(std::size_t size) {
    if (++depth_ > 16)
      return fail("the JSON nests too deeply");
    return dom_.start_object(size);
  }
  bool key(Json::string_t &value) {
    if (depth_ == 1 && !topKeys_.insert(value).second)
      return fail("the name '" + value + "' appears twice");
    return dom_.key(value);
  }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t size) {
    if (++depth_ > 16)
      return fail("the JSON nests too deeply");
    return dom_.start_array(size);
  }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string &lastToken, const nlohmann::detail::exception &error) {
    (void)lastToken;
    (void)position;
    message_ = std::string("bad JSON: ") + error.what();
    return false;
  }

  const std::string &message() const { return message_; }

private:
  bool fail(std::string message) {
    message_ = std::move(message);
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  int depth_ = 0;
  std::unordered_set<std::string> topKeys_;
  std::string message_;
};

/// One validated header entry.
struct HeaderEntry {
  std::string name;
  kiln_dtype_t dtype;
  int32_t rank;
  int64_t shape[KILN_MAX_RANK];
  uint64_t begin, end;
};

kiln_status_t headerError(const std::string &path, const std::string &what) {
  return makeStatus(KILN_STATUS_DATA_LOSS, "%s: malformed safetensors header: %s", path.c_str(), what.c_str());
}

/// Checks one tensor entry of the header against the data size.
kiln_status_t parseEntry(const std::string &path, const std::string &name, const Json &value, uint64_t dataSize,
                         HeaderEntry &entry) {
  std::string tensor = "tensor '" + name + "'";
  if (!value.is_object())
    return headerError(path, tensor + " is not a JSON object");
  auto dtypeIt = value.find("dtype");
  auto shapeIt = value.find("shape");
  auto offsetsIt = value.find("data_offsets");
  if (dtypeIt == value.end() || shapeIt == value.end() || offsetsIt == value.end())
    return headerError(path, tensor + " lacks one of \"dtype\", \"shape\", "
                                      "\"data_offsets\"");
  if (!dtypeIt->is_string())
    return headerError(path, tensor + ": \"dtype\" is not a string");
  const std::string &dtypeName = dtypeIt->get_ref<const std::string &>();
  const SafetensorsDtype *dtype = nullptr;
  for (const SafetensorsDtype &d : safetensorsDtypes)
    if (dtypeName == d.name)
      dtype = &d;
  if (!dtype)
    return makeStatus(KILN_STATUS_DATA_LOSS, "%s: tensor '%s' has unknown dtype '%s'", path.c_str(), name.c_str(),
                      dtypeName.c_str());
  if (!dtype->supported)
    return makeStatus(KILN_STATUS_UNIMPLEMENTED,
                      "%s: tensor '%s' has dtype %s, which Kiln does not "
                      "support (it reads F32, F64, I32, I64 and U8)",
                      path.c_str(), name.c_str(), dtypeName.c_str());
  entry.name = name;
  entry.dtype = dtype->dtype;

  if (!shapeIt->is_array())
    return headerError(path, tensor + ": \"shape\" is not an array");
  if (shapeIt->size() > KILN_MAX_RANK)
    return makeStatus(KILN_STATUS_UNIMPLEMENTED,
                      "%s: tensor '%s' has %zu dimensions, Kiln supports at "
                      "most %d",
                      path.c_str(), name.c_str(), shapeIt->size(), KILN_MAX_RANK);
  entry.rank = static_cast<int32_t>(shapeIt->size());
  for (int32_t i = 0; i < entry.rank; ++i) {
    const Json &dim = (*shapeIt)[static_cast<size_t>(i)];
    if (!dim.is_number_unsigned() || dim.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return headerError(path, tensor + ": \"shape\" holds something other "
                                        "than non-negative integers");
    entry.shape[i] = static_cast<int64_t>(dim.get<uint64_t>());
  }

  if (!offsetsIt->is_array() || offsetsIt->size() != 2 || !(*offsetsIt)[0].is_number_unsigned() ||
      !(*offsetsIt)[1].is_number_unsigned())
    return headerError(path, tensor + ": \"data_offsets\" is not a pair of "
                                      "non-negative integers");
  entry.begin = (*offsetsIt)[0].get<uint64_t>();
  entry.end = (*offsetsIt)[1].get<uint64_t>();
  std::string offsets = "[" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "]";
  if (entry.begin > entry.end)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: tensor '%s' has data_offsets %s that end before "
                      "they begin",
                      path.c_str(), name.c_str(), offsets.c_str());
  if (entry.end > dataSize)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: tensor '%s' has data_offsets %s outside the %llu "
                      "bytes of data (file truncated?)",
                      path.c_str(), name.c_str(), offsets.c_str(), static_cast<unsigned long long>(dataSize));
  int64_t numElements = 0;
  size_t byteSize = 0;
  bool fits = checkedSizes(entry.shape, entry.rank, kiln_dtype_size(entry.dtype), numElements, byteSize);
  if (!fits || byteSize != entry.end - entry.begin)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: tensor '%s' of dtype %s and shape %s needs %s "
                      "bytes, but its data_offsets %s cover %llu",
                      path.c_str(), name.c_str(), dtypeName.c_str(), formatShape(entry.shape, entry.rank).c_str(),
                      fits ? std::to_string(byteSize).c_str() : "too many", offsets.c_str(),
                      static_cast<unsigned long long>(entry.end - entry.begin));
  return nullptr;
}

kiln_status_t validateName(const char *what, const char *text) {
  if (!text)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "%s is NULL", what);
  if (!isValidUtf8(text, std::strlen(text)))
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
  return nullptr;
}

} // namespace

extern "C" kiln_status_t kiln_checkpoint_create(kiln_checkpoint_t **out) {
  if (!out)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_checkpoint_create: 'out' is NULL");
  *out = new (std::nothrow) kiln_checkpoint_s();
  if (!*out)
    return makeStatus(KILN_STATUS_RESOURCE_EXHAUSTED, "kiln_checkpoint_create: out of memory");
  return nullptr;
}

extern "C" void kiln_checkpoint_free(kiln_checkpoint_t *checkpoint) { delete checkpoint; }

extern "C" kiln_status_t kiln_checkpoint_add(kiln_checkpoint_t *checkpoint, const char *name,
                                             const kiln_tensor_t *tensor) {
  if (!checkpoint || !tensor)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_checkpoint_add: NULL argument");
  if (kiln_status_t status = validateName("kiln_checkpoint_add: the tensor name", name))
    return status;
  if (!*name || std::strcmp(name, "__metadata__") == 0)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_checkpoint_add: '%s' cannot name a tensor", name);
  if (checkpoint->index.count(name))
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "%s: a tensor named '%s' is already present",
                      checkpoint->source.c_str(), name);
  kiln_tensor_t *copy = nullptr;
  if (kiln_status_t status = kiln_tensor_clone(tensor, &copy))
    return status;
  checkpoint->index.emplace(name, checkpoint->entries.size());
  checkpoint->entries.push_back({name, copy});
  return nullptr;
}

extern "C" kiln_status_t kiln_checkpoint_set_metadata(kiln_checkpoint_t *checkpoint, const char *key,
                                                      const char *value) {
  if (!checkpoint)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_checkpoint_set_metadata: NULL checkpoint");
  if (kiln_status_t status = validateName("kiln_checkpoint_set_metadata: the key", key))
    return status;
  if (kiln_status_t status = validateName("kiln_checkpoint_set_metadata: the value", value))
    return status;
  for (auto &entry : checkpoint->metadata)
    if (entry.first == key) {
      entry.second = value;
      return nullptr;
    }
  checkpoint->metadata.emplace_back(key, value);
  return nullptr;
}

extern "C" const char *kiln_checkpoint_metadata(const kiln_checkpoint_t *checkpoint, const char *key) {
  if (!checkpoint || !key)
    return nullptr;
  for (const auto &entry : checkpoint->metadata)
    if (entry.first == key)
      return entry.second.c_str();
  return nullptr;
}

extern "C" size_t kiln_checkpoint_size(const kiln_checkpoint_t *checkpoint) {
  return checkpoint ? checkpoint->entries.size() : 0;
}

extern "C" const char *kiln_checkpoint_name(const kiln_checkpoint_t *checkpoint, size_t index) {
  if (!checkpoint || index >= checkpoint->entries.size())
    return nullptr;
  return checkpoint->entries[index].name.c_str();
}

extern "C" const kiln_tensor_t *kiln_checkpoint_tensor(const kiln_checkpoint_t *checkpoint, size_t index) {
  if (!checkpoint || index >= checkpoint->entries.size())
    return nullptr;
  return checkpoint->entries[index].tensor;
}

extern "C" const kiln_tensor_t *kiln_checkpoint_find(const kiln_checkpoint_t *checkpoint, const char *name) {
  if (!checkpoint || !name)
    return nullptr;
  auto it = checkpoint->index.find(name);
  if (it == checkpoint->index.end())
    return nullptr;
  return checkpoint->entries[it->second].tensor;
}

extern "C" kiln_status_t kiln_checkpoint_copy_to(const kiln_checkpoint_t *checkpoint, const char *name,
                                                 kiln_tensor_t *dst) {
  if (!checkpoint || !name || !dst)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_checkpoint_copy_to: NULL argument");
  const char *source = checkpoint->source.c_str();
  const kiln_tensor_t *src = kiln_checkpoint_find(checkpoint, name);
  if (!src)
    return makeStatus(KILN_STATUS_NOT_FOUND,
                      "%s: no tensor named '%s' (the checkpoint holds %zu "
                      "tensors)",
                      source, name, checkpoint->entries.size());
  if (src->dtype != dst->dtype)
    return makeStatus(KILN_STATUS_FAILED_PRECONDITION, "%s: tensor '%s' has dtype %s, the model expects %s", source,
                      name, safetensorsName(src->dtype), safetensorsName(dst->dtype));
  bool sameShape = src->rank == dst->rank;
  for (int32_t i = 0; sameShape && i < src->rank; ++i)
    sameShape = src->shape[i] == dst->shape[i];
  if (!sameShape)
    return makeStatus(KILN_STATUS_FAILED_PRECONDITION, "%s: tensor '%s' has shape %s, the model expects %s", source,
                      name, formatShape(src->shape, src->rank).c_str(), formatShape(dst->shape, dst->rank).c_str());
  if (src->byteSize)
    std::memcpy(dst->data, src->data, src->byteSize);
  return nullptr;
}

extern "C" kiln_status_t kiln_checkpoint_save(const kiln_checkpoint_t *checkpoint, const char *path) {
  if (!checkpoint || !path)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_checkpoint_save: NULL argument");
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!checkpoint->metadata.empty()) {
    nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
    for (const auto &entry : checkpoint->metadata)
      metadata[entry.first] = entry.second;
    header["__metadata__"] = std::move(metadata);
  }
  uint64_t offset = 0;
  for (const Entry &entry : checkpoint->entries) {
    const kiln_tensor_t *tensor = entry.tensor;
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int32_t i = 0; i < tensor->rank; ++i)
      shape.push_back(static_cast<uint64_t>(tensor->shape[i]));
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = safetensorsName(tensor->dtype);
    info["shape"] = std::move(shape);
    info["data_offsets"] = {offset, offset + tensor->byteSize};
    header[entry.name] = std::move(info);
    offset += tensor->byteSize;
  }
  // Names were checked to be UTF-8 when added; `replace` only guards.
  std::string text = header.dump(-1, ' ', false, Json::error_handler_t::replace);
  // Pad with spaces so that the data starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char length[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<unsigned char>(n >> (8 * i));

  AtomicFileWriter writer;
  if (kiln_status_t status = writer.open(path))
    return status;
  if (kiln_status_t status = writer.write(length, sizeof length))
    return status;
  if (kiln_status_t status = writer.write(text.data(), text.size()))
    return status;
  for (const Entry &entry : checkpoint->entries)
    if (kiln_status_t status = writer.write(entry.tensor->data, entry.tensor->byteSize))
      return status;
  return writer.commit();
}

extern "C" kiln_status_t kiln_checkpoint_load(const char *path, kiln_checkpoint_t **out) {
  if (!path || !out)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_checkpoint_load: NULL argument");
  *out = nullptr;
  InputFile file;
  if (kiln_status_t status = file.open(path))
    return status;
  uint64_t fileSize = file.size();
  unsigned char lengthBytes[8];
  size_t got = 0;
  if (kiln_status_t status = file.readAt(0, lengthBytes, 8, &got))
    return status;
  if (got < 8)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: truncated safetensors file: %zu bytes, too short "
                      "for the 8-byte header length",
                      path, got);
  uint64_t headerLength = 0;
  for (int i = 0; i < 8; ++i)
    headerLength |= static_cast<uint64_t>(lengthBytes[i]) << (8 * i);
  if (headerLength > fileSize - 8)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: truncated or corrupt safetensors file: the header "
                      "length %llu exceeds the %llu bytes that follow it",
                      path, static_cast<unsigned long long>(headerLength),
                      static_cast<unsigned long long>(fileSize - 8));
  if (headerLength > kMaxHeaderBytes)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: safetensors header length %llu exceeds the limit "
                      "of %llu bytes",
                      path, static_cast<unsigned long long>(headerLength),
                      static_cast<unsigned long long>(kMaxHeaderBytes));
  std::string text(static_cast<size_t>(headerLength), '\0');
  if (kiln_status_t status = file.readAt(8, text.data(), text.size(), &got))
    return status;
  if (got < text.size())
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: truncated safetensors file: the header is cut "
                      "short",
                      path);
  if (text.empty() || text[0] != '{')
    return headerError(path, "it does not start with '{'");

  Json header;
  HeaderSax sax(header);
  if (!Json::sax_parse(text.begin(), text.end(), &sax) || header.is_discarded())
    return headerError(path, sax.message().empty() ? "bad JSON" : sax.message());
  if (!header.is_object())
    return headerError(path, "the JSON is not an object");

  uint64_t dataStart = 8 + headerLength;
  uint64_t dataSize = fileSize - dataStart;
  std::vector<HeaderEntry> entries;
  std::vector<std::pair<std::string, std::string>> metadata;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object())
        return headerError(path, "\"__metadata__\" is not an object");
      for (auto meta = it.value().begin(); meta != it.value().end(); ++meta) {
        if (!meta.value().is_string())
          return headerError(path, "\"__metadata__\" entry '" + meta.key() + "' is not a string");
        metadata.emplace_back(meta.key(), meta.value().get_ref<const std::string &>());
      }
      continue;
    }
    HeaderEntry entry;
    if (kiln_status_t status = parseEntry(path, it.key(), it.value(), dataSize, entry))
      return status;
    entries.push_back(std::move(entry));
  }

  // The entries must tile the data exactly: no overlaps, no holes.
  std::sort(entries.begin(), entries.end(), [](const HeaderEntry &a, const HeaderEntry &b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const HeaderEntry *previous = nullptr;
  for (const HeaderEntry &entry : entries) {
    if (entry.begin < covered)
      return makeStatus(KILN_STATUS_DATA_LOSS,
                        "%s: the data of tensors '%s' and '%s' overlap "
                        "(bytes %llu to %llu)",
                        path, previous->name.c_str(), entry.name.c_str(), static_cast<unsigned long long>(entry.begin),
                        static_cast<unsigned long long>(covered));
    if (entry.begin > covered)
      return makeStatus(KILN_STATUS_DATA_LOSS,
                        "%s: bytes %llu to %llu of the data belong to no "
                        "tensor",
                        path, static_cast<unsigned long long>(covered), static_cast<unsigned long long>(entry.begin));
    covered = entry.end;
    previous = &entry;
  }
  if (covered != dataSize)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: bytes %llu to %llu of the data belong to no tensor "
                      "(trailing bytes)",
                      path, static_cast<unsigned long long>(covered), static_cast<unsigned long long>(dataSize));

  auto *checkpoint = new (std::nothrow) kiln_checkpoint_s();
  if (!checkpoint)
    return makeStatus(KILN_STATUS_RESOURCE_EXHAUSTED, "%s: out of memory", path);
  checkpoint->source = path;
  checkpoint->metadata = std::move(metadata);
  for (const HeaderEntry &entry : entries) {
    kiln_tensor_t *tensor = nullptr;
    kiln_status_t status = allocateTensor(entry.dtype, entry.rank, entry.shape, path, &tensor);
    if (!status) {
      checkpoint->index.emplace(entry.name, checkpoint->entries.size());
      checkpoint->entries.push_back({entry.name, tensor});
      status = file.readAt(dataStart + entry.begin, tensor->data, tensor->byteSize, &got);
      if (!status && got < tensor->byteSize)
        status = makeStatus(KILN_STATUS_DATA_LOSS,
                            "%s: truncated safetensors file: tensor '%s' is "
                            "cut short",
                            path, entry.name.c_str());
    }
    if (status) {
      delete checkpoint;
      return status;
    }
  }
  *out = checkpoint;
  return nullptr;
}
