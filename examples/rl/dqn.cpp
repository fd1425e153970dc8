//===- dqn.cpp - Deep Q-learning on CartPole, through the JIT -------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// usage: cartpole-dqn dqn.kiln [--steps S] [--seed S]
//
// DQN (Mnih et al., 2015) with kiln::TrainingSession: epsilon-greedy acting
// with the online network (epsilon from 1 to 0.02 over the first 10,000
// steps), a replay buffer of 50,000 transitions, one training step on 64
// sampled transitions per environment step once 1,000 are stored, and TD
// targets r + 0.99 max_a' Q(s', a') from a target network: a copy of the
// parameters (getParams), refreshed every 500 steps, used with
// predictWith. An episode cut at 500 steps is not terminal: its target
// still bootstraps. Every 10 episodes it plays 10 greedy episodes; when
// they all reach 500 it keeps those parameters and stops. At the end it
// reports the mean return of 100 greedy episodes with the kept parameters,
// on environments not used in training (CartPole-v1 is solved at 475).
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

using namespace cartpole;

namespace {
struct Transition {
  State state;
  int action;
  float reward;
  State next;
  bool terminal;
};
} // namespace

int main(int argc, char **argv) {
  std::map<std::string, long long> options =
      parseOptions(argc, argv, {{"steps", 150000}, {"seed", 0}}, "dqn.kiln [--steps S] [--seed S]");
  const int64_t maxSteps = options["steps"];
  const unsigned seed = unsigned(options["seed"]);
  Host host = openSession(argv[1], "CartPoleDqn", seed);
  kiln::TrainingSession *session = host.session.get();
  auto start = std::chrono::steady_clock::now();

  const size_t capacity = 50000, batch = 64, warmup = 1000;
  const int64_t targetEvery = 500, epsilonSteps = 10000;
  const float gamma = 0.99f;
  std::vector<Transition> replay;
  replay.reserve(capacity);
  size_t next = 0;
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<kiln::Tensor> target = session->getParams();
  kiln::Tensor states(kiln::ElementType::F32, {int64_t(batch), 4}),
      nextStates(kiln::ElementType::F32, {int64_t(batch), 4});
  kiln::Tensor actions(kiln::ElementType::I32, {int64_t(batch)}), targets(kiln::ElementType::F32, {int64_t(batch)});
  std::vector<Transition *> sample(batch);

  CartPole env(seed + 1000003u);
  std::vector<kiln::Tensor> kept;
  int keptAt = -1;
  int64_t steps = 0;
  for (int episode = 1; steps < maxSteps; ++episode) {
    State state = env.reset();
    double episodeReturn = 0;
    for (;;) {
      float epsilon = std::max(0.02f, 1.0f - 0.98f * float(steps) / float(epsilonSteps));
      int action = uniform(random) < epsilon ? int(random() % 2) : greedyAction(*session, state);
      CartPole::Step step = env.step(action);
      Transition transition{state, action, step.reward, step.state, step.terminated};
      if (replay.size() < capacity)
        replay.push_back(transition);
      else
        replay[next] = transition;
      next = (next + 1) % capacity;
      state = step.state;
      episodeReturn += step.reward;
      ++steps;

      if (replay.size() >= warmup) {
        for (size_t i = 0; i < batch; ++i) {
          sample[i] = &replay[random() % replay.size()];
          for (int k = 0; k < 4; ++k) {
            states.f32()[i * 4 + k] = sample[i]->state[k];
            nextStates.f32()[i * 4 + k] = sample[i]->next[k];
          }
          actions.i32()[i] = sample[i]->action;
        }
        std::vector<kiln::Tensor> q = orExit(session->predictWith(target, {&nextStates}));
        for (size_t i = 0; i < batch; ++i) {
          float best = std::max(q[0].f32()[i * 2], q[0].f32()[i * 2 + 1]);
          targets.f32()[i] = sample[i]->reward + (sample[i]->terminal ? 0.0f : gamma * best);
        }
        orExit(session->step({&states, &actions, &targets}));
      }
      if (steps % targetEvery == 0)
        target = session->getParams();
      if (step.terminated || step.truncated)
        break;
    }
    if (episode % 10 == 0 && replay.size() >= warmup) {
      double greedy = greedyMeanReturn(*session, 10, seed + 7919u * unsigned(episode));
      std::printf("episode %d, step %lld: return %.0f, greedy mean %.1f (10 episodes)\n", episode, (long long)steps,
                  episodeReturn, greedy);
      std::fflush(stdout);
      if (greedy >= CartPole::kMaxSteps) {
        kept = session->getParams();
        keptAt = episode;
        break;
      }
    }
  }
  double trainSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("trained: %lld environment steps in %.2f s (%.1f us per step, evaluations included)\n", (long long)steps,
              trainSeconds, 1e6 * trainSeconds / double(steps));
  if (keptAt > 0)
    orExit(session->setParams(kept));
  double result = greedyMeanReturn(*session, 100, 424242u + seed);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("greedy mean return over 100 episodes: %.1f (%s; CartPole-v1 is solved at %.0f) after %lld steps, "
              "%.1f s\n",
              result, keptAt > 0 ? ("parameters of episode " + std::to_string(keptAt)).c_str() : "last parameters",
              CartPole::kSolvedReturn, (long long)steps, seconds);
  return 0;
}
