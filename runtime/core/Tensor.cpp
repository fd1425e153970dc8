//===- Tensor.cpp - Tensors and aligned memory ----------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Dense row-major tensors whose data lives in one 64-byte-aligned block, and
// the aligned allocator under them. Sizes are computed with overflow checks
// so that a shape read from a hostile file cannot wrap around.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <cstdlib>
#include <cstring>
#include <new>

using namespace kiln::runtime;

extern "C" void *kiln_aligned_alloc(size_t size, size_t alignment) {
  if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
    return nullptr;
  // Round up to a multiple of the alignment (at least one block) so that a
  // zero size gives a unique pointer.
  size_t rounded = size == 0 ? alignment : size;
  if (rounded % alignment) {
    if (rounded > SIZE_MAX - alignment)
      return nullptr;
    rounded += alignment - rounded % alignment;
  }
  void *ptr = nullptr;
  if (posix_memalign(&ptr, alignment, rounded) != 0)
    return nullptr;
  return ptr;
}

extern "C" void kiln_aligned_free(void *ptr) { std::free(ptr); }

extern "C" size_t kiln_dtype_size(kiln_dtype_t dtype) {
  switch (dtype) {
  case KILN_F32:
  case KILN_I32:
    return 4;
  case KILN_F64:
  case KILN_I64:
    return 8;
  case KILN_U8:
    return 1;
  case KILN_DTYPE_MAX_ENUM:
    break;
  }
  return 0;
}

extern "C" const char *kiln_dtype_name(kiln_dtype_t dtype) {
  switch (dtype) {
  case KILN_F32:
    return "f32";
  case KILN_F64:
    return "f64";
  case KILN_I32:
    return "i32";
  case KILN_I64:
    return "i64";
  case KILN_U8:
    return "u8";
  case KILN_DTYPE_MAX_ENUM:
    break;
  }
  return "?";
}

namespace kiln::runtime {

bool checkedSizes(const int64_t *shape, int32_t rank, size_t itemSize, int64_t &numElements, size_t &byteSize) {
  uint64_t elements = 1;
  for (int32_t i = 0; i < rank; ++i) {
    if (shape[i] < 0)
      return false;
    uint64_t dim = static_cast<uint64_t>(shape[i]);
    if (dim != 0 && elements > static_cast<uint64_t>(INT64_MAX) / dim)
      return false;
    elements *= dim;
  }
  if (itemSize != 0 && elements > static_cast<uint64_t>(INT64_MAX) / itemSize)
    return false;
  uint64_t bytes = elements * itemSize;
  if (bytes > SIZE_MAX)
    return false;
  numElements = static_cast<int64_t>(elements);
  byteSize = static_cast<size_t>(bytes);
  return true;
}

kiln_status_t allocateTensor(kiln_dtype_t dtype, int32_t rank, const int64_t *shape, const std::string &what,
                             kiln_tensor_t **out) {
  int64_t numElements = 0;
  size_t byteSize = 0;
  if (!checkedSizes(shape, rank, kiln_dtype_size(dtype), numElements, byteSize))
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "%s: tensor shape %s of %s is too large", what.c_str(),
                      formatShape(shape, rank).c_str(), kiln_dtype_name(dtype));
  auto *tensor = new (std::nothrow) kiln_tensor_s();
  if (!tensor)
    return makeStatus(KILN_STATUS_RESOURCE_EXHAUSTED, "%s: out of memory allocating a tensor", what.c_str());
  tensor->data = kiln_aligned_alloc(byteSize, KILN_TENSOR_ALIGNMENT);
  if (!tensor->data) {
    delete tensor;
    return makeStatus(KILN_STATUS_RESOURCE_EXHAUSTED,
                      "%s: out of memory allocating %zu bytes for a tensor of "
                      "shape %s",
                      what.c_str(), byteSize, formatShape(shape, rank).c_str());
  }
  tensor->dtype = dtype;
  tensor->rank = rank;
  for (int32_t i = 0; i < rank; ++i)
    tensor->shape[i] = shape[i];
  tensor->numElements = numElements;
  tensor->byteSize = byteSize;
  *out = tensor;
  return nullptr;
}

} // namespace kiln::runtime

extern "C" kiln_status_t kiln_tensor_create(kiln_dtype_t dtype, int32_t rank, const int64_t *shape,
                                            kiln_tensor_t **out) {
  if (!out)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_tensor_create: 'out' is NULL");
  *out = nullptr;
  if (kiln_dtype_size(dtype) == 0)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_tensor_create: invalid dtype %d", static_cast<int>(dtype));
  if (rank < 0 || rank > KILN_MAX_RANK)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_tensor_create: rank %d is outside 0..%d",
                      static_cast<int>(rank), KILN_MAX_RANK);
  if (rank > 0 && !shape)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_tensor_create: 'shape' is NULL for rank %d",
                      static_cast<int>(rank));
  for (int32_t i = 0; i < rank; ++i)
    if (shape[i] < 0)
      return makeStatus(KILN_STATUS_INVALID_ARGUMENT,
                        "kiln_tensor_create: dimension %d of shape %s is "
                        "negative",
                        static_cast<int>(i), formatShape(shape, rank).c_str());
  kiln_tensor_t *tensor = nullptr;
  if (kiln_status_t status = allocateTensor(dtype, rank, shape, "kiln_tensor_create", &tensor))
    return status;
  std::memset(tensor->data, 0, tensor->byteSize);
  *out = tensor;
  return nullptr;
}

extern "C" kiln_status_t kiln_tensor_clone(const kiln_tensor_t *tensor, kiln_tensor_t **out) {
  if (!out || !tensor)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_tensor_clone: NULL argument");
  *out = nullptr;
  kiln_tensor_t *copy = nullptr;
  if (kiln_status_t status = allocateTensor(tensor->dtype, tensor->rank, tensor->shape, "kiln_tensor_clone", &copy))
    return status;
  if (tensor->byteSize)
    std::memcpy(copy->data, tensor->data, tensor->byteSize);
  *out = copy;
  return nullptr;
}

extern "C" void kiln_tensor_free(kiln_tensor_t *tensor) {
  if (!tensor)
    return;
  kiln::runtime::freeDeviceCopy(tensor);
  kiln_aligned_free(tensor->data);
  delete tensor;
}

extern "C" kiln_dtype_t kiln_tensor_dtype(const kiln_tensor_t *tensor) { return tensor->dtype; }

extern "C" int32_t kiln_tensor_rank(const kiln_tensor_t *tensor) { return tensor->rank; }

extern "C" const int64_t *kiln_tensor_shape(const kiln_tensor_t *tensor) { return tensor->shape; }

extern "C" int64_t kiln_tensor_dim(const kiln_tensor_t *tensor, int32_t axis) {
  if (axis < 0 || axis >= tensor->rank)
    return -1;
  return tensor->shape[axis];
}

extern "C" int64_t kiln_tensor_num_elements(const kiln_tensor_t *tensor) { return tensor->numElements; }

extern "C" size_t kiln_tensor_byte_size(const kiln_tensor_t *tensor) { return tensor->byteSize; }

extern "C" void *kiln_tensor_data(kiln_tensor_t *tensor) { return tensor->data; }

extern "C" const void *kiln_tensor_const_data(const kiln_tensor_t *tensor) { return tensor->data; }
