#!/usr/bin/env python3
"""examples/kmeans.kiln against scikit-learn's KMeans, from the same start.

usage: kmeans_vs_sklearn.py KILNC WORKDIR

On scikit-learn's digits (1797 x 64): k-means++ picks 10 initial centres
(sklearn.cluster.kmeans_plusplus, random_state 0), written as the model's
`centres` parameter (64 x 10, one column per centre) to a safetensors file;
the model binary trains from them (`train --weights`) by Adam on the mean
squared distance to the nearest centre, full batch (300 steps) and in
mini-batches of 256 (60 epochs); scikit-learn runs Lloyd's algorithm
(`KMeans(n_clusters=10, init=those centres, n_init=1)`). Checked:
  - the inertia of Kiln's centres, computed here in float64 numpy, within 1%
    of scikit-learn's (the issue's bound);
  - `predict`'s `cluster` output is each point's nearest centre, as numpy
    computes it from the trained centres;
  - the two clusterings agree (adjusted Rand index, printed; > 0.9 required).
"""
import os
import subprocess
import sys

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "test", "runtime", "Inputs"))
from kiln_ref import read_safetensors, write_safetensors  # noqa: E402

failures = 0


def check(label, ok, detail):
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {detail}", flush=True)
    failures += not ok


def inertia(points, centres):
    """Sum of squared distances to the nearest centre, and the assignment."""
    d = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return d.min(1).sum(), d.argmin(1)


def main():
    kilnc, work = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(work, "data"), exist_ok=True)
    x = load_digits().data
    init, _ = kmeans_plusplus(x, 10, random_state=0)
    np.save(os.path.join(work, "data", "x.npy"), x.astype(np.float32))
    start = os.path.join(work, "init.safetensors")
    write_safetensors(start, [("centres", np.ascontiguousarray(init.T, dtype=np.float32))])
    reference = KMeans(n_clusters=10, init=init, n_init=1).fit(x)
    start_inertia, _ = inertia(x, init)
    print(f"k-means++ start: inertia {start_inertia:.0f}; scikit-learn KMeans: {reference.inertia_:.0f} "
          f"after {reference.n_iter_} Lloyd iterations")

    binary = os.path.join(work, "KMeans")
    subprocess.run([kilnc, os.path.join(ROOT, "examples", "kmeans.kiln"), "--emit=exe", "-o", binary], check=True)
    for label, args in (("full batch, 300 steps", ["--batch", "1797", "--epochs", "300"]),
                        ("mini-batches of 256, 60 epochs", ["--batch", "256", "--epochs", "60"])):
        weights = os.path.join(work, "w.safetensors")
        subprocess.run([binary, "train", "--data", os.path.join(work, "data"), "--weights", start, *args, "--save",
                        weights, "--quiet"], check=True, stdout=subprocess.DEVNULL)
        centres = dict(read_safetensors(weights)[0])["centres"].T.astype(np.float64)
        got, nearest = inertia(x, centres)
        ratio = got / reference.inertia_
        check(f"{label}: inertia within 1% of scikit-learn's", abs(ratio - 1) <= 0.01,
              f"{got:.0f} vs {reference.inertia_:.0f} (ratio {ratio:.4f})")
        out = os.path.join(work, "cluster.npy")
        subprocess.run([binary, "predict", "--input", os.path.join(work, "data", "x.npy"), "--weights", weights,
                        "--output", out, "--show", "0"], check=True, stdout=subprocess.DEVNULL)
        predicted = np.load(out)
        check(f"{label}: predict's cluster is the nearest centre", np.array_equal(predicted, nearest),
              f"{int((predicted != nearest).sum())} of {len(x)} differ")
        agreement = adjusted_rand_score(reference.labels_, predicted)
        check(f"{label}: the same clustering as scikit-learn's", agreement > 0.9,
              f"adjusted Rand index {agreement:.4f}")
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
