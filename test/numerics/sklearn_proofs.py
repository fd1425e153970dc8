#!/usr/bin/env python3
"""Kiln's training on real tabular data, checked against scikit-learn.

Three proofs, each on one of the example models exactly as written in
examples/ (same loss, same optimizer; only --lr/--epochs/--batch are passed):

  diabetes       examples/linear_regression.kiln (sgd) on scikit-learn's
                 diabetes set: test MSE vs sklearn's LinearRegression;
  breast_cancer  examples/logistic_regression.kiln (sgd + momentum) on the
                 standardized breast-cancer set: test accuracy vs sklearn's
                 LogisticRegression (default C = 1);
  iris           examples/linear_svm.kiln (hinge loss, rmsprop) on iris setosa
                 vs versicolor (linearly separable), labels -1 / +1:
                 training accuracy.

For each: a fixed split (train_test_split, test_size 0.2, random_state 0,
stratified for the classifiers), features standardized with the training
split's mean and std, written as DIR/x.npy and DIR/y.npy (float32) for train
and test; the model compiled with `kilnc --emit=exe`, trained with
`MODEL train --data TRAIN --test-data TEST --epochs E --batch B [--lr LR]
--seed 0 --save w.safetensors --quiet`, then `MODEL predict --input
TEST/x.npy --weights w.safetensors --output pred.npy`; the metric is computed
here in numpy from pred.npy (not from Kiln's own metrics), and compared with
scikit-learn fit on the same split.

Diabetes: y is NOT standardized (only the features are). Centering y would
make the bias's optimum 0, its initial value, so a broken bias gradient
would pass unnoticed (checked: a numpy GD with the bias gradient zeroed meets
every bound when y is centered); scaling y is not needed either: the targets
(25..346) and squared errors (~3000-30000) are well within float32, and
gradient descent on a least-squares loss is linear in y, so the trajectory
is the standardized one scaled, with the same steps to converge. The MSE is
then in the original units, directly comparable to sklearn's.

Modes:
  default (CI)  short runs, bounds a wrong gradient cannot meet: diabetes
                test MSE < 1.3 x sklearn's, breast-cancer test accuracy > 0.9,
                iris training accuracy = 1.0;
  --full        the documented runs, the issue's bounds: diabetes test MSE
                within 2% of sklearn's, breast-cancer test accuracy within 1
                point of sklearn's, iris training accuracy = 1.0.

Prints one `ok`/`FAIL` line per proof (with the numbers) and `N failed`.

Usage: sklearn_proofs.py KILNC WORKDIR [--full] [--verbose]   (--verbose: each command run, and the last epoch line)
"""
import os
import shlex
import subprocess
import sys
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "runtime", "Inputs"))
import kiln_ref  # noqa: E402  (independent safetensors reader)
SPLIT = dict(test_size=0.2, random_state=0)

# (epochs, batch, lr) per proof and mode; lr None = the model's own (all of
# them: sgd 0.1, sgd 0.1 momentum 0.9, rmsprop 0.01). Batches 353 and 455 are
# the whole training split (full-batch gradient descent).
RUNS = {
    "diabetes": {"ci": (200, 353, None), "full": (3000, 353, None)},
    "breast_cancer": {"ci": (20, 32, None), "full": (5000, 455, None)},
    "iris": {"ci": (20, 16, None), "full": (200, 16, None)},
}


def run(cmd, log):
    log.append(" ".join(shlex.quote(c) for c in cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (cmd[0], r.returncode, r.stdout, r.stderr))
    return r.stdout


def standardize(train, test):
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (train - mean) / std, (test - mean) / std, mean, std


def write_dir(path, x, y):
    os.makedirs(path, exist_ok=True)
    np.save(os.path.join(path, "x.npy"), np.ascontiguousarray(x, np.float32))
    np.save(os.path.join(path, "y.npy"), np.ascontiguousarray(y, np.float32))


def kiln_train_predict(kilnc, work, example, train_dir, test_dir, epochs, batch, lr, predict_dirs):
    """Compiles examples/EXAMPLE.kiln, trains, returns {dir: predictions}."""
    log = []
    exe = os.path.join(work, example)
    run([kilnc, os.path.join(ROOT, "examples", example + ".kiln"), "--emit=exe", "-o", exe], log)
    weights = os.path.join(work, "w.safetensors")
    cmd = [exe, "train", "--data", train_dir, "--test-data", test_dir, "--epochs", str(epochs),
           "--batch", str(batch), "--seed", "0", "--save", weights, "--quiet"]
    if lr is not None:
        cmd += ["--lr", repr(lr)]
    t0 = time.time()
    out = run(cmd, log)
    seconds = time.time() - t0
    preds = {}
    for d in predict_dirs:
        path = os.path.join(work, "pred_%s.npy" % os.path.basename(d))
        run([exe, "predict", "--input", os.path.join(d, "x.npy"), "--weights", weights,
             "--output", path, "--show", "0"], log)
        preds[d] = np.load(path).astype(np.float64).reshape(-1)
    last_epoch = [l for l in out.splitlines() if l.strip()][-2:] if out else []
    params = {n: a.astype(np.float64) for n, a in kiln_ref.read_safetensors(weights)[0]}
    return preds, params, log, seconds, last_epoch


def train_on_split(kilnc, work, example, dataset, mode, xtr, xte, ytr, yte):
    """Standardizes the split, writes it as <input>.npy directories, trains
    examples/EXAMPLE.kiln with RUNS[DATASET][MODE] and predicts both halves.
    Returns (standardized train x, standardized test x, {"train", "test":
    predictions}, params, log, seconds, last epoch lines)."""
    xtr_s, xte_s, _, _ = standardize(xtr, xte)
    train, test = os.path.join(work, "train"), os.path.join(work, "test")
    write_dir(train, xtr_s, ytr)
    write_dir(test, xte_s, yte)
    epochs, batch, lr = RUNS[dataset][mode]
    preds, params, log, secs, tail = kiln_train_predict(
        kilnc, work, example, train, test, epochs, batch, lr, [train, test])
    return xtr_s, xte_s, {"train": preds[train], "test": preds[test]}, params, log, secs, tail


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def diabetes(kilnc, work, mode):
    x, y = load_diabetes(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, **SPLIT)
    xtr_s, xte_s, preds, params, log, secs, tail = train_on_split(
        kilnc, work, "linear_regression", "diabetes", mode, xtr, xte, ytr, yte)
    mse = float(np.mean((preds["test"] - yte) ** 2))
    train_mse = float(np.mean((preds["train"] - ytr) ** 2))
    sk = LinearRegression().fit(xtr_s, ytr)
    sk_mse = float(np.mean((sk.predict(xte_s) - yte) ** 2))
    sk_train_mse = float(np.mean((sk.predict(xtr_s) - ytr) ** 2))  # the least possible
    coef_err = rel(np.append(params["w"], params["b"]), np.append(sk.coef_, sk.intercept_))
    ratio = mse / sk_mse
    if mode == "full":
        passed, bound = abs(ratio - 1) <= 0.02, "test MSE within 2% of sklearn's"
    else:
        # Test MSE alone is a weak statistic here (predicting the mean gives
        # 1.50 x, early-stopped weights already ~1.01 x), so the training MSE
        # must also come down to the least-squares minimum.
        passed = ratio < 1.3 and train_mse < 1.01 * sk_train_mse
        bound = "test MSE < 1.3 x sklearn's, training MSE < 1.01 x the least-squares minimum"
    detail = ("test MSE %.2f vs sklearn LinearRegression %.2f (ratio %.4f); training MSE %.2f vs %.2f "
              "(ratio %.4f); |(w, b) - sklearn's| / |sklearn's| = %.4f; %d train / %d test; bound: %s") % (
        mse, sk_mse, ratio, train_mse, sk_train_mse, train_mse / sk_train_mse, coef_err,
        len(ytr), len(yte), bound)
    return passed, detail, log, secs, tail


def logistic_objective(w, b, x, y):
    """examples/logistic_regression.kiln's loss, in float64."""
    z = x @ w + b
    # binary cross-entropy of sigmoid(z), written stably
    bce = np.mean(np.logaddexp(0, z) - y * z)
    return float(bce + 1e-4 * np.sum(w ** 2))


def breast_cancer(kilnc, work, mode):
    x, y = load_breast_cancer(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, stratify=y, **SPLIT)
    xtr_s, xte_s, preds, params, log, secs, tail = train_on_split(
        kilnc, work, "logistic_regression", "breast_cancer", mode, xtr, xte, ytr, yte)
    acc = float(np.mean((preds["test"] > 0.5) == (yte > 0.5)))
    sk = LogisticRegression().fit(xtr_s, ytr)  # the reference: default C = 1
    sk_acc = float(np.mean(sk.predict(xte_s) == yte))
    # The model's own objective, mean BCE + 1e-4 |w|^2 (b unpenalized), is
    # sklearn's with C = 1 / (2 N 1e-4); its minimum is what the optimizer
    # should approach.
    same = LogisticRegression(C=1 / (2 * len(ytr) * 1e-4), tol=1e-10, max_iter=100000).fit(xtr_s, ytr)
    same_acc = float(np.mean(same.predict(xte_s) == yte))
    obj = logistic_objective(params["w"], params["b"], xtr_s, ytr)
    obj_min = logistic_objective(same.coef_[0], same.intercept_[0], xtr_s, ytr)
    n = len(yte)
    if mode == "full":
        passed, bound = abs(acc - sk_acc) <= 0.01 + 1e-12, "test accuracy within 1 point of sklearn's"
    else:
        passed = acc > 0.9 and obj < 1.5 * obj_min
        bound = "test accuracy > 0.9, objective < 1.5 x its minimum"
    detail = ("test accuracy %.4f (%d/%d) vs sklearn LogisticRegression %.4f (%d/%d); same objective "
              "(C = %.2f): sklearn %.4f (%d/%d), objective %.5f vs its minimum %.5f, "
              "|w - w_sklearn| / |w_sklearn| = %.4f; bound: %s") % (
        acc, round(acc * n), n, sk_acc, round(sk_acc * n), n, same.C, same_acc, round(same_acc * n), n,
        obj, obj_min, rel(params["w"], same.coef_[0]), bound)
    return passed, detail, log, secs, tail


def svm_objective(w, b, x, y):
    """examples/linear_svm.kiln's loss, in float64."""
    return float(np.mean(np.maximum(0, 1 - y * (x @ w + b))) + 0.01 * np.sum(w ** 2))


def iris(kilnc, work, mode):
    x, y = load_iris(return_X_y=True)
    keep = y < 2  # setosa (0) vs versicolor (1)
    x, y = x[keep], np.where(y[keep] == 1, 1.0, -1.0)
    xtr, xte, ytr, yte = train_test_split(x, y, stratify=y, **SPLIT)
    xtr_s, xte_s, preds, params, log, secs, tail = train_on_split(
        kilnc, work, "linear_svm", "iris", mode, xtr, xte, ytr, yte)
    acc = float(np.mean(np.sign(preds["train"]) == ytr))
    test_acc = float(np.mean(np.sign(preds["test"]) == yte))
    # The model's objective, mean hinge + 0.01 |w|^2 (b unpenalized), is
    # libsvm's 0.5 |w|^2 + C sum hinge with C = 1 / (2 N 0.01), scaled.
    svc = SVC(kernel="linear", C=1 / (2 * len(ytr) * 0.01), tol=1e-8).fit(xtr_s, ytr)
    obj = svm_objective(params["w"], params["b"], xtr_s, ytr)
    obj_min = svm_objective(svc.coef_[0], svc.intercept_[0], xtr_s, ytr)
    passed = acc == 1.0
    if mode == "full":
        bound = "training accuracy = 1.0"
    else:
        passed = passed and obj < 1.5 * obj_min
        bound = "training accuracy = 1.0, objective < 1.5 x its minimum"
    detail = ("training accuracy %.4f (%d/%d), test accuracy %.4f (%d/%d); objective %.5f vs its minimum "
              "%.5f (sklearn SVC, C = %.3f), |w - w_sklearn| / |w_sklearn| = %.4f; bound: %s") % (
        acc, round(acc * len(ytr)), len(ytr), test_acc, round(test_acc * len(yte)), len(yte),
        obj, obj_min, svc.C, rel(params["w"], svc.coef_[0]), bound)
    return passed, detail, log, secs, tail


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    if len(args) != 2 or any(f not in ("--full", "--verbose") for f in flags):
        sys.exit("usage: sklearn_proofs.py KILNC WORKDIR [--full] [--verbose]")
    kilnc, workdir = args
    mode = "full" if "--full" in flags else "ci"
    verbose = "--verbose" in flags
    failed = 0
    for name, proof in (("diabetes", diabetes), ("breast_cancer", breast_cancer), ("iris", iris)):
        work = os.path.join(workdir, name)
        os.makedirs(work, exist_ok=True)
        epochs, batch, lr = RUNS[name][mode]
        try:
            passed, detail, log, secs, tail = proof(kilnc, work, mode)
        except Exception as e:  # a failed compile or run is a failed proof
            passed, detail, log, secs, tail = False, "error: %s" % e, [], 0.0, []
        failed += not passed
        print("%s %s %s: %s [epochs %d, batch %d, lr %s, train %.1f s]" % (
            "ok  " if passed else "FAIL", mode, name, detail, epochs, batch,
            "model's" if lr is None else lr, secs))
        if verbose:
            for c in log:
                print("    $ " + c)
            for l in tail:
                print("    | " + l)
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
