#!/usr/bin/python3
"""Prediction throughput on the CPU: Kiln's FashionCnn against PyTorch at its
best, side by side in one run, as ratios and as % of the machine's measured
FMA peak.

What: `predict` (the probabilities, softmax included) on random batches of 256
and of 1 28x28 images, with 1 and 2 threads, in images/s (13.37 MFLOP per
image, from the layer shapes in bench/peer.py).

How: Kiln as shipped is the binary of `build/bin/kilnc
examples/fashion_cnn.kiln --emit=exe`, timed by its `bench --function
predict`. PyTorch (Debian's python3-torch) runs the same network
(conv 3x3 1->32 relu, conv 3x3 32->32 relu, flatten, dense 18432->64
relu, dense 64->10, softmax) under torch.inference_mode(), frozen by
TorchScript (torch.jit.freeze(torch.jit.script(model.eval()))), with
OpenBLAS tuned for this CPU and glibc malloc settings (bench/peer.py). Each
PyTorch child times four variants briefly (with 2 threads, each also with
OpenBLAS on one thread) and then times the fastest: NCHW or channels_last
(model and inputs), each frozen, or frozen and then passed through
torch.jit.optimize_for_inference (oneDNN weight prepacking). Rounds
alternate Kiln and PyTorch; bench/peer.py describes the machine checks (FMA
peak, SGEMM), the environments and the table.

Before the rounds, if build/bin/kiln-bench-predict exists (it is not built
here), checks that Kiln (that tool compiles the model with kiln::Jit) and
PyTorch compute the same probabilities on the same weights and Fashion-MNIST
test images (random ones without the dataset): relative error < 1e-5 at
batch 1, 3, 128 and 256. --no-check skips it.

Command (from the repository root; about a minute):
  /usr/bin/python3 bench/predict_vs_torch.py [--rounds 3] [--iters 20] [--kilnc build/bin/kilnc] [--no-check]
"""
import gzip
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer  # noqa: E402

IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
# FashionCnn's parameters in declaration order, in Kiln's layouts (HWCF kernels).
PARAM_SHAPES = [(3, 3, 1, 32), (32,), (3, 3, 32, 32), (32,), (18432, 64), (64,), (64, 10), (10,)]


def torch_params(arrays):
    """FashionCnn's parameters (numpy, Kiln's layouts) as torch tensors for
    reference_predict: the HWCF kernels become FCHW, contiguous once."""
    import torch
    k0, b0, k1, b1, d0, c0, d1, c1 = (torch.from_numpy(a) for a in arrays)
    return [k0.permute(3, 2, 0, 1).contiguous(), b0, k1.permute(3, 2, 0, 1).contiguous(), b1, d0, c0, d1, c1]


def reference_predict(params, x_nchw):
    """FashionCnn's predict written out in PyTorch (the probabilities), the
    reference for the same-probabilities check and bench/gpu_vs_torch.py."""
    import torch
    import torch.nn.functional as F
    k0, b0, k1, b1, d0, c0, d1, c1 = params
    h = F.relu(F.conv2d(F.relu(F.conv2d(x_nchw, k0, b0)), k1, b1))
    h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # flattened in NHWC order, as Kiln does
    return torch.softmax(F.relu(h @ d0 + c0) @ d1 + c1, dim=1)


def torch_predict(batch, threads, calls):
    """PyTorch child: images/s of predict, and the variant that gave it."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    variants = []
    for layout_name, layout in (("NCHW", torch.contiguous_format), ("channels_last", torch.channels_last)):
        model = torch.nn.Sequential(peer.torch_fashion_cnn(), torch.nn.Softmax(dim=1)).to(memory_format=layout)
        x = torch.rand(batch, 1, 28, 28).contiguous(memory_format=layout)
        frozen = torch.jit.freeze(torch.jit.script(model.eval()))
        # optimize_for_inference rewrites a frozen module in place: it gets its own.
        optimized = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model.eval())))
        for name, module in ((layout_name, frozen), (f"{layout_name} + optimize_for_inference", optimized)):
            def step(module=module, x=x):
                with torch.inference_mode():
                    module(x)
            variants.append((name, step))
    return peer.fastest(variants, batch, threads, calls)


ROWS = [peer.Row(f"predict b{batch}", "predict", batch, peer.FORWARD_FLOPS, torch_predict) for batch in (256, 1)]


# ---------------------------------------------------------------------------
# The same probabilities (Kiln through kiln-bench-predict, PyTorch in this process)


def add_arguments(parser):
    parser.add_argument("--kiln-bench", default=os.path.join(peer.ROOT, "build", "bin", "kiln-bench-predict"))
    parser.add_argument("--no-check", action="store_true", help="skip the same-probabilities check")


def check_same_probabilities(args, tmp):
    if args.no_check:
        return
    if not os.path.exists(args.kiln_bench):
        print(f"{args.kiln_bench} is not built: skipping the same-probabilities check", flush=True)
        return
    import numpy as np
    import torch
    rng = np.random.default_rng(1234)
    arrays = [(rng.standard_normal(shape) * 0.05).astype(np.float32) for shape in PARAM_SHAPES]
    params = torch_params(arrays)
    if os.path.exists(IMAGES):
        with gzip.open(IMAGES, "rb") as f:
            pixels = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28, 1)[:256]
        images, source = pixels.astype(np.float32) / 255.0, "Fashion-MNIST test images"
    else:
        images, source = rng.random((256, 28, 28, 1), dtype=np.float32), "random images"
    params_path, input_path = os.path.join(tmp, "params.f32"), os.path.join(tmp, "images.f32")
    np.concatenate([a.ravel() for a in arrays]).tofile(params_path)
    images.tofile(input_path)
    for batch in (1, 3, 128, 256):
        dump = os.path.join(tmp, f"probs{batch}.f32")
        try:
            subprocess.run([args.kiln_bench, os.path.join(peer.ROOT, "examples", "fashion_cnn.kiln"), "--batch",
                            str(batch), "--reps", "1", "--params", params_path, "--input", input_path,
                            "--dump-output", dump], env=peer.kiln_env(), capture_output=True, check=True, timeout=120)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            sys.exit(f"{args.kiln_bench} failed: {error}\n{(error.stderr or b'').decode(errors='replace')}")
        got = np.fromfile(dump, dtype=np.float32).reshape(batch, 10)
        x = torch.from_numpy(np.resize(images, (batch, 28, 28, 1))).permute(0, 3, 1, 2)
        with torch.inference_mode():
            want = reference_predict(params, x).numpy()
        error = np.linalg.norm(got - want) / np.linalg.norm(want)
        if not error < 1e-5:
            sys.exit(f"batch {batch}: Kiln and PyTorch compute different probabilities (relative error {error:.2e})")
        print(f"same probabilities, batch {batch} ({source}): relative error {error:.1e}", flush=True)


if __name__ == "__main__":
    peer.main(__doc__, ROWS, add_arguments, check_same_probabilities)
