//===- CartPole.h - Gym's CartPole-v1, in C++ -------------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The classic cart-pole system as OpenAI Gym's CartPole-v1 defines it
// (gym/envs/classic_control/cartpole.py, after Barto, Sutton and Anderson,
// 1983): the same constants, Euler integration with tau = 0.02 s, a start
// state drawn uniformly from [-0.05, 0.05]^4, reward 1 for every step
// (the last one included), termination when |x| > 2.4 or |theta| > 12
// degrees, and truncation after 500 steps. A return of 500 is the most an
// episode can earn; v1 counts as solved at a mean return of 475.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXAMPLES_RL_CARTPOLE_H
#define KILN_EXAMPLES_RL_CARTPOLE_H

#include <array>
#include <cmath>
#include <random>

namespace cartpole {

/// x, x_dot, theta, theta_dot: the policy's observation.
using State = std::array<float, 4>;

class CartPole {
public:
  static constexpr int kMaxSteps = 500;
  static constexpr double kSolvedReturn = 475;

  explicit CartPole(unsigned seed) : random_(seed) {}

  State reset() {
    std::uniform_real_distribution<double> start(-0.05, 0.05);
    for (double &value : state_)
      value = start(random_);
    steps_ = 0;
    return observation();
  }

  struct Step {
    State state;
    float reward;
    bool terminated; ///< the pole fell or the cart left the track
    bool truncated;  ///< 500 steps reached
  };

  /// Pushes the cart left (action 0) or right (action 1) for one step.
  Step step(int action) {
    const double gravity = 9.8, massCart = 1.0, massPole = 0.1, totalMass = massPole + massCart;
    const double halfLength = 0.5, poleMassLength = massPole * halfLength, forceMag = 10.0, tau = 0.02;
    const double thetaLimit = 12 * 2 * M_PI / 360, xLimit = 2.4;
    auto &[x, xDot, theta, thetaDot] = state_;
    double force = action == 1 ? forceMag : -forceMag;
    double cosTheta = std::cos(theta), sinTheta = std::sin(theta);
    double temp = (force + poleMassLength * thetaDot * thetaDot * sinTheta) / totalMass;
    double thetaAcc = (gravity * sinTheta - cosTheta * temp) /
                      (halfLength * (4.0 / 3.0 - massPole * cosTheta * cosTheta / totalMass));
    double xAcc = temp - poleMassLength * thetaAcc * cosTheta / totalMass;
    x += tau * xDot;
    xDot += tau * xAcc;
    theta += tau * thetaDot;
    thetaDot += tau * thetaAcc;
    ++steps_;
    bool terminated = x < -xLimit || x > xLimit || theta < -thetaLimit || theta > thetaLimit;
    return {observation(), 1.0f, terminated, !terminated && steps_ >= kMaxSteps};
  }

private:
  State observation() const { return {float(state_[0]), float(state_[1]), float(state_[2]), float(state_[3])}; }

  std::mt19937 random_;
  std::array<double, 4> state_{};
  int steps_ = 0;
};

} // namespace cartpole

#endif // KILN_EXAMPLES_RL_CARTPOLE_H
