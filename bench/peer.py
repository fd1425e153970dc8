#!/usr/bin/python3
"""The machine and the PyTorch peer, measured once per run, and the side-by-side
comparison shared by the CPU benchmarks against PyTorch (train_vs_torch.py,
predict_vs_torch.py and cpu_vs_torch.py, which runs both).

Once per run, before any figure:
  - OpenBLAS: installs Debian's libopenblas0-pthread if it is missing (as
    root or through sudo); without it PyTorch runs its matrix products on the
    reference BLAS, ~8 GFLOP/s.
  - The peak: bench/peak/fma_peak.c, compiled here with `clang-22 -O2
    -march=native` (else `cc`), runs 12 independent chains of 16-lane
    (AVX-512) or 8-lane FMAs on CPU 0 and prints the fp32 GFLOP/s of one core;
    the run stops if that is not a plausible clock for two FMA pipes.
  - The peer's BLAS: a 1024^3 SGEMM (torch.mm, 1 thread, best of 10) in a
    PyTorch child with the peer's environment; below 40% of the peak the run
    stops instead of publishing a ratio against an untuned peer.

Environments. PyTorch's children get os.environ plus OPENBLAS_CORETYPE
(SkylakeX on AVX-512 CPUs, Haswell on AVX2 ones: Debian's OpenBLAS 0.3.21
predates Zen 5; on its own it picks Cooperlake's kernels there, a little
slower than SkylakeX's, and an OPENBLAS_CORETYPE=Haswell left in the
environment halves its SGEMM), OPENBLAS_NUM_THREADS = the row's threads, and
glibc malloc settings that keep freed memory (no page faults per step). With
more than one thread each PyTorch variant is also tried with OpenBLAS on one
thread (openblas_set_num_threads), next to PyTorch's own OpenMP threads.
Kiln runs as shipped: its environment drops OPENBLAS_*, GLIBC_TUNABLES and
KILN_NUM_THREADS (the thread count is the binary's --threads).

Rows. A benchmark script lists Rows and calls main(). Each round runs, per
row and thread count (1 and 2), Kiln's `FashionCnn bench --function F
--batch B --iters N [--threads T]` (the binary from `kilnc
examples/fashion_cnn.kiln --emit=exe`), then the row's PyTorch function in
a child process (`python3 SCRIPT --torch-child FUNCTION B T N`, so the
parent never loads torch); 1-thread rows run both under `taskset -c 0`. The
table gives medians over the rounds, the per-round range, % of peak
(images/s x FLOP per image / (peak x threads)) and Kiln / PyTorch. FLOP per
image are the direct convolution's: Kiln's inference functions compute 3x3
convolutions as Winograd F(4x4, 3x3), with 4x fewer multiplications, so a
predict row's % is an effective rate and can pass 100.
"""
import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER_MALLOC = ("glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=2147483647:"
               "glibc.malloc.top_pad=268435456")
THREADS = (1, 2)
SGEMM_FLOOR = 0.4  # of the peak; below it PyTorch's BLAS is not its best
FMA_PIPES = 2  # per core, on the CPUs this is run on (Zen 4/5, Intel server cores)
CPUINFO_FLAGS = set(re.search(r"^flags\s*:(.*)$", open("/proc/cpuinfo").read(), re.M).group(1).split())
LANES = 16 if "avx512f" in CPUINFO_FLAGS else 8

# FashionCnn (examples/fashion_cnn.kiln): 28x28x1 images, two valid 3x3
# convolutions with relu, flatten, dense 64 with relu, dense 10.
IMAGE, KERNEL, CONV_FILTERS, DENSE_UNITS = (28, 28, 1), 3, (32, 32), (64, 10)


def forward_flops():
    """FLOP per image of FashionCnn's forward pass (2 per multiply-add; bias, relu
    and softmax, a few thousand, left out)."""
    height, width, channels = IMAGE
    flops = 0
    for filters in CONV_FILTERS:
        height, width = height - KERNEL + 1, width - KERNEL + 1
        flops += 2 * height * width * filters * KERNEL * KERNEL * channels
        channels = filters
    features = height * width * channels
    for units in DENSE_UNITS:
        flops += 2 * features * units
        features = units
    return flops


FORWARD_FLOPS = forward_flops()  # 13.37 M
TRAIN_FLOPS = 3 * FORWARD_FLOPS  # forward, input gradients, weight gradients: 40.1 M


def torch_fashion_cnn():
    """FashionCnn as a PyTorch module (NCHW; for the PyTorch children)."""
    import torch.nn as nn
    layers, channels = [], IMAGE[2]
    for filters in CONV_FILTERS:
        layers += [nn.Conv2d(channels, filters, KERNEL), nn.ReLU()]
        channels = filters
    layers.append(nn.Flatten())
    features = (IMAGE[0] - len(CONV_FILTERS) * (KERNEL - 1)) ** 2 * channels
    for i, units in enumerate(DENSE_UNITS):
        layers.append(nn.Linear(features, units))
        if i + 1 < len(DENSE_UNITS):
            layers.append(nn.ReLU())
        features = units
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------
# Environments and processes


def torch_env(threads):
    env = dict(os.environ, GLIBC_TUNABLES=PEER_MALLOC, OPENBLAS_NUM_THREADS=str(threads))
    if "avx512f" in CPUINFO_FLAGS:
        env["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif "avx2" in CPUINFO_FLAGS:
        env["OPENBLAS_CORETYPE"] = "Haswell"
    return env


def kiln_env():
    return {name: value for name, value in os.environ.items()
            if not name.startswith("OPENBLAS_") and name not in ("GLIBC_TUNABLES", "KILN_NUM_THREADS")}


def pinned(threads):
    return ["taskset", "-c", "0"] if threads == 1 else []


def run(command, env, timeout):
    """Runs `command`; its stdout, or the run stops with its output."""
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        sys.exit(f"timed out after {timeout} s: {' '.join(command)}")
    if out.returncode != 0:
        sys.exit(f"failed (exit {out.returncode}): {' '.join(command)}\n{out.stdout}{out.stderr}")
    return out.stdout


def ensure_packages(packages, why):
    """Installs the Debian packages a benchmark needs (apt, as root or
    through sudo) unless they are there."""
    missing = [p for p in packages if not subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout.endswith("install ok installed")]
    if not missing:
        return
    print(f"installing {' '.join(missing)} ({why})", flush=True)
    apt = ([] if os.geteuid() == 0 else ["sudo"]) + ["apt-get", "-y", "-q"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(apt + ["install"] + missing, env=env, timeout=900).returncode != 0:
        subprocess.run(apt + ["update"], env=env, timeout=900)
        if subprocess.run(apt + ["install"] + missing, env=env, timeout=900).returncode != 0:
            sys.exit(f"could not install {' '.join(missing)} ({why})")


def ensure_openblas():
    # Without it PyTorch runs on the reference BLAS.
    ensure_packages(["libopenblas0-pthread"], "PyTorch's BLAS")


# ---------------------------------------------------------------------------
# The machine


Machine = collections.namedtuple("Machine", "description peak sgemm coretype blas torch_version")


def measure_peak(tmp):
    """GFLOP/s of fp32 FMAs on one core (CPU 0)."""
    exe = os.path.join(tmp, "fma_peak")
    source = os.path.join(ROOT, "bench", "peak", "fma_peak.c")
    for compiler in ("clang-22", "cc"):
        if shutil.which(compiler) and subprocess.run([compiler, "-O2", "-march=native", source, "-o", exe],
                                                     timeout=120).returncode == 0:
            return float(run(["taskset", "-c", "0", exe], kiln_env(), 120))
    sys.exit(f"could not compile {source} with clang-22 or cc")


def measure_machine(tmp):
    """Measures and prints the peak and the peer's SGEMM; stops the run if either is off."""
    lscpu = run(["lscpu"], kiln_env(), 30)
    model = re.search(r"Model name:\s*(.*)", lscpu).group(1).strip()
    description = f"{model}, {os.cpu_count()} CPUs, {'AVX-512' if LANES == 16 else 'AVX2'}"
    peak = measure_peak(tmp)
    clock = peak / (FMA_PIPES * LANES * 2)
    print(f"fp32 FMA peak of one core: {peak:.1f} GFLOP/s = {FMA_PIPES} FMA pipes x {LANES} lanes x 2 flops x "
          f"{clock:.2f} GHz", flush=True)
    if not 1.5 <= clock <= 6.0:
        sys.exit(f"implausible FMA peak: {clock:.2f} GHz (1.5 to 6 expected) for {FMA_PIPES} FMA pipes of {LANES} "
                 "lanes; is CPU 0 busy?")
    out = run(pinned(1) + [sys.executable, os.path.abspath(__file__), "--torch-child", "torch_sgemm"], torch_env(1),
              120)
    sgemm, versions = _result(out)
    torch_version, blas = versions.split(" ", 1)
    coretype = torch_env(1).get("OPENBLAS_CORETYPE", "(unset)")
    print(f"PyTorch {torch_version} SGEMM 1024^3, 1 thread, OPENBLAS_CORETYPE={coretype} ({blas}): "
          f"{sgemm:.1f} GFLOP/s ({100 * sgemm / peak:.0f}% of peak)", flush=True)
    if sgemm < SGEMM_FLOOR * peak:
        sys.exit(f"PyTorch's SGEMM reaches {100 * sgemm / peak:.0f}% of the peak (< {100 * SGEMM_FLOOR:.0f}%): "
                 "its BLAS is not the fast one, so no ratio is published")
    return Machine(description, peak, sgemm, coretype, blas, torch_version)


def torch_sgemm():
    """PyTorch child: GFLOP/s of the best of 10 1024^3 torch.mm; torch's version and its BLAS."""
    import time
    import torch
    torch.set_num_threads(1)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = float("inf")
    for i in range(13):  # 3 warm-up
        start = time.perf_counter()
        torch.mm(a, b)
        if i >= 3:
            best = min(best, time.perf_counter() - start)
    blas = _openblas()
    kernels = f"OpenBLAS kernels: {blas.openblas_get_corename().decode()}" if blas else "not OpenBLAS"
    return 2 * 1024 ** 3 / best / 1e9, f"{torch.__version__} {kernels}"


# ---------------------------------------------------------------------------
# Helpers for the PyTorch children


def median_seconds(step, calls, warmup=3):
    import time
    for _ in range(warmup):
        step()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _openblas():
    """The OpenBLAS behind torch (Debian's libblas.so.3), or None for another BLAS."""
    import ctypes
    try:
        blas = ctypes.CDLL("libblas.so.3")
    except OSError:
        return None
    if not hasattr(blas, "openblas_set_num_threads"):
        return None
    blas.openblas_get_corename.restype = ctypes.c_char_p
    return blas


def fastest(variants, batch, threads, calls):
    """Times each (name, step) of `variants` briefly (a quarter of `calls`, at
    least 5), with more than one thread also with OpenBLAS on 1 thread (a
    pthread OpenBLAS spinning its own threads next to PyTorch's OpenMP ones is
    often slower), then the fastest for `calls` calls; returns (images/s, its name)."""
    blas = _openblas()
    blas_threads = [threads, 1] if blas and threads > 1 else [None]
    trials = []
    for name, step in variants:
        for count in blas_threads:
            if count:
                blas.openblas_set_num_threads(count)
            label = f"{name}, OpenBLAS {count} thread{'s' if count > 1 else ''}" if count else name
            trials.append((median_seconds(step, max(5, calls // 4)), label, step, count))
    _, name, step, count = min(trials, key=lambda trial: trial[0])
    if count:
        blas.openblas_set_num_threads(count)
    return batch / median_seconds(step, calls, warmup=1), name


def _result(stdout):
    """(number, text) from a child's `RESULT number text` line."""
    fields = re.search(r"^RESULT (\S+) (.+)$", stdout, re.M)
    if not fields:
        sys.exit(f"no RESULT line from a PyTorch child:\n{stdout}")
    return float(fields.group(1)), fields.group(2)


def _child(namespace):
    """`SCRIPT --torch-child FUNCTION ARGS...`: runs FUNCTION(*ARGS) and prints its result."""
    function, args = namespace[sys.argv[2]], [int(arg) for arg in sys.argv[3:]]
    print("RESULT", *function(*args), flush=True)


# ---------------------------------------------------------------------------
# The comparison

Row = collections.namedtuple("Row", "figure function batch flops torch")
Row.__doc__ = """figure: name in the table; function: Kiln's (predict, train_step);
batch; flops: per image; torch: a module-level function (batch, threads,
calls) -> (images/s, variant name), run in a PyTorch child."""


class Kiln:
    """The FashionCnn binary, compiled into `tmp`."""

    def __init__(self, kilnc, tmp):
        self.binary = os.path.join(tmp, "FashionCnn")
        run([kilnc, os.path.join(ROOT, "examples", "fashion_cnn.kiln"), "--emit=exe", "-o", self.binary],
            kiln_env(), 300)
        self.has_threads = "--threads" in run([self.binary, "bench", "--help"], kiln_env(), 30)
        if not self.has_threads:
            print("Kiln's `bench` has no --threads yet: Kiln runs at 1 thread only (taskset -c 0)", flush=True)

    def rate(self, function, batch, threads, calls):
        """images/s, or None where the binary cannot run `threads` threads."""
        if threads > 1 and not self.has_threads:
            return None
        command = [self.binary, "bench", "--function", function, "--batch", str(batch), "--iters", str(calls)]
        if self.has_threads:
            command += ["--threads", str(threads)]
        out = run(pinned(threads) + command, kiln_env(), 300)
        return float(re.search(r"([\d.]+) examples/s", out).group(1))


def torch_rate(row, threads, calls):
    module_file = os.path.abspath(sys.modules[row.torch.__module__].__file__)
    command = [sys.executable, module_file, "--torch-child", row.torch.__name__, str(row.batch), str(threads),
               str(calls)]
    return _result(run(pinned(threads) + command, torch_env(threads), 300))


def calls_for(row, iters):
    return iters * 20 if row.batch == 1 else iters  # batch-1 calls take well under a millisecond


def compare(rows, kiln, machine, rounds, iters):
    """Interleaved rounds (Kiln, then PyTorch, per row and thread count); prints the table."""
    kiln_rates = collections.defaultdict(list)
    torch_rates = collections.defaultdict(list)
    variants = collections.defaultdict(collections.Counter)
    for round_index in range(rounds):
        for row in rows:
            for threads in THREADS:
                key, calls = (row, threads), calls_for(row, iters)
                k = kiln.rate(row.function, row.batch, threads, calls)
                if k is not None:
                    kiln_rates[key].append(k)
                t, variant = torch_rate(row, threads, calls)
                torch_rates[key].append(t)
                variants[key][variant] += 1
                print(f"round {round_index + 1}: {row.figure}, {threads} thread(s): "
                      f"Kiln {'-' if k is None else f'{k:.0f}'}, PyTorch {t:.0f} ({variant}) images/s", flush=True)

    def cell(rates, row, threads):
        if not rates:
            return "-", None
        median = statistics.median(rates)
        percent = 100 * median * row.flops / (machine.peak * 1e9 * threads)
        return f"{median:.0f} ({percent:.0f}%; {min(rates):.0f}–{max(rates):.0f})", median

    print(f"\nMachine: {machine.description}; measured fp32 FMA peak {machine.peak:.0f} GFLOP/s per core; "
          f"PyTorch {machine.torch_version} SGEMM (1024^3, 1 thread) {machine.sgemm:.0f} GFLOP/s "
          f"({100 * machine.sgemm / machine.peak:.0f}% of peak) with OPENBLAS_CORETYPE={machine.coretype} "
          f"({machine.blas})")
    print(f"Medians of {rounds} round(s) of {iters} timed calls per row (batch 1: {iters * 20}); per-round range "
          "in parentheses; % of peak = images/s x FLOP per image / (peak x threads); FLOP per image: "
          f"{FORWARD_FLOPS / 1e6:.2f} M forward, {TRAIN_FLOPS / 1e6:.1f} M per training step (the direct "
          "convolution's; Kiln's predict computes fewer with Winograd F(4x4, 3x3), so its % is an effective rate "
          "and can pass 100).\n")
    print("| figure | threads | PyTorch at its best (images/s, % of peak) | Kiln as shipped (images/s, % of peak) "
          "| Kiln / PyTorch |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        for threads in THREADS:
            key = (row, threads)
            torch_text, t = cell(torch_rates[key], row, threads)
            kiln_text, k = cell(kiln_rates[key], row, threads)
            ratio = "-" if k is None else f"{k / t:.2f}"
            print(f"| {row.figure} | {threads} | {torch_text} | {kiln_text} | {ratio} |")
    print("\nPyTorch's fastest variant, rounds per variant:")
    for row in rows:
        for threads in THREADS:
            counts = ", ".join(f"{name} x{count}" for name, count in variants[(row, threads)].most_common())
            print(f"- {row.figure}, {threads} thread(s): {counts}")
    if not kiln.has_threads:
        print("\nKiln's binary has no --threads yet: its 2-thread figures are missing.")


def positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text}")
    return int(text)


def main(description, rows, add_arguments=None, before=None):
    """A benchmark script's main: a PyTorch child's work with --torch-child, else
    the whole comparison of `rows`. `add_arguments(parser)` adds the script's own
    options; `before(args, tmp)` runs after the machine checks, before the rounds."""
    if sys.argv[1:2] == ["--torch-child"]:
        return _child(vars(sys.modules["__main__"]))
    parser = argparse.ArgumentParser(description=description.split("\n")[0])
    parser.add_argument("--kilnc", default=os.path.join(ROOT, "build", "bin", "kilnc"))
    parser.add_argument("--rounds", type=positive, default=3)
    parser.add_argument("--iters", type=positive, default=20, help="timed calls per row and round (batch 1: 20x)")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args()
    ensure_openblas()
    with tempfile.TemporaryDirectory(prefix="kiln-vs-torch-") as tmp:
        machine = measure_machine(tmp)
        kiln = Kiln(args.kilnc, tmp)
        if before:
            before(args, tmp)
        compare(rows, kiln, machine, args.rounds, args.iters)


if __name__ == "__main__":
    _child(globals())
