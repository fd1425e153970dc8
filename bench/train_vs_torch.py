#!/usr/bin/python3
"""Training throughput and time to the first step: Kiln's FashionCnn binary
against the same CNN and optimizer (Adam, lr 0.001) in PyTorch.

Both sides run as separate processes started by this script, on the same
Fashion-MNIST training images, with the same batch size. The Kiln side is
the standalone binary (`kilnc examples/fashion_cnn.kiln --emit=exe`, always
one thread for now); the PyTorch side runs with 1 and with 2 threads
(torch.set_num_threads). Time to the first step is measured by this script
from the process's start to the moment the process reports that its first
step has finished (Kiln's progress bar line `1/...`; the PyTorch child
prints a line), so it includes loading libraries, compiling nothing (Kiln
is ahead-of-time) and reading the data. PyTorch's throughput counts the steps
after the first; Kiln's is its epoch average (first step included, which
favours PyTorch slightly).

Usage: bench/train_vs_torch.py [--kilnc build/bin/kilnc] [--batches 32,128] [--steps 12] [--rounds 3]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"

TORCH_CHILD = r'''
import gzip, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
batch, steps, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
with gzip.open(sys.argv[4], "rb") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[: batch * steps]
with gzip.open(sys.argv[5], "rb") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)[: batch * steps]
x = torch.from_numpy(images.astype(np.float32) / 255.0)
y = torch.from_numpy(labels.astype(np.int64))
model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.Flatten(),
                      nn.Linear(18432, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
start = None
for step in range(steps):
    xb, yb = x[step * batch:(step + 1) * batch], y[step * batch:(step + 1) * batch]
    opt.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    if step == 0:
        print("first step", flush=True)
        start = time.perf_counter()
elapsed = time.perf_counter() - start
print(f"images/s {batch * (steps - 1) / elapsed:.1f}", flush=True)
'''


def run(command):
    """Runs `command`; returns (seconds to the first step, images/s after it)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0)
    first = None
    output = b""
    while True:
        chunk = process.stdout.read(1)
        if not chunk:
            break
        output += chunk
        if first is None and (re.search(rb"\s1/\d+ \[", output) or b"first step" in output):
            first = time.perf_counter() - start
    process.wait()
    text = output.decode(errors="replace")
    if process.returncode != 0 or first is None:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{text}")
    match = re.search(r"images/s ([0-9.]+)", text) or re.findall(r"([0-9.]+) img/s", text)
    rate = float(match.group(1)) if hasattr(match, "group") else float(match[-1])
    return first, rate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kilnc", default=os.path.join(ROOT, "build", "bin", "kilnc"))
    parser.add_argument("--batches", default="32,128")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="kiln-train-bench-")
    binary = os.path.join(work, "FashionCnn")
    subprocess.run([args.kilnc, os.path.join(ROOT, "examples", "fashion_cnn.kiln"), "--emit=exe", "-o", binary],
                   check=True)
    images = os.path.join(DATA, "train-images-idx3-ubyte.gz")
    labels = os.path.join(DATA, "train-labels-idx1-ubyte.gz")
    print(f"{'batch':>5} {'side':<16} {'first step (s)':>14} {'images/s':>9} {'Kiln/PyTorch':>12}")
    for batch in [int(b) for b in args.batches.split(",")]:
        results = {"kiln 1 thread": [], "pytorch 1 thread": [], "pytorch 2 threads": []}
        for _ in range(args.rounds):  # interleaved rounds: the machine is shared and noisy
            results["kiln 1 thread"].append(run([binary, "train", "--data", DATA, "--epochs", "1", "--batch",
                                                 str(batch), "--limit", str(batch * args.steps)]))
            for threads in (1, 2):
                key = f"pytorch {threads} thread{'s' if threads > 1 else ''}"
                results[key].append(run(["/usr/bin/python3", "-c", TORCH_CHILD, str(batch), str(args.steps),
                                         str(threads), images, labels]))
        kiln_rate = statistics.median(r for _, r in results["kiln 1 thread"])
        for side, values in results.items():
            first = statistics.median(f for f, _ in values)
            rate = statistics.median(r for _, r in values)
            ratio = "" if side.startswith("kiln") else f"{kiln_rate / rate:12.2f}"
            print(f"{batch:>5} {side:<16} {first:>14.2f} {rate:>9.1f} {ratio}")


if __name__ == "__main__":
    main()
