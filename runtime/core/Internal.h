//===- Internal.h - Shared helpers of the Kiln runtime ----------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Private to runtime/: the layout of the opaque tensor, status shorthands,
// overflow-checked shape arithmetic and the small POSIX file layer (whole
// reads, atomic writes) that the readers, the `.npy` writer and checkpoints
// share. Nothing here is part of the C ABI.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_INTERNAL_H
#define KILN_RUNTIME_INTERNAL_H

#include "kiln/runtime.h"

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <string>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the Kiln runtime supports little-endian hosts only"
#endif

/// The opaque tensor: a shape and the 64-byte-aligned data it owns, plus,
/// once kiln_tensor_to_device has run, a device copy (Cuda.cpp).
struct kiln_tensor_s {
  kiln_dtype_t dtype;
  int32_t rank;
  int64_t shape[KILN_MAX_RANK];
  int64_t numElements;
  size_t byteSize;
  void *data;
  /// Device memory holding the tensor (null: host only).
  void *deviceData;
  /// The device copy is newer than `data` (a compiled GPU function may have
  /// updated it); kiln_tensor_to_host copies it back.
  bool hostStale;
};

namespace kiln::runtime {

/// Shorthand for `kiln_status_create`.
kiln_status_t makeStatus(kiln_status_code_t code, const char *format, ...) __attribute__((format(printf, 2, 3)));

/// "path: <what>: <strerror(errno)>", NOT_FOUND for ENOENT, else IO_ERROR.
kiln_status_t errnoStatus(const std::string &path, const char *what, int err);

/// Formats a shape as "[64, 10]" ("[]" for a scalar).
std::string formatShape(const int64_t *shape, int32_t rank);

/// Multiplies the dims and the item size with overflow checks; returns false
/// (leaving outputs unset) when a dim is negative or the byte size does not
/// fit in int64 / size_t.
bool checkedSizes(const int64_t *shape, int32_t rank, size_t itemSize, int64_t &numElements, size_t &byteSize);

/// Whether `text[0..size)` is valid UTF-8 (no overlong forms, surrogates or
/// code points above U+10FFFF).
bool isValidUtf8(const char *text, size_t size);

/// Writes a file atomically: bytes go to a new `path.tmp.<pid>.<n>` (created
/// with O_EXCL | O_NOFOLLOW); `commit` fsyncs, renames it over `path` and
/// fsyncs the directory. A writer destroyed without a successful commit
/// removes its temporary file. An existing file keeps its permissions; a
/// `path` that is a symbolic link has its target replaced (the link stays).
/// SIGXFSZ is ignored (if nobody handles it) so that `ulimit -f` gives an
/// error instead of killing the process.
class AtomicFileWriter {
public:
  AtomicFileWriter() = default;
  AtomicFileWriter(const AtomicFileWriter &) = delete;
  AtomicFileWriter &operator=(const AtomicFileWriter &) = delete;
  ~AtomicFileWriter();

  /// Creates the temporary file next to `path`.
  kiln_status_t open(const char *path);
  /// Appends `size` bytes.
  kiln_status_t write(const void *data, size_t size);
  /// Flushes to disk and renames over the final path, then removes the
  /// temporary files that killed writers left next to it.
  kiln_status_t commit();

private:
  /// Removes the temporary files of killed writers of the same target,
  /// reading its directory through `dirFd`, which it closes.
  void removeStaleTemporaries(int dirFd) const;

  std::string path_;   ///< as given, for messages
  std::string target_; ///< the file replaced: `path_`, or its link's target
  std::string tmpPath_;
  int fd_ = -1;
};

/// A read-only file opened with POSIX calls, closed on destruction.
class InputFile {
public:
  InputFile() = default;
  InputFile(const InputFile &) = delete;
  InputFile &operator=(const InputFile &) = delete;
  ~InputFile();

  /// Opens `path` for reading; error statuses name `path`.
  kiln_status_t open(const char *path);
  /// The size of the file in bytes.
  uint64_t size() const { return size_; }
  /// Reads up to `size` bytes at `offset` into `data`; `*got` receives the
  /// count actually read (less than `size` only at the end of the file).
  kiln_status_t readAt(uint64_t offset, void *data, size_t size, size_t *got);

private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

/// Allocates an uninitialized tensor (data not zero-filled) without
/// validating arguments beyond the size arithmetic. `what` names the file
/// for the out-of-memory message.
kiln_status_t allocateTensor(kiln_dtype_t dtype, int32_t rank, const int64_t *shape, const std::string &what,
                             kiln_tensor_t **out);

/// Where a packed function's buffers live, and where its results go.
enum class InvokeMode {
  Host,          ///< host buffers; results copied into new tensors
  Device,        ///< device buffers; results copied back to the host
  DeviceResident ///< device buffers; results stay on the device (hostStale)
};

/// Calls a packed model function with the given argument data pointers
/// (host or device memory) and turns its results into new tensors.
kiln_status_t invokePacked(kiln_packed_fn_t fn, size_t num_args, const kiln_tensor_t *const *args,
                           const void *const *data, size_t num_results, const kiln_dtype_t *result_dtypes,
                           const int32_t *result_ranks, kiln_tensor_t **results, InvokeMode mode);

/// Cuda.cpp: copies device memory to the host after the stream's work.
kiln_status_t copyDeviceToHost(void *hostDestination, const void *deviceSource, size_t bytes);
/// Cuda.cpp: frees a buffer a compiled GPU function allocated.
void freeDeviceResult(void *pointer);
/// Cuda.cpp: frees the tensor's device copy, if any.
void freeDeviceCopy(kiln_tensor_t *tensor);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_INTERNAL_H
