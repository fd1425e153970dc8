//===- Common.h - What the CartPole hosts share ------------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Compiling a model into a training session, acting greedily, and the
// evaluation both hosts end with: the mean return of 100 greedy episodes,
// the number CartPole-v1's solved threshold (475) is about.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXAMPLES_RL_COMMON_H
#define KILN_EXAMPLES_RL_COMMON_H

#include "CartPole.h"

#include "kiln/Jit.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

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
