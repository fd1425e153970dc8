//===- JitMemoryTest.cpp - JIT-compiled code allocates nothing per call ---===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// After a warm-up call at a batch size, kiln::Jit's FashionCnn train_step
// and predict take no fresh pages per call: the buffer cache linked into
// JIT modules (codegen/buffer-cache/BufferCache.c) hands the previous call's
// buffers back. Without it, glibc maps and unmaps the multi-MB activations
// every call: thousands of minor page faults per train_step at batch 32.
//
//===----------------------------------------------------------------------===//

#include "kiln/Jit.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <random>

namespace {

long minorPageFaults() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

TEST(JitMemory, NoFreshPagesPerCallInTheSteadyState) {
  auto jit = kiln::Jit::compileFile(KILN_EXAMPLES_DIR "/fashion_cnn.kiln");
  ASSERT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  const kiln::ModelInfo *model = (*jit)->findModel("FashionCnn");
  ASSERT_NE(model, nullptr);

  constexpr int64_t batch = 32;
  std::mt19937 random(7);
  std::uniform_real_distribution<float> uniform(-0.05f, 0.05f);
  std::vector<kiln::Tensor> params, state;
  for (const kiln::ParamInfo &param : model->params) {
    params.emplace_back(kiln::ElementType::F32, param.shape);
    for (int64_t i = 0; i < params.back().getNumElements(); ++i)
      params.back().f32()[i] = uniform(random);
  }
  for (const kiln::StateInfo &slot : model->state)
    state.emplace_back(kiln::ElementType::F32, slot.shape);
  kiln::Tensor lr(kiln::ElementType::F32, {}), step(kiln::ElementType::F32, {});
  lr.f32()[0] = 0.001f;
  kiln::Tensor image(kiln::ElementType::F32, {batch, 28, 28, 1}), label(kiln::ElementType::I32, {batch});
  for (int64_t i = 0; i < image.getNumElements(); ++i)
    image.f32()[i] = uniform(random) * 10.0f + 0.5f;
  for (int64_t i = 0; i < batch; ++i)
    label.i32()[i] = int32_t(i % 10);

  std::vector<const kiln::Tensor *> trainArgs, predictArgs;
  for (const kiln::Tensor &param : params) {
    trainArgs.push_back(&param);
    predictArgs.push_back(&param);
  }
  for (const kiln::Tensor &slot : state)
    trainArgs.push_back(&slot);
  trainArgs.insert(trainArgs.end(), {&lr, &step, &image, &label});
  predictArgs.push_back(&image);

  constexpr int warmup = 2, calls = 6;
  constexpr double maxFaultsPerCall = 64; // ~5000 when every call maps afresh
  for (const auto &[function, args] : {std::pair{"train_step", &trainArgs}, std::pair{"predict", &predictArgs}}) {
    long before = 0;
    for (int i = 0; i < warmup + calls; ++i) {
      if (i == warmup)
        before = minorPageFaults();
      step.f32()[0] += 1.0f;
      auto results = (*jit)->call("FashionCnn", function, *args);
      ASSERT_TRUE(bool(results)) << llvm::toString(results.takeError());
    }
    double perCall = double(minorPageFaults() - before) / calls;
    EXPECT_LE(perCall, maxFaultsPerCall) << function << ": minor page faults per call after warm-up";
  }
}

} // namespace
