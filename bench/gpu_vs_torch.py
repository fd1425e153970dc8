#!/usr/bin/env python3
"""PyTorch's side of scripts/gpu-check.sh: FashionCnn (examples/fashion_cnn.kiln) in PyTorch on a GPU.

Measures, with PyTorch's default settings (no cudnn.benchmark; float32 tensors, but
cuDNN may use TF32 in convolutions by default: the first line says):
  - training throughput at batch 128: Adam(lr=0.001, eps=1e-7) on shuffled
    Fashion-MNIST training images, each batch gathered on the host and copied
    to the device as Kiln's `train` does; N steps timed after warm-up, between
    torch.cuda.synchronize() calls;
  - predict latency per call at each --batches size, end to end like Kiln's
    `bench` (host NHWC numpy batch -> .to(device) -> network -> softmax ->
    .cpu()), median over --iters calls after warm-up, under torch.no_grad().

It prints one line per measurement, in the format gpu-check.sh parses:
  torch train batch 128: X img/s (N steps, loss L)
  torch predict batch B: M ms/call (median of N), X examples/s
The prediction network is bench/predict_vs_torch.py's (NHWC flatten, as Kiln),
imported from beside this file or from bench/.

Usage: gpu_vs_torch.py [--device cuda] [--data DIR] [--train-steps 200] [--iters 200] [--batches 256,1]
Locally, on the CPU: bench/gpu_vs_torch.py --device cpu --train-steps 3 --iters 3
"""
import argparse
import gzip
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "bench")]
from predict_vs_torch import PARAM_SHAPES, reference_predict, torch_params  # noqa: E402


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_rate(device, data, batch, steps, warmup):
    """Images/s of Adam training steps on host-gathered, shuffled batches."""
    images = read_idx(os.path.join(data, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28)
    labels = read_idx(os.path.join(data, "train-labels-idx1-ubyte.gz"), 8).astype(np.int64)
    images = images.astype(np.float32) / 255.0
    order = np.random.default_rng(0).permutation(len(images))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(18432, 64), nn.ReLU(), nn.Linear(64, 10)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    for step in range(warmup + steps):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        rows = order[(step * batch) % len(images):][:batch]
        x = torch.from_numpy(images[rows]).to(device)
        y = torch.from_numpy(labels[rows]).to(device)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    sync(device)
    return batch * steps / (time.perf_counter() - start), loss.item()


def predict_latency(device, params, images, batch, iters, warmup):
    """Median seconds of one end-to-end predict call on `batch` host images."""
    host = np.ascontiguousarray(np.resize(images, (batch, 28, 28, 1)))
    times = []
    with torch.no_grad():
        for i in range(warmup + iters):
            sync(device)
            start = time.perf_counter()
            x = torch.from_numpy(host).to(device).permute(0, 3, 1, 2)
            probs = reference_predict(params, x).cpu()  # .cpu() waits for the device
            if i >= warmup:
                times.append(time.perf_counter() - start)
    assert probs.shape == (batch, 10)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--batches", default="256,1")
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_vs_torch.py: PyTorch sees no CUDA device (use --device cpu to test on the CPU)")

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
          f"device {name}, TF32 in convolutions {torch.backends.cudnn.allow_tf32}, "
          f"in matmuls {torch.backends.cuda.matmul.allow_tf32}", flush=True)

    rate, loss = train_rate(device, args.data, args.train_batch, args.train_steps, args.warmup)
    print(f"torch train batch {args.train_batch}: {rate:.0f} img/s ({args.train_steps} steps, loss {loss:.4f})",
          flush=True)

    rng = np.random.default_rng(1234)
    params = [p.to(device) for p in torch_params([(rng.standard_normal(s) * 0.05).astype(np.float32)
                                                  for s in PARAM_SHAPES])]
    test = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28, 1)
    test = test[:1024].astype(np.float32) / 255.0
    for batch in (int(b) for b in args.batches.split(",")):
        seconds = predict_latency(device, params, test, batch, args.iters, args.warmup)
        print(f"torch predict batch {batch}: {seconds * 1e3:.3f} ms/call (median of {args.iters}), "
              f"{batch / seconds:.0f} examples/s", flush=True)


if __name__ == "__main__":
    main()
