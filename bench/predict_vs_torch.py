#!/usr/bin/python3
"""Prediction throughput: Kiln's compiled FashionCnn against the same CNN in PyTorch.

Runs kiln-bench-predict (the model compiled by kiln::Jit) and the same network
in PyTorch (Debian's python3-torch, oneDNN), both on one thread, on the same
weights and the same Fashion-MNIST test images (random images of the same
shape if the dataset is not installed). First checks that both compute the
same probabilities (relative error < 1e-5) at every batch size, then times
`predict` in interleaved rounds (the machine is shared and noisy) and prints
the median images/s of each and the ratio Kiln / PyTorch.

Usage: bench/predict_vs_torch.py [--kiln-bench build/bin/kiln-bench-predict]
           [--batches 1,256] [--rounds 5] [--reps 20]
"""
import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
# FashionCnn's parameters in declaration order (examples/fashion_cnn.kiln).
PARAM_SHAPES = [(3, 3, 1, 32), (32,), (3, 3, 32, 32), (32,), (18432, 64), (64,), (64, 10), (10,)]


def load_images(count, rng):
    """`count` images as float32 NHWC in [0, 1], and where they came from."""
    if os.path.exists(IMAGES):
        with gzip.open(IMAGES, "rb") as f:
            data = f.read()
        pixels = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 28, 28, 1)[:count]
        return pixels.astype(np.float32) / 255.0, IMAGES
    return rng.random((count, 28, 28, 1), dtype=np.float32), "random"


def torch_predict(params, x_nchw):
    """FashionCnn's predict in PyTorch: the probabilities."""
    k0, b0, k1, b1, d0, c0, d1, c1 = params
    h = F.relu(F.conv2d(x_nchw, k0, b0))
    h = F.relu(F.conv2d(h, k1, b1))
    h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # flatten in NHWC order, as Kiln
    h = F.relu(h @ d0 + c0)
    return torch.softmax(h @ d1 + c1, dim=1)


def torch_params(arrays):
    k0, b0, k1, b1, d0, c0, d1, c1 = (torch.from_numpy(a) for a in arrays)
    # HWCF -> FCHW for conv2d, made contiguous once (outside the timing).
    return [k0.permute(3, 2, 0, 1).contiguous(), b0, k1.permute(3, 2, 0, 1).contiguous(), b1, d0, c0, d1, c1]


def run_kiln(bench, model, batches, reps, params_path, input_path, dump=None):
    cmd = [bench, model, "--batch", ",".join(map(str, batches)), "--reps", str(reps),
           "--params", params_path, "--input", input_path]
    if dump:
        cmd += ["--dump-output", dump]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    rates = {}
    for line in out.stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split()[1:])
        if "batch" in fields:
            rates[int(fields["batch"])] = float(fields["images_per_s"])
    return rates


def time_torch(params, x, reps):
    with torch.inference_mode():
        torch_predict(params, x)  # warm-up
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            torch_predict(params, x)
            times.append(time.perf_counter() - start)
    return x.shape[0] / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiln-bench", default=os.path.join(ROOT, "build", "bin", "kiln-bench-predict"))
    parser.add_argument("--model", default=os.path.join(ROOT, "examples", "fashion_cnn.kiln"))
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    torch.set_num_threads(1)
    rng = np.random.default_rng(1234)
    arrays = [(rng.standard_normal(s) * 0.05).astype(np.float32) for s in PARAM_SHAPES]
    params = torch_params(arrays)
    images, source = load_images(max(batches + [128]), rng)

    with tempfile.TemporaryDirectory() as tmp:
        params_path = os.path.join(tmp, "params.f32")
        input_path = os.path.join(tmp, "images.f32")
        np.concatenate([a.ravel() for a in arrays]).tofile(params_path)
        images.tofile(input_path)

        # Same numbers first, at the timed batch sizes and at odd ones.
        for batch in sorted(set(batches + [1, 3, 128])):
            dump = os.path.join(tmp, f"probs{batch}.f32")
            run_kiln(args.kiln_bench, args.model, [batch], 1, params_path, input_path, dump)
            got = np.fromfile(dump, dtype=np.float32).reshape(batch, 10)
            x = torch.from_numpy(np.resize(images, (batch, 28, 28, 1))).permute(0, 3, 1, 2).contiguous()
            with torch.inference_mode():
                want = torch_predict(params, x).numpy()
            error = np.linalg.norm(got - want) / np.linalg.norm(want)
            if not error < 1e-5:
                sys.exit(f"batch {batch}: Kiln and PyTorch differ (relative error {error:.2e})")
            print(f"check batch={batch}: relative error {error:.1e}")

        kiln_rates = {b: [] for b in batches}
        torch_rates = {b: [] for b in batches}
        inputs = {b: torch.from_numpy(np.resize(images, (b, 28, 28, 1))).permute(0, 3, 1, 2).contiguous()
                  for b in batches}
        for round_index in range(args.rounds):
            for batch, rate in run_kiln(args.kiln_bench, args.model, batches, args.reps,
                                        params_path, input_path).items():
                kiln_rates[batch].append(rate)
            for batch in batches:
                torch_rates[batch].append(time_torch(params, inputs[batch], args.reps))
            print(f"round {round_index + 1}: " + ", ".join(
                f"batch {b}: kiln {kiln_rates[b][-1]:.0f}, torch {torch_rates[b][-1]:.0f}" for b in batches))

    print(f"\nFashionCnn predict, 1 thread, images from {source}, "
          f"median of {args.rounds} rounds x {args.reps} calls (images/s)")
    print(f"{'batch':>6} {'Kiln':>10} {'PyTorch':>10} {'Kiln/PyTorch':>13}")
    for batch in batches:
        k = statistics.median(kiln_rates[batch])
        t = statistics.median(torch_rates[batch])
        print(f"{batch:>6} {k:>10.0f} {t:>10.0f} {k / t:>13.2f}")


if __name__ == "__main__":
    main()
