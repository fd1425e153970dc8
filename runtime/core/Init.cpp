//===- Init.cpp - Seeded parameter initialization -------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Keras-named initializers (zeros, ones, constant, glorot_uniform) with a
// random stream that is the same on every machine: SplitMix64, started per
// parameter from a FNV-1a hash of its name mixed with the model seed, and
// uniform draws built from the top 53 bits in double arithmetic (one exact
// subtraction and one multiplication, so no FMA contraction can change a
// result). See docs/runtime.md for the exact scheme.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <cmath>
#include <cstring>

using namespace kiln::runtime;

namespace {

/// The SplitMix64 output function (a bijective 64-bit mixer).
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Fills `tensor` with `value` converted to its dtype.
template <typename T> void fill(kiln_tensor_t *tensor, T value) {
  T *data = static_cast<T *>(tensor->data);
  for (int64_t i = 0; i < tensor->numElements; ++i)
    data[i] = value;
}

/// Keras' `_compute_fans`.
void computeFans(const kiln_tensor_t *tensor, double &fanIn, double &fanOut) {
  const int64_t *shape = tensor->shape;
  switch (tensor->rank) {
  case 0:
    fanIn = fanOut = 1;
    return;
  case 1:
    fanIn = fanOut = static_cast<double>(shape[0]);
    return;
  case 2:
    fanIn = static_cast<double>(shape[0]);
    fanOut = static_cast<double>(shape[1]);
    return;
  default: {
    double receptive = 1;
    for (int32_t i = 0; i + 2 < tensor->rank; ++i)
      receptive *= static_cast<double>(shape[i]);
    fanIn = static_cast<double>(shape[tensor->rank - 2]) * receptive;
    fanOut = static_cast<double>(shape[tensor->rank - 1]) * receptive;
    return;
  }
  }
}

template <typename T> void fillUniform(kiln_tensor_t *tensor, double limit, uint64_t state) {
  T *data = static_cast<T *>(tensor->data);
  for (int64_t i = 0; i < tensor->numElements; ++i) {
    double u = static_cast<double>(kiln_splitmix64_next(&state) >> 11) * 0x1.0p-53; // [0, 1)
    data[i] = static_cast<T>(limit * (2.0 * u - 1.0));
  }
}

} // namespace

extern "C" uint64_t kiln_fnv1a64(const char *text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const unsigned char *p = reinterpret_cast<const unsigned char *>(text); *p; ++p) {
    hash ^= *p;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

extern "C" uint64_t kiln_splitmix64_next(uint64_t *state) {
  *state += 0x9e3779b97f4a7c15ULL;
  return mix64(*state);
}

extern "C" uint64_t kiln_param_stream_seed(uint64_t seed, const char *name) {
  return mix64(seed ^ mix64(kiln_fnv1a64(name ? name : "")));
}

extern "C" kiln_status_t kiln_init_param(kiln_tensor_t *tensor, kiln_init_kind_t kind, double value, uint64_t seed,
                                         const char *name) {
  const char *label = name ? name : "<unnamed>";
  if (!tensor)
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "kiln_init_param: tensor for parameter '%s' is NULL", label);
  switch (kind) {
  case KILN_INIT_ZEROS:
    std::memset(tensor->data, 0, tensor->byteSize);
    return nullptr;
  case KILN_INIT_ONES:
    value = 1.0;
    [[fallthrough]];
  case KILN_INIT_CONSTANT:
    switch (tensor->dtype) {
    case KILN_F32:
      fill<float>(tensor, static_cast<float>(value));
      return nullptr;
    case KILN_F64:
      fill<double>(tensor, value);
      return nullptr;
    default:
      break;
    }
    {
      // Integer dtypes: the value must be an integer the dtype can hold.
      double low = 0, high = 0;
      switch (tensor->dtype) {
      case KILN_I32:
        low = -2147483648.0, high = 2147483647.0;
        break;
      case KILN_I64:
        low = -9223372036854775808.0, high = 9223372036854775807.0;
        break;
      case KILN_U8:
        low = 0, high = 255;
        break;
      default:
        return makeStatus(KILN_STATUS_INVALID_ARGUMENT,
                          "kiln_init_param: parameter '%s' has an invalid "
                          "dtype",
                          label);
      }
      // Note: 2^63 is not representable in int64; `high` rounds up to it.
      if (!(value >= low && value <= high) || std::trunc(value) != value ||
          (tensor->dtype == KILN_I64 && value >= 9223372036854775808.0))
        return makeStatus(KILN_STATUS_INVALID_ARGUMENT,
                          "kiln_init_param: constant %g does not fit "
                          "parameter '%s' of dtype %s",
                          value, label, kiln_dtype_name(tensor->dtype));
      if (tensor->dtype == KILN_I32)
        fill<int32_t>(tensor, static_cast<int32_t>(value));
      else if (tensor->dtype == KILN_I64)
        fill<int64_t>(tensor, static_cast<int64_t>(value));
      else
        fill<uint8_t>(tensor, static_cast<uint8_t>(value));
      return nullptr;
    }
  case KILN_INIT_GLOROT_UNIFORM: {
    if (tensor->dtype != KILN_F32 && tensor->dtype != KILN_F64)
      return makeStatus(KILN_STATUS_INVALID_ARGUMENT,
                        "kiln_init_param: glorot_uniform needs an f32 or f64 "
                        "parameter, '%s' is %s",
                        label, kiln_dtype_name(tensor->dtype));
    if (tensor->numElements == 0)
      return nullptr;
    double fanIn = 0, fanOut = 0;
    computeFans(tensor, fanIn, fanOut);
    double limit = std::sqrt(6.0 / (fanIn + fanOut));
    uint64_t state = kiln_param_stream_seed(seed, name);
    if (tensor->dtype == KILN_F32)
      fillUniform<float>(tensor, limit, state);
    else
      fillUniform<double>(tensor, limit, state);
    return nullptr;
  }
  case KILN_INIT_MAX_ENUM:
    break;
  }
  return makeStatus(KILN_STATUS_INVALID_ARGUMENT,
                    "kiln_init_param: unknown initializer kind %d for "
                    "parameter '%s'",
                    static_cast<int>(kind), label);
}
