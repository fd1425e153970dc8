#!/usr/bin/python3
"""Semi-supervised learning by pseudo-labelling, driving a model binary.

usage: pseudo_label.py MODEL_BINARY WORKDIR [--unlabelled U] [--epochs E] [--retrain-epochs R] [--seed S]

MODEL_BINARY is examples/fashion_cnn.kiln compiled with `kilnc --emit=exe`.
From Fashion-MNIST's training set (a permutation seeded 0): 1,000 labelled
images, and U unlabelled ones (their labels are never used for training,
only to report how good the pseudo-labels were). Then:
  1. train on the 1,000 labelled images alone (E epochs, batch 32);
  2. predict the unlabelled images with that model; keep those whose top
     class probability is at least 0.95, labelled with that class;
  3. train a fresh model (same seed S, default 0) on the labelled and the
     pseudo-labelled images together (R epochs, batch 32);
and report both models' accuracy on the 10,000 test images, computed here
from `predict`'s probabilities. Prints `baseline ACC` and `pseudo-labelled
ACC` lines (docs/examples.md).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "runtime", "Inputs"))
from kiln_ref import FASHION_MNIST, fashion_images, read_idx, write_image_split  # noqa: E402

CONFIDENCE = 0.95


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("work")
    parser.add_argument("--unlabelled", type=int, default=59000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--retrain-epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = args.work
    os.makedirs(work, exist_ok=True)

    def run(*command):
        subprocess.run([args.binary, *command], check=True, stdout=subprocess.DEVNULL)

    def probabilities(weights, inputs):
        out = os.path.join(work, "probs.npy")
        run("predict", "--input", inputs, "--weights", weights, "--output", out, "--show", "0")
        return np.load(out)

    train_x = fashion_images(read_idx(os.path.join(FASHION_MNIST, "train-images-idx3-ubyte.gz")))
    train_y = read_idx(os.path.join(FASHION_MNIST, "train-labels-idx1-ubyte.gz"))
    test_y = read_idx(os.path.join(FASHION_MNIST, "t10k-labels-idx1-ubyte.gz"))
    test_inputs = os.path.join(work, "test.npy")
    np.save(test_inputs, fashion_images(read_idx(os.path.join(FASHION_MNIST, "t10k-images-idx3-ubyte.gz"))))
    order = np.random.default_rng(0).permutation(len(train_x))
    labelled, unlabelled = order[:1000], order[1000:1000 + args.unlabelled]
    write_image_split(os.path.join(work, "labelled"), train_x[labelled], train_y[labelled])
    unlabelled_inputs = os.path.join(work, "unlabelled.npy")
    np.save(unlabelled_inputs, train_x[unlabelled])

    baseline = os.path.join(work, "baseline.safetensors")
    run("train", "--data", os.path.join(work, "labelled"), "--epochs", str(args.epochs), "--batch", "32", "--seed",
        str(args.seed), "--save", baseline, "--quiet")
    baseline_accuracy = (probabilities(baseline, test_inputs).argmax(1) == test_y).mean()
    print(f"baseline {baseline_accuracy:.4f} (1000 labelled images, {args.epochs} epochs)")

    p = probabilities(baseline, unlabelled_inputs)
    confident = p.max(1) >= CONFIDENCE
    pseudo = p.argmax(1)[confident]
    right = (pseudo == train_y[unlabelled][confident]).mean()
    print(f"pseudo-labels: {confident.sum()} of {len(unlabelled)} unlabelled images at confidence >= {CONFIDENCE} "
          f"({100 * right:.1f}% of them right)")
    write_image_split(os.path.join(work, "combined"), np.concatenate([train_x[labelled], train_x[unlabelled][confident]]),
                np.concatenate([train_y[labelled], pseudo]))
    retrained = os.path.join(work, "pseudo.safetensors")
    run("train", "--data", os.path.join(work, "combined"), "--epochs", str(args.retrain_epochs), "--batch", "32",
        "--seed", str(args.seed), "--save", retrained, "--quiet")
    accuracy = (probabilities(retrained, test_inputs).argmax(1) == test_y).mean()
    print(f"pseudo-labelled {accuracy:.4f} ({1000 + confident.sum()} images, {args.retrain_epochs} epochs)")
    print(f"change {100 * (accuracy - baseline_accuracy):+.2f} points")


if __name__ == "__main__":
    main()
