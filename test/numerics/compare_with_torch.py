#!/usr/bin/env python3
"""Compares Kiln's compiled predict and loss functions with PyTorch.

For every example model (and one model exercising every op), draws random
weights and inputs, runs the model's `_predict` and `_loss` through kiln-run
(the JIT) and computes the same model independently in PyTorch (Debian's
python3-torch), then checks the norm-wise relative error of every result
against 1e-5 (float32). Writes its arrays under WORKDIR.

Usage: compare_with_torch.py KILN_RUN SRC_ROOT WORKDIR
(KILN_RUN may include flags: "kiln-run --emulate-gpu" checks the GPU lowering.)
"""
import os
import shlex
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 1e-5
rng = np.random.default_rng(1234)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def run_kiln(kiln_run, source, model, function, arrays, workdir):
    """Saves `arrays` (params then inputs) and returns kiln-run's results by name."""
    paths = []
    for i, array in enumerate(arrays):
        path = os.path.join(workdir, f"{model}_{function}_arg{i}.npy")
        np.save(path, array)
        paths.append(path)
    out = os.path.join(workdir, f"{model}_{function}")
    os.makedirs(out, exist_ok=True)
    # `kiln_run` may carry flags ("kiln-run --emulate-gpu").
    result = subprocess.run(shlex.split(kiln_run) + [source, "--model", model, "--function", function,
                             "--args", ",".join(paths), "--out-dir", out],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kiln-run failed for {model}_{function}:\n{result.stderr}")
    return {os.path.splitext(os.path.basename(p))[0]: np.load(p) for p in result.stdout.split()}




def relative_error(got, want):
    """Norm-wise relative error of `got` against `want` (in float64), or
    None when the shapes differ."""
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        return None
    return np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-12)


class Checker:
    """Relative-error checks against PyTorch at one tolerance, counting the
    failures (gradcheck_with_torch.py uses it too)."""

    def __init__(self, tolerance):
        self.tolerance = tolerance
        self.failures = 0

    def check(self, label, got, want):
        error = relative_error(got, want)
        if error is None:
            print(f"FAIL {label}: shape {np.shape(got)}, PyTorch {np.shape(want)}")
            self.failures += 1
            return
        ok = error < self.tolerance
        if not ok:
            self.failures += 1
        print(f"{'ok  ' if ok else 'FAIL'} {label}: relative error {error:.2e}")


checker = Checker(TOLERANCE)
check = checker.check


def t(array):
    return torch.from_numpy(np.asarray(array))


def fashion_cnn(kiln_run, root, workdir):
    src = os.path.join(root, "examples", "fashion_cnn.kiln")
    shapes = [(3, 3, 1, 32), (32,), (3, 3, 32, 32), (32,), (18432, 64), (64,), (64, 10), (10,)]
    params = [randn(*s, scale=0.05) for s in shapes]
    image = rng.random((4, 28, 28, 1), dtype=np.float32)
    label = rng.integers(0, 10, size=4).astype(np.int32)
    k0, b0, k1, b1, d0, c0, d1, c1 = map(t, params)
    x = t(image).permute(0, 3, 1, 2)
    h = F.relu(F.conv2d(x, k0.permute(3, 2, 0, 1), b0))
    h = F.relu(F.conv2d(h, k1.permute(3, 2, 0, 1), b1))
    h = h.permute(0, 2, 3, 1).reshape(4, -1)   # flatten in NHWC order, as Keras
    h = F.relu(h @ d0 + c0)
    logits = h @ d1 + c1
    got = run_kiln(kiln_run, src, "FashionCnn", "predict", params + [image], workdir)
    check("FashionCnn predict probs", got["probs"], F.softmax(logits, dim=1))
    got = run_kiln(kiln_run, src, "FashionCnn", "loss", params + [image, label], workdir)
    check("FashionCnn loss", got["loss"], F.cross_entropy(logits, t(label).long()))
    check("FashionCnn accuracy", got["accuracy"],
          (logits.argmax(dim=1) == t(label).long()).float().mean())


def linear_models(kiln_run, root, workdir):
    # LinearRegression
    src = os.path.join(root, "examples", "linear_regression.kiln")
    w, b, x, y = randn(10), randn(), randn(16, 10), randn(16)
    pred = t(x) @ t(w) + t(b)
    got = run_kiln(kiln_run, src, "LinearRegression", "predict", [w, b, x], workdir)
    check("LinearRegression predict", got["pred"], pred)
    got = run_kiln(kiln_run, src, "LinearRegression", "loss", [w, b, x, y], workdir)
    check("LinearRegression loss", got["loss"], ((pred - t(y)) ** 2).mean())
    check("LinearRegression mse", got["mse"], F.mse_loss(pred, t(y)))
    # LogisticRegression
    src = os.path.join(root, "examples", "logistic_regression.kiln")
    w, b, x = randn(30, scale=0.3), randn(), randn(16, 30)
    y = (rng.random(16) > 0.5).astype(np.float32)
    p = torch.sigmoid(t(x) @ t(w) + t(b))
    got = run_kiln(kiln_run, src, "LogisticRegression", "predict", [w, b, x], workdir)
    check("LogisticRegression predict", got["p"], p)
    got = run_kiln(kiln_run, src, "LogisticRegression", "loss", [w, b, x, y], workdir)
    check("LogisticRegression loss", got["loss"],
          F.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), t(y)) + 1e-4 * (t(w) ** 2).sum())
    check("LogisticRegression accuracy", got["accuracy"], ((p > 0.5) == (t(y) > 0.5)).float().mean())
    # LinearSvm
    src = os.path.join(root, "examples", "linear_svm.kiln")
    w, b, x = randn(4), randn(), randn(16, 4)
    y = np.where(rng.random(16) > 0.5, 1.0, -1.0).astype(np.float32)
    score = t(x) @ t(w) + t(b)
    got = run_kiln(kiln_run, src, "LinearSvm", "predict", [w, b, x], workdir)
    check("LinearSvm predict", got["score"], score)
    got = run_kiln(kiln_run, src, "LinearSvm", "loss", [w, b, x, y], workdir)
    check("LinearSvm loss", got["loss"], F.relu(1 - t(y) * score).mean() + 0.01 * (t(w) ** 2).sum())


EVERY_OP = """
model EveryOp {
  input image: f32[N, 9, 9, 2]
  input x: f32[N, 6]
  input label: i32[N]
  param v: f32[6] = zeros
  param m: f32[6, 6] = glorot_uniform
  features = image
    |> conv2d(4, 3, tanh, stride = 2, padding = same)
    |> maxpool(2, stride = 1)
    |> conv2d(3, 2, sigmoid)
    |> avgpool(2)
    |> flatten
    |> dropout(0.5)
    |> dense(6, relu)
  a = features + x * v - x / (abs(v) + 1)
  b = exp(-abs(a)) + log(abs(a) + 1) + sqrt(abs(a)) + a ** 2
  c = max(a, b) - min(a, 0.5) + (a @ m) * v |> softmax
  r = sum(b, axis = 1) + mean(b, axis = -1) + max(c, axis = 1) + min(c, axis = 1) + sum(v @ m)
  cmp = (a > b) + (a >= 0) + (a < 0.25) + (a <= b) + (a == a) + (a != b)
  output ls = log_softmax(b, axis = 1)
  output r
  output cmp
  output idx = argmax(b)
  output hit = argmax(b) == label
  output neg = label != -1
  output worst = argmin(b)
  output sel = take(b, label) + sum(c * one_hot(label, 6), axis = 1) + stop_gradient(a) @ v
  loss cross_entropy(b, label) + mse(c, a) + binary_cross_entropy(sigmoid(a), softmax(c, axis = 0)) + sum(v ** 2) + sum(m)
  optimizer adam()
  metric acc = mean(argmax(b) == label)
  metric whole = mean(b) + max(b) + min(b)    # over the batch too: a metric, not an output
  metric columns = sum(take(b, argmax(b, axis = 0), axis = 0)) - sum(take(b, argmin(b, axis = 0), axis = 0))
}
"""


def every_op(kiln_run, root, workdir):
    src = os.path.join(workdir, "every_op.kiln")
    with open(src, "w") as f:
        f.write(EVERY_OP)
    n = 5
    k0, b0 = randn(3, 3, 2, 4, scale=0.5), randn(4)
    k1, b1 = randn(2, 2, 4, 3, scale=0.5), randn(3)
    d, c = randn(3, 6, scale=0.5), randn(6)  # flatten of [N, 1, 1, 3]
    v, m = randn(6), randn(6, 6, scale=0.5)
    image, x = randn(n, 9, 9, 2), randn(n, 6)
    label = rng.integers(0, 6, size=n).astype(np.int32)
    params = [v, m, k0, b0, k1, b1, d, c]  # declaration order: v, m, then the layers

    T = lambda a: t(a).double()
    img = T(image).permute(0, 3, 1, 2)
    h = F.pad(img, (1, 1, 1, 1))  # same padding, 9x9, k=3, s=2: out 5, total pad (5-1)*2+3-9 = 2 -> 1 and 1
    h = torch.tanh(F.conv2d(h, T(k0).permute(3, 2, 0, 1), T(b0), stride=2))
    h = F.max_pool2d(h, 2, stride=1)
    h = torch.sigmoid(F.conv2d(h, T(k1).permute(3, 2, 0, 1), T(b1)))
    h = F.avg_pool2d(h, 2)
    h = h.permute(0, 2, 3, 1).reshape(n, -1)
    features = F.relu(h @ T(d) + T(c))
    X, V, M = T(x), T(v), T(m)
    a = features + X * V - X / (V.abs() + 1)
    b = torch.exp(-a.abs()) + torch.log(a.abs() + 1) + torch.sqrt(a.abs()) + a ** 2
    c_ = F.softmax(torch.maximum(a, b) - torch.minimum(a, torch.tensor(0.5, dtype=torch.float64)) + (a @ M) * V, dim=1)
    r = b.sum(1) + b.mean(-1) + c_.max(1).values + c_.min(1).values + (V @ M).sum()
    cmp = (a > b).double() + (a >= 0).double() + (a < 0.25).double() + (a <= b).double() + (a == a).double() + (a != b).double()
    L = t(label).long()
    got = run_kiln(kiln_run, src, "EveryOp", "predict", params + [image, x, label], workdir)
    check("EveryOp log_softmax", got["ls"], F.log_softmax(b, dim=1))
    check("EveryOp reductions", got["r"], r)
    check("EveryOp comparisons", got["cmp"], cmp)
    check("EveryOp argmax", got["idx"], b.argmax(1))
    check("EveryOp argmax == label", got["hit"], (b.argmax(1) == L).double())
    check("EveryOp i32 literal", got["neg"], (L != -1).double())
    check("EveryOp argmin", got["worst"], b.argmin(1))
    check("EveryOp take, one_hot, stop_gradient", got["sel"],
          b.gather(1, L[:, None])[:, 0] + (c_ * F.one_hot(L, 6)).sum(1) + a.detach() @ V)
    got = run_kiln(kiln_run, src, "EveryOp", "loss", params + [image, x, label], workdir)
    p = torch.sigmoid(a).clamp(1e-7, 1 - 1e-7)
    target = F.softmax(c_, dim=0)
    want = (F.cross_entropy(b, L) + F.mse_loss(c_, a) + F.binary_cross_entropy(p, target)
            + (V ** 2).sum() + M.sum())
    check("EveryOp loss", got["loss"], want)
    check("EveryOp accuracy", got["acc"], (b.argmax(1) == L).double().mean())
    check("EveryOp whole-batch reductions", got["whole"], b.mean() + b.max() + b.min())
    check("EveryOp take along the batch axis", got["columns"],
          b.gather(0, b.argmax(0)[None, :]).sum() - b.gather(0, b.argmin(0)[None, :]).sum())


# maxpool and avgpool with padding = same (Keras's semantics: the padding
# never wins a maximum, and an average counts only the input elements of
# its window), asymmetric (more after, as TensorFlow pads) and symmetric;
# the symmetric average is also PyTorch's own count_include_pad=False.
SAME_POOLS = """
model SamePools {
  input image: f32[N, 6, 5, 2]
  param p: f32[6, 5, 2]
  x = image * p
  a = x |> maxpool(3, stride = 2, padding = same)    # [N, 3, 3, 2]: pads 0, 1 (H) and 1, 1 (W)
  b = x |> avgpool(3, stride = 2, padding = same)    # the same windows, averaged over their input elements
  c = x |> avgpool(3, stride = 1, padding = same)    # [N, 6, 5, 2]: pads 1, 1 and 1, 1
  d = x |> maxpool(2, padding = same)                # [N, 3, 3, 2]: pads 0, 0 (H) and 0, 1 (W)
  loss mean(a ** 2) + mean(a * b) + mean(c ** 2) + mean(d ** 2)
  optimizer sgd()
  output a
  output b
  output c
  output d
}
"""


def tf_same_pads(size, k, s):
    """TensorFlow's padding="same": (before, after) along one axis."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def same_pool(x, k, s, is_max):
    """Keras's MaxPooling2D / AveragePooling2D(padding="same") on NCHW `x`,
    written with PyTorch: explicit padding (-inf for max), and for the
    average the window sums over the number of input elements per window."""
    (t, b), (l, r) = tf_same_pads(x.shape[2], k, s), tf_same_pads(x.shape[3], k, s)
    if is_max:
        return F.max_pool2d(F.pad(x, (l, r, t, b), value=float("-inf")), k, s)
    sums = F.avg_pool2d(F.pad(x, (l, r, t, b)), k, s, divisor_override=1)
    counts = F.avg_pool2d(F.pad(torch.ones_like(x), (l, r, t, b)), k, s, divisor_override=1)
    return sums / counts


def same_pools(kiln_run, root, workdir):
    src = os.path.join(workdir, "same_pools.kiln")
    with open(src, "w") as f:
        f.write(SAME_POOLS)
    n = 3
    image, p = randn(n, 6, 5, 2), randn(6, 5, 2)
    x = (t(image) * t(p)).double().permute(0, 3, 1, 2)
    nhwc = lambda y: y.permute(0, 2, 3, 1)
    got = run_kiln(kiln_run, src, "SamePools", "predict", [p, image], workdir)
    check("SamePools maxpool same, stride 2", got["a"], nhwc(same_pool(x, 3, 2, True)))
    check("SamePools avgpool same, stride 2", got["b"], nhwc(same_pool(x, 3, 2, False)))
    check("SamePools avgpool same, stride 1", got["c"], nhwc(same_pool(x, 3, 1, False)))
    check("SamePools avgpool same = count_include_pad=False", got["c"],
          nhwc(F.avg_pool2d(x, 3, 1, padding=1, count_include_pad=False)))
    check("SamePools maxpool same, size 2", got["d"], nhwc(same_pool(x, 2, 2, True)))


# Convolutions that kiln-winograd-convolutions computes in the inference
# functions: a 'same'-padded one (16 -> 32 channels, 8 x 12 out: Winograd
# F(4x4, 3x3), two pieces of one row of tiles per image) and a valid one
# after it (32 -> 16 channels, 6 x 10 out: F(2x2, 3x3), one piece of three
# rows of tiles; relu epilogue), against PyTorch's direct convolution in
# float64.
WINOGRAD = """
model Winograd {
  input x: f32[N, 8, 12, 16]
  a = x |> conv2d(32, 3, padding = same)
  b = a |> conv2d(16, 3, relu)
  loss mean(b ** 2)
  optimizer sgd()
  output a
  output b
}
"""


def winograd(kiln_run, root, workdir):
    src = os.path.join(workdir, "winograd.kiln")
    with open(src, "w") as f:
        f.write(WINOGRAD)
    n = 3
    params = [randn(3, 3, 16, 32, scale=0.1), randn(32), randn(3, 3, 32, 16, scale=0.1), randn(16)]
    x = randn(n, 8, 12, 16)
    k0, b0, k1, b1 = (t(p).double() for p in params)
    a = F.conv2d(t(x).double().permute(0, 3, 1, 2), k0.permute(3, 2, 0, 1), b0, padding=1)
    b = F.relu(F.conv2d(a, k1.permute(3, 2, 0, 1), b1))
    got = run_kiln(kiln_run, src, "Winograd", "predict", params + [x], workdir)
    check("Winograd F(4,3) conv2d same, 16 -> 32 channels", got["a"], a.permute(0, 2, 3, 1))
    check("Winograd F(2,3) conv2d valid, 32 -> 16 channels, relu", got["b"], b.permute(0, 2, 3, 1))


# reshape, transpose, concat and keepdims forward, every output against
# PyTorch: a general reshape ([N, 4, 6] to [N, 3, 8]), a batched transpose,
# a parameter's default transpose and a reshape that is neither a collapse
# nor an expansion ([16, 3] to [24, 2]), concat along the last axis, keepdims
# on every reduction (along an axis and, in a metric, over everything) and
# on argmax and argmin.
SHAPES = """
model Shapes {
  input x: f32[N, 4, 6]
  param w: f32[3, 16]
  output r = reshape(x, [N, 3, 8])
  output t = transpose(x, [0, 2, 1])
  output c = concat(x, x * 2, axis = 2)
  output k = sum(x, axis = 2, keepdims = true) + mean(x, axis = 1, keepdims = true) + max(x, axis = -1, keepdims = true) - min(x, axis = 1, keepdims = true)
  output am = argmax(x, axis = 1, keepdims = true)
  output an = argmin(x, keepdims = true)
  output pw = reshape(x, [N, 24]) @ reshape(transpose(w), [24, 2])
  loss mean(reshape(x, [N, 24]) @ reshape(transpose(w), [24, 2]))
  optimizer sgd()
  metric whole = mean(x - max(x, keepdims = true)) + mean(x * sum(x, keepdims = true)) + mean(x - mean(x, keepdims = true) - min(x, keepdims = true))
}
"""


def shapes(kiln_run, root, workdir):
    src = os.path.join(workdir, "shapes.kiln")
    with open(src, "w") as f:
        f.write(SHAPES)
    n = 5
    x, w = randn(n, 4, 6), randn(3, 16)
    X, W = t(x).double(), t(w).double()
    got = run_kiln(kiln_run, src, "Shapes", "predict", [w, x], workdir)
    check("Shapes reshape", got["r"], X.reshape(n, 3, 8))
    check("Shapes transpose", got["t"], X.permute(0, 2, 1))
    check("Shapes concat", got["c"], torch.cat([X, X * 2], 2))
    check("Shapes keepdims", got["k"], X.sum(2, keepdim=True) + X.mean(1, keepdim=True) +
          X.max(-1, keepdim=True).values - X.min(1, keepdim=True).values)
    check("Shapes argmax keepdims", got["am"], X.argmax(1, keepdim=True))
    check("Shapes argmin keepdims", got["an"], X.argmin(-1, keepdim=True))
    check("Shapes reshape of a transposed parameter", got["pw"], X.reshape(n, 24) @ W.T.reshape(24, 2))
    got = run_kiln(kiln_run, src, "Shapes", "loss", [w, x], workdir)
    check("Shapes keepdims over everything", got["whole"],
          (X - X.amax()).mean() + (X * X.sum()).mean() + (X - X.mean() - X.amin()).mean())


def main():
    kiln_run, root, workdir = sys.argv[1:4]
    os.makedirs(workdir, exist_ok=True)
    torch.set_num_threads(1)
    fashion_cnn(kiln_run, root, workdir)
    linear_models(kiln_run, root, workdir)
    every_op(kiln_run, root, workdir)
    shapes(kiln_run, root, workdir)
    same_pools(kiln_run, root, workdir)
    winograd(kiln_run, root, workdir)
    print(f"{checker.failures} failed")
    sys.exit(1 if checker.failures else 0)


if __name__ == "__main__":
    main()
