#!/usr/bin/python3
"""Data-parallel training over MPI on this machine, and what it would cost
on a cluster (docs/distributed.md, docs/performance.md).

What:
  1. FashionCnn training at global batch 128 on 7680 Fashion-MNIST images
     (60 steps an epoch; the second epoch is timed): one process with 2
     threads against 2 MPI ranks with 1 thread each (mpirun --bind-to core),
     in images/s and % of the machine's FMA peak (40.1 MFLOP per image and
     step, of the cores used), with one process on 1 thread (pinned to CPU
     0) for the scale; for the ranks, the time per step in the gradient
     allreduce as the binary reports it (which includes waiting for the
     slower rank).
  2. The allreduce alone (bench/allreduce_child.py): FashionCnn's 1,189,930
     floats (4.76 MB), and 1 float (the latency), between 2 ranks over
     shared memory (Open MPI's vader transport, what one machine uses) and
     over TCP on the loopback interface.
  3. The model of a ring allreduce, T(K) = 2 (K - 1) a + 2 (K - 1) / K * S / b
     (S the bytes, b the link's bandwidth, a the latency per message),
     calibrated with the loopback TCP figures and evaluated for 8 and 64
     ranks over 10 and 100 Gb/s links, next to the compute time of a step.

Kiln runs as shipped (no environment variables); there is no peer here:
the comparison is between Kiln's own two ways of using two cores.

Command (from the repository root; about 2 minutes):
  /usr/bin/python3 bench/distributed_train.py [--kilnc build/bin/kilnc]
"""
import argparse
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "runtime", "Inputs"))
import peer  # noqa: E402
from kiln_ref import write_fashion_npy  # noqa: E402

MFLOP_PER_IMAGE = 40.1
PARAMS = 1189930
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def epoch_rate(out):
    """images/s and allreduce ms/step of the last epoch line."""
    line = [l for l in out.splitlines() if l.startswith("Epoch ")][-1]
    rate = float(re.search(r"- ([0-9.]+) img/s", line).group(1))
    allreduce = re.search(r"allreduce ([0-9.]+) ms/step", line)
    return rate, float(allreduce.group(1)) if allreduce else None


def allreduce_seconds(ranks, count, transport, repeats):
    env = dict(peer.kiln_env(), **MPI_ENV)
    command = ["mpirun", "--oversubscribe", "-np", str(ranks), "--bind-to", "core" if ranks <= 2 else "none",
               "--mca", "btl", f"self,{transport}", sys.executable, os.path.join(HERE, "allreduce_child.py"),
               str(count), str(repeats)]
    return float(peer.run(command, env, 300).strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kilnc", default=os.path.join(ROOT, "build", "bin", "kilnc"))
    args = parser.parse_args()
    peer.ensure_packages(["openmpi-bin"], "Open MPI's mpirun and libmpi")
    with tempfile.TemporaryDirectory() as tmp:
        peak = peer.measure_peak(tmp)
        print(f"fp32 FMA peak of one core: {peak:.1f} GFLOP/s; {os.cpu_count()} CPUs", flush=True)
        binary = os.path.join(tmp, "FashionCnn")
        peer.run([args.kilnc, os.path.join(ROOT, "examples", "fashion_cnn.kiln"), "--emit=exe", "-o", binary],
                 peer.kiln_env(), 300)
        data = os.path.join(tmp, "data")
        write_fashion_npy(data, 7680)
        train = [binary, "train", "--data", data, "--batch", "128", "--epochs", "2", "--quiet"]

        print("\n1. FashionCnn training, global batch 128 (second epoch of 60 steps)")
        print(f"{'configuration':<28}{'images/s':>10}{'% of peak':>18}{'allreduce ms/step':>19}")
        env = dict(peer.kiln_env(), **MPI_ENV)
        results = {}
        for label, command in (
                ("1 process x 1 thread", ["taskset", "-c", "0"] + train + ["--threads", "1"]),
                ("1 process x 2 threads", train + ["--threads", "2"]),
                ("2 MPI ranks x 1 thread", ["mpirun", "-np", "2", "--bind-to", "core"] + train + ["--threads", "1"])):
            rate, allreduce = epoch_rate(peer.run(command, env, 600))
            results[label] = rate
            cores = 1 if "1 thread" in label and "ranks" not in label else 2
            share = 100 * rate * MFLOP_PER_IMAGE / 1e3 / (cores * peak)
            print(f"{label:<28}{rate:>10.0f}{share:>17.0f}%{'' if allreduce is None else f'{allreduce:.2f}':>19}",
                  flush=True)
        ratio = results["2 MPI ranks x 1 thread"] / results["1 process x 2 threads"]
        print(f"2 ranks / 1 process: {ratio:.2f}x")

        print("\n2. MPI_Allreduce between 2 ranks, median of 30")
        measured = {}
        for transport, name in (("vader", "shared memory"), ("tcp", "TCP loopback")):
            big = allreduce_seconds(2, PARAMS, transport, 30)
            small = allreduce_seconds(2, 1, transport, 30)
            measured[transport] = (big, small)
            print(f"{name:<16} {4 * PARAMS / 1e6:.2f} MB: {1e3 * big:7.2f} ms ({4 * PARAMS / big / 1e9:.2f} GB/s of "
                  f"buffer); 1 float: {1e6 * small:7.1f} us")

        # Calibration: for K = 2 the ring sends 2 (K - 1) = 2 messages of
        # S / K each way: T = 2 a + S / b.
        big, small = measured["tcp"]
        latency = small / 2
        bandwidth = 4 * PARAMS / max(big - 2 * latency, 1e-9)
        print(f"\n3. Ring allreduce model T(K) = 2 (K-1) a + 2 (K-1)/K S/b, S = {4 * PARAMS / 1e6:.2f} MB")
        print(f"calibrated on TCP loopback: a = {1e6 * latency:.1f} us per message, b = {bandwidth / 1e9:.2f} GB/s")
        step_ms = 1e3 * 128 / results["1 process x 1 thread"]  # one core's time for a batch-128 step
        print(f"compute of one batch-128 step on one core here: {step_ms:.1f} ms")
        print(f"{'ranks':>6}{'link':>10}{'allreduce ms':>14}{'% of a step at 128/rank':>26}")
        for ranks in (8, 64):
            for gbit in (10, 100):
                link = gbit / 8 * 1e9
                t = 2 * (ranks - 1) * latency + 2 * (ranks - 1) / ranks * 4 * PARAMS / link
                print(f"{ranks:>6}{gbit:>7} Gb/s{1e3 * t:>14.2f}{100 * t * 1e3 / step_ms:>25.0f}%")
        predicted4 = 2 * 3 * latency + 2 * 3 / 4 * 4 * PARAMS / bandwidth
        check4 = allreduce_seconds(4, PARAMS, "tcp", 10)
        print(f"check on this machine, 4 ranks over TCP loopback (2 cores, oversubscribed): model "
              f"{1e3 * predicted4:.2f} ms, measured {1e3 * check4:.2f} ms")


if __name__ == "__main__":
    main()
