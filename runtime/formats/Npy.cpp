//===- Npy.cpp - The .npy reader and writer -------------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// numpy's `.npy` format (versions 1.0, 2.0, 3.0): the magic "\x93NUMPY", a
// version, a little-endian header length (u16 for 1.0, u32 otherwise), a
// Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}
// and the raw data. The dict is parsed by a small hand-written reader of
// exactly that literal subset (strings, True/False, tuples of integers),
// since no general Python parser is wanted here.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <cctype>
#include <cstring>
#include <vector>

using namespace kiln::runtime;

namespace {

/// A cursor over the header dict literal.
class HeaderParser {
public:
  HeaderParser(const std::string &text) : text_(text) {}

  void skipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
  }
  bool consume(char c) {
    skipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    skipSpace();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool atEnd() {
    skipSpace();
    return pos_ >= text_.size();
  }
  /// A Python string literal in single or double quotes (no escapes needed
  /// for the keys and dtypes numpy writes; a backslash is kept verbatim).
  bool parseString(std::string &out) {
    skipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      return false;
    char quote = text_[pos_++];
    size_t end = text_.find(quote, pos_);
    if (end == std::string::npos)
      return false;
    out = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return true;
  }
  bool parseWord(const char *word) {
    skipSpace();
    size_t n = std::strlen(word);
    if (text_.compare(pos_, n, word) != 0)
      return false;
    pos_ += n;
    return true;
  }
  /// A non-negative integer (Python 2's `L` suffix accepted).
  bool parseDim(int64_t &out) {
    skipSpace();
    if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_])))
      return false;
    uint64_t value = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      value = value * 10 + static_cast<uint64_t>(text_[pos_] - '0');
      if (value > static_cast<uint64_t>(INT64_MAX))
        return false;
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == 'L')
      ++pos_;
    out = static_cast<int64_t>(value);
    return true;
  }

private:
  const std::string &text_;
  size_t pos_ = 0;
};

struct NpyDtype {
  const char *descr;
  kiln_dtype_t dtype;
};

const NpyDtype npyDtypes[] = {
    {"<f4", KILN_F32}, {"<f8", KILN_F64}, {"<i4", KILN_I32}, {"<i8", KILN_I64}, {"|u1", KILN_U8}, {"<u1", KILN_U8},
};

const char *descrOf(kiln_dtype_t dtype) {
  for (const NpyDtype &d : npyDtypes)
    if (d.dtype == dtype)
      return d.descr;
  return nullptr;
}

} // namespace

extern "C" kiln_status_t kiln_read_npy(const char *path, kiln_tensor_t **out) {
  if (!out || !path)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_read_npy: NULL argument");
  *out = nullptr;
  InputFile file;
  if (kiln_status_t status = file.open(path))
    return status;

  unsigned char prefix[12];
  size_t got = 0;
  if (kiln_status_t status = file.readAt(0, prefix, sizeof prefix, &got))
    return status;
  if (got < 6 || std::memcmp(prefix, "\x93NUMPY", 6) != 0)
    return makeStatus(KILN_STATUS_DATA_LOSS, "%s: not a .npy file: missing the magic \\x93NUMPY", path);
  if (got < 10)
    return makeStatus(KILN_STATUS_DATA_LOSS, "%s: truncated .npy file: the header is cut short", path);
  unsigned major = prefix[6], minor = prefix[7];
  if (minor != 0 || major < 1 || major > 3)
    return makeStatus(KILN_STATUS_UNIMPLEMENTED,
                      "%s: unsupported .npy format version %u.%u (Kiln reads "
                      "1.0, 2.0 and 3.0)",
                      path, major, minor);
  uint64_t headerLength, dataOffset;
  if (major == 1) {
    headerLength = prefix[8] | (unsigned(prefix[9]) << 8);
    dataOffset = 10 + headerLength;
  } else {
    if (got < 12)
      return makeStatus(KILN_STATUS_DATA_LOSS, "%s: truncated .npy file: the header is cut short", path);
    headerLength = prefix[8] | (uint64_t(prefix[9]) << 8) | (uint64_t(prefix[10]) << 16) | (uint64_t(prefix[11]) << 24);
    dataOffset = 12 + headerLength;
  }
  if (dataOffset > file.size())
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: truncated .npy file: the header announces %llu "
                      "bytes, the file has %llu after the header length",
                      path, static_cast<unsigned long long>(headerLength),
                      static_cast<unsigned long long>(file.size() - (dataOffset - headerLength)));
  std::string header(static_cast<size_t>(headerLength), '\0');
  if (kiln_status_t status = file.readAt(dataOffset - headerLength, header.data(), header.size(), &got))
    return status;

  // Parse {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
  auto malformed = [&](const char *what) {
    return makeStatus(KILN_STATUS_DATA_LOSS, "%s: malformed .npy header (%s): %s", path, what,
                      header.substr(0, 200).c_str());
  };
  HeaderParser parser(header);
  std::string descr;
  bool haveDescr = false, haveOrder = false, haveShape = false;
  bool fortranOrder = false;
  int64_t shape[KILN_MAX_RANK];
  int rank = 0;
  if (!parser.consume('{'))
    return malformed("expected '{'");
  while (!parser.consume('}')) {
    std::string key;
    if (!parser.parseString(key))
      return malformed("expected a quoted key");
    if (!parser.consume(':'))
      return malformed("expected ':'");
    if (key == "descr") {
      if (parser.peek('['))
        return makeStatus(KILN_STATUS_UNIMPLEMENTED, "%s: structured .npy dtypes are not supported", path);
      if (!parser.parseString(descr))
        return malformed("'descr' is not a string");
      haveDescr = true;
    } else if (key == "fortran_order") {
      if (parser.parseWord("True"))
        fortranOrder = true;
      else if (parser.parseWord("False"))
        fortranOrder = false;
      else
        return malformed("'fortran_order' is not True or False");
      haveOrder = true;
    } else if (key == "shape") {
      if (!parser.consume('('))
        return malformed("'shape' is not a tuple");
      while (!parser.consume(')')) {
        int64_t dim = 0;
        if (!parser.parseDim(dim))
          return malformed("'shape' holds something other than "
                           "non-negative integers");
        if (rank == KILN_MAX_RANK)
          return makeStatus(KILN_STATUS_UNIMPLEMENTED, "%s: .npy array has more than %d dimensions", path,
                            KILN_MAX_RANK);
        shape[rank++] = dim;
        if (!parser.consume(',') && !parser.peek(')'))
          return malformed("expected ',' or ')' in 'shape'");
      }
      haveShape = true;
    } else {
      return malformed(("unexpected key '" + key + "'").c_str());
    }
    if (!parser.consume(',') && !parser.peek('}'))
      return malformed("expected ',' or '}'");
  }
  if (!haveDescr || !haveOrder || !haveShape)
    return malformed("it needs the keys 'descr', 'fortran_order' and "
                     "'shape'");
  if (!parser.atEnd())
    return malformed("unexpected text after the dict");
  if (fortranOrder)
    return makeStatus(KILN_STATUS_UNIMPLEMENTED,
                      "%s: .npy array is in Fortran order (fortran_order: "
                      "True); Kiln reads C-order arrays only (save it with "
                      "np.save(path, np.ascontiguousarray(a)))",
                      path);
  const NpyDtype *dtype = nullptr;
  for (const NpyDtype &candidate : npyDtypes)
    if (descr == candidate.descr)
      dtype = &candidate;
  if (!dtype)
    return makeStatus(KILN_STATUS_UNIMPLEMENTED,
                      "%s: unsupported .npy dtype '%s' (Kiln reads '<f4', "
                      "'<f8', '<i4', '<i8' and '|u1'%s)",
                      path, descr.c_str(),
                      !descr.empty() && descr[0] == '>' ? "; big-endian data is not supported" : "");

  int64_t numElements = 0;
  size_t byteSize = 0;
  if (!checkedSizes(shape, rank, kiln_dtype_size(dtype->dtype), numElements, byteSize))
    return makeStatus(KILN_STATUS_DATA_LOSS, "%s: .npy shape %s is too large", path, formatShape(shape, rank).c_str());
  uint64_t available = file.size() - dataOffset;
  if (available < byteSize)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: truncated .npy file: expected %zu bytes of data "
                      "for shape %s of %s, found %llu",
                      path, byteSize, formatShape(shape, rank).c_str(), descr.c_str(),
                      static_cast<unsigned long long>(available));
  if (available > byteSize)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: %llu unexpected bytes after the %zu bytes of data "
                      "that shape %s of %s needs",
                      path, static_cast<unsigned long long>(available - byteSize), byteSize,
                      formatShape(shape, rank).c_str(), descr.c_str());
  kiln_tensor_t *tensor = nullptr;
  if (kiln_status_t status = allocateTensor(dtype->dtype, rank, shape, path, &tensor))
    return status;
  kiln_status_t status = file.readAt(dataOffset, tensor->data, byteSize, &got);
  if (!status && got < byteSize)
    status = makeStatus(KILN_STATUS_DATA_LOSS,
                        "%s: truncated .npy file: expected %zu bytes of data, "
                        "found %zu",
                        path, byteSize, got);
  if (status) {
    kiln_tensor_free(tensor);
    return status;
  }
  *out = tensor;
  return nullptr;
}

extern "C" kiln_status_t kiln_write_npy(const char *path, const kiln_tensor_t *tensor) {
  if (!path || !tensor)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_write_npy: NULL argument");
  const char *descr = descrOf(tensor->dtype);
  std::string dict = "{'descr': '";
  dict += descr;
  dict += "', 'fortran_order': False, 'shape': (";
  for (int32_t i = 0; i < tensor->rank; ++i) {
    dict += std::to_string(tensor->shape[i]);
    if (i + 1 < tensor->rank || tensor->rank == 1)
      dict += tensor->rank == 1 ? "," : ", ";
  }
  dict += "), }";
  // Pad with spaces and end with '\n' so that the data starts at a multiple
  // of 64 bytes, as numpy does.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  unsigned char prefix[10] = {0x93,
                              'N',
                              'U',
                              'M',
                              'P',
                              'Y',
                              1,
                              0,
                              static_cast<unsigned char>(dict.size() & 0xff),
                              static_cast<unsigned char>(dict.size() >> 8)};
  AtomicFileWriter writer;
  if (kiln_status_t status = writer.open(path))
    return status;
  if (kiln_status_t status = writer.write(prefix, sizeof prefix))
    return status;
  if (kiln_status_t status = writer.write(dict.data(), dict.size()))
    return status;
  if (kiln_status_t status = writer.write(tensor->data, tensor->byteSize))
    return status;
  return writer.commit();
}
