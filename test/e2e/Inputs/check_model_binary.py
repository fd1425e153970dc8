#!/usr/bin/env python3
"""End-to-end check of a standalone FashionCnn binary against PyTorch.

Writes random weights as a safetensors file (with the spec-based writer of
test/runtime/Inputs/kiln_ref.py, independent of Kiln's runtime) and random
images as .npy, runs `BINARY predict --weights --input --output`, and checks
the probabilities against the same CNN in PyTorch (relative error < 1e-5).
Also feeds it Fashion-MNIST's gzipped IDX test images, scaled to [0, 1].

Usage: check_model_binary.py BINARY SRC_ROOT WORKDIR
"""
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

binary, root, workdir = sys.argv[1:4]
sys.path.insert(0, os.path.join(root, "test", "runtime", "Inputs"))
import kiln_ref  # noqa: E402

rng = np.random.default_rng(7)
names = ["conv2d_0.kernel", "conv2d_0.bias", "conv2d_1.kernel", "conv2d_1.bias",
         "dense_0.kernel", "dense_0.bias", "dense_1.kernel", "dense_1.bias"]
shapes = [(3, 3, 1, 32), (32,), (3, 3, 32, 32), (32,), (18432, 64), (64,), (64, 10), (10,)]
params = {n: (rng.standard_normal(s) * 0.05).astype(np.float32) for n, s in zip(names, shapes)}
weights = os.path.join(workdir, "w.safetensors")
kiln_ref.write_safetensors(weights, list(params.items()))


def torch_probs(images):
    p = {n: torch.from_numpy(a).double() for n, a in params.items()}
    x = torch.from_numpy(images).double().permute(0, 3, 1, 2)
    h = F.relu(F.conv2d(x, p["conv2d_0.kernel"].permute(3, 2, 0, 1), p["conv2d_0.bias"]))
    h = F.relu(F.conv2d(h, p["conv2d_1.kernel"].permute(3, 2, 0, 1), p["conv2d_1.bias"]))
    h = h.permute(0, 2, 3, 1).reshape(images.shape[0], -1)
    h = F.relu(h @ p["dense_0.kernel"] + p["dense_0.bias"])
    return F.softmax(h @ p["dense_1.kernel"] + p["dense_1.bias"], dim=1).numpy()


def run(*args):
    result = subprocess.run([binary, *args], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"FAIL {' '.join(args)}:\n{result.stderr}")
        sys.exit(1)
    return result.stdout


def compare(label, got, want):
    error = np.linalg.norm(got - want) / np.linalg.norm(want)
    print(f"{'ok  ' if error < 1e-5 else 'FAIL'} {label}: relative error {error:.2e}")
    return error < 1e-5


images = rng.random((37, 28, 28, 1), dtype=np.float32)
np.save(os.path.join(workdir, "images.npy"), images)
out = os.path.join(workdir, "probs.npy")
run("predict", "--weights", weights, "--input", os.path.join(workdir, "images.npy"), "--output", out,
    "--batch", "16", "--show", "0")
ok = compare("npy input, batches of 16", np.load(out), torch_probs(images))

idx = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
if os.path.exists(idx):
    printed = run("predict", "--weights", weights, "--input", idx, "--output", out, "--show", "2")
    # PyTorch (float64) on the first 1000 of the 10000 predictions keeps the
    # reference's memory small.
    real = kiln_ref.read_idx(idx)[:1000, :, :, None].astype(np.float32) / 255.0
    got = np.load(out)
    ok = got.shape == (10000, 10) and ok
    ok = compare("Fashion-MNIST IDX input (first 1000 of 10000 images)", got[:1000], torch_probs(real)) and ok
    print(printed.splitlines()[0].split("=")[0].strip())
print("all ok" if ok else "mismatch")
