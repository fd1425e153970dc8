#!/usr/bin/env python3
"""examples/pca.kiln against scikit-learn's PCA on its digits.

usage: pca_vs_sklearn.py KILNC WORKDIR

The host centres the 1797 x 64 digits (the mean, as PCA subtracts it),
trains the tied linear autoencoder (`train`, full batch, Adam, STEPS steps,
seed 0), reads w (64 x 10) from the checkpoint and orthonormalises its
columns (QR). Against `sklearn.decomposition.PCA(n_components=10)`:
  - the variance the learned subspace explains, trace(Q^T C Q) with C the
    data's covariance, within 1% of the sum of scikit-learn's
    explained_variance_;
  - every principal angle between the learned subspace and scikit-learn's
    (cosines: the singular values of Q^T V) at least 0.99;
  - predict's `code` output equals x w computed here.
"""
import os
import subprocess
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "test", "runtime", "Inputs"))
from kiln_ref import read_safetensors  # noqa: E402

STEPS = 2000
failures = 0


def check(label, ok, detail):
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {detail}", flush=True)
    failures += not ok


def main():
    kilnc, work = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(work, "data"), exist_ok=True)
    digits = load_digits().data
    x = digits - digits.mean(0)
    np.save(os.path.join(work, "data", "x.npy"), x.astype(np.float32))
    reference = PCA(n_components=10).fit(digits)

    binary = os.path.join(work, "Pca")
    subprocess.run([kilnc, os.path.join(ROOT, "examples", "pca.kiln"), "--emit=exe", "-o", binary], check=True)
    weights = os.path.join(work, "w.safetensors")
    subprocess.run([binary, "train", "--data", os.path.join(work, "data"), "--batch", str(len(x)), "--epochs",
                    str(STEPS), "--seed", "0", "--save", weights, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    w = dict(read_safetensors(weights)[0])["w"].astype(np.float64)
    q, _ = np.linalg.qr(w)
    covariance = np.cov(x, rowvar=False)
    explained = np.trace(q.T @ covariance @ q)
    wanted = reference.explained_variance_.sum()
    check("explained variance within 1% of scikit-learn's", abs(explained / wanted - 1) <= 0.01,
          f"{explained:.2f} vs {wanted:.2f} (ratio {explained / wanted:.5f})")
    cosines = np.linalg.svd(q.T @ reference.components_.T, compute_uv=False)
    check("every principal angle's cosine >= 0.99", cosines.min() >= 0.99,
          "cosines " + " ".join(f"{c:.4f}" for c in sorted(cosines)))
    out = os.path.join(work, "code.npy")
    subprocess.run([binary, "predict", "--input", os.path.join(work, "data", "x.npy"), "--weights", weights,
                    "--output", out, "--show", "0"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    code = np.load(out)
    expected = x.astype(np.float32) @ w.astype(np.float32)
    difference = np.abs(code - expected).max() / np.abs(expected).max()
    check("predict's code is x w", difference < 1e-5, f"max relative difference {difference:.2e}")
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
