//===- reinforce.cpp - REINFORCE with a baseline on CartPole, through the JIT ===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// usage: cartpole-reinforce reinforce.kiln [--iterations I] [--seed S]
//
// Trains reinforce.kiln's policy with kiln::TrainingSession: each iteration
// plays a few episodes, sampling actions from the policy's probabilities,
// computes every step's discounted return G_t = sum_k gamma^k r_{t+k}
// (gamma 0.99), and takes one training step on all of the iteration's
// steps (the loss in reinforce.kiln). Every 10 iterations it plays 10 greedy
// episodes; when they all reach 500 it keeps those parameters (the policy
// can still drift afterwards). At the end it reports the mean return of 100
// greedy episodes with the kept parameters, on environments not used in
// training: CartPole-v1 is solved at 475 (docs/examples.md).
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include <chrono>
#include <random>
#include <string>
#include <vector>

using namespace cartpole;

int main(int argc, char **argv) {
  std::map<std::string, long long> options =
      parseOptions(argc, argv, {{"iterations", 300}, {"seed", 0}}, "reinforce.kiln [--iterations I] [--seed S]");
  const int iterations = int(options["iterations"]);
  const unsigned seed = unsigned(options["seed"]);
  Host host = openSession(argv[1], "CartPoleReinforce", seed);
  kiln::TrainingSession *session = host.session.get();
  auto start = std::chrono::steady_clock::now();

  const int episodesPerIteration = 4;
  const double gamma = 0.99;
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  CartPole env(seed + 1000003u);
  std::vector<kiln::Tensor> kept;
  double keptAt = -1;
  for (int iteration = 1; iteration <= iterations; ++iteration) {
    std::vector<State> states;
    std::vector<int> actions;
    std::vector<float> returns;
    double total = 0;
    for (int e = 0; e < episodesPerIteration; ++e) {
      State state = env.reset();
      std::vector<float> rewards;
      for (;;) {
        kiln::Tensor input = stateTensor(state);
        std::vector<kiln::Tensor> out = orExit(session->predict({&input}));
        int action = uniform(random) < out[0].f32()[1] ? 1 : 0;
        CartPole::Step step = env.step(action);
        states.push_back(state);
        actions.push_back(action);
        rewards.push_back(step.reward);
        state = step.state;
        if (step.terminated || step.truncated)
          break;
      }
      // A truncated episode's return is cut at 500: its last steps look
      // worth less than they are, which the greedy policy survives.
      std::vector<float> episodeReturns(rewards.size());
      double g = 0;
      for (size_t t = rewards.size(); t-- > 0;)
        episodeReturns[t] = float(g = rewards[t] + gamma * g);
      returns.insert(returns.end(), episodeReturns.begin(), episodeReturns.end());
      total += double(rewards.size());
    }
    int64_t n = int64_t(states.size());
    kiln::Tensor stateBatch(kiln::ElementType::F32, {n, 4}), actionBatch(kiln::ElementType::I32, {n}),
        returnBatch(kiln::ElementType::F32, {n});
    for (int64_t i = 0; i < n; ++i) {
      for (int k = 0; k < 4; ++k)
        stateBatch.f32()[i * 4 + k] = states[i][k];
      actionBatch.i32()[i] = actions[i];
      returnBatch.f32()[i] = returns[i];
    }
    orExit(session->step({&stateBatch, &actionBatch, &returnBatch}));
    if (iteration % 10 == 0) {
      double greedy = greedyMeanReturn(*session, 10, seed + 7919u * unsigned(iteration));
      std::printf("iteration %d: mean return %.1f (sampled), %.1f (greedy, 10 episodes)\n", iteration,
                  total / episodesPerIteration, greedy);
      std::fflush(stdout);
      if (greedy >= CartPole::kMaxSteps && keptAt < 0) {
        kept = session->getParams();
        keptAt = iteration;
        break;
      }
    }
  }
  if (keptAt > 0)
    orExit(session->setParams(kept));
  double result = greedyMeanReturn(*session, 100, 424242u + seed);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("greedy mean return over 100 episodes: %.1f (%s; CartPole-v1 is solved at %.0f) after %.1f s\n", result,
              keptAt > 0 ? ("parameters of iteration " + std::to_string(int(keptAt))).c_str() : "last parameters",
              CartPole::kSolvedReturn, seconds);
  return 0;
}
