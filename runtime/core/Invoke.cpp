//===- Invoke.cpp - Calling compiled model functions ---------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// kiln_invoke (runtime.h) and the shared half of kiln_invoke_device
// (Cuda.cpp): packs tensors into MLIR memref descriptors for a
// kilnc-generated `<Model>_<fn>_packed` entry point, and unpacks the result
// descriptors into tensors. A descriptor of rank r is 3 + 2r 64-bit words:
// allocated pointer, aligned pointer, offset, sizes, strides.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

namespace {
std::vector<int64_t> makeDescriptor(const kiln_tensor_t *tensor, const void *data) {
  int32_t rank = kiln_tensor_rank(tensor);
  const int64_t *shape = kiln_tensor_shape(tensor);
  std::vector<int64_t> words = {reinterpret_cast<int64_t>(data), reinterpret_cast<int64_t>(data), 0};
  words.insert(words.end(), shape, shape + rank);
  std::vector<int64_t> strides(rank, 1);
  for (int32_t i = rank - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  words.insert(words.end(), strides.begin(), strides.end());
  return words;
}

/// Whether sizes/strides describe a dense row-major buffer.
bool isRowMajor(int32_t rank, const int64_t *sizes, const int64_t *strides) {
  int64_t expected = 1;
  for (int32_t d = rank - 1; d >= 0; --d) {
    if (sizes[d] != 1 && strides[d] != expected)
      return false;
    expected *= sizes[d];
  }
  return true;
}
} // namespace

kiln_status_t kiln::runtime::invokePacked(kiln_packed_fn_t fn, size_t num_args, const kiln_tensor_t *const *args,
                                          const void *const *data, size_t num_results,
                                          const kiln_dtype_t *result_dtypes, const int32_t *result_ranks,
                                          kiln_tensor_t **results, InvokeMode mode) {
  bool device = mode != InvokeMode::Host;
  size_t resultWords = 0;
  for (size_t i = 0; i < num_results; ++i) {
    if (result_ranks[i] < 0 || result_ranks[i] > KILN_MAX_RANK)
      return kiln_status_create(KILN_STATUS_INVALID_ARGUMENT, "kiln_invoke: result %zu has rank %d", i,
                                int(result_ranks[i]));
    resultWords += 3 + 2 * size_t(result_ranks[i]);
  }
  std::vector<int64_t> resultStruct(resultWords, 0);
  std::vector<std::vector<int64_t>> descriptors;
  std::vector<void *> pointers = {resultStruct.data()};
  for (size_t i = 0; i < num_args; ++i)
    descriptors.push_back(makeDescriptor(args[i], data[i]));
  for (auto &descriptor : descriptors)
    pointers.push_back(descriptor.data());
  fn(pointers.data());

  // Copy every result before freeing anything: results may share a buffer.
  std::set<const void *> argumentData(data, data + num_args);
  std::set<void *> toFree, adopted;
  kiln_status_t status = nullptr;
  size_t word = 0;
  for (size_t i = 0; i < num_results; ++i) {
    int32_t rank = result_ranks[i];
    void *allocated = reinterpret_cast<void *>(resultStruct[word]);
    const char *aligned = reinterpret_cast<const char *>(resultStruct[word + 1]);
    int64_t offset = resultStruct[word + 2];
    const int64_t *sizes = &resultStruct[word + 3];
    const int64_t *strides = &resultStruct[word + 3 + rank];
    results[i] = nullptr;
    if (!status)
      status = kiln_tensor_create(result_dtypes[i], rank, sizes, &results[i]);
    if (!status) {
      size_t itemSize = kiln_dtype_size(result_dtypes[i]);
      char *dst = static_cast<char *>(kiln_tensor_data(results[i]));
      int64_t count = kiln_tensor_num_elements(results[i]);
      if (device) {
        // Compiled GPU functions return dense buffers (identity layouts).
        bool owned = allocated && !argumentData.count(allocated);
        if (!isRowMajor(rank, sizes, strides)) {
          status = kiln_status_create(KILN_STATUS_FAILED_PRECONDITION,
                                      "kiln_invoke: result %zu is not a dense device buffer", i);
        } else if (mode == InvokeMode::DeviceResident && owned && aligned == allocated && offset == 0 &&
                   !toFree.count(allocated) && !adopted.count(allocated)) {
          // The buffer becomes the result's device copy (once: results
          // sharing a buffer are copied).
          results[i]->deviceData = allocated;
          results[i]->hostStale = true;
          adopted.insert(allocated);
          word += 3 + 2 * size_t(rank);
          continue;
        } else {
          status = copyDeviceToHost(dst, aligned + offset * int64_t(itemSize), size_t(count) * itemSize);
        }
      } else if (isRowMajor(rank, sizes, strides)) {
        std::memcpy(dst, aligned + offset * int64_t(itemSize), size_t(count) * itemSize);
      } else {
        std::vector<int64_t> index(rank, 0);
        for (int64_t n = 0; n < count; ++n) {
          int64_t element = offset;
          for (int32_t d = 0; d < rank; ++d)
            element += index[d] * strides[d];
          std::memcpy(dst + n * itemSize, aligned + element * itemSize, itemSize);
          for (int32_t d = rank - 1; d >= 0; --d) {
            if (++index[d] < sizes[d])
              break;
            index[d] = 0;
          }
        }
      }
    }
    if (allocated && !argumentData.count(allocated) && !adopted.count(allocated))
      toFree.insert(allocated);
    word += 3 + 2 * size_t(rank);
  }
  for (void *allocated : toFree) {
    if (device)
      freeDeviceResult(allocated);
    else
      std::free(allocated);
  }
  if (status) {
    for (size_t i = 0; i < num_results; ++i) {
      kiln_tensor_free(results[i]);
      results[i] = nullptr;
    }
  }
  return status;
}

extern "C" kiln_status_t kiln_invoke(kiln_packed_fn_t fn, size_t num_args, const kiln_tensor_t *const *args,
                                     size_t num_results, const kiln_dtype_t *result_dtypes, const int32_t *result_ranks,
                                     kiln_tensor_t **results) {
  if (!fn || (num_args && !args) || (num_results && (!result_dtypes || !result_ranks || !results)))
    return kiln_status_create(KILN_STATUS_INVALID_ARGUMENT, "kiln_invoke: null argument");
  std::vector<const void *> data(num_args);
  for (size_t i = 0; i < num_args; ++i) {
    if (!args[i])
      return kiln_status_create(KILN_STATUS_INVALID_ARGUMENT, "kiln_invoke: argument %zu is null", i);
    data[i] = kiln_tensor_const_data(args[i]);
  }
  return kiln::runtime::invokePacked(fn, num_args, args, data.data(), num_results, result_dtypes, result_ranks, results,
                                     kiln::runtime::InvokeMode::Host);
}
