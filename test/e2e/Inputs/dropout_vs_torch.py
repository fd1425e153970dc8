"""Trains test/e2e/Inputs/dropout_mlp.kiln (a 64-128-10 MLP with dropout 0.5)
on scikit-learn's digits with the Kiln binary, and the same network in
PyTorch (nn.Dropout, Adam 1e-3, batch 32, the same epochs) over five seeds,
and prints both test accuracies. Kiln's must lie within the spread of
PyTorch's runs (a margin of three standard deviations plus one point).

usage: dropout_vs_torch.py MODEL_BINARY WORK_DIR
"""
import os
import re
import subprocess
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits

binary, work = sys.argv[1:3]
digits = load_digits()
x = (digits.data / 16.0).astype(np.float32)
y = digits.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(x))
x, y = x[order], y[order]
train_x, train_y, test_x, test_y = x[:1297], y[:1297], x[1297:], y[1297:]
for name, (images, labels) in {"train": (train_x, train_y), "test": (test_x, test_y)}.items():
    os.makedirs(os.path.join(work, name), exist_ok=True)
    np.save(os.path.join(work, name, "x.npy"), images)
    np.save(os.path.join(work, name, "label.npy"), labels)
EPOCHS = 40

out = subprocess.run([binary, "train", "--data", os.path.join(work, "train"), "--test-data",
                      os.path.join(work, "test"), "--epochs", str(EPOCHS), "--batch", "32", "--seed", "1",
                      "--quiet"], check=True, capture_output=True, text=True).stdout
kiln = float(re.findall(r"test_accuracy: ([0-9.]+)", out)[-1])
train_kiln = float(re.findall(r" accuracy: ([0-9.]+)", out)[-1])

torch.set_num_threads(1)
scores = []
for seed in range(5):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                              torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    tx, ty = torch.from_numpy(train_x), torch.from_numpy(train_y).long()
    for epoch in range(EPOCHS):
        net.train()
        perm = torch.randperm(len(tx))
        for start in range(0, len(tx), 32):
            rows = perm[start:start + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(tx[rows]), ty[rows]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        scores.append(float((net(torch.from_numpy(test_x)).argmax(1).numpy() == test_y).mean()))
mean, spread = float(np.mean(scores)), float(np.std(scores))
margin = 3 * spread + 0.01
print(f"kiln test accuracy {kiln:.4f} (last epoch's training accuracy with dropout on: {train_kiln:.4f})")
print(f"pytorch test accuracy {mean:.4f} +- {spread:.4f} over 5 seeds")
print("within noise" if abs(kiln - mean) <= margin else f"OUTSIDE the margin {margin:.4f}")
