#!/usr/bin/env python3
"""Checks Kiln's batch_norm layer against PyTorch, in training and inference.

A small CNN with two batch_norm layers (one on NHWC feature maps with Keras's
defaults, momentum 0.99 and epsilon 1e-3; one on [N, features] with momentum
0.9 and epsilon 0.01) takes three SGD-with-momentum steps through `kiln-run
--function train_step` (each step's parameters and state fed into the next).
The reference runs the same network in PyTorch (Debian's python3-torch), in
float64, with `torch.nn.functional.batch_norm`:

  - in training, it normalises with the batch's statistics; autograd gives
    the gradients through them, and the update is Keras's SGD rule
    (v = mu v - lr g; w += v);
  - the moving mean is PyTorch's own running mean with PyTorch's momentum
    set to 1 - Keras's momentum (PyTorch's momentum weights the new value);
  - the moving variance follows Keras, which moves towards the batch's
    biased variance, while PyTorch uses the unbiased one for its running
    variance: the reference computes Keras's from the same batch activations
    (torch.var(unbiased=False)) and checks that PyTorch's running variance
    is the unbiased form of the same update;
  - after training, `predict` and `loss` (inference mode) run with the
    moving statistics, as PyTorch does in eval mode.

Checked after every step: the loss and accuracy, every parameter including
the moving statistics, and that the optimizer keeps state for the trainable
parameters only. Norm-wise relative error under 1e-5.

Then the model binary (`kilnc --emit=exe`): `train --save` keeps the moving
statistics in the checkpoint (moved from their initial values; no optimizer
state for them), and `predict` and `eval` with that checkpoint match
PyTorch's eval mode on its weights.

Usage: batch_norm_vs_torch.py KILN_RUN KILNC WORKDIR
"""
import os
import re
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "runtime", "Inputs"))
from compare_with_torch import Checker, run_kiln  # noqa: E402
from kiln_ref import read_safetensors  # noqa: E402

LR, MOMENTUM, STEPS, BATCH = 0.1, 0.9, 3, 16
SOURCE = """model BnNet {
  input image: f32[N, 6, 6, 2]
  input label: i32[N]

  logits = image
    |> conv2d(4, 3)
    |> batch_norm
    |> relu
    |> flatten
    |> dense(8)
    |> batch_norm(momentum = 0.9, epsilon = 0.01)
    |> relu
    |> dense(3)

  loss      cross_entropy(logits, label)
  optimizer sgd(lr = 0.1, momentum = 0.9)
  metric    accuracy = mean(argmax(logits) == label)
  output    logits
}
"""
# (name, shape) in declaration order; the batch_norm layers' momentum and epsilon.
PARAMS = [
    ("conv2d_0.kernel", (3, 3, 2, 4)), ("conv2d_0.bias", (4,)),
    ("batch_norm_0.gamma", (4,)), ("batch_norm_0.beta", (4,)),
    ("batch_norm_0.moving_mean", (4,)), ("batch_norm_0.moving_variance", (4,)),
    ("dense_0.kernel", (64, 8)), ("dense_0.bias", (8,)),
    ("batch_norm_1.gamma", (8,)), ("batch_norm_1.beta", (8,)),
    ("batch_norm_1.moving_mean", (8,)), ("batch_norm_1.moving_variance", (8,)),
    ("dense_1.kernel", (8, 3)), ("dense_1.bias", (3,)),
]
LAYERS = {"batch_norm_0": (0.99, 1e-3), "batch_norm_1": (0.9, 1e-2)}
MOVING = ("moving_mean", "moving_variance")
TRAINABLE = [name for name, _ in PARAMS if name.split(".")[1] not in MOVING]

rng = np.random.default_rng(20261206)
checker = Checker(1e-5)


def initial_params():
    params = {}
    for name, shape in PARAMS:
        kind = name.split(".")[1]
        if kind == "moving_mean":
            value = np.zeros(shape)                    # Keras's initial moving statistics
        elif kind == "moving_variance":
            value = np.ones(shape)
        elif kind == "gamma":
            value = 1 + 0.2 * rng.standard_normal(shape)
        else:
            value = 0.3 * rng.standard_normal(shape)
        params[name] = value.astype(np.float32)
    return params


def forward(p, image, training, moved):
    """The network in PyTorch (float64, NHWC like Kiln). In training, records
    each batch_norm's new moving statistics in `moved`."""
    def batch_norm(h, layer, channel_axis):
        momentum, eps = LAYERS[layer]
        gamma, beta = p[layer + ".gamma"], p[layer + ".beta"]
        mean, var = p[layer + ".moving_mean"].detach(), p[layer + ".moving_variance"].detach()
        h = h.movedim(channel_axis, 1)
        if training:
            running_mean, running_var = mean.clone(), var.clone()
            out = F.batch_norm(h, running_mean, running_var, gamma, beta, training=True, momentum=1 - momentum, eps=eps)
            dims = [d for d in range(h.dim()) if d != 1]
            count = h.numel() // h.shape[1]
            biased = h.detach().var(dim=dims, unbiased=False)
            keras_var = momentum * var + (1 - momentum) * biased
            # PyTorch's running variance is the same update with the unbiased variance.
            unbiased_var = momentum * var + (1 - momentum) * biased * count / (count - 1)
            moved[layer] = (running_mean, keras_var, running_var, unbiased_var)
        else:
            out = F.batch_norm(h, mean, var, gamma, beta, training=False, eps=eps)
        return out.movedim(1, channel_axis)

    x = torch.tensor(image, dtype=torch.float64)
    h = F.conv2d(x.permute(0, 3, 1, 2), p["conv2d_0.kernel"].permute(3, 2, 0, 1), p["conv2d_0.bias"])
    h = F.relu(batch_norm(h.permute(0, 2, 3, 1), "batch_norm_0", 3))
    h = h.reshape(h.shape[0], -1) @ p["dense_0.kernel"] + p["dense_0.bias"]
    h = F.relu(batch_norm(h, "batch_norm_1", 1))
    return h @ p["dense_1.kernel"] + p["dense_1.bias"]


def torch_params(params):
    return {n: torch.tensor(v, dtype=torch.float64, requires_grad=n in TRAINABLE) for n, v in params.items()}


def report(label, ok, detail):
    checker.failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {detail}")


def train_steps_match(kiln_run, source):
    params = initial_params()
    velocity = {n: np.zeros(params[n].shape, np.float32) for n in TRAINABLE}   # Keras SGD's momentum slots
    ref = {n: v.astype(np.float64) for n, v in params.items()}
    ref_velocity = {n: np.zeros(v.shape) for n, v in velocity.items()}
    workdir = os.path.dirname(source)

    for t in range(1, STEPS + 1):
        image = rng.standard_normal((BATCH, 6, 6, 2)).astype(np.float32)
        label = rng.integers(0, 3, BATCH).astype(np.int32)
        arrays = [params[n] for n, _ in PARAMS] + [velocity[n] for n in TRAINABLE]
        arrays += [np.array(LR, np.float32), np.array(t, np.float32), image, label]
        out = run_kiln(kiln_run, source, "BnNet", "train_step", arrays, workdir)
        stateful = sorted(k[len("state_"):-len("_momentum")] for k in out if k.startswith("state_"))
        report(f"step {t} optimizer state", stateful == sorted(TRAINABLE), f"for {len(stateful)} trainable parameters")

        p = torch_params(ref)
        moved = {}
        logits = forward(p, image, True, moved)
        loss = F.cross_entropy(logits, torch.tensor(label, dtype=torch.long))
        loss.backward()
        accuracy = (logits.argmax(1).numpy() == label).mean()
        checker.check(f"step {t} loss", out["loss"], loss.item())
        checker.check(f"step {t} accuracy", out["accuracy"], accuracy)
        for n in TRAINABLE:
            ref_velocity[n] = MOMENTUM * ref_velocity[n] - LR * p[n].grad.numpy()
            ref[n] = ref[n] + ref_velocity[n]
        for layer, (torch_mean, keras_var, torch_var, unbiased_var) in moved.items():
            ref[layer + ".moving_mean"] = torch_mean.numpy()
            ref[layer + ".moving_variance"] = keras_var.numpy()
            checker.check(f"step {t} {layer} PyTorch's running variance is the unbiased update", torch_var.numpy(),
                          unbiased_var.numpy())
        for n, _ in PARAMS:
            params[n] = out["param_" + n]
            checker.check(f"step {t} {n}", params[n], ref[n])
        for n in TRAINABLE:
            velocity[n] = out[f"state_{n}_momentum"]

    # Inference: the moving statistics, as PyTorch's eval mode.
    image = rng.standard_normal((BATCH, 6, 6, 2)).astype(np.float32)
    label = rng.integers(0, 3, BATCH).astype(np.int32)
    weights = [params[n] for n, _ in PARAMS]
    with torch.no_grad():
        logits = forward(torch_params(ref), image, False, {})
    predicted = run_kiln(kiln_run, source, "BnNet", "predict", weights + [image], workdir)
    checker.check("predict after training (moving statistics)", predicted["logits"], logits.numpy())
    evaluated = run_kiln(kiln_run, source, "BnNet", "loss", weights + [image, label], workdir)
    want = F.cross_entropy(logits, torch.tensor(label, dtype=torch.long)).item()
    checker.check("loss in inference mode after training", evaluated["loss"], want)


def model_binary(kilnc, source):
    workdir = os.path.dirname(source)
    binary = os.path.join(workdir, "BnNet")
    subprocess.run([kilnc, source, "--emit=exe", "-o", binary], check=True)
    data = os.path.join(workdir, "data")
    os.makedirs(data, exist_ok=True)
    image = rng.standard_normal((512, 6, 6, 2)).astype(np.float32)
    # A learnable label: which of three regions of the image is brightest.
    label = np.argmax([image[:, :2].mean((1, 2, 3)), image[:, 2:4].mean((1, 2, 3)), image[:, 4:].mean((1, 2, 3))],
                      axis=0).astype(np.int32)
    np.save(os.path.join(data, "image.npy"), image)
    np.save(os.path.join(data, "label.npy"), label)
    checkpoint = os.path.join(workdir, "bn.safetensors")
    run = subprocess.run([binary, "train", "--data", data, "--epochs", "3", "--seed", "1", "--quiet",
                          "--save", checkpoint], capture_output=True, text=True, check=True)
    losses = [float(x) for x in re.findall(r"- loss: ([0-9.]+)", run.stdout)]
    report("binary: trains (the loss falls over 3 epochs)", len(losses) == 3 and losses[2] < losses[0], str(losses))

    tensors, _ = read_safetensors(checkpoint)
    saved = dict(tensors)
    moving = [n for n, _ in PARAMS if n.split(".")[1] in MOVING]
    report("binary: the checkpoint keeps the moving statistics, moved from their initial values",
           all(n in saved for n in moving) and all(
               not np.allclose(saved[n], 0.0 if n.endswith("mean") else 1.0) for n in moving), ", ".join(moving))
    slots = sorted(n[len("optimizer/"):].rsplit("/", 1)[0] for n in saved if n.startswith("optimizer/"))
    report("binary: optimizer state only for the trainable parameters", slots == sorted(TRAINABLE), str(slots))

    output = os.path.join(workdir, "logits.npy")
    subprocess.run([binary, "predict", "--weights", checkpoint, "--input", os.path.join(data, "image.npy"),
                    "--output", output], capture_output=True, check=True)
    weights = {n: saved[n].astype(np.float64) for n, _ in PARAMS}
    with torch.no_grad():
        logits = forward(torch_params(weights), image, False, {})
    checker.check("binary: predict with the checkpoint = PyTorch's eval mode", np.load(output), logits.numpy())
    run = subprocess.run([binary, "eval", "--weights", checkpoint, "--data", data], capture_output=True, text=True,
                         check=True)
    loss = float(re.search(r"loss: ([0-9.]+)", run.stdout).group(1))
    want = F.cross_entropy(logits, torch.tensor(label, dtype=torch.long)).item()
    report("binary: eval with the checkpoint = PyTorch's eval-mode loss", abs(loss - want) <= 1e-4 * max(1, want),
           f"{loss} vs {want:.6f}")


def main():
    kiln_run, kilnc, workdir = sys.argv[1:4]
    os.makedirs(workdir, exist_ok=True)
    source = os.path.join(workdir, "bn_net.kiln")
    with open(source, "w") as f:
        f.write(SOURCE)
    train_steps_match(kiln_run, source)
    model_binary(kilnc, source)
    print(f"{checker.failures} failed")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
