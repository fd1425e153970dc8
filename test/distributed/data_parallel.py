#!/usr/bin/env python3
"""Data-parallel training over MPI (docs/distributed.md), checked end to end.

usage: data_parallel.py KILNC WORKDIR

1. Equivalence: `mpirun -np K MODEL train --batch B` must give the weights
   and optimizer state one process gets with `--batch B`, within 1e-5 after
   10 steps, for K = 2 and 4, with even shards and with uneven ones (a global
   batch that K does not divide), for Adam and for SGD with momentum. The
   model is FashionCnn's architecture with tanh in place of relu: a smooth
   network, where the ranks' different float summation order stays a
   rounding difference (docs/distributed.md shows why a relu network can
   drift further: a pre-activation within rounding of 0 switches a unit).
2. A dropout model trains under mpirun (each rank draws its own masks); a
   batch_norm model trains, and its moving statistics are the ranks' mean
   (after one step the moving mean is one process's).
3. --resume across ranks: rank 0 reads the checkpoint and sends it; the
   run continues the step count and equals one process resumed from it.
4. Failures end the job with a message naming the rank instead of hanging:
   a rank killed with SIGKILL (mpirun names it), and a stopped rank (SIGSTOP)
   that the others give up on after --mpi-timeout.
Every mpirun is bounded by a timeout.
"""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "runtime", "Inputs"))
from kiln_ref import read_safetensors, write_fashion_npy  # noqa: E402

DATA = None  # the first 2048 training images as <input>.npy (main): no test split to evaluate
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
failures = []


def check(label, ok, detail=""):
    line = ("ok    " if ok else "FAIL  ") + label + (": " + detail if detail else "")
    print(line, flush=True)
    if not ok:
        failures.append(line)


def build(kilnc, workdir, name, source):
    path = os.path.join(workdir, name + ".kiln")
    with open(path, "w") as f:
        f.write(source)
    binary = os.path.join(workdir, name)
    subprocess.run([kilnc, path, "--emit=exe", "-o", binary], check=True)
    return binary


def train(binary, ranks, save, *args, timeout=300):
    command = [binary, "train", "--data", DATA, "--quiet", "--seed", "3", "--save", save, *args]
    if ranks > 1:
        command = ["mpirun", "--oversubscribe", "-np", str(ranks), *command]
    run = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        print(run.stdout + run.stderr, file=sys.stderr)
        raise SystemExit(f"{' '.join(command)} exited with {run.returncode}")
    return run.stdout


def max_difference(path_a, path_b):
    (a, meta_a), (b, meta_b) = read_safetensors(path_a), read_safetensors(path_b)
    names_a, names_b = [n for n, _ in a], [n for n, _ in b]
    assert names_a == names_b, (names_a, names_b)
    assert meta_a["step"] == meta_b["step"], (meta_a["step"], meta_b["step"])
    return max(float(np.max(np.abs(x - y))) for (_, x), (_, y) in zip(a, b)), meta_a["step"]


def cnn(name, activation, optimizer, dropout=""):
    return f"""model {name} {{
  input image: f32[N, 28, 28, 1]
  input label: i32[N]
  logits = image
    |> conv2d(32, 3, {activation})
    |> conv2d(32, 3, {activation})
    |> flatten{dropout}
    |> dense(64, {activation})
    |> dense(10)
  loss      cross_entropy(logits, label)
  optimizer {optimizer}
  metric    accuracy = mean(argmax(logits) == label)
  output    probs = softmax(logits)
}}
"""


def equivalence(kilnc, workdir):
    for name, optimizer in (("TanhAdam", "adam(lr = 0.001)"), ("TanhSgd", "sgd(lr = 0.05, momentum = 0.9)")):
        binary = build(kilnc, workdir, name, cnn(name, "tanh", optimizer))
        # 10 steps each: 480 = 10 x 48 (12 or 24 per rank), and 500 = 10 x 50
        # (25 per rank for 2; 12, 13, 12, 13 for 4).
        for batch in (48, 50):
            single = os.path.join(workdir, f"{name}-{batch}-1.safetensors")
            out = train(binary, 1, single, "--batch", str(batch), "--limit", str(10 * batch))
            for ranks in (2, 4):
                several = os.path.join(workdir, f"{name}-{batch}-{ranks}.safetensors")
                out_k = train(binary, ranks, several, "--batch", str(batch), "--limit", str(10 * batch))
                difference, step = max_difference(single, several)
                check(f"{name}: {ranks} ranks, global batch {batch}, {step} steps: weights and state within 1e-5 "
                      "of one process's", difference <= 1e-5, f"max |difference| {difference:.3g}")
                # The printed loss is the global batch's, as one process prints it.
                loss_1 = re.search(r"- loss: ([0-9.]+)", out).group(1)
                loss_k = re.search(r"- loss: ([0-9.]+)", out_k).group(1)
                check(f"{name}: {ranks} ranks print the epoch's loss one process prints", loss_1 == loss_k,
                      f"{loss_1} vs {loss_k}")
                check(f"{name}: {ranks} ranks: one epoch line (rank 0 alone prints)",
                      len(re.findall(r"^Epoch 1/1", out_k, re.M)) == 1 and "allreduce" in out_k, out_k.strip())


def dropout(kilnc, workdir):
    binary = build(kilnc, workdir, "DropCnn", cnn("DropCnn", "relu", "adam(lr = 0.001)", "\n    |> dropout(0.25)"))
    save = os.path.join(workdir, "drop.safetensors")
    out = train(binary, 2, save, "--batch", "64", "--limit", "2048", "--epochs", "2")
    losses = [float(x) for x in re.findall(r"- loss: ([0-9.]+)", out)]
    check("dropout model under 2 ranks: trains (the second epoch's loss is lower)",
          len(losses) == 2 and losses[1] < losses[0], str(losses))


def batch_norm(kilnc, workdir):
    """Each rank normalises with its own shard's statistics; the new moving
    statistics are the ranks' example-weighted mean. The first layer's
    moving mean after one step is then exactly one process's (the mean of
    the shard means is the batch mean, and every rank starts from the same
    weights), which checks the averaging; the model also trains."""
    source = """model BnCnn {
  input image: f32[N, 28, 28, 1]
  input label: i32[N]
  logits = image |> conv2d(8, 3) |> batch_norm(momentum = 0.5) |> relu |> maxpool(2) |> flatten |> dense(10)
  loss      cross_entropy(logits, label)
  optimizer adam(lr = 0.001)
  output    probs = softmax(logits)
}
"""
    binary = build(kilnc, workdir, "BnCnn", source)
    single, several = (os.path.join(workdir, f"bn-{k}.safetensors") for k in (1, 2))
    train(binary, 1, single, "--batch", "64", "--limit", "64")
    train(binary, 2, several, "--batch", "64", "--limit", "64")
    (a, _), (b, _) = read_safetensors(single), read_safetensors(several)
    a, b = dict(a), dict(b)
    name = "batch_norm_0.moving_mean"
    difference = float(np.max(np.abs(a[name] - b[name])))
    check("batch_norm under 2 ranks: after one step, the moving mean is one process's (the ranks' mean)",
          difference <= 1e-6 and float(np.max(np.abs(a[name]))) > 1e-3, f"max |difference| {difference:.3g}")
    out = train(binary, 2, several, "--batch", "64", "--limit", "2048", "--epochs", "2")
    losses = [float(x) for x in re.findall(r"- loss: ([0-9.]+)", out)]
    check("batch_norm model under 2 ranks: trains (the second epoch's loss is lower)",
          len(losses) == 2 and losses[1] < losses[0], str(losses))


def resume(kilnc, workdir):
    """A 2-rank run resumed from a checkpoint equals one process resumed from
    it; only rank 0 reads the file (the other rank is given a path that does
    not exist)."""
    binary = os.path.join(workdir, "TanhAdam")
    first = os.path.join(workdir, "first.safetensors")
    train(binary, 2, first, "--batch", "50", "--limit", "250")
    wrapper = os.path.join(workdir, "rank-path.sh")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\n# usage: rank-path.sh CHECKPOINT COMMAND...: rank 0 resumes from CHECKPOINT\n'
                'if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then r="$1"; else r=/nonexistent/checkpoint; fi\n'
                'shift\nexec "$@" --resume "$r"\n')
    os.chmod(wrapper, 0o755)
    resumed, again = os.path.join(workdir, "resumed.safetensors"), os.path.join(workdir, "again.safetensors")
    common = ["train", "--data", DATA, "--quiet", "--seed", "3", "--batch", "50", "--limit", "250"]
    run = subprocess.run(["mpirun", "--oversubscribe", "-np", "2", wrapper, first, binary, *common, "--save", resumed],
                         env=ENV, capture_output=True, text=True, timeout=300)
    check("--resume under 2 ranks: only rank 0 needs the checkpoint", run.returncode == 0, run.stderr.strip()[-300:])
    single = subprocess.run([binary, *common, "--save", again, "--resume", first], env=ENV, capture_output=True,
                            text=True, timeout=300)
    if run.returncode == 0 and single.returncode == 0:
        difference, step = max_difference(resumed, again)
        check("--resume under 2 ranks continues as one process does (step count 10, weights within 1e-5)",
              step == "10" and difference <= 1e-5, f"step {step}, max |difference| {difference:.3g}")


def rank_pids(binary):
    """{rank: pid} of the running processes of `binary`."""
    pids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/exe") != binary:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except OSError:
            continue
        if b"OMPI_COMM_WORLD_RANK" in env:
            pids[int(env[b"OMPI_COMM_WORLD_RANK"])] = int(entry)
    return pids


def failure(binary, workdir, how):
    """Starts a long 2-rank run, does `how` to rank 1 once both train, and
    returns (exit status, output, seconds until the job ended)."""
    # One thread per rank: with a busy machine (ctest runs two tests at
    # once), ranks of two OpenMP threads each oversubscribe the cores, and a
    # healthy step could then outlast the 10-s timeout this test relies on.
    command = ["mpirun", "--oversubscribe", "-np", "2", binary, "train", "--data", DATA, "--batch", "32", "--limit",
               "256", "--epochs", "1000", "--quiet", "--mpi-timeout", "10", "--threads", "1"]
    log = open(os.path.join(workdir, f"failure-{how}.log"), "w+")
    job = subprocess.Popen(command, env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            log.seek(0)
            if "Epoch 2/1000" in log.read() and len(rank_pids(binary)) == 2:
                break
            time.sleep(0.2)
        pids = rank_pids(binary)
        start = time.time()
        if 1 in pids:
            os.kill(pids[1], signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        status = job.wait(timeout=120)
    except subprocess.TimeoutExpired:
        status = None
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
        for pid in rank_pids(binary).values():  # a stopped rank mpirun left
            os.kill(pid, signal.SIGKILL)
    log.seek(0)
    return status, log.read(), time.time() - start


def failures_end_the_job(workdir):
    binary = os.path.join(workdir, "TanhSgd")
    status, out, seconds = failure(binary, workdir, "killed")
    check("a rank killed with SIGKILL ends the job with an error naming it",
          status not in (None, 0) and re.search(r"rank 1 .*exited on signal 9", out) is not None and seconds < 60,
          f"exit {status} after {seconds:.1f} s; {out.strip()[-400:]!r}")
    status, out, seconds = failure(binary, workdir, "stopped")
    check("a stopped rank: rank 0 gives up after --mpi-timeout 10 s and ends the job, naming itself and the step",
          status not in (None, 0) and re.search(r"rank 0 of 2: the gradient allreduce of step \d+ waited more than 10 s",
                                                out) is not None and 10 <= seconds < 90,
          f"exit {status} after {seconds:.1f} s; {out.strip()[-400:]!r}")


def write_data(workdir):
    """The first 2048 Fashion-MNIST training examples as image.npy and
    label.npy: an .npy directory has no test split, so that rank 0 spends no
    time evaluating while the other ranks wait."""
    global DATA
    DATA = os.path.join(workdir, "data")
    write_fashion_npy(DATA, 2048)


def main():
    kilnc, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    write_data(workdir)
    equivalence(kilnc, workdir)
    dropout(kilnc, workdir)
    batch_norm(kilnc, workdir)
    resume(kilnc, workdir)
    failures_end_the_job(workdir)
    if failures:
        # Also on stderr, which lit shows in full (its dump of stdout is cut).
        print(f"{len(failures)} check(s) failed:\n" + "\n".join(failures), file=sys.stderr)
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
