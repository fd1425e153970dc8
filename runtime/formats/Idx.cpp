//===- Idx.cpp - The IDX reader (MNIST format) ----------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// IDX files: the bytes 00 00, a type code, the number of dimensions, the
// dimensions as big-endian u32, then the big-endian data. Files compressed
// with gzip (as the MNIST and Fashion-MNIST distributions are) are recognised
// by their magic bytes 1f 8b and inflated with zlib (bytes after the last
// gzip member are an error); others are read directly. Every short read is
// reported with the expected and found sizes, and an announced size the file
// cannot hold is refused before anything is allocated.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>
#include <zlib.h>

using namespace kiln::runtime;

namespace {

/// Sequential reads from either a gzip file or a plain file. gzip is decoded
/// with zlib's inflate rather than gzread: gzread silently ignores bytes
/// after the last member, and a file with garbage appended must be an error.
/// Concatenated members (RFC 1952 allows them) are read as one stream.
class ByteSource {
public:
  ~ByteSource() {
    if (gzip_)
      inflateEnd(&stream_);
  }

  kiln_status_t open(const char *path) {
    path_ = path;
    if (kiln_status_t status = file_.open(path))
      return status;
    unsigned char magic[2] = {0, 0};
    size_t n = 0;
    if (kiln_status_t status = file_.readAt(0, magic, 2, &n))
      return status;
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
      std::memset(&stream_, 0, sizeof stream_);
      if (inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK)
        return makeStatus(KILN_STATUS_RESOURCE_EXHAUSTED, "%s: cannot start gzip decompression", path);
      gzip_ = true;
      input_.resize(1 << 17);
    }
    return nullptr;
  }

  bool isGzip() const { return gzip_; }
  /// The size of the file on disk (compressed, for gzip).
  uint64_t fileSize() const { return file_.size(); }

  /// Reads up to `size` bytes; `*got` is less only at the end of the data.
  kiln_status_t read(void *data, size_t size, size_t *got) {
    *got = 0;
    char *bytes = static_cast<char *>(data);
    while (*got < size) {
      size_t chunk = std::min<size_t>(size - *got, size_t(1) << 30);
      size_t n = 0;
      if (kiln_status_t status = gzip_ ? inflateSome(bytes + *got, chunk, &n) : readPlain(bytes + *got, chunk, &n))
        return status;
      if (n == 0)
        break;
      *got += n;
    }
    return nullptr;
  }

  /// Whether the gzip stream ended before its end-of-stream marker.
  bool truncatedGzip() const { return truncatedGzip_; }

private:
  kiln_status_t readPlain(char *bytes, size_t size, size_t *got) {
    if (kiln_status_t status = file_.readAt(offset_, bytes, size, got))
      return status;
    offset_ += *got;
    return nullptr;
  }

  /// Refills the compressed input; false at the end of the file.
  kiln_status_t refill(bool *more) {
    size_t n = 0;
    if (kiln_status_t status = readPlain(reinterpret_cast<char *>(input_.data()), input_.size(), &n))
      return status;
    stream_.next_in = input_.data();
    stream_.avail_in = static_cast<uInt>(n);
    *more = n > 0;
    return nullptr;
  }

  kiln_status_t inflateSome(char *bytes, size_t size, size_t *got) {
    *got = 0;
    if (finished_)
      return nullptr;
    stream_.next_out = reinterpret_cast<Bytef *>(bytes);
    stream_.avail_out = static_cast<uInt>(std::min<size_t>(size, UINT_MAX));
    while (stream_.avail_out > 0) {
      if (stream_.avail_in == 0) {
        bool more = false;
        if (kiln_status_t status = refill(&more))
          return status;
        if (!more) {
          truncatedGzip_ = true; // the file ends inside a member
          finished_ = true;
          break;
        }
      }
      int result = inflate(&stream_, Z_NO_FLUSH);
      if (result == Z_STREAM_END) {
        // Another member may follow; anything else after a member is garbage.
        if (stream_.avail_in == 0) {
          bool more = false;
          if (kiln_status_t status = refill(&more))
            return status;
          if (!more) {
            finished_ = true;
            break;
          }
        }
        if (stream_.avail_in < 2 || stream_.next_in[0] != 0x1f || stream_.next_in[1] != 0x8b) {
          return makeStatus(KILN_STATUS_DATA_LOSS,
                            "%s: unexpected bytes after the end of the gzip "
                            "data (not another gzip member)",
                            path_.c_str());
        }
        inflateReset(&stream_);
        continue;
      }
      if (result != Z_OK && result != Z_BUF_ERROR)
        return makeStatus(KILN_STATUS_DATA_LOSS, "%s: corrupt gzip stream: %s", path_.c_str(),
                          stream_.msg ? stream_.msg : zError(result));
    }
    *got = static_cast<size_t>(reinterpret_cast<char *>(stream_.next_out) - bytes);
    return nullptr;
  }

  std::string path_;
  InputFile file_;
  uint64_t offset_ = 0;
  bool gzip_ = false;
  z_stream stream_;
  std::vector<Bytef> input_;
  bool finished_ = false;
  bool truncatedGzip_ = false;
};

uint32_t loadBigEndian32(const unsigned char *p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

struct IdxType {
  unsigned char code;
  const char *name;
  size_t size;
  kiln_dtype_t dtype;
};

const IdxType idxTypes[] = {
    {0x08, "u8", 1, KILN_U8},   {0x09, "i8", 1, KILN_I32},  {0x0B, "i16", 2, KILN_I32},
    {0x0C, "i32", 4, KILN_I32}, {0x0D, "f32", 4, KILN_F32}, {0x0E, "f64", 8, KILN_F64},
};

} // namespace

extern "C" kiln_status_t kiln_read_idx(const char *path, kiln_tensor_t **out) {
  if (!out || !path)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_read_idx: NULL argument");
  *out = nullptr;
  ByteSource source;
  if (kiln_status_t status = source.open(path))
    return status;
  const char *kind = source.isGzip() ? "gzip-compressed IDX file" : "IDX file";
  auto truncation = [&](const char *what, size_t expected, size_t found) {
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: truncated %s: expected %zu bytes of %s, found "
                      "%zu%s",
                      path, kind, expected, what, found, source.truncatedGzip() ? " (the gzip stream ends early)" : "");
  };

  unsigned char magic[4];
  size_t got = 0;
  if (kiln_status_t status = source.read(magic, 4, &got))
    return status;
  if (got < 4)
    return truncation("header", 4, got);
  if (magic[0] != 0 || magic[1] != 0)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: not an IDX file: the magic number starts with "
                      "%02x %02x, expected 00 00",
                      path, magic[0], magic[1]);
  const IdxType *type = nullptr;
  for (const IdxType &candidate : idxTypes)
    if (candidate.code == magic[2])
      type = &candidate;
  if (!type)
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: unknown IDX element type 0x%02x (expected 08 u8, "
                      "09 i8, 0b i16, 0c i32, 0d f32 or 0e f64)",
                      path, magic[2]);
  int rank = magic[3];
  if (rank > KILN_MAX_RANK)
    return makeStatus(KILN_STATUS_UNIMPLEMENTED,
                      "%s: IDX file has %d dimensions, Kiln supports at most "
                      "%d",
                      path, rank, KILN_MAX_RANK);
  unsigned char dimBytes[4 * KILN_MAX_RANK];
  if (kiln_status_t status = source.read(dimBytes, 4 * rank, &got))
    return status;
  if (got < size_t(4 * rank))
    return truncation("dimensions", 4 * rank, got);
  int64_t shape[KILN_MAX_RANK];
  for (int i = 0; i < rank; ++i)
    shape[i] = loadBigEndian32(dimBytes + 4 * i);

  int64_t numElements = 0;
  size_t fileBytes = 0;
  if (!checkedSizes(shape, rank, type->size, numElements, fileBytes))
    return makeStatus(KILN_STATUS_DATA_LOSS, "%s: IDX dimensions %s are too large", path,
                      formatShape(shape, rank).c_str());
  // Check the announced size against the file before allocating, so that a
  // corrupt header cannot ask for terabytes: an uncompressed file's size is
  // exact; deflate expands at most 1032:1, so a gzip file of C bytes holds
  // at most about 1032 C.
  size_t headerBytes = 4 + 4 * static_cast<size_t>(rank);
  if (!source.isGzip() && source.fileSize() - headerBytes < fileBytes)
    return truncation("data", fileBytes, static_cast<size_t>(source.fileSize() - headerBytes));
  if (source.isGzip() && fileBytes / 1032 > source.fileSize())
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: the IDX dimensions %s announce %zu bytes of data, "
                      "more than a gzip file of %llu bytes can hold",
                      path, formatShape(shape, rank).c_str(), fileBytes,
                      static_cast<unsigned long long>(source.fileSize()));
  kiln_tensor_t *tensor = nullptr;
  if (kiln_status_t status = allocateTensor(type->dtype, rank, shape, path, &tensor))
    return status;

  // Same-size types land directly in the tensor; i8/i16 go through a buffer
  // and are widened.
  bool widen = kiln_dtype_size(type->dtype) != type->size;
  std::vector<unsigned char> buffer;
  void *target = tensor->data;
  if (widen) {
    buffer.resize(fileBytes);
    target = buffer.data();
  }
  kiln_status_t status = source.read(target, fileBytes, &got);
  if (!status && got < fileBytes)
    status = truncation("data", fileBytes, got);
  if (!status) {
    unsigned char extra[1];
    size_t extraGot = 0;
    status = source.read(extra, 1, &extraGot);
    if (!status && extraGot)
      status = makeStatus(KILN_STATUS_DATA_LOSS,
                          "%s: unexpected bytes after the %zu bytes of data "
                          "that the IDX dimensions %s announce",
                          path, fileBytes, formatShape(shape, rank).c_str());
    if (!status && source.truncatedGzip())
      status = makeStatus(KILN_STATUS_DATA_LOSS,
                          "%s: truncated %s: the gzip stream ends before its "
                          "end marker",
                          path, kind);
  }
  if (status) {
    kiln_tensor_free(tensor);
    return status;
  }

  int64_t n = numElements;
  switch (magic[2]) {
  case 0x09: {
    auto *dst = static_cast<int32_t *>(tensor->data);
    for (int64_t i = 0; i < n; ++i)
      dst[i] = static_cast<int8_t>(buffer[i]);
    break;
  }
  case 0x0B: {
    auto *dst = static_cast<int32_t *>(tensor->data);
    for (int64_t i = 0; i < n; ++i)
      dst[i] = static_cast<int16_t>(static_cast<uint16_t>((buffer[2 * i] << 8) | buffer[2 * i + 1]));
    break;
  }
  case 0x0C:
  case 0x0D: {
    auto *words = static_cast<uint32_t *>(tensor->data);
    for (int64_t i = 0; i < n; ++i)
      words[i] = __builtin_bswap32(words[i]);
    break;
  }
  case 0x0E: {
    auto *words = static_cast<uint64_t *>(tensor->data);
    for (int64_t i = 0; i < n; ++i)
      words[i] = __builtin_bswap64(words[i]);
    break;
  }
  default:
    break;
  }
  *out = tensor;
  return nullptr;
}
