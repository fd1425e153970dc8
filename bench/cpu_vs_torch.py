#!/usr/bin/python3
"""Kiln's FashionCnn against PyTorch at its best, side by side, on the CPU.

What it measures, in one run, as ratios and as % of the machine's measured
fp32 FMA peak:
  - training: one optimizer step (Adam, lr 0.001) at batch 128 and 32;
  - prediction: batch 256 and batch 1;
each with 1 and 2 threads (1 thread: both pinned to CPU 0 with taskset).

Kiln runs as shipped: the binary from `kilnc examples/fashion_cnn.kiln
--emit=exe`, its `bench --function train_step|predict --threads T` command,
with OPENBLAS_*/GLIBC_TUNABLES removed from its environment.

PyTorch (Debian's python3-torch) gets what makes it fastest here, and only
in its own command:
  - OpenBLAS: installs libopenblas0-pthread if missing (without it PyTorch
    runs on the reference BLAS, ~8 GFLOP/s), and OPENBLAS_CORETYPE=SkylakeX
    on AVX-512 CPUs (Haswell on AVX2 ones): Debian's OpenBLAS 0.3.21 does
    not recognise recent CPUs and falls back to slow kernels. An SGEMM is
    timed first; below 40% of the peak the script stops rather than publish
    a ratio against an untuned peer.
  - glibc malloc settings that keep freed memory (no page faults per step).
  - channels_last when it is faster (tried both, per row), and TorchScript
    freezing (torch.jit.freeze) for prediction.
Both sides run the same network on random inputs; time per call is the
median over `--iters` calls after warm-up; rounds alternate Kiln, PyTorch.

Command (from the repository root, after scripts/setup.sh):
  /usr/bin/python3 bench/cpu_vs_torch.py [--rounds 3] [--iters 20]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORWARD_FLOPS = 2 * (26 * 26 * 32 * 9 * 1 + 24 * 24 * 32 * 9 * 32 + 18432 * 64 + 64 * 10)  # per image
TRAIN_FLOPS = 3 * FORWARD_FLOPS  # forward, input gradients, weight gradients
PEER_MALLOC = ("glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=2147483647:"
               "glibc.malloc.top_pad=268435456")

TORCH_CHILD = r'''
import sys, time, statistics, torch, torch.nn as nn
mode, batch, threads, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
if mode == "sgemm":
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = min((lambda t: (torch.mm(a, b), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(20))
    print("RESULT", 2 * 1024 ** 3 / best / 1e9); sys.exit()
def net():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(18432, 64), nn.ReLU(), nn.Linear(64, 10))
def timed(step):
    for _ in range(3): step()
    times = []
    for _ in range(iters):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
    return statistics.median(times)
best = None
for layout in (torch.contiguous_format, torch.channels_last):
    model = net().to(memory_format=layout)
    x = torch.rand(batch, 1, 28, 28).to(memory_format=layout)
    y = torch.randint(0, 10, (batch,))
    if mode == "train":
        opt = torch.optim.Adam(model.parameters(), lr=0.001)
        loss_fn = nn.CrossEntropyLoss()
        def step():
            opt.zero_grad(set_to_none=True); loss_fn(model(x), y).backward(); opt.step()
    else:
        frozen = torch.jit.freeze(torch.jit.script(model.eval()))
        def step():
            with torch.inference_mode(): torch.softmax(frozen(x), 1)
    seconds = timed(step)
    name = "channels_last" if layout is torch.channels_last else "NCHW"
    if best is None or seconds < best[0]: best = (seconds, name)
print("RESULT", batch / best[0], best[1])
'''


def peer_env():
    env = dict(os.environ, GLIBC_TUNABLES=PEER_MALLOC)
    flags = open("/proc/cpuinfo").read()
    if " avx512f" in flags:
        env["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif " avx2" in flags:
        env["OPENBLAS_CORETYPE"] = "Haswell"
    return env


def kiln_env():
    return {k: v for k, v in os.environ.items()
            if not k.startswith("OPENBLAS_") and k != "GLIBC_TUNABLES" and k != "KILN_NUM_THREADS"}


def run(command, env, timeout=300):
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{out.stderr}")
    return out.stdout


def pinned(threads):
    return ["taskset", "-c", "0"] if threads == 1 else []


def ensure_openblas():
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "libopenblas0-pthread"],
                            capture_output=True, text=True).stdout
    if "install ok installed" not in status:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "libopenblas0-pthread"], check=True)


def measure_peak(tmp):
    exe = os.path.join(tmp, "fma_peak")
    subprocess.run(["clang-22", "-O2", "-march=native", os.path.join(ROOT, "bench", "peak", "fma_peak.c"), "-o", exe],
                   check=True)
    return float(run(["taskset", "-c", "0", exe], kiln_env()))


def torch_rate(mode, batch, threads, iters):
    out = run(pinned(threads) + ["/usr/bin/python3", "-c", TORCH_CHILD, mode, str(batch), str(threads), str(iters)],
              peer_env())
    fields = re.search(r"RESULT (\S+) ?(\S*)", out)
    return float(fields.group(1)), fields.group(2)


def kiln_rate(binary, function, batch, threads, iters):
    out = run(pinned(threads) + [binary, "bench", "--function", function, "--batch", str(batch),
                                 "--iters", str(iters), "--threads", str(threads)], kiln_env())
    return float(re.search(r"([\d.]+) examples/s", out).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kilnc", default=os.path.join(ROOT, "build", "bin", "kilnc"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    ensure_openblas()
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "FashionCnn")
        run([args.kilnc, os.path.join(ROOT, "examples", "fashion_cnn.kiln"), "--emit=exe", "-o", binary], kiln_env())
        peak = measure_peak(tmp)
        sgemm, _ = torch_rate("sgemm", 0, 1, 0)
        cpu = re.search(r"Model name:\s*(.*)", run(["lscpu"], kiln_env())).group(1).strip()
        print(f"CPU: {cpu}; measured fp32 FMA peak {peak:.0f} GFLOP/s per core")
        print(f"PyTorch SGEMM 1024^3, 1 thread: {sgemm:.0f} GFLOP/s ({100 * sgemm / peak:.0f}% of peak), "
              f"OPENBLAS_CORETYPE={peer_env().get('OPENBLAS_CORETYPE', '(unset)')}")
        if sgemm < 0.4 * peak:
            sys.exit("PyTorch's BLAS is slow here: not publishing a ratio against an untuned peer")
        rows = [("train_step", "train", 128), ("train_step", "train", 32), ("predict", "predict", 256),
                ("predict", "predict", 1)]
        print("\n| figure | threads | PyTorch at its best (images/s, % of peak) | Kiln as shipped "
              "(images/s, % of peak) | Kiln / PyTorch |")
        print("|---|---:|---:|---:|---:|")
        for function, mode, batch in rows:
            flops = TRAIN_FLOPS if mode == "train" else FORWARD_FLOPS
            for threads in (1, 2):
                iters = args.iters if batch > 1 else args.iters * 20
                kiln, torch, layouts = [], [], set()
                for _ in range(args.rounds):
                    kiln.append(kiln_rate(binary, function, batch, threads, iters))
                    rate, layout = torch_rate(mode, batch, threads, iters)
                    torch.append(rate)
                    layouts.add(layout)
                k, t = statistics.median(kiln), statistics.median(torch)
                pct = lambda rate: 100 * rate * flops / (peak * 1e9 * threads)
                print(f"| {mode} b{batch} | {threads} | {t:.0f} ({pct(t):.0f}%, {'/'.join(sorted(layouts))}; "
                      f"{min(torch):.0f}-{max(torch):.0f}) | {k:.0f} ({pct(k):.0f}%; {min(kiln):.0f}-{max(kiln):.0f}) "
                      f"| {k / t:.2f} |", flush=True)


if __name__ == "__main__":
    main()
