//===- RuntimeTensorTest.cpp - Status, tensors and initialization ---------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// GoogleTest cases for the runtime's status objects, aligned allocation,
// tensor creation and accessors, and seeded parameter initialization: the
// Keras fans and limits, reproducibility, per-name streams and golden values
// that pin the documented PRNG scheme.
//
//===----------------------------------------------------------------------===//

#include "kiln/runtime.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "RuntimeTestUtils.h"

namespace {
using namespace kiln_test;

TEST(RuntimeStatus, CarriesCodeAndMessage) {
  kiln_status_t status = kiln_status_create(KILN_STATUS_NOT_FOUND, "%s: no tensor '%s'", "w.st", "b");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_NOT_FOUND);
  EXPECT_STREQ(kiln_status_message(status), "w.st: no tensor 'b'");
  kiln_status_free(status);
}

TEST(RuntimeStatus, NullIsSuccess) {
  EXPECT_EQ(kiln_status_code(nullptr), KILN_STATUS_OK);
  EXPECT_STREQ(kiln_status_message(nullptr), "");
  kiln_status_free(nullptr);
}

TEST(RuntimeStatus, OkCodeIsNotAnError) {
  kiln_status_t status = kiln_status_create(KILN_STATUS_OK, "oops");
  EXPECT_NE(kiln_status_code(status), KILN_STATUS_OK);
  kiln_status_free(status);
}

TEST(RuntimeAlignedAlloc, IsAligned) {
  for (size_t size : {size_t(0), size_t(1), size_t(63), size_t(64), size_t(1000)}) {
    void *ptr = kiln_aligned_alloc(size, KILN_TENSOR_ALIGNMENT);
    ASSERT_NE(ptr, nullptr) << size;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ptr) % KILN_TENSOR_ALIGNMENT, 0u);
    kiln_aligned_free(ptr);
  }
  kiln_aligned_free(nullptr);
}

TEST(RuntimeAlignedAlloc, RejectsBadAlignment) {
  EXPECT_EQ(kiln_aligned_alloc(16, 48), nullptr);
  EXPECT_EQ(kiln_aligned_alloc(16, 2), nullptr);
  EXPECT_EQ(kiln_aligned_alloc(SIZE_MAX - 3, 64), nullptr);
}

TEST(RuntimeTensor, CreateZeroFilledAndAligned) {
  TensorHolder t;
  int64_t shape[] = {3, 5, 7};
  ASSERT_EQ(kiln_tensor_create(KILN_F64, 3, shape, &t.tensor), nullptr);
  EXPECT_EQ(kiln_tensor_dtype(t.tensor), KILN_F64);
  EXPECT_EQ(kiln_tensor_rank(t.tensor), 3);
  EXPECT_EQ(kiln_tensor_shape(t.tensor)[2], 7);
  EXPECT_EQ(kiln_tensor_dim(t.tensor, 1), 5);
  EXPECT_EQ(kiln_tensor_dim(t.tensor, 3), -1);
  EXPECT_EQ(kiln_tensor_dim(t.tensor, -1), -1);
  EXPECT_EQ(kiln_tensor_num_elements(t.tensor), 105);
  EXPECT_EQ(kiln_tensor_byte_size(t.tensor), 840u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(kiln_tensor_data(t.tensor)) % KILN_TENSOR_ALIGNMENT, 0u);
  const double *data = static_cast<const double *>(kiln_tensor_const_data(t.tensor));
  for (int i = 0; i < 105; ++i)
    EXPECT_EQ(data[i], 0.0);
}

TEST(RuntimeTensor, ScalarAndEmpty) {
  TensorHolder scalar, empty;
  ASSERT_EQ(kiln_tensor_create(KILN_I64, 0, nullptr, &scalar.tensor), nullptr);
  EXPECT_EQ(kiln_tensor_num_elements(scalar.tensor), 1);
  EXPECT_EQ(kiln_tensor_byte_size(scalar.tensor), 8u);
  int64_t shape[] = {0, 4};
  ASSERT_EQ(kiln_tensor_create(KILN_U8, 2, shape, &empty.tensor), nullptr);
  EXPECT_EQ(kiln_tensor_num_elements(empty.tensor), 0);
  EXPECT_NE(kiln_tensor_data(empty.tensor), nullptr);
}

TEST(RuntimeTensor, RejectsBadArguments) {
  kiln_tensor_t *tensor = reinterpret_cast<kiln_tensor_t *>(1);
  int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_EQ(take(kiln_tensor_create(KILN_F32, 9, shape, &tensor)), "kiln_tensor_create: rank 9 is outside 0..8");
  EXPECT_EQ(tensor, nullptr);
  int64_t negative[] = {2, -1};
  EXPECT_EQ(take(kiln_tensor_create(KILN_F32, 2, negative, &tensor)),
            "kiln_tensor_create: dimension 1 of shape [2, -1] is negative");
  EXPECT_EQ(take(kiln_tensor_create(static_cast<kiln_dtype_t>(42), 1, shape, &tensor)),
            "kiln_tensor_create: invalid dtype 42");
  int64_t huge[] = {INT64_MAX / 2, 4};
  kiln_status_t status = kiln_tensor_create(KILN_F32, 2, huge, &tensor);
  EXPECT_NE(status, nullptr);
  EXPECT_NE(take(status).find("too large"), std::string::npos);
  EXPECT_EQ(tensor, nullptr);
}

TEST(RuntimeTensor, CloneIsDeep) {
  TensorHolder a, b;
  int64_t shape[] = {4};
  ASSERT_EQ(kiln_tensor_create(KILN_I32, 1, shape, &a.tensor), nullptr);
  static_cast<int32_t *>(kiln_tensor_data(a.tensor))[2] = 7;
  ASSERT_EQ(kiln_tensor_clone(a.tensor, &b.tensor), nullptr);
  static_cast<int32_t *>(kiln_tensor_data(a.tensor))[2] = 8;
  EXPECT_EQ(static_cast<int32_t *>(kiln_tensor_data(b.tensor))[2], 7);
  EXPECT_EQ(kiln_tensor_dim(b.tensor, 0), 4);
}

TEST(RuntimeDtype, SizesAndNames) {
  EXPECT_EQ(kiln_dtype_size(KILN_F32), 4u);
  EXPECT_EQ(kiln_dtype_size(KILN_F64), 8u);
  EXPECT_EQ(kiln_dtype_size(KILN_I32), 4u);
  EXPECT_EQ(kiln_dtype_size(KILN_I64), 8u);
  EXPECT_EQ(kiln_dtype_size(KILN_U8), 1u);
  EXPECT_STREQ(kiln_dtype_name(KILN_U8), "u8");
  EXPECT_STREQ(kiln_dtype_name(static_cast<kiln_dtype_t>(9)), "?");
}

// --- Initialization -------------------------------------------------------

std::vector<float> glorot(std::vector<int64_t> shape, uint64_t seed, const char *name) {
  TensorHolder t;
  EXPECT_EQ(kiln_tensor_create(KILN_F32, static_cast<int32_t>(shape.size()), shape.data(), &t.tensor), nullptr);
  EXPECT_EQ(kiln_init_param(t.tensor, KILN_INIT_GLOROT_UNIFORM, 0, seed, name), nullptr);
  const float *data = static_cast<const float *>(kiln_tensor_const_data(t.tensor));
  return std::vector<float>(data, data + kiln_tensor_num_elements(t.tensor));
}

TEST(RuntimeInit, HashAndGeneratorReferenceValues) {
  // FNV-1a 64 test vectors.
  EXPECT_EQ(kiln_fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(kiln_fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(kiln_fnv1a64("foobar"), 0x85944171f73967e8ULL);
  // SplitMix64 from state 0 (the reference implementation's first outputs).
  uint64_t state = 0;
  EXPECT_EQ(kiln_splitmix64_next(&state), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(kiln_splitmix64_next(&state), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(kiln_splitmix64_next(&state), 0x06c45d188009454fULL);
}

TEST(RuntimeInit, GlorotGoldenValues) {
  // Pinned: changing these breaks reproducibility of every saved model.
  std::vector<float> values = glorot({2, 3}, 42, "dense_0.kernel");
  ASSERT_EQ(values.size(), 6u);
  EXPECT_FLOAT_EQ(values[0], 0.777703166f);
  EXPECT_FLOAT_EQ(values[1], -0.00763489073f);
  EXPECT_FLOAT_EQ(values[2], -0.929280639f);
  EXPECT_FLOAT_EQ(values[5], 0.422254711f);
}

TEST(RuntimeInit, GlorotIsReproducibleAndPerName) {
  EXPECT_EQ(glorot({20, 10}, 1, "w"), glorot({20, 10}, 1, "w"));
  EXPECT_NE(glorot({20, 10}, 1, "w"), glorot({20, 10}, 2, "w"));
  EXPECT_NE(glorot({20, 10}, 1, "w"), glorot({20, 10}, 1, "v"));
  // Each parameter's stream depends only on (seed, name): initializing
  // another parameter first changes nothing.
  std::vector<float> alone = glorot({8, 4}, 1, "dense_1.kernel");
  (void)glorot({100, 8}, 1, "dense_0.kernel");
  EXPECT_EQ(glorot({8, 4}, 1, "dense_1.kernel"), alone);
  EXPECT_EQ(kiln_param_stream_seed(1, "w"), kiln_param_stream_seed(1, "w"));
  EXPECT_NE(kiln_param_stream_seed(1, "w"), kiln_param_stream_seed(1, "w "));
}

/// The largest |x| and the mean of `values`.
void stats(const std::vector<float> &values, double &maxAbs, double &mean) {
  maxAbs = 0, mean = 0;
  for (float v : values) {
    maxAbs = std::max(maxAbs, std::fabs(double(v)));
    mean += v;
  }
  mean /= double(values.size());
}

TEST(RuntimeInit, GlorotDenseLimit) {
  std::vector<float> values = glorot({784, 128}, 3, "dense_0.kernel");
  double limit = std::sqrt(6.0 / (784 + 128)), maxAbs, mean;
  stats(values, maxAbs, mean);
  EXPECT_LE(maxAbs, limit);
  EXPECT_GT(maxAbs, 0.999 * limit);
  EXPECT_NEAR(mean, 0.0, 0.002);
}

TEST(RuntimeInit, GlorotConvFansUseReceptiveField) {
  // Keras: [kh, kw, cin, cout] -> fan_in = 3*3*1, fan_out = 3*3*32.
  std::vector<float> values = glorot({3, 3, 1, 32}, 3, "conv2d_0.kernel");
  double limit = std::sqrt(6.0 / (9 + 288)), maxAbs, mean;
  stats(values, maxAbs, mean);
  EXPECT_LE(maxAbs, limit);
  EXPECT_GT(maxAbs, 0.95 * limit);
}

TEST(RuntimeInit, GlorotRankOneAndScalar) {
  double maxAbs, mean;
  stats(glorot({50}, 3, "b"), maxAbs, mean);
  EXPECT_LE(maxAbs, std::sqrt(6.0 / 100));
  EXPECT_GT(maxAbs, 0.8 * std::sqrt(6.0 / 100));
  stats(glorot({}, 3, "s"), maxAbs, mean);
  EXPECT_LE(maxAbs, std::sqrt(3.0));
}

TEST(RuntimeInit, GlorotF64) {
  TensorHolder t;
  int64_t shape[] = {10, 10};
  ASSERT_EQ(kiln_tensor_create(KILN_F64, 2, shape, &t.tensor), nullptr);
  ASSERT_EQ(kiln_init_param(t.tensor, KILN_INIT_GLOROT_UNIFORM, 0, 9, "w"), nullptr);
  const double *data = static_cast<const double *>(kiln_tensor_const_data(t.tensor));
  for (int i = 0; i < 100; ++i)
    EXPECT_LE(std::fabs(data[i]), std::sqrt(6.0 / 20));
  // The f32 draw of the same parameter is the f64 one rounded.
  std::vector<float> single = glorot({10, 10}, 9, "w");
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(single[i], static_cast<float>(data[i]));
}

TEST(RuntimeInit, ConstantsForEveryDtype) {
  int64_t shape[] = {3};
  for (kiln_dtype_t dtype : {KILN_F32, KILN_F64, KILN_I32, KILN_I64, KILN_U8}) {
    TensorHolder t;
    ASSERT_EQ(kiln_tensor_create(dtype, 1, shape, &t.tensor), nullptr);
    ASSERT_EQ(kiln_init_param(t.tensor, KILN_INIT_CONSTANT, 7, 0, "c"), nullptr);
    const void *data = kiln_tensor_const_data(t.tensor);
    double last = 0;
    switch (dtype) {
    case KILN_F32:
      last = static_cast<const float *>(data)[2];
      break;
    case KILN_F64:
      last = static_cast<const double *>(data)[2];
      break;
    case KILN_I32:
      last = static_cast<const int32_t *>(data)[2];
      break;
    case KILN_I64:
      last = static_cast<const int64_t *>(data)[2];
      break;
    case KILN_U8:
      last = static_cast<const uint8_t *>(data)[2];
      break;
    case KILN_DTYPE_MAX_ENUM:
      break;
    }
    EXPECT_EQ(last, 7.0) << kiln_dtype_name(dtype);
    ASSERT_EQ(kiln_init_param(t.tensor, KILN_INIT_ONES, 0, 0, nullptr), nullptr);
    bool nonZero = false;
    for (size_t i = 0; i < kiln_dtype_size(dtype); ++i)
      nonZero |= static_cast<const uint8_t *>(data)[i] != 0;
    EXPECT_TRUE(nonZero) << kiln_dtype_name(dtype);
    ASSERT_EQ(kiln_init_param(t.tensor, KILN_INIT_ZEROS, 0, 0, nullptr), nullptr);
    for (size_t i = 0; i < kiln_tensor_byte_size(t.tensor); ++i)
      EXPECT_EQ(static_cast<const uint8_t *>(data)[i], 0);
  }
}

TEST(RuntimeInit, Errors) {
  TensorHolder u8, i32;
  int64_t shape[] = {2};
  ASSERT_EQ(kiln_tensor_create(KILN_U8, 1, shape, &u8.tensor), nullptr);
  ASSERT_EQ(kiln_tensor_create(KILN_I32, 1, shape, &i32.tensor), nullptr);
  EXPECT_EQ(take(kiln_init_param(u8.tensor, KILN_INIT_CONSTANT, 256, 0, "m")),
            "kiln_init_param: constant 256 does not fit parameter 'm' of dtype u8");
  EXPECT_EQ(take(kiln_init_param(i32.tensor, KILN_INIT_CONSTANT, 0.5, 0, "k")),
            "kiln_init_param: constant 0.5 does not fit parameter 'k' of dtype i32");
  EXPECT_EQ(take(kiln_init_param(i32.tensor, KILN_INIT_GLOROT_UNIFORM, 0, 0, "k")),
            "kiln_init_param: glorot_uniform needs an f32 or f64 parameter, 'k' is i32");
  EXPECT_NE(take(kiln_init_param(i32.tensor, static_cast<kiln_init_kind_t>(99), 0, 0, "k")), "");
  EXPECT_NE(take(kiln_init_param(nullptr, KILN_INIT_ZEROS, 0, 0, "k")), "");
}

} // namespace
