//===- kiln-runtime-tool.cpp - Drive the Kiln runtime from the shell ------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// A test driver for the C runtime: it reads IDX, .npy, CSV and safetensors
// files and prints a summary of each tensor (dtype, shape, CRC-32 of the
// data, exact sum for integers, the first values) in the format that
// test/runtime/Inputs/kiln_ref.py prints from its own, independent readers,
// so that lit tests can `diff` the two. It also writes files (.npy copies,
// safetensors round trips, a demo checkpoint) for the Python side to read.
// Errors go to stderr as "error: <message>" with exit code 1.
//
//===----------------------------------------------------------------------===//

#include "kiln/runtime.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <zlib.h>

extern "C" int kiln_c_api_check(void);

namespace {

int fail(kiln_status_t status) {
  std::fprintf(stderr, "error: %s\n", kiln_status_message(status));
  kiln_status_free(status);
  return 1;
}

int usage() {
  std::fprintf(stderr, "usage: kiln-runtime-tool COMMAND ARGS\n"
                       "  idx-summary FILE             summary of an IDX file (.gz or not)\n"
                       "  npy-summary FILE             summary of a .npy file\n"
                       "  csv-summary FILE COLUMN...   summary of the named CSV columns\n"
                       "  safetensors-summary FILE     summary of every tensor and metadata\n"
                       "  npy-copy IN OUT              read IN.npy, write it to OUT.npy\n"
                       "  safetensors-roundtrip IN OUT load IN, save it to OUT\n"
                       "  safetensors-demo OUT         save a demo checkpoint\n"
                       "  copy-to FILE NAME DTYPE DIM...  load tensor NAME into a preallocated\n"
                       "                               tensor of DTYPE and shape DIM...\n"
                       "  init KIND DTYPE SEED NAME DIM...  print an initialized parameter\n"
                       "  c-api-check                  run the C99 client of the header\n");
  return 2;
}

bool parseDtype(const char *text, kiln_dtype_t &dtype) {
  const kiln_dtype_t all[] = {KILN_F32, KILN_F64, KILN_I32, KILN_I64, KILN_U8};
  for (kiln_dtype_t candidate : all)
    if (std::strcmp(text, kiln_dtype_name(candidate)) == 0) {
      dtype = candidate;
      return true;
    }
  return false;
}

/// Prints element `i` of `tensor` as kiln_ref.py does.
void printValue(const kiln_tensor_t *tensor, int64_t i) {
  const void *data = kiln_tensor_const_data(tensor);
  switch (kiln_tensor_dtype(tensor)) {
  case KILN_F32:
    std::printf("%.9g", static_cast<double>(static_cast<const float *>(data)[i]));
    break;
  case KILN_F64:
    std::printf("%.17g", static_cast<const double *>(data)[i]);
    break;
  case KILN_I32:
    std::printf("%" PRId32, static_cast<const int32_t *>(data)[i]);
    break;
  case KILN_I64:
    std::printf("%" PRId64, static_cast<const int64_t *>(data)[i]);
    break;
  case KILN_U8:
    std::printf("%u", static_cast<const uint8_t *>(data)[i]);
    break;
  case KILN_DTYPE_MAX_ENUM:
    break;
  }
}

void printSummary(const kiln_tensor_t *tensor) {
  kiln_dtype_t dtype = kiln_tensor_dtype(tensor);
  std::printf("dtype %s\nshape [", kiln_dtype_name(dtype));
  for (int32_t i = 0; i < kiln_tensor_rank(tensor); ++i)
    std::printf(i ? ", %" PRId64 : "%" PRId64, kiln_tensor_shape(tensor)[i]);
  std::printf("]\n");
  // zlib's crc32 takes the length as uInt: feed it in chunks.
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto *bytes = static_cast<const Bytef *>(kiln_tensor_const_data(tensor));
  size_t remaining = kiln_tensor_byte_size(tensor);
  while (remaining) {
    uInt chunk = remaining > (1u << 30) ? (1u << 30) : uInt(remaining);
    crc = crc32(crc, bytes, chunk);
    bytes += chunk;
    remaining -= chunk;
  }
  std::printf("crc32 %08lx\n", crc);
  int64_t n = kiln_tensor_num_elements(tensor);
  const void *data = kiln_tensor_const_data(tensor);
  if (dtype == KILN_I32 || dtype == KILN_I64 || dtype == KILN_U8) {
    int64_t sum = 0;
    for (int64_t i = 0; i < n; ++i)
      sum += dtype == KILN_I32   ? static_cast<const int32_t *>(data)[i]
             : dtype == KILN_I64 ? static_cast<const int64_t *>(data)[i]
                                 : static_cast<const uint8_t *>(data)[i];
    std::printf("sum %" PRId64 "\n", sum);
  }
  std::printf("values");
  for (int64_t i = 0; i < n && i < 8; ++i) {
    std::printf(" ");
    printValue(tensor, i);
  }
  std::printf("\n");
}

int printTensorFile(kiln_status_t status, kiln_tensor_t *tensor) {
  if (status)
    return fail(status);
  printSummary(tensor);
  kiln_tensor_free(tensor);
  return 0;
}

bool parseDims(int argc, char **argv, int first, std::vector<int64_t> &dims) {
  for (int i = first; i < argc; ++i) {
    char *end = nullptr;
    long long value = std::strtoll(argv[i], &end, 10);
    if (!*argv[i] || *end || value < 0)
      return false;
    dims.push_back(value);
  }
  return true;
}

int safetensorsSummary(const char *path) {
  kiln_checkpoint_t *checkpoint = nullptr;
  if (kiln_status_t status = kiln_checkpoint_load(path, &checkpoint))
    return fail(status);
  for (size_t i = 0; i < kiln_checkpoint_size(checkpoint); ++i) {
    std::printf("tensor %s\n", kiln_checkpoint_name(checkpoint, i));
    printSummary(kiln_checkpoint_tensor(checkpoint, i));
  }
  for (const char *key : {"format", "kiln.model", "note"})
    if (const char *value = kiln_checkpoint_metadata(checkpoint, key))
      std::printf("metadata %s %s\n", key, value);
  kiln_checkpoint_free(checkpoint);
  return 0;
}

/// Builds a tensor, runs `fill` on it, adds it to `checkpoint`.
kiln_status_t addDemo(kiln_checkpoint_t *checkpoint, const char *name, kiln_dtype_t dtype, std::vector<int64_t> shape,
                      kiln_init_kind_t kind, double value) {
  kiln_tensor_t *tensor = nullptr;
  if (kiln_status_t status = kiln_tensor_create(dtype, static_cast<int32_t>(shape.size()), shape.data(), &tensor))
    return status;
  kiln_status_t status = kiln_init_param(tensor, kind, value, 7, name);
  if (!status && dtype == KILN_I32) {
    auto *data = static_cast<int32_t *>(kiln_tensor_data(tensor));
    for (int64_t i = 0; i < kiln_tensor_num_elements(tensor); ++i)
      data[i] = static_cast<int32_t>(-3 * i + 1);
  }
  if (!status && dtype == KILN_U8) {
    auto *data = static_cast<uint8_t *>(kiln_tensor_data(tensor));
    for (int64_t i = 0; i < kiln_tensor_num_elements(tensor); ++i)
      data[i] = static_cast<uint8_t>(250 + i);
  }
  if (!status)
    status = kiln_checkpoint_add(checkpoint, name, tensor);
  kiln_tensor_free(tensor);
  return status;
}

int safetensorsDemo(const char *path) {
  kiln_checkpoint_t *checkpoint = nullptr;
  if (kiln_status_t status = kiln_checkpoint_create(&checkpoint))
    return fail(status);
  kiln_status_t status = nullptr;
  if (!status)
    status = addDemo(checkpoint, "dense_0.kernel", KILN_F32, {4, 3}, KILN_INIT_GLOROT_UNIFORM, 0);
  if (!status)
    status = addDemo(checkpoint, "dense_0.bias", KILN_F32, {3}, KILN_INIT_CONSTANT, 0.5);
  if (!status)
    status = addDemo(checkpoint, "conv2d_0.kernel", KILN_F64, {3, 3, 1, 2}, KILN_INIT_GLOROT_UNIFORM, 0);
  if (!status)
    status = addDemo(checkpoint, "step", KILN_I64, {}, KILN_INIT_CONSTANT, 12345);
  if (!status)
    status = addDemo(checkpoint, "ids", KILN_I32, {5}, KILN_INIT_ZEROS, 0);
  if (!status)
    status = addDemo(checkpoint, "mask", KILN_U8, {2, 2}, KILN_INIT_ZEROS, 0);
  if (!status)
    status = addDemo(checkpoint, "empty", KILN_F32, {0, 4}, KILN_INIT_ONES, 0);
  if (!status)
    status = kiln_checkpoint_set_metadata(checkpoint, "format", "pt");
  if (!status)
    status = kiln_checkpoint_set_metadata(checkpoint, "kiln.model", "Demo");
  if (!status)
    status = kiln_checkpoint_save(checkpoint, path);
  kiln_checkpoint_free(checkpoint);
  return status ? fail(status) : 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc == 2 && std::string(argv[1]) == "c-api-check") {
    int failed = kiln_c_api_check();
    std::printf("c-api-check %s\n", failed ? "failed" : "ok");
    return failed;
  }
  if (argc < 3)
    return usage();
  std::string command = argv[1];
  kiln_tensor_t *tensor = nullptr;
  if (command == "idx-summary" && argc == 3)
    return printTensorFile(kiln_read_idx(argv[2], &tensor), tensor);
  if (command == "npy-summary" && argc == 3)
    return printTensorFile(kiln_read_npy(argv[2], &tensor), tensor);
  if (command == "csv-summary" && argc >= 4) {
    std::vector<const char *> columns(argv + 3, argv + argc);
    return printTensorFile(kiln_read_csv(argv[2], columns.data(), columns.size(), &tensor), tensor);
  }
  if (command == "safetensors-summary" && argc == 3)
    return safetensorsSummary(argv[2]);
  if (command == "safetensors-demo" && argc == 3)
    return safetensorsDemo(argv[2]);
  if (command == "npy-copy" && argc == 4) {
    if (kiln_status_t status = kiln_read_npy(argv[2], &tensor))
      return fail(status);
    kiln_status_t status = kiln_write_npy(argv[3], tensor);
    kiln_tensor_free(tensor);
    return status ? fail(status) : 0;
  }
  if (command == "safetensors-roundtrip" && argc == 4) {
    kiln_checkpoint_t *checkpoint = nullptr;
    if (kiln_status_t status = kiln_checkpoint_load(argv[2], &checkpoint))
      return fail(status);
    kiln_status_t status = kiln_checkpoint_save(checkpoint, argv[3]);
    kiln_checkpoint_free(checkpoint);
    return status ? fail(status) : 0;
  }
  if (command == "copy-to" && argc >= 5) {
    kiln_dtype_t dtype;
    std::vector<int64_t> dims;
    if (!parseDtype(argv[4], dtype) || !parseDims(argc, argv, 5, dims))
      return usage();
    kiln_checkpoint_t *checkpoint = nullptr;
    if (kiln_status_t status = kiln_checkpoint_load(argv[2], &checkpoint))
      return fail(status);
    kiln_status_t status = kiln_tensor_create(dtype, static_cast<int32_t>(dims.size()), dims.data(), &tensor);
    if (!status)
      status = kiln_checkpoint_copy_to(checkpoint, argv[3], tensor);
    if (!status)
      printSummary(tensor);
    kiln_tensor_free(tensor);
    kiln_checkpoint_free(checkpoint);
    return status ? fail(status) : 0;
  }
  if (command == "init" && argc >= 6) {
    kiln_init_kind_t kind;
    std::string kindName = argv[2];
    if (kindName == "zeros")
      kind = KILN_INIT_ZEROS;
    else if (kindName == "ones")
      kind = KILN_INIT_ONES;
    else if (kindName == "glorot_uniform")
      kind = KILN_INIT_GLOROT_UNIFORM;
    else
      return usage();
    kiln_dtype_t dtype;
    std::vector<int64_t> dims;
    char *end = nullptr;
    uint64_t seed = std::strtoull(argv[4], &end, 10);
    if (!parseDtype(argv[3], dtype) || *end || !parseDims(argc, argv, 6, dims))
      return usage();
    if (kiln_status_t status = kiln_tensor_create(dtype, static_cast<int32_t>(dims.size()), dims.data(), &tensor))
      return fail(status);
    if (kiln_status_t status = kiln_init_param(tensor, kind, 0, seed, argv[5])) {
      kiln_tensor_free(tensor);
      return fail(status);
    }
    for (int64_t i = 0; i < kiln_tensor_num_elements(tensor); ++i) {
      printValue(tensor, i);
      std::printf("\n");
    }
    kiln_tensor_free(tensor);
    return 0;
  }
  return usage();
}
