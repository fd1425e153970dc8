//===- ReaderFuzzer.cpp - libFuzzer entry points for the file readers -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// One source, four fuzz targets (KILN_FUZZ_READER selects which): the
// readers of files a user hands to Kiln, each given arbitrary bytes as a
// file (an in-memory memfd, named /proc/self/fd/N):
//   idx          kiln_read_idx, plain and gzip (the bytes decide)
//   npy          kiln_read_npy
//   csv          kiln_read_csv, selecting the columns "a" and "b"
//   safetensors  kiln_checkpoint_load, then what `train --resume` and
//                `--weights` do with a checkpoint: every tensor, its
//                metadata, copy_to into a tensor of the same shape
// A reader must return a tensor or a status; a crash, a sanitizer report, a
// leak or a hang is a finding. Whatever a reader accepts must also be
// consistent (its byte size matches its shape), checked with abort().
//
//===----------------------------------------------------------------------===//

#include "kiln/runtime.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

#ifndef KILN_FUZZ_READER
#error "define KILN_FUZZ_READER as idx, npy, csv or safetensors"
#endif

namespace {
/// An anonymous in-memory file holding `data`, for readers that take paths.
class MemoryFile {
public:
  MemoryFile(const uint8_t *data, size_t size) {
    fd_ = memfd_create("kiln-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    size_t written = 0;
    while (written < size) {
      ssize_t n = ::write(fd_, data + written, size - written);
      if (n <= 0)
        std::abort();
      written += size_t(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  const char *path() const { return path_.c_str(); }

private:
  int fd_ = -1;
  std::string path_;
};

/// A tensor a reader returned must describe its own bytes.
void checkTensor(const kiln_tensor_t *tensor) {
  int64_t count = 1;
  for (int32_t d = 0; d < kiln_tensor_rank(tensor); ++d)
    count *= kiln_tensor_shape(tensor)[d];
  if (count != kiln_tensor_num_elements(tensor) ||
      size_t(count) * kiln_dtype_size(kiln_tensor_dtype(tensor)) != kiln_tensor_byte_size(tensor)) {
    std::fprintf(stderr, "kiln fuzzer: a tensor's shape and byte size disagree\n");
    std::abort();
  }
  // Touch every byte: a size that lies would show as an ASan report here.
  const unsigned char *bytes = static_cast<const unsigned char *>(kiln_tensor_const_data(tensor));
  volatile unsigned sum = 0;
  for (size_t i = 0; i < kiln_tensor_byte_size(tensor); ++i)
    sum += bytes[i];
}

void fuzzOne(const char *path) {
  kiln_tensor_t *tensor = nullptr;
  kiln_status_t status = nullptr;
  const std::string reader = KILN_FUZZ_READER;
  if (reader == "idx") {
    status = kiln_read_idx(path, &tensor);
  } else if (reader == "npy") {
    status = kiln_read_npy(path, &tensor);
  } else if (reader == "csv") {
    const char *columns[] = {"a", "b"};
    status = kiln_read_csv(path, columns, 2, &tensor);
  } else {
    kiln_checkpoint_t *checkpoint = nullptr;
    status = kiln_checkpoint_load(path, &checkpoint);
    if (!status) {
      for (const char *key : {"format", "model", "step", "metrics"})
        if (const char *value = kiln_checkpoint_metadata(checkpoint, key))
          (void)std::strlen(value);
      for (size_t i = 0; i < kiln_checkpoint_size(checkpoint); ++i) {
        const kiln_tensor_t *stored = kiln_checkpoint_tensor(checkpoint, i);
        checkTensor(stored);
        kiln_tensor_t *copy = nullptr;
        if (kiln_status_t made = kiln_tensor_create(kiln_tensor_dtype(stored), kiln_tensor_rank(stored),
                                                    kiln_tensor_shape(stored), &copy)) {
          kiln_status_free(made);
          continue;
        }
        if (kiln_status_t copied = kiln_checkpoint_copy_to(checkpoint, kiln_checkpoint_name(checkpoint, i), copy)) {
          std::fprintf(stderr, "kiln fuzzer: copy_to refused a tensor of its own shape: %s\n",
                       kiln_status_message(copied));
          std::abort();
        }
        kiln_tensor_free(copy);
      }
      kiln_checkpoint_free(checkpoint);
    }
  }
  if (status) {
    // Every error names the file.
    if (std::strstr(kiln_status_message(status), path) == nullptr) {
      std::fprintf(stderr, "kiln fuzzer: an error does not name the file: %s\n", kiln_status_message(status));
      std::abort();
    }
    kiln_status_free(status);
    return;
  }
  if (tensor) {
    checkTensor(tensor);
    kiln_tensor_free(tensor);
  }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MemoryFile file(data, size);
  fuzzOne(file.path());
  return 0;
}
