#!/usr/bin/python3
"""Kiln's FashionCnn against PyTorch at its best on the CPU, training and
prediction side by side in one run, as ratios and as % of the machine's
measured fp32 FMA peak.

What: the rows of bench/train_vs_torch.py (a training step, Adam, batch 128
and 32) and of bench/predict_vs_torch.py (predict, batch 256 and 1), each
with 1 and 2 threads, after one set of machine checks (FMA peak, PyTorch's
SGEMM). How each side runs, and what PyTorch gets to be at its best, is in
those two scripts and in bench/peer.py. No same-probabilities check here
(predict_vs_torch.py has it).

Command (from the repository root; about 2 minutes):
  /usr/bin/python3 bench/cpu_vs_torch.py [--rounds 3] [--iters 20] [--kilnc build/bin/kilnc]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer  # noqa: E402
import predict_vs_torch  # noqa: E402
import train_vs_torch  # noqa: E402

if __name__ == "__main__":
    peer.main(__doc__, train_vs_torch.ROWS + predict_vs_torch.ROWS)
