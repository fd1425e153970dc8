//===- main.cpp - Using the Kiln JIT from C++ -----------------------------===//
//
// Compiles a .kiln file in process with kiln::Jit, lists its models, then
// runs LinearRegression's predict and loss on a small batch and checks them
// against the same arithmetic done here. Built and run by the tests
// (test/e2e/jit-package.test) against an installed Kiln.
//
//===----------------------------------------------------------------------===//

#include "kiln/Jit.h"

#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s linear_regression.kiln\n", argv[0]);
    return 2;
  }
  auto jit = kiln::Jit::compileFile(argv[1]);
  if (!jit) {
    llvm::errs() << llvm::toString(jit.takeError());
    return 1;
  }
  for (const kiln::ModelInfo &model : (*jit)->getModels())
    std::printf("model %s: %zu parameters\n", model.name.c_str(), model.params.size());

  const int64_t n = 4;
  kiln::Tensor w(kiln::ElementType::F32, {10}), b(kiln::ElementType::F32, {});
  kiln::Tensor x(kiln::ElementType::F32, {n, 10}), y(kiln::ElementType::F32, {n});
  for (int i = 0; i < 10; ++i)
    w.f32()[i] = 0.5f - 0.1f * float(i);
  b.f32()[0] = 1.5f;
  for (int i = 0; i < n * 10; ++i)
    x.f32()[i] = float(i % 5) - 2.0f;
  for (int i = 0; i < n; ++i)
    y.f32()[i] = float(i);

  auto predictions = (*jit)->call("LinearRegression", "predict", {&w, &b, &x});
  if (!predictions) {
    llvm::errs() << llvm::toString(predictions.takeError()) << "\n";
    return 1;
  }
  double worst = 0, sumSq = 0;
  for (int64_t row = 0; row < n; ++row) {
    double expected = b.f32()[0];
    for (int i = 0; i < 10; ++i)
      expected += double(x.f32()[row * 10 + i]) * w.f32()[i];
    worst = std::fmax(worst, std::fabs(expected - (*predictions)[0].f32()[row]));
    sumSq += (expected - y.f32()[row]) * (expected - y.f32()[row]);
  }
  std::printf("predict: max abs error %.2g %s\n", worst, worst < 1e-5 ? "OK" : "MISMATCH");

  auto loss = (*jit)->call("LinearRegression", "loss", {&w, &b, &x, &y});
  if (!loss) {
    llvm::errs() << llvm::toString(loss.takeError()) << "\n";
    return 1;
  }
  double expectedLoss = sumSq / double(n), error = std::fabs((*loss)[0].f32()[0] - expectedLoss) / expectedLoss;
  std::printf("loss: relative error %.2g %s\n", error, error < 1e-5 ? "OK" : "MISMATCH");

  // A wrong argument is an error, not a crash.
  auto wrong = (*jit)->call("LinearRegression", "predict", {&w, &b, &y});
  if (wrong) {
    std::printf("a wrong argument was accepted\n");
    return 1;
  }
  std::printf("wrong argument: %s\n", llvm::toString(wrong.takeError()).c_str());
  return 0;
}
