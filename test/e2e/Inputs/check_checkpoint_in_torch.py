#!/usr/bin/env python3
"""Reads a FashionCnn checkpoint that Kiln's trainer wrote with an
independent safetensors reader (test/runtime/Inputs/kiln_ref.py), runs the
same CNN in PyTorch on Fashion-MNIST's test images, and checks that its
accuracy equals the accuracy the model binary's `eval` reports: the trained
weights are usable from PyTorch by name and Keras layout alone.

Usage: check_checkpoint_in_torch.py BINARY CHECKPOINT SRC_ROOT
"""
import os
import re
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

binary, checkpoint, root = sys.argv[1:4]
sys.path.insert(0, os.path.join(root, "test", "runtime", "Inputs"))
import kiln_ref  # noqa: E402

data = "/usr/share/datasets/fashion-mnist"
tensors, metadata = kiln_ref.read_safetensors(checkpoint)
p = {name: torch.from_numpy(np.array(array)) for name, array in tensors}
print(f"checkpoint: {len(tensors)} tensors, step {metadata.get('step')}")
images = kiln_ref.read_idx(os.path.join(data, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
labels = kiln_ref.read_idx(os.path.join(data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
correct = 0
with torch.no_grad():
    for begin in range(0, len(images), 1000):
        x = torch.from_numpy(images[begin:begin + 1000, None, :, :])
        h = F.relu(F.conv2d(x, p["conv2d_0.kernel"].permute(3, 2, 0, 1), p["conv2d_0.bias"]))
        h = F.relu(F.conv2d(h, p["conv2d_1.kernel"].permute(3, 2, 0, 1), p["conv2d_1.bias"]))
        h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)
        h = F.relu(h @ p["dense_0.kernel"] + p["dense_0.bias"])
        logits = h @ p["dense_1.kernel"] + p["dense_1.bias"]
        correct += int((logits.argmax(1).numpy() == labels[begin:begin + 1000]).sum())
torch_accuracy = correct / len(images)
out = subprocess.run([binary, "eval", "--data", data, "--weights", checkpoint], capture_output=True, text=True,
                     check=True).stdout
kiln_accuracy = float(re.search(r"accuracy: ([0-9.]+)", out).group(1))
print(f"PyTorch accuracy {torch_accuracy:.4f}, Kiln eval accuracy {kiln_accuracy:.4f}")
# Kiln prints 4 decimals; near-ties in float32 may flip a prediction or two.
print("same" if abs(torch_accuracy - kiln_accuracy) <= 0.0003 else "DIFFERENT")
