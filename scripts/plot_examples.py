#!/usr/bin/python3
"""Learning curves of the worked examples (docs/examples.md), as PNG files.

usage: plot_examples.py OUT_DIR [--reinforce LOG] [--dqn LOG] [--kmeans LOG --kmeans-reference INERTIA]

Each LOG is what the example printed:
  --reinforce  cartpole-reinforce's output ("iteration I: ... greedy ...");
  --dqn        cartpole-dqn's output ("episode E, step S: ... greedy mean ...");
  --kmeans     KMeans `train --quiet` output ("Epoch i/n - ... loss: L"),
               plotted as inertia (loss x 1797) against scikit-learn's.
Uses Debian's python3-matplotlib (Agg backend: no display needed).
"""
import argparse
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"wrote {path}")


def cartpole(log, pattern, xlabel, title, path):
    points = [(float(x), float(y)) for x, y in re.findall(pattern, open(log).read())]
    final = re.search(r"greedy mean return over 100 episodes: ([0-9.]+)", open(log).read())
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label="greedy, 10 episodes")
    axis.axhline(475, color="gray", linestyle="--", label="solved (475)")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("mean return")
    axis.set_ylim(0, 520)
    axis.set_title(title + (f" (final: {float(final.group(1)):.0f} over 100 episodes)" if final else ""))
    axis.legend(loc="lower right")
    save(figure, path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--reinforce")
    parser.add_argument("--dqn")
    parser.add_argument("--kmeans")
    parser.add_argument("--kmeans-reference", type=float)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.reinforce:
        cartpole(args.reinforce, r"iteration (\d+): .*?, ([0-9.]+) \(greedy", "iteration (4 episodes each)",
                 "REINFORCE with baseline, CartPole-v1", os.path.join(args.out, "cartpole-reinforce.png"))
    if args.dqn:
        cartpole(args.dqn, r"episode \d+, step (\d+): .*greedy mean ([0-9.]+)", "environment steps",
                 "DQN, CartPole-v1", os.path.join(args.out, "cartpole-dqn.png"))
    if args.kmeans:
        losses = [float(x) for x in re.findall(r"^Epoch \d+/\d+ .* loss: ([0-9.]+)", open(args.kmeans).read(), re.M)]
        figure, axis = plt.subplots(figsize=(6, 3.5))
        axis.plot(range(1, len(losses) + 1), [1797 * loss for loss in losses], label="Kiln (Adam, full batch)")
        if args.kmeans_reference:
            axis.axhline(args.kmeans_reference, color="gray", linestyle="--", label="scikit-learn KMeans")
        axis.set_xlabel("step")
        axis.set_ylabel("inertia (before the step)")
        axis.set_yscale("log")
        axis.set_title("k-means on scikit-learn's digits")
        axis.legend()
        save(figure, os.path.join(args.out, "kmeans.png"))


if __name__ == "__main__":
    main()
