//===- Idx.cpp - The IDX reader (MNIST format) ----------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// IDX files: the bytes 00 00, a type code, the number of dimensions, the
// dimensions as big-endian u32, then the big-endian data. Files compressed
// with gzip (as the MNIST and Fashion-MNIST distributions are) are recognised
// by their magic bytes 1f 8b and read through zlib's gzread; others are read
// directly. Every short read is reported with the expected and found sizes.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

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

/// Sequential reads from either a gzip stream or a plain file.
class ByteSource {
public:
  ~ByteSource() {
    if (gz_)
      gzclose(gz_);
    else if (fd_ >= 0)
      ::close(fd_);
  }

  kiln_status_t open(const char *path) {
    path_ = path;
    fd_ = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      return errnoStatus(path_, "cannot open", errno);
    unsigned char magic[2] = {0, 0};
    ssize_t n = ::pread(fd_, magic, 2, 0);
    if (n < 0)
      return errnoStatus(path_, "read failed", errno);
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
      gz_ = gzdopen(fd_, "rb"); // Takes over fd_ when it succeeds.
      if (!gz_)
        return makeStatus(KILN_STATUS_RESOURCE_EXHAUSTED,
                          "%s: cannot start gzip decompression", path);
      gzbuffer(gz_, 1 << 17);
    } else {
      struct stat info;
      if (::fstat(fd_, &info) != 0)
        return errnoStatus(path_, "cannot stat", errno);
      plainSize_ = static_cast<uint64_t>(info.st_size);
    }
    return nullptr;
  }

  bool isGzip() const { return gz_ != nullptr; }
  /// The size of an uncompressed file (0 for a gzip stream).
  uint64_t plainSize() const { return plainSize_; }

  /// Reads up to `size` bytes; `*got` is less only at the end of the data.
  kiln_status_t read(void *data, size_t size, size_t *got) {
    char *bytes = static_cast<char *>(data);
    size_t total = 0;
    while (total < size) {
      size_t chunk = size - total;
      if (chunk > (1u << 30))
        chunk = 1u << 30;
      if (gz_) {
        int n = gzread(gz_, bytes + total, static_cast<unsigned>(chunk));
        int err = Z_OK;
        const char *message = gzerror(gz_, &err);
        if (n < 0 || (err != Z_OK && err != Z_BUF_ERROR))
          return makeStatus(KILN_STATUS_DATA_LOSS,
                            "%s: corrupt gzip stream: %s", path_.c_str(),
                            message);
        if (err == Z_BUF_ERROR)
          truncatedGzip_ = true;
        if (n == 0)
          break;
        total += static_cast<size_t>(n);
      } else {
        ssize_t n = ::read(fd_, bytes + total, chunk);
        if (n < 0) {
          if (errno == EINTR)
            continue;
          return errnoStatus(path_, "read failed", errno);
        }
        if (n == 0)
          break;
        total += static_cast<size_t>(n);
      }
    }
    *got = total;
    return nullptr;
  }

  /// Whether the gzip stream ended before its end-of-stream marker.
  bool truncatedGzip() const { return truncatedGzip_; }

private:
  std::string path_;
  int fd_ = -1;
  gzFile gz_ = nullptr;
  bool truncatedGzip_ = false;
  uint64_t plainSize_ = 0;
};

uint32_t loadBigEndian32(const unsigned char *p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
         (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

struct IdxType {
  unsigned char code;
  const char *name;
  size_t size;
  kiln_dtype_t dtype;
};

const IdxType idxTypes[] = {
    {0x08, "u8", 1, KILN_U8},   {0x09, "i8", 1, KILN_I32},
    {0x0B, "i16", 2, KILN_I32}, {0x0C, "i32", 4, KILN_I32},
    {0x0D, "f32", 4, KILN_F32}, {0x0E, "f64", 8, KILN_F64},
};

} // namespace

extern "C" kiln_status_t kiln_read_idx(const char *path, kiln_tensor_t **out) {
  if (!out || !path)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT,
                      "kiln_read_idx: NULL argument");
  *out = nullptr;
  ByteSource source;
  if (kiln_status_t status = source.open(path))
    return status;
  const char *kind = source.isGzip() ? "gzip-compressed IDX file" : "IDX file";
  auto truncation = [&](const char *what, size_t expected, size_t found) {
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: truncated %s: expected %zu bytes of %s, found "
                      "%zu%s",
                      path, kind, expected, what, found,
                      source.truncatedGzip() ? " (the gzip stream ends early)"
                                             : "");
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
    return makeStatus(KILN_STATUS_DATA_LOSS,
                      "%s: IDX dimensions %s are too large", path,
                      formatShape(shape, rank).c_str());
  // An uncompressed file's size is known: check it before allocating, so
  // that a corrupt header cannot ask for terabytes.
  size_t headerBytes = 4 + 4 * static_cast<size_t>(rank);
  if (!source.isGzip() && source.plainSize() - headerBytes < fileBytes)
    return truncation("data", fileBytes,
                      static_cast<size_t>(source.plainSize() - headerBytes));
  kiln_tensor_t *tensor = nullptr;
  if (kiln_status_t status =
          allocateTensor(type->dtype, rank, shape, path, &tensor))
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
      dst[i] = static_cast<int16_t>(
          static_cast<uint16_t>((buffer[2 * i] << 8) | buffer[2 * i + 1]));
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
