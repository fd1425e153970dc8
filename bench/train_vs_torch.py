#!/usr/bin/python3
"""Training throughput on the CPU: Kiln's FashionCnn against PyTorch at its best,
side by side in one run, as ratios and as % of the machine's measured FMA peak.

What: one training step (forward, cross-entropy loss, backward, Adam with
lr 0.001 and epsilon 1e-7 as Kiln's) on random batches of 128 and of 32
28x28 images, with 1 and 2 threads, in images/s (40.1 MFLOP per image and
step).

How: Kiln as shipped is the binary of `build/bin/kilnc
examples/fashion_cnn.kiln --emit=exe`, timed by its `bench --function
train_step`. PyTorch (Debian's python3-torch) runs the same network
(conv 3x3 1->32 relu, conv 3x3 32->32 relu, flatten, dense 18432->64
relu, dense 64->10) with OpenBLAS tuned for this CPU and glibc malloc
settings (bench/peer.py), in NCHW or channels_last (model and inputs),
whichever is faster: each PyTorch child times both briefly (with 2 threads,
each also with OpenBLAS on one thread) and then times the fastest. Rounds
alternate Kiln and PyTorch; bench/peer.py describes the machine checks (FMA
peak, SGEMM), the environments and the table.

Command (from the repository root; under a minute):
  /usr/bin/python3 bench/train_vs_torch.py [--rounds 3] [--iters 20] [--kilnc build/bin/kilnc]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer  # noqa: E402


def torch_train(batch, threads, calls):
    """PyTorch child: images/s of a training step, and the layout that gave it."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    def step_in(layout):
        model = peer.torch_fashion_cnn().to(memory_format=layout)
        x = torch.rand(batch, 1, 28, 28).contiguous(memory_format=layout)
        y = torch.randint(0, 10, (batch,))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)

        def step():
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        return step

    variants = [("NCHW", step_in(torch.contiguous_format)), ("channels_last", step_in(torch.channels_last))]
    return peer.fastest(variants, batch, threads, calls)


ROWS = [peer.Row(f"train b{batch}", "train_step", batch, peer.TRAIN_FLOPS, torch_train) for batch in (128, 32)]

if __name__ == "__main__":
    peer.main(__doc__, ROWS)
