#!/usr/bin/env python3
"""Compares Kiln's generated gradients (`<Model>_grad`) with PyTorch autograd.

For every example model, the EveryOp model of compare_with_torch.py, a
model covering the remaining differentiable ops and variants (EveryGrad),
one of the selection builtins and stop_gradient (Selection), one of
reshape, transpose, concat and keepdims (Shapes) and one of batch_norm's
inference form (BatchNormGrad),
draws random weights and a batch, runs `kiln-run --function grad` (the JIT,
float32) and differentiates the same model in PyTorch (float64), then checks
the loss and every parameter's gradient with the norm-wise relative error
against 1e-4. Writes its arrays under WORKDIR.

Usage: gradcheck_with_torch.py KILN_RUN SRC_ROOT WORKDIR
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_with_torch import EVERY_OP, SAME_POOLS, Checker, run_kiln, same_pool  # noqa: E402

TOLERANCE = 1e-4
rng = np.random.default_rng(4321)
checker = Checker(TOLERANCE)
check = checker.check


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def leaf(array):
    """A float64 leaf tensor that records its gradient."""
    return torch.tensor(np.asarray(array), dtype=torch.float64, requires_grad=True)


def const(array):
    return torch.from_numpy(np.asarray(array)).double()


def gradcheck(label, src, model, names, params, inputs, loss_fn):
    """Runs <model>_grad and checks loss and gradients against `loss_fn`,
    which gets the float64 leaf parameters and returns the PyTorch loss."""
    got = run_kiln(KILN_RUN, src, model, "grad", params + inputs, WORKDIR)
    leaves = [leaf(p) for p in params]
    loss = loss_fn(*leaves)
    loss.backward()
    check(f"{label} loss", got["loss"], loss.detach())
    for name, tensor in zip(names, leaves):
        want = tensor.grad if tensor.grad is not None else torch.zeros_like(tensor)
        check(f"{label} grad {name}", got[f"grad_{name}"], want)


def write_source(filename, text):
    """Writes a model's source under WORKDIR; returns its path."""
    path = os.path.join(WORKDIR, filename)
    with open(path, "w") as f:
        f.write(text)
    return path


def nchw(image):
    return image.permute(0, 3, 1, 2)


def conv(x, kernel, bias, **kwargs):
    """Keras conv (NHWC input in NCHW form, HWCF kernel) in PyTorch."""
    return F.conv2d(x, kernel.permute(3, 2, 0, 1), bias, **kwargs)


def fashion_cnn(root):
    src = os.path.join(root, "examples", "fashion_cnn.kiln")
    shapes = [(3, 3, 1, 32), (32,), (3, 3, 32, 32), (32,), (18432, 64), (64,), (64, 10), (10,)]
    names = ["conv2d_0.kernel", "conv2d_0.bias", "conv2d_1.kernel", "conv2d_1.bias",
             "dense_0.kernel", "dense_0.bias", "dense_1.kernel", "dense_1.bias"]
    params = [randn(*s, scale=0.05) for s in shapes]
    n = 3
    image = rng.random((n, 28, 28, 1), dtype=np.float32)
    label = rng.integers(0, 10, size=n).astype(np.int32)

    def loss(k0, b0, k1, b1, d0, c0, d1, c1):
        h = F.relu(conv(nchw(const(image)), k0, b0))
        h = F.relu(conv(h, k1, b1))
        h = h.permute(0, 2, 3, 1).reshape(n, -1)
        h = F.relu(h @ d0 + c0)
        return F.cross_entropy(h @ d1 + c1, const(label).long())

    gradcheck("FashionCnn", src, "FashionCnn", names, params, [image, label], loss)


def linear_models(root):
    n = 16
    src = os.path.join(root, "examples", "linear_regression.kiln")
    x, y = randn(n, 10), randn(n)
    gradcheck("LinearRegression", src, "LinearRegression", ["w", "b"], [randn(10), randn()], [x, y],
              lambda w, b: ((const(x) @ w + b - const(y)) ** 2).mean())

    src = os.path.join(root, "examples", "logistic_regression.kiln")
    x = randn(n, 30)
    y = (rng.random(n) > 0.5).astype(np.float32)

    def logistic(w, b):
        p = torch.sigmoid(const(x) @ w + b).clamp(1e-7, 1 - 1e-7)
        return F.binary_cross_entropy(p, const(y)) + 1e-4 * (w ** 2).sum()

    gradcheck("LogisticRegression", src, "LogisticRegression", ["w", "b"], [randn(30, scale=0.3), randn()],
              [x, y], logistic)

    src = os.path.join(root, "examples", "linear_svm.kiln")
    x = randn(n, 4)
    y = np.where(rng.random(n) > 0.5, 1.0, -1.0).astype(np.float32)
    gradcheck("LinearSvm", src, "LinearSvm", ["w", "b"], [randn(4), randn()], [x, y],
              lambda w, b: F.relu(1 - const(y) * (const(x) @ w + b)).mean() + 0.01 * (w ** 2).sum())


def every_op(root):
    src = write_source("every_op.kiln", EVERY_OP)
    n = 5
    names = ["v", "m", "conv2d_0.kernel", "conv2d_0.bias", "conv2d_1.kernel", "conv2d_1.bias",
             "dense_0.kernel", "dense_0.bias"]
    params = [randn(6), randn(6, 6, scale=0.5), randn(3, 3, 2, 4, scale=0.5), randn(4),
              randn(2, 2, 4, 3, scale=0.5), randn(3), randn(3, 6, scale=0.5), randn(6)]
    image, x = randn(n, 9, 9, 2), randn(n, 6)
    label = rng.integers(0, 6, size=n).astype(np.int32)

    def loss(V, M, k0, b0, k1, b1, d, c):
        h = F.pad(nchw(const(image)), (1, 1, 1, 1))  # padding = same, stride 2
        h = torch.tanh(conv(h, k0, b0, stride=2))
        h = F.max_pool2d(h, 2, stride=1)
        h = torch.sigmoid(conv(h, k1, b1))
        h = F.avg_pool2d(h, 2)
        h = h.permute(0, 2, 3, 1).reshape(n, -1)   # dropout: identity in _grad (inference mode)
        features = F.relu(h @ d + c)
        X = const(x)
        a = features + X * V - X / (V.abs() + 1)
        b = torch.exp(-a.abs()) + torch.log(a.abs() + 1) + torch.sqrt(a.abs()) + a ** 2
        half = torch.tensor(0.5, dtype=torch.float64)
        c_ = F.softmax(torch.maximum(a, b) - torch.minimum(a, half) + (a @ M) * V, dim=1)
        p = torch.sigmoid(a).clamp(1e-7, 1 - 1e-7)
        return (F.cross_entropy(b, const(label).long()) + F.mse_loss(c_, a)
                + F.binary_cross_entropy(p, F.softmax(c_, dim=0)) + (V ** 2).sum() + M.sum())

    gradcheck("EveryOp", src, "EveryOp", names, params, [image, x, label], loss)


# The differentiable ops and variants EveryOp's loss does not reach:
# log_softmax, every reduction with and without an axis, the three other
# matmul ranks, a power with a parameter exponent, overlapping average
# pooling, a strided, padded convolution (after a 1 x 1 one, so that its
# input gradient is computed) into max pooling with ties of relu zeros,
# division by a parameter, and a loss through mse.
EVERY_GRAD = """
model EveryGrad {
  input x: f32[N, 5]
  input y: f32[N]
  input image: f32[N, 7, 7, 2]
  param m: f32[5, 4] = glorot_uniform
  param v: f32[5] = zeros
  param u: f32[4] = zeros
  param e: f32 = 0
  h = tanh(x @ m)
  s = x @ v
  t = v @ m
  d = u @ u
  q = abs(h) + 1
  ls = log_softmax(h, axis = 1)
  f = image
    |> conv2d(2, 1, tanh)
    |> conv2d(3, 3, relu, stride = 2, padding = same)
    |> avgpool(2, stride = 1)
    |> maxpool(2, stride = 1)
    |> flatten
    |> dense(4)
  g = sum(f * h, axis = 1)
  loss mean(ls * h) + sum(max(h, axis = 1)) + mean(min(h, axis = 0)) + max(s) + min(t) + mean(q ** e) + d / (1 + sum(t ** 2)) + mean(sum(h, axis = 1) / (mean(s) + 3)) + mse(g, y) + mean(mean(f, axis = 0) / u)
  optimizer sgd()
  metric shift = mean(s)
  output f
}
"""


def every_grad(root):
    src = write_source("every_grad.kiln", EVERY_GRAD)
    n = 6
    names = ["m", "v", "u", "e", "conv2d_0.kernel", "conv2d_0.bias", "conv2d_1.kernel", "conv2d_1.bias",
             "dense_0.kernel", "dense_0.bias"]
    params = [randn(5, 4, scale=0.5), randn(5, scale=0.3), randn(4) + np.float32(3.0), randn(),
              randn(1, 1, 2, 2, scale=0.5), randn(2), randn(3, 3, 2, 3, scale=0.5), randn(3),
              randn(12, 4, scale=0.5), randn(4)]
    x, y, image = randn(n, 5), randn(n), randn(n, 7, 7, 2)

    def loss(M, V, U, E, k0, kb0, k, kb, dk, db):
        X = const(x)
        h = torch.tanh(X @ M)
        s = X @ V
        t = V @ M
        d = U @ U
        q = h.abs() + 1
        ls = F.log_softmax(h, dim=1)
        img = torch.tanh(conv(nchw(const(image)), k0, kb0))
        img = F.pad(img, (1, 1, 1, 1))  # same, 7x7, k=3, s=2: out 4, pad 1 and 1
        z = F.relu(conv(img, k, kb, stride=2))
        z = F.avg_pool2d(z, 2, stride=1)
        z = F.max_pool2d(z, 2, stride=1)
        z = z.permute(0, 2, 3, 1).reshape(n, -1)
        f = z @ dk + db
        g = (f * h).sum(1)
        return ((ls * h).mean() + h.max(1).values.sum() + h.min(0).values.mean() + s.max() + t.min()
                + (q ** E).mean() + d / (1 + (t ** 2).sum()) + (h.sum(1) / (s.mean() + 3)).mean()
                + F.mse_loss(g, const(y)) + (f.mean(0) / U).mean())

    gradcheck("EveryGrad", src, "EveryGrad", names, params, [x, y, image], loss)


# Selecting one entry per row and stopping a gradient, as Q-learning and
# policy gradients write them: a TD target through stop_gradient (its max
# gets no gradient), Q(s, a) by take, log pi(a | s) by one_hot, min along an
# axis over a tie (x's columns 1 and 3 are equal and so are v's entries
# 1 and 3; the first minimum takes the gradient, as torch.min(dim)), and
# take along axis 0 of argmin's rows.
SELECTION = """
model Selection {
  input x: f32[N, 5]
  input action: i32[N]
  input reward: f32[N]
  param w: f32[5, 4] = glorot_uniform
  param v: f32[5] = ones
  q = x @ w
  target = reward + 0.9 * stop_gradient(max(q, axis = 1))
  chosen = take(q, action)
  picked = sum(log_softmax(q) * one_hot(action, 4), axis = 1)
  tied = min(x * v, axis = 1)
  lowest = take(w, argmin(w, axis = 0), axis = 0)
  loss mean((chosen - target) ** 2) - mean(picked) + mean(tied) + sum(lowest)
  optimizer sgd()
  metric worst = mean(argmin(q) == action)
  output q
}
"""


def selection(root):
    src = write_source("selection.kiln", SELECTION)
    n = 6
    x, reward = randn(n, 5), randn(n)
    x[:, 1] = -3 - np.abs(x[:, 1])  # columns 1 and 3: equal, and each row's minimum
    x[:, 3] = x[:, 1]
    v = np.array([0.5, 1.0, 0.5, 1.0, 0.5], dtype=np.float32)
    action = rng.integers(0, 4, size=n).astype(np.int32)

    def loss(W, V):
        X, A = const(x), const(action).long()
        q = X @ W
        target = const(reward) + 0.9 * q.max(1).values.detach()
        chosen = q.gather(1, A[:, None])[:, 0]
        picked = (F.log_softmax(q, dim=1) * F.one_hot(A, 4)).sum(1)
        tied = (X * V).min(1).values
        lowest = W.gather(0, W.argmin(0)[None, :])[0]
        return ((chosen - target) ** 2).mean() - picked.mean() + tied.mean() + lowest.sum()

    gradcheck("Selection", src, "Selection", ["w", "v"], [randn(5, 4, scale=0.5), v], [x, action, reward], loss)


# The shape builtins: a general reshape of a batched value and one of a
# parameter, transpose both batched (keeping N first; [0, 2, 3, 1] is not its
# own inverse, so the rule's inverse permutation is tested) and by default
# (reversed), concat along a batched value's axis 1 and a parameter's axis 0,
# and keepdims on sum, mean, max along an axis and min over everything
# (whose [1, 1] result broadcasts against the batch).
SHAPES = """
model Shapes {
  input x: f32[N, 4, 6]
  input y: f32[N, 3]
  param w: f32[8, 3] = glorot_uniform
  param u: f32[3, 8] = glorot_uniform
  param v: f32[6] = ones
  param p: f32[4, 2]
  r = reshape(x * v, [N, 3, 8])
  t = transpose(r, [0, 2, 1])
  q = transpose(reshape(r, [N, 2, 3, 4]), [0, 2, 3, 1])
  a = sum(t * w, axis = 1)
  c = concat(a, y, axis = 1)
  cu = concat(w, transpose(u), axis = 0)
  z = reshape(r, [N, 24]) @ reshape(cu, [24, 2])
  centred = c - mean(c, axis = 1, keepdims = true)
  scaled = centred / max(abs(c), axis = 1, keepdims = true)
  lo = min(c, keepdims = true)
  s = sum(z, axis = -1, keepdims = true)
  loss mean(centred ** 2) + mean(scaled) + mean(s * lo) + mean(q * p) ** 2
  optimizer sgd()
  output z
}
"""


def shapes(root):
    src = write_source("shapes.kiln", SHAPES)
    n = 5
    x, y = randn(n, 4, 6), randn(n, 3)

    def loss(W, U, V, P):
        r = (const(x) * V).reshape(n, 3, 8)
        t = r.permute(0, 2, 1)
        q = r.reshape(n, 2, 3, 4).permute(0, 2, 3, 1)
        a = (t * W).sum(1)
        c = torch.cat([a, const(y)], 1)
        cu = torch.cat([W, U.T], 0)
        z = r.reshape(n, 24) @ cu.reshape(24, 2)
        centred = c - c.mean(1, keepdim=True)
        scaled = centred / c.abs().max(1, keepdim=True).values
        lo = c.min().reshape(1, 1)
        s = z.sum(-1, keepdim=True)
        return (centred ** 2).mean() + scaled.mean() + (s * lo).mean() + (q * P).mean() ** 2

    gradcheck("Shapes", src, "Shapes", ["w", "u", "v", "p"], [randn(8, 3), randn(3, 8), randn(6), randn(4, 2)],
              [x, y], loss)


# maxpool and avgpool with padding = same (the model of compare_with_torch.py):
# the gradient goes to each window's maximum, never the padding, and the
# average's is divided by the window's input elements.
def same_pools(root):
    src = write_source("same_pools.kiln", SAME_POOLS)
    n = 3
    image = randn(n, 6, 5, 2)

    def loss(P):
        x = (const(image) * P).permute(0, 3, 1, 2)
        a, b = same_pool(x, 3, 2, True), same_pool(x, 3, 2, False)
        c, d = same_pool(x, 3, 1, False), same_pool(x, 2, 2, True)
        return (a ** 2).mean() + (a * b).mean() + (c ** 2).mean() + (d ** 2).mean()

    gradcheck("SamePools", src, "SamePools", ["p"], [randn(6, 5, 2)], [image], loss)


# batch_norm's inference form (what _grad differentiates; training's form is
# checked by batch_norm_vs_torch.py): gradients into its input (through the
# parameter s), gamma and beta; none into the moving statistics, which are
# non-trainable, on NHWC maps and on [N, features].
BATCH_NORM = """
model BatchNormGrad {
  input x: f32[N, 3, 3, 4]
  input y: f32[N, 5]
  param s: f32[4] = ones
  a = batch_norm(x * s)
  b = batch_norm(y, momentum = 0.9, epsilon = 0.1)
  loss mean(a ** 2 * x) + mean(tanh(b) * y)
  optimizer sgd()
  output a
}
"""


def batch_norm(root):
    src = write_source("batch_norm.kiln", BATCH_NORM)
    n = 4
    x, y = randn(n, 3, 3, 4), randn(n, 5)
    # s, then each layer's gamma, beta, moving mean and (positive) moving variance.
    params = [randn(4), randn(4), randn(4), randn(4), 0.5 + rng.random(4, dtype=np.float32),
              randn(5), randn(5), randn(5), 0.5 + rng.random(5, dtype=np.float32)]
    got = run_kiln(KILN_RUN, src, "BatchNormGrad", "grad", params + [x, y], WORKDIR)
    s, g0, b0, m0, v0, g1, b1, m1, v1 = [leaf(p) for p in params]
    m0, v0, m1, v1 = (t.detach() for t in (m0, v0, m1, v1))   # PyTorch refuses a gradient for them
    a = F.batch_norm(nchw(const(x) * s), m0, v0, g0, b0, training=False, eps=1e-3).permute(0, 2, 3, 1)
    b = F.batch_norm(const(y), m1, v1, g1, b1, training=False, eps=0.1)
    loss = (a ** 2 * const(x)).mean() + (torch.tanh(b) * const(y)).mean()
    loss.backward()
    check("BatchNormGrad loss", got["loss"], loss.detach())
    for name, tensor in [("s", s), ("batch_norm_0.gamma", g0), ("batch_norm_0.beta", b0),
                         ("batch_norm_1.gamma", g1), ("batch_norm_1.beta", b1)]:
        check(f"BatchNormGrad grad {name}", got[f"grad_{name}"], tensor.grad)
    moving = sorted(k for k in got if "moving" in k)
    checker.failures += bool(moving)
    print(f"{'FAIL' if moving else 'ok  '} BatchNormGrad no gradient for the moving statistics: {moving}")


def main():
    global KILN_RUN, WORKDIR
    KILN_RUN, root, WORKDIR = sys.argv[1:4]
    os.makedirs(WORKDIR, exist_ok=True)
    torch.set_num_threads(1)
    linear_models(root)
    every_op(root)
    every_grad(root)
    selection(root)
    shapes(root)
    same_pools(root)
    batch_norm(root)
    fashion_cnn(root)
    print(f"{checker.failures} failed")
    sys.exit(1 if checker.failures else 0)


if __name__ == "__main__":
    main()
