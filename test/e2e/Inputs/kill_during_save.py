"""Kills a training run with SIGKILL at random moments, many times, and
checks after each kill that the checkpoint it was overwriting every epoch is
still whole: it loads with the model's `eval` and parses as safetensors by
hand. With --limit 8 and --batch 8 an epoch is one step, so the run spends
most of its time saving (write, fsync, rename): a kill lands mid-save often.

usage: kill_during_save.py MODEL_BINARY DATA_DIR WORK_DIR [ROUNDS]
"""
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time

binary, data, work = sys.argv[1:4]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 40
checkpoint = os.path.join(work, "ck.safetensors")
subprocess.run([binary, "train", "--data", data, "--epochs", "1", "--save", checkpoint],
               check=True, stdout=subprocess.DEVNULL)
rng = random.Random(7)
failures = 0
saves_seen = 0
for round in range(rounds):
    before = os.stat(checkpoint).st_mtime_ns
    run = subprocess.Popen([binary, "train", "--data", data, "--limit", "8", "--batch", "8", "--epochs",
                            "1000000", "--resume", checkpoint, "--save", checkpoint, "--quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(rng.uniform(0.05, 0.4))
    run.send_signal(signal.SIGKILL)
    run.wait()
    saves_seen += os.stat(checkpoint).st_mtime_ns != before
    raw = open(checkpoint, "rb").read()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    end = max(entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__")
    whole = len(raw) == 8 + length + end
    loads = subprocess.run([binary, "eval", "--data", data, "--weights", checkpoint],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode == 0
    if not (whole and loads):
        failures += 1
        print(f"round {round}: checkpoint damaged (whole {whole}, loads {loads})")
# Temporary files of killed runs stay behind (nothing runs at SIGKILL to
# remove them); they never replace the checkpoint, and the next save that
# completes removes them. A stranger's file of the same pattern whose
# process is alive (this script's own pid) stays.
killed_leftovers = [n for n in os.listdir(work) if ".tmp." in n]
# However the kills fell, one stale file is certain: that of a process that
# has exited (its pid is not reused within these few milliseconds).
finished = subprocess.Popen(["true"])
finished.wait()
open(os.path.join(work, f"ck.safetensors.tmp.{finished.pid}.0"), "w").close()
live = os.path.join(work, f"ck.safetensors.tmp.{os.getpid()}.0")
open(live, "w").close()
subprocess.run([binary, "train", "--data", data, "--limit", "8", "--batch", "8", "--epochs", "1",
                "--resume", checkpoint, "--save", checkpoint, "--quiet"], check=True, stdout=subprocess.DEVNULL)
leftovers = sorted(n for n in os.listdir(work) if ".tmp." in n)
kept_live = leftovers == [os.path.basename(live)]
os.remove(live)
print(f"{rounds} kills, {failures} damaged checkpoints, checkpoint replaced during {saves_seen} runs, "
      f"{len(killed_leftovers)} temporary files left by kills, "
      f"{'none' if kept_live else leftovers} left after the next save but a live process's")
sys.exit(1 if failures or saves_seen < rounds // 2 or not kept_live else 0)
