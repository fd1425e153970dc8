#!/usr/bin/python3
"""DQN on CartPole: Kiln's examples/rl/dqn.cpp (a C++ host on the JIT's
training session) against the same method written for PyTorch at its best,
side by side in one run, on one core.

What: the first STEPS environment steps of DQN with the same network
(4 -> 64 relu -> 64 relu -> 2), loss (Huber on TD targets), optimizer (Adam,
lr 5e-4, epsilon 1e-7), replay buffer (50,000, batch 64, training from 1,000
stored transitions on), epsilon schedule, target-network period (500) and
evaluation (10 greedy episodes every 10 episodes) as dqn.cpp, on Gym's
CartPole-v1 equations (examples/rl/CartPole.h; here in Python for the peer,
as a PyTorch user would write it). Reported: microseconds per environment
step (acting, one training step, the target network's predictions; the
evaluations included), compile or import time excluded on both sides.

How: Kiln as shipped: examples/rl built against the build tree's installed
KilnJit, `taskset -c 0` and KILN_NUM_THREADS unset (the JIT uses every CPU
of its affinity mask: one). PyTorch: torch.set_num_threads(1), OpenBLAS
tuned for the CPU and the malloc settings (bench/peer.py), `taskset -c 0`.
Rounds alternate; medians are reported.

Command (from the repository root; a few minutes):
  /usr/bin/python3 bench/dqn_vs_torch.py [--steps 20000] [--rounds 3] [--build build]
"""
import argparse
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import peer  # noqa: E402


class CartPole:
    """Gym's CartPole-v1, as examples/rl/CartPole.h."""

    def __init__(self, seed):
        self.random = random.Random(seed)

    def reset(self):
        self.state = [self.random.uniform(-0.05, 0.05) for _ in range(4)]
        self.steps = 0
        return list(self.state)

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = 10.0 if action == 1 else -10.0
        cos, sin = math.cos(theta), math.sin(theta)
        temp = (force + 0.05 * theta_dot * theta_dot * sin) / 1.1
        theta_acc = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos * cos / 1.1))
        x_acc = temp - 0.05 * theta_acc * cos / 1.1
        x, x_dot = x + 0.02 * x_dot, x_dot + 0.02 * x_acc
        theta, theta_dot = theta + 0.02 * theta_dot, theta_dot + 0.02 * theta_acc
        self.state = [x, x_dot, theta, theta_dot]
        self.steps += 1
        terminated = abs(x) > 2.4 or abs(theta) > 12 * 2 * math.pi / 360
        return list(self.state), 1.0, terminated, not terminated and self.steps >= 500


def torch_child(steps):
    """PyTorch child: microseconds per environment step of `steps` DQN steps."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 2))
    target = torch.nn.Sequential(*[type(m)(*([m.in_features, m.out_features] if isinstance(m, torch.nn.Linear) else []))
                                   for m in net])
    target.load_state_dict(net.state_dict())
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-4, eps=1e-7)
    rng = random.Random(0)
    # The replay buffer as preallocated arrays and the batch gathered by
    # index (no per-transition Python objects): the fast way to write it.
    capacity, position, size = 50000, 0, 0
    states = np.zeros((capacity, 4), np.float32)
    nexts = np.zeros((capacity, 4), np.float32)
    actions = np.zeros(capacity, np.int64)
    rewards = np.zeros(capacity, np.float32)
    terminals = np.zeros(capacity, np.float32)
    picker = np.random.default_rng(0)

    def greedy(state):
        with torch.no_grad():
            return int(net(torch.tensor([state])).argmax(1))

    env = CartPole(1000003)
    done_steps, episode = 0, 0
    start = time.perf_counter()
    while done_steps < steps:
        episode += 1
        state = env.reset()
        while True:
            epsilon = max(0.02, 1.0 - 0.98 * done_steps / 10000)
            action = rng.randrange(2) if rng.random() < epsilon else greedy(state)
            nxt, reward, terminated, truncated = env.step(action)
            states[position], actions[position], rewards[position] = state, action, reward
            nexts[position], terminals[position] = nxt, float(terminated)
            position = (position + 1) % capacity
            size = min(size + 1, capacity)
            state = nxt
            done_steps += 1
            if size >= 1000:
                index = picker.integers(0, size, 64)
                s, n = torch.from_numpy(states[index]), torch.from_numpy(nexts[index])
                a, r = torch.from_numpy(actions[index]), torch.from_numpy(rewards[index])
                d = torch.from_numpy(terminals[index])
                with torch.no_grad():
                    y = r + (1 - d) * 0.99 * target(n).max(1).values
                q = net(s).gather(1, a[:, None])[:, 0]
                loss = F.huber_loss(q, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if done_steps % 500 == 0:
                target.load_state_dict(net.state_dict())
            if terminated or truncated or done_steps >= steps:
                break
        if episode % 10 == 0 and size >= 1000:
            for e in range(10):
                evaluation = CartPole(7919 * episode + e)
                state = evaluation.reset()
                while True:
                    state, _, terminated, truncated = evaluation.step(greedy(state))
                    if terminated or truncated:
                        break
    seconds = time.perf_counter() - start
    print(f"RESULT {1e6 * seconds / done_steps} {torch.__version__}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--torch-child":
        return torch_child(int(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    peer.ensure_openblas()
    with tempfile.TemporaryDirectory() as tmp:
        peak = peer.measure_peak(tmp)
        print(f"fp32 FMA peak of one core: {peak:.1f} GFLOP/s", flush=True)
        prefix, build = os.path.join(tmp, "prefix"), os.path.join(tmp, "build")
        peer.run(["cmake", "--install", args.build, "--prefix", prefix, "--component", "KilnJit"], peer.kiln_env(), 300)
        peer.run(["cmake", "-G", "Ninja", "-S", os.path.join(ROOT, "examples", "rl"), "-B", build,
                  f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_CXX_COMPILER=clang++-22"], peer.kiln_env(), 300)
        peer.run(["cmake", "--build", build], peer.kiln_env(), 600)
        kiln_us, torch_us = [], []
        for _ in range(args.rounds):
            out = peer.run(["taskset", "-c", "0", os.path.join(build, "cartpole-dqn"),
                            os.path.join(ROOT, "examples", "rl", "dqn.kiln"), "--steps", str(args.steps)],
                           peer.kiln_env(), 1200)
            kiln_us.append(float(re.search(r"\(([0-9.]+) us per step", out).group(1)))
            out = peer.run(["taskset", "-c", "0", sys.executable, os.path.abspath(__file__), "--torch-child",
                            str(args.steps)], peer.torch_env(1), 1200)
            value, version = peer._result(out)
            torch_us.append(value)
        kiln, torch = statistics.median(kiln_us), statistics.median(torch_us)
        print(f"PyTorch {version}, OPENBLAS_CORETYPE={peer.torch_env(1).get('OPENBLAS_CORETYPE', '(unset)')}")
        print(f"DQN on CartPole, first {args.steps} environment steps, one core, us per step (median of "
              f"{args.rounds}): Kiln {kiln:.1f}, PyTorch {torch:.1f}: Kiln is {torch / kiln:.1f}x PyTorch's speed")


if __name__ == "__main__":
    main()
