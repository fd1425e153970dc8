//===- Common.h - What the CartPole hosts share ------------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The command line, compiling a model into a training session, acting
// greedily, and the evaluation both hosts end with: the mean return of 100
// greedy episodes, the number CartPole-v1's solved threshold (475) is about.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXAMPLES_RL_COMMON_H
#define KILN_EXAMPLES_RL_COMMON_H

#include "CartPole.h"

#include "kiln/Jit.h"

#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

namespace cartpole {

/// Ends the program with the error's message.
template <typename T> T orExit(llvm::Expected<T> value) {
  if (!value) {
    llvm::errs() << llvm::toString(value.takeError()) << "\n";
    std::exit(1);
  }
  return std::move(*value);
}
inline void orExit(llvm::Error error) {
  if (error) {
    llvm::errs() << llvm::toString(std::move(error)) << "\n";
    std::exit(1);
  }
}

/// `argv`: the model file, then `--NAME VALUE` pairs, each NAME a key of
/// `defaults` (its value when not given). Exits with `usage` on anything else.
inline std::map<std::string, long long> parseOptions(int argc, char **argv, std::map<std::string, long long> defaults,
                                                     const char *usage) {
  bool ok = argc >= 2 && argc % 2 == 0;
  for (int i = 2; ok && i + 1 < argc; i += 2) {
    std::string name = argv[i];
    auto option = name.rfind("--", 0) == 0 ? defaults.find(name.substr(2)) : defaults.end();
    char *end = nullptr;
    long long value = std::strtoll(argv[i + 1], &end, 10);
    ok = option != defaults.end() && end != argv[i + 1] && *end == '\0' && value >= 0;
    if (ok)
      option->second = value;
  }
  if (!ok) {
    std::fprintf(stderr, "usage: %s %s\n", argv[0], usage);
    std::exit(2);
  }
  return defaults;
}

/// A compiled model and a training session of it.
struct Host {
  std::unique_ptr<kiln::Jit> jit;
  std::unique_ptr<kiln::TrainingSession> session;
};

/// Compiles the .kiln file at `path` (saying how long it took) and opens a
/// training session of its model `model`, seeded with `seed`.
inline Host openSession(const char *path, const char *model, unsigned seed) {
  auto start = std::chrono::steady_clock::now();
  Host host;
  host.jit = orExit(kiln::Jit::compileFile(path));
  std::printf("compiled %s in %.2f s\n", path,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  kiln::TrainingOptions options;
  options.seed = seed;
  host.session = orExit(kiln::TrainingSession::create(*host.jit, model, options));
  return host;
}

/// A batch of one state, as predict takes it.
inline kiln::Tensor stateTensor(const State &state) {
  kiln::Tensor tensor(kiln::ElementType::F32, {1, 4});
  for (int i = 0; i < 4; ++i)
    tensor.f32()[i] = state[i];
  return tensor;
}

/// The index of the largest of the first output's two values (the first on ties).
inline int greedyAction(const kiln::TrainingSession &session, const State &state) {
  kiln::Tensor input = stateTensor(state);
  std::vector<kiln::Tensor> out = orExit(session.predict({&input}));
  return out[0].f32()[1] > out[0].f32()[0] ? 1 : 0;
}

/// The mean return of `episodes` greedy episodes on environments seeded
/// from `seed` (none of them seen in training).
inline double greedyMeanReturn(const kiln::TrainingSession &session, int episodes, unsigned seed) {
  double total = 0;
  for (int e = 0; e < episodes; ++e) {
    CartPole env(seed + unsigned(e));
    State state = env.reset();
    for (;;) {
      CartPole::Step step = env.step(greedyAction(session, state));
      total += step.reward;
      state = step.state;
      if (step.terminated || step.truncated)
        break;
    }
  }
  return total / episodes;
}

} // namespace cartpole

#endif // KILN_EXAMPLES_RL_COMMON_H
