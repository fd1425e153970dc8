//===- BatcherTest.cpp - When the server's batches run --------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The dynamic batcher (runtime/server/Batcher.h) with an executor that adds
// one to every value, so that each answer can be traced to its request: when
// a batch is due in the auto mode (as soon as no expected sender is missing,
// else after kAutoMaxDelay), with a fixed --max-delay-us, and at
// --max-batch; batches take requests in arrival order and hand each request
// back its own rows. test/e2e/serve-batching.test runs the same over
// sockets with the compiled model.
//
//===----------------------------------------------------------------------===//

#include "Batcher.h"

#include <gtest/gtest.h>

using namespace kiln_server;
using Clock = Batcher::Clock;

namespace {
/// A [rows, 1] float tensor holding `first`, `first + 1`, ...
TensorPtr column(int64_t rows, float first) {
  int64_t shape[] = {rows, 1};
  kiln_tensor_t *tensor = nullptr;
  EXPECT_EQ(kiln_tensor_create(KILN_F32, 2, shape, &tensor), nullptr); // no error
  float *data = static_cast<float *>(kiln_tensor_data(tensor));
  for (int64_t i = 0; i < rows; ++i)
    data[i] = first + float(i);
  return TensorPtr(tensor);
}

/// The batcher under test, with its executor's call log.
struct Fixture {
  explicit Fixture(BatcherOptions options)
      : batcher(
            [this](const std::vector<kiln_tensor_t *> &inputs) {
              callRows.push_back(kiln_tensor_shape(inputs[0])[0]);
              TensorPtr out = column(kiln_tensor_shape(inputs[0])[0], 0);
              const float *in = static_cast<const float *>(kiln_tensor_const_data(inputs[0]));
              float *data = static_cast<float *>(kiln_tensor_data(out.get()));
              for (int64_t i = 0; i < callRows.back(); ++i)
                data[i] = in[i] + 1;
              std::vector<TensorPtr> outputs;
              outputs.push_back(std::move(out));
              return outputs;
            },
            options, metrics, waiting) {}

  /// Queues a request of `rows` rows whose values start at `first`.
  void submit(uint64_t tag, int64_t rows, float first) {
    std::vector<TensorPtr> inputs;
    inputs.push_back(column(rows, first));
    ASSERT_TRUE(batcher.submit(tag, std::move(inputs), rows));
  }

  ModelMetrics metrics;
  std::atomic<int64_t> waiting{0};
  std::vector<int64_t> callRows; ///< rows of each executor call
  Batcher batcher;
};

/// A value of a request's answer (its rows of the batch's outputs).
float answerValue(const Batcher::Answer &answer, int64_t row) {
  const float *data = static_cast<const float *>(kiln_tensor_const_data((*answer.slice.outputs)[0].get()));
  return data[answer.slice.begin + row];
}

TEST(BatcherTest, AutoRunsAtOnceWhenNoSenderIsExpected) {
  Fixture f(BatcherOptions{});
  Clock::time_point before = Clock::now();
  f.submit(7, 1, 10);
  f.batcher.expectSenders(0);
  ASSERT_TRUE(f.batcher.due().has_value());
  EXPECT_LE(*f.batcher.due(), Clock::now());
  EXPECT_GE(*f.batcher.due(), before);
  std::vector<Batcher::Answer> answers = f.batcher.runDue(Clock::now(), /*flush=*/false);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].tag, 7u);
  EXPECT_EQ(answerValue(answers[0], 0), 11.0f);
  EXPECT_FALSE(f.batcher.due().has_value());
}

TEST(BatcherTest, AutoWaitsForExpectedSendersThenRunsThemTogether) {
  Fixture f(BatcherOptions{});
  f.submit(1, 1, 100);
  f.batcher.expectSenders(2); // two other connections will send soon
  Clock::time_point oldest = *f.batcher.due() - kAutoMaxDelay;
  EXPECT_EQ(*f.batcher.due(), oldest + kAutoMaxDelay);
  EXPECT_TRUE(f.batcher.waitsForSenders());
  // Not due before the cap: nothing runs.
  EXPECT_TRUE(f.batcher.runDue(oldest, /*flush=*/false).empty());
  f.submit(2, 2, 200);
  f.batcher.expectSenders(1);
  EXPECT_EQ(*f.batcher.due(), oldest + kAutoMaxDelay);
  f.submit(3, 1, 300);
  f.batcher.expectSenders(0); // every expected sender has sent
  EXPECT_EQ(*f.batcher.due(), oldest);
  std::vector<Batcher::Answer> answers = f.batcher.runDue(Clock::now(), /*flush=*/false);
  ASSERT_EQ(f.callRows, std::vector<int64_t>{4}); // one call, in arrival order
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].tag, 1u);
  EXPECT_EQ(answerValue(answers[0], 0), 101.0f);
  EXPECT_EQ(answers[1].tag, 2u);
  EXPECT_EQ(answers[1].slice.rows, 2);
  EXPECT_EQ(answerValue(answers[1], 0), 201.0f);
  EXPECT_EQ(answerValue(answers[1], 1), 202.0f);
  EXPECT_EQ(answers[2].tag, 3u);
  EXPECT_EQ(answerValue(answers[2], 0), 301.0f);
}

TEST(BatcherTest, AutoWaitsAtMostTheCap) {
  Fixture f(BatcherOptions{});
  f.submit(1, 1, 0);
  f.batcher.expectSenders(5);
  Clock::time_point cap = *f.batcher.due();
  EXPECT_TRUE(f.batcher.runDue(cap - std::chrono::microseconds(1), /*flush=*/false).empty());
  EXPECT_EQ(f.batcher.runDue(cap, /*flush=*/false).size(), 1u);
}

TEST(BatcherTest, FullBatchRunsWithoutWaiting) {
  BatcherOptions options;
  options.maxBatch = 4;
  Fixture f(options);
  f.submit(1, 3, 0);
  f.batcher.expectSenders(3);
  Clock::time_point oldest = *f.batcher.due() - kAutoMaxDelay;
  f.submit(2, 1, 0); // 4 rows: full
  EXPECT_EQ(*f.batcher.due(), oldest);
  f.submit(3, 2, 0); // does not fit: the next batch
  std::vector<Batcher::Answer> answers = f.batcher.runDue(oldest, /*flush=*/false);
  EXPECT_EQ(answers.size(), 2u);
  EXPECT_EQ(f.callRows, std::vector<int64_t>{4});
  // The rest waits for the expected senders, or a flush.
  EXPECT_EQ(f.batcher.runDue(Clock::now(), /*flush=*/true).size(), 1u);
  EXPECT_EQ(f.callRows, (std::vector<int64_t>{4, 2}));
}

TEST(BatcherTest, FixedDelayIgnoresExpectedSenders) {
  BatcherOptions options;
  options.maxDelayUs = 2000;
  Fixture f(options);
  f.submit(1, 1, 0);
  EXPECT_FALSE(f.batcher.waitsForSenders());
  f.batcher.expectSenders(0);
  Clock::time_point due = *f.batcher.due();
  f.batcher.expectSenders(9);
  EXPECT_EQ(*f.batcher.due(), due);
  EXPECT_TRUE(f.batcher.runDue(due - std::chrono::microseconds(1), /*flush=*/false).empty());
  EXPECT_EQ(f.batcher.runDue(due, /*flush=*/false).size(), 1u);
}

TEST(BatcherTest, ZeroDelayRunsAtOnce) {
  BatcherOptions options;
  options.maxDelayUs = 0;
  Fixture f(options);
  f.submit(1, 1, 0);
  f.batcher.expectSenders(9);
  EXPECT_LE(*f.batcher.due(), Clock::now());
}
} // namespace
