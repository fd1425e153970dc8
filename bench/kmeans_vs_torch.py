#!/usr/bin/python3
"""k-means by gradient descent: Kiln's examples/kmeans.kiln against the same
method in PyTorch at its best, side by side in one run, on one core.

What: 300 full-batch Adam steps (lr 0.05, epsilon 1e-7, as Kiln's) on the
mean squared distance from each of scikit-learn's 1797 digits to its nearest
of 10 centres, from the same k-means++ centres (scikit-learn's
kmeans_plusplus, random_state 0). scikit-learn's KMeans (Lloyd, n_init=1,
from the same centres) is timed too, as the method users would otherwise
reach for.

How: Kiln as shipped is the binary of `kilnc examples/kmeans.kiln
--emit=exe`, timed two ways under `taskset -c 0` with one thread: the steps
alone (its `bench --function train_step --batch 1797 --iters 300`: the
median call times 300), and the whole `train --weights init.safetensors
--batch 1797 --epochs 300` command (process start, reading the data and the
checkpoint, shuffling and gathering each batch included; no --save). PyTorch runs the
same loss and optimizer (torch.optim.Adam) in a child with OpenBLAS tuned
for this CPU and the malloc settings (bench/peer.py), pinned to CPU 0 with
one thread, timed around the 300 steps only (its import and data loading
excluded): a handicap for Kiln. Each is run `--rounds` times alternately;
the medians are reported, with each side's final inertia (computed here in
float64) to show they did the same work.

Command (from the repository root; under a minute):
  /usr/bin/python3 bench/kmeans_vs_torch.py [--rounds 5] [--kilnc build/bin/kilnc]
"""
import argparse
import os
import re
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "runtime", "Inputs"))
import peer  # noqa: E402
from kiln_ref import read_safetensors, write_safetensors  # noqa: E402

STEPS = 300


def inertia(x, centres):
    return ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1).min(1).sum()


def torch_child(data, init, out):
    """PyTorch child: seconds of STEPS Adam steps; writes the final centres."""
    import torch
    torch.set_num_threads(1)
    x = torch.from_numpy(np.load(data))
    centres = torch.from_numpy(np.load(init)).clone().requires_grad_(True)  # [64, 10], as Kiln's
    optimizer = torch.optim.Adam([centres], lr=0.05, eps=1e-7)
    squared = (x * x).sum(1)
    start = time.perf_counter()
    for _ in range(STEPS):
        optimizer.zero_grad()
        to_centres = (centres * centres).sum(0) - 2 * (x @ centres)
        loss = (to_centres.min(1).values + squared).mean()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    np.save(out, centres.detach().numpy())
    print(f"RESULT {seconds} {torch.__version__}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--torch-child":
        return torch_child(*sys.argv[2:5])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kilnc", default=os.path.join(ROOT, "build", "bin", "kilnc"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    peer.ensure_openblas()
    from sklearn.cluster import KMeans, kmeans_plusplus
    from sklearn.datasets import load_digits
    with tempfile.TemporaryDirectory() as tmp:
        peak = peer.measure_peak(tmp)
        print(f"fp32 FMA peak of one core: {peak:.1f} GFLOP/s", flush=True)
        x = load_digits().data
        init, _ = kmeans_plusplus(x, 10, random_state=0)
        os.makedirs(os.path.join(tmp, "data"))
        data = os.path.join(tmp, "data", "x.npy")
        np.save(data, x.astype(np.float32))
        init_npy = os.path.join(tmp, "init.npy")
        np.save(init_npy, np.ascontiguousarray(init.T, dtype=np.float32))
        init_st = os.path.join(tmp, "init.safetensors")
        write_safetensors(init_st, [("centres", np.ascontiguousarray(init.T, dtype=np.float32))])
        binary = os.path.join(tmp, "KMeans")
        peer.run([args.kilnc, os.path.join(ROOT, "examples", "kmeans.kiln"), "--emit=exe", "-o", binary],
                 peer.kiln_env(), 300)
        kiln_times, kiln_step_times, torch_times = [], [], []
        kiln_out = os.path.join(tmp, "w.safetensors")
        torch_out = os.path.join(tmp, "torch.npy")
        for _ in range(args.rounds):
            start = time.perf_counter()
            peer.run(["taskset", "-c", "0", binary, "train", "--data", os.path.dirname(data), "--weights", init_st,
                      "--batch", "1797", "--epochs", str(STEPS), "--threads", "1", "--quiet"], peer.kiln_env(), 300)
            kiln_times.append(time.perf_counter() - start)
            out = peer.run(["taskset", "-c", "0", binary, "bench", "--function", "train_step", "--batch", "1797",
                            "--iters", str(STEPS), "--threads", "1"], peer.kiln_env(), 300)
            kiln_step_times.append(STEPS * float(re.search(r"([0-9.]+) ms/call", out).group(1)) / 1e3)
            out = peer.run(["taskset", "-c", "0", sys.executable, os.path.abspath(__file__), "--torch-child", data,
                            init_npy, torch_out], peer.torch_env(1), 300)
            seconds, torch_version = peer._result(out)
            torch_times.append(seconds)
        # One more Kiln run with --save, for its centres.
        peer.run([binary, "train", "--data", os.path.dirname(data), "--weights", init_st, "--batch", "1797",
                  "--epochs", str(STEPS), "--threads", "1", "--quiet", "--save", kiln_out], peer.kiln_env(), 300)
        kiln_centres = dict(read_safetensors(kiln_out)[0])["centres"].T.astype(np.float64)
        torch_centres = np.load(torch_out).T.astype(np.float64)
        start = time.perf_counter()
        reference = KMeans(n_clusters=10, init=init, n_init=1).fit(x)
        sklearn_seconds = time.perf_counter() - start
        kiln, torch_s = statistics.median(kiln_times), statistics.median(torch_times)
        kiln_steps = statistics.median(kiln_step_times)
        print(f"PyTorch {torch_version}, OPENBLAS_CORETYPE={peer.torch_env(1).get('OPENBLAS_CORETYPE', '(unset)')}")
        print(f"{'':<44}{'seconds':>9}{'inertia':>12}")
        print(f"{'Kiln (the 300 steps only)':<44}{kiln_steps:>9.3f}")
        print(f"{'Kiln (whole train command, 300 steps)':<44}{kiln:>9.3f}{inertia(x, kiln_centres):>12.0f}")
        print(f"{'PyTorch (the 300 steps only)':<44}{torch_s:>9.3f}{inertia(x, torch_centres):>12.0f}")
        print(f"{'scikit-learn KMeans (Lloyd, %d iterations)' % reference.n_iter_:<44}{sklearn_seconds:>9.3f}"
              f"{reference.inertia_:>12.0f}")
        print(f"Kiln is {torch_s / kiln_steps:.2f}x PyTorch's speed step for step, and {torch_s / kiln:.2f}x counting "
              f"its whole command against PyTorch's steps (medians of {args.rounds} rounds, one core)")


if __name__ == "__main__":
    main()
