#!/usr/bin/env python3
"""Checks Kiln's optimizers (`<Model>_train_step`) against an independent reference.

For every optimizer configuration, writes a small regression model (a [4, 3]
matrix, a [3] vector and a scalar bias: `loss mean((x @ m @ v + b - y) ** 2)`)
into WORKDIR, then runs 3 consecutive train steps through `kiln-run
--function train_step` (feeding each step's updated parameters and state into
the next, step = 1, 2, 3, a fixed lr) and compares the loss, the parameters
and every state slot after each step with a reference computed here:

  - gradients from PyTorch autograd (Debian's python3-torch), in float64, on
    the reference's own weights and the same batch;
  - the update written in numpy directly from the Keras rules of docs/language.md (Optimizers)
    section 3a (not from passes/Optimizer.cpp); RMSprop with momentum, which
    3a does not spell out, follows Keras's RMSprop
    (`m = momentum m + lr g / sqrt(s + eps); w -= m`).

The reference keeps its own trajectory (its own weights and state from the
same starting point), so errors would accumulate rather than be reset.
The initial state is made here per the Keras rule (zeros; AdaGrad's
accumulator at initial_accumulator); the values the compiler itself declares
(the `kiln.state` init attributes in `kilnc --emit=linalg`) and the slot order
are checked against the same rule, and `kilnc --emit=summary` must name the
optimizer. Norm-wise relative error per tensor must be under 1e-5.

Usage: optimizers_vs_reference.py KILN_RUN KILNC WORKDIR
"""
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import torch

TOLERANCE = 1e-5
LR = 0.01
STEPS = 3
rng = np.random.default_rng(20240611)

# Keras defaults, from docs/language.md (Optimizers).
DEFAULTS = {
    "sgd": {"momentum": 0.0, "nesterov": False},
    "adagrad": {"initial_accumulator": 0.1, "epsilon": 1e-7},
    "rmsprop": {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7},
    "adam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
}

# (label, optimizer, hyper-parameters written in the model)
CONFIGS = [
    ("sgd", "sgd", {}),
    ("sgd_momentum", "sgd", {"momentum": 0.9}),
    ("sgd_nesterov", "sgd", {"momentum": 0.9, "nesterov": True}),
    ("adagrad", "adagrad", {}),
    ("adagrad_init", "adagrad", {"initial_accumulator": 0.5}),
    ("rmsprop", "rmsprop", {}),
    ("rmsprop_momentum", "rmsprop", {"momentum": 0.5, "rho": 0.8}),
    ("adam", "adam", {}),
    ("adam_betas", "adam", {"beta_1": 0.8, "beta_2": 0.99}),
]

PARAMS = [("m", (4, 3)), ("v", (3,)), ("b", ())]

failures = 0


def report(label, ok, detail):
    global failures
    if not ok:
        failures += 1
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {detail}")


def check(label, got, want):
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        report(label, False, f"shape {got.shape}, reference {want.shape}")
        return
    error = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-12)
    report(label, error < TOLERANCE, f"relative error {error:.2e}")


def model_source(name, optimizer, hypers):
    def fmt(value):
        return ("true" if value else "false") if isinstance(value, bool) else repr(value)
    args = ", ".join([f"lr = {LR}"] + [f"{k} = {fmt(v)}" for k, v in hypers.items()])
    return f"""model {name} {{
  input x: f32[N, 4]
  input y: f32[N]
  param m: f32[4, 3] = zeros
  param v: f32[3] = zeros
  param b: f32 = 0

  pred = x @ m @ v + b
  loss      mean((pred - y) ** 2)
  optimizer {optimizer}({args})
  metric    mae = mean(abs(pred - y))
  output    pred
}}
"""


def slots_of(optimizer, h):
    """Keras's slots per parameter, in order, with their initial values."""
    if optimizer == "sgd":
        return [("momentum", 0.0)] if h["momentum"] > 0 else []
    if optimizer == "adagrad":
        return [("accumulator", h["initial_accumulator"])]
    if optimizer == "rmsprop":
        return [("rms", 0.0)] + ([("momentum", 0.0)] if h["momentum"] > 0 else [])
    return [("m", 0.0), ("v", 0.0)]


def torch_loss_and_grads(params, x, y):
    m, v, b = (torch.tensor(params[n], dtype=torch.float64, requires_grad=True) for n, _ in PARAMS)
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    pred = xt @ m @ v + b
    loss = torch.mean((pred - yt) ** 2)
    mae = torch.mean(torch.abs(pred - yt))
    loss.backward()
    return loss.item(), mae.item(), {"m": m.grad.numpy(), "v": v.grad.numpy(), "b": b.grad.numpy()}


def keras_update(optimizer, h, w, g, state, lr, t):
    """The Keras rules of docs/language.md (Optimizers) in numpy; returns (w', state')."""
    s = dict(state)
    if optimizer == "sgd":
        mu = h["momentum"]
        if mu == 0:
            return w - lr * g, s                                 # v = 0*v - lr g; w += v
        v_new = mu * s["momentum"] - lr * g
        s["momentum"] = v_new
        if h["nesterov"]:
            return w + mu * v_new - lr * g, s
        return w + v_new, s
    if optimizer == "adagrad":
        s["accumulator"] = s["accumulator"] + g ** 2
        return w - lr * g / np.sqrt(s["accumulator"] + h["epsilon"]), s
    if optimizer == "rmsprop":
        s["rms"] = h["rho"] * s["rms"] + (1 - h["rho"]) * g ** 2
        increment = lr * g / np.sqrt(s["rms"] + h["epsilon"])
        if h["momentum"] > 0:
            s["momentum"] = h["momentum"] * s["momentum"] + increment
            return w - s["momentum"], s
        return w - increment, s
    b1, b2, eps = h["beta_1"], h["beta_2"], h["epsilon"]
    a = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
    s["v"] = s["v"] + (g ** 2 - s["v"]) * (1 - b2)
    return w - a * s["m"] / (np.sqrt(s["v"]) + eps), s


def run_step(kiln_run, src, model, arrays, outdir):
    os.makedirs(outdir, exist_ok=True)
    paths = []
    for name, array in arrays:
        path = os.path.join(outdir, "in_" + name + ".npy")
        np.save(path, array)
        paths.append(path)
    result = subprocess.run(shlex.split(kiln_run) + [src, "--model", model, "--function", "train_step",
                             "--args", ",".join(paths), "--out-dir", outdir],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kiln-run failed for {model}:\n{result.stderr}")
    return {os.path.splitext(os.path.basename(p))[0]: np.load(p) for p in result.stdout.split()}


def check_declared_state(kilnc, src, label, optimizer, h, slots):
    """The compiler's declared state (slot order, initial values) follows the rule."""
    summary = subprocess.run([kilnc, src, "--emit=summary"], capture_output=True, text=True).stdout
    report(f"{label} summary", f"optimizer: {optimizer}(" in summary, "names the optimizer")
    text = subprocess.run([kilnc, src, "--emit=linalg"], capture_output=True, text=True).stdout
    # train_step's signature (apply declares the same state again).
    text = next((line for line in text.splitlines() if "_train_step(" in line and "func.func" in line), "")
    declared = [(p, s, float(i)) for i, p, s in
                re.findall(r'kiln\.state = \{init = ([-+0-9.eE]+) : f64, param = @(\w+), slot = "(\w+)"\}', text)]
    want = [(p, s, float(i)) for p, _ in PARAMS for s, i in slots]
    same = len(declared) == len(want) and all(
        dp == wp and ds == ws and abs(di - wi) <= 1e-12 for (dp, ds, di), (wp, ws, wi) in zip(declared, want))
    report(f"{label} initial state", same, f"declared {declared}, Keras {want}")


def run_config(kiln_run, kilnc, workdir, label, optimizer, hypers):
    h = dict(DEFAULTS[optimizer])
    h.update(hypers)
    model = "Opt_" + label
    src = os.path.join(workdir, label + ".kiln")
    with open(src, "w") as f:
        f.write(model_source(model, optimizer, hypers))
    slots = slots_of(optimizer, h)
    check_declared_state(kilnc, src, label, optimizer, h, slots)

    params = {n: (rng.standard_normal(s) * 0.5).astype(np.float32) for n, s in PARAMS}
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.standard_normal(8).astype(np.float32)
    state = {(n, s): np.full(shape, init, np.float32) for n, shape in PARAMS for s, init in slots}
    ref_params = {n: w.astype(np.float64) for n, w in params.items()}
    ref_state = {k: a.astype(np.float64) for k, a in state.items()}

    for t in range(1, STEPS + 1):
        arrays = [(n, params[n]) for n, _ in PARAMS]
        arrays += [(f"{n}_{s}", state[(n, s)]) for n, _ in PARAMS for s, _ in slots]
        arrays += [("lr", np.array(LR, np.float32)), ("step", np.array(t, np.float32)), ("x", x), ("y", y)]
        out = run_step(kiln_run, src, model, arrays, os.path.join(workdir, f"{label}_step{t}"))

        loss, mae, grads = torch_loss_and_grads(ref_params, x, y)
        check(f"{label} step {t} loss", out["loss"], loss)
        check(f"{label} step {t} mae", out["mae"], mae)
        for n, _ in PARAMS:
            per = {s: ref_state[(n, s)] for s, _ in slots}
            ref_params[n], per = keras_update(optimizer, h, ref_params[n], grads[n], per, LR, t)
            for s, _ in slots:
                ref_state[(n, s)] = per[s]
        for n, _ in PARAMS:
            params[n] = out["param_" + n]
            check(f"{label} step {t} param {n}", params[n], ref_params[n])
            for s, _ in slots:
                state[(n, s)] = out[f"state_{n}_{s}"]
                check(f"{label} step {t} state {n}.{s}", state[(n, s)], ref_state[(n, s)])


def main():
    kiln_run, kilnc, workdir = sys.argv[1:4]
    os.makedirs(workdir, exist_ok=True)
    for label, optimizer, hypers in CONFIGS:
        run_config(kiln_run, kilnc, workdir, label, optimizer, hypers)
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
