//===- main.cpp - Training a Kiln model from C++, step by step ------------===//
//
// Compiles examples/linear_regression.kiln with kiln::Jit, trains it with a
// kiln::TrainingSession on mini-batches of data generated here from known
// weights (y = x.w_true + b_true, no noise, so the least-squares answer is
// w_true), lowers the learning rate halfway, saves a checkpoint (the model
// binaries' `train --save` format: `LinearRegression train --resume FILE`
// goes on from it), loads it into a second session and checks that both
// predict the same. Built and run by test/e2e/train-session-package.test
// against an installed Kiln.
//
//===----------------------------------------------------------------------===//

#include "kiln/Jit.h"

#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace {
/// Prints the error and returns true if there was one.
bool failed(llvm::Error error) {
  if (!error)
    return false;
  llvm::errs() << "error: " << llvm::toString(std::move(error)) << "\n";
  return true;
}
} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s linear_regression.kiln CHECKPOINT.safetensors\n", argv[0]);
    return 2;
  }
  auto jit = kiln::Jit::compileFile(argv[1]);
  if (failed(jit.takeError()))
    return 1;
  auto session = kiln::TrainingSession::create(**jit, "LinearRegression", {/*seed=*/0, /*lr=*/0.1});
  if (failed(session.takeError()))
    return 1;
  kiln::TrainingSession &trainer = **session;

  // 256 examples of 10 features, in batches of 32.
  const int64_t n = 256, d = 10, batch = 32;
  float wTrue[d], bTrue = -0.5f;
  for (int64_t j = 0; j < d; ++j)
    wTrue[j] = 0.25f * float(j) - 1.0f;
  kiln::Tensor x(kiln::ElementType::F32, {n, d}), y(kiln::ElementType::F32, {n});
  uint32_t state = 12345;
  for (int64_t i = 0; i < n; ++i) {
    double target = bTrue;
    for (int64_t j = 0; j < d; ++j) {
      state = state * 1664525u + 1013904223u;
      x.f32()[i * d + j] = float(state >> 8) / float(1 << 24) * 2.0f - 1.0f;
      target += double(wTrue[j]) * x.f32()[i * d + j];
    }
    y.f32()[i] = float(target);
  }

  for (int epoch = 1; epoch <= 40; ++epoch) {
    if (epoch == 21 && failed(trainer.setLearningRate(0.05)))
      return 1;
    double total = 0;
    for (int64_t begin = 0; begin < n; begin += batch) {
      // A batch is a tensor of its own: copy the rows in.
      kiln::Tensor xb(kiln::ElementType::F32, {batch, d}), yb(kiln::ElementType::F32, {batch});
      std::memcpy(xb.f32(), x.f32() + begin * d, sizeof(float) * batch * d);
      std::memcpy(yb.f32(), y.f32() + begin, sizeof(float) * batch);
      auto result = trainer.step({&xb, &yb});
      if (failed(result.takeError()))
        return 1;
      total += result->loss * batch;
    }
    if (epoch % 10 == 0)
      std::printf("epoch %d: step %lld, lr %g, loss %.3g\n", epoch, (long long)trainer.getStep(),
                  trainer.getLearningRate(), total / n);
  }

  auto w = trainer.getParam("w");
  auto b = trainer.getParam("b");
  if (failed(w.takeError()) || failed(b.takeError()))
    return 1;
  double worst = std::fabs(b->f32()[0] - bTrue);
  for (int64_t j = 0; j < d; ++j)
    worst = std::fmax(worst, std::fabs(w->f32()[j] - wTrue[j]));
  std::printf("weights: max |trained - true| %.2e %s\n", worst, worst < 1e-3 ? "OK" : "FAILED");

  // Save, load into a fresh session, and predict with both.
  if (failed(trainer.save(argv[2])))
    return 1;
  auto restored = kiln::TrainingSession::create(**jit, "LinearRegression");
  if (failed(restored.takeError()) || failed((*restored)->load(argv[2])))
    return 1;
  auto before = trainer.predict({&x});
  auto after = (*restored)->predict({&x});
  if (failed(before.takeError()) || failed(after.takeError()))
    return 1;
  bool same = std::memcmp((*before)[0].data(), (*after)[0].data(), sizeof(float) * n) == 0;
  std::printf("saved %s at step %lld; loaded: step %lld, predictions %s\n", argv[2], (long long)trainer.getStep(),
              (long long)(*restored)->getStep(), same ? "identical OK" : "DIFFER");

  // What a user can get wrong is an error that says so.
  kiln::Tensor wrong(kiln::ElementType::F32, {3});
  llvm::Error error = trainer.setParam("w", wrong);
  std::printf("wrong shape: %s\n", llvm::toString(std::move(error)).c_str());
  return worst < 1e-3 && same ? 0 : 1;
}
