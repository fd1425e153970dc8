#!/usr/bin/env bash
# Checks Kiln's CUDA target on a machine with an NVIDIA GPU (CUDA driver,
# python3 with numpy and CUDA PyTorch; no LLVM/MLIR needed), using what
# scripts/gpu-prepare.sh put in DIR: FashionCnn compiled for the GPU and for
# the CPU, Fashion-MNIST, and bench/gpu_vs_torch.py.
#   Correctness: GPU vs CPU predictions with seeded and with trained weights
#   (norm-wise relative error < 1e-4), and one epoch of GPU training reaching
#   a test accuracy above 0.80; every op: the every-op model's outputs GPU vs
#   CPU (< 1e-4), and after a training step its weights (< 1e-3) and Adam's
#   first moments, i.e. its gradients (each < 1e-4).
#   Speed: training img/s and predict ms/call at batch 256 and 1, against
#   PyTorch on the same GPU.
# Usage: gpu-check.sh DIR. Writes log.txt, summary.md (a markdown table) and
# cnn.safetensors to $OUT, or to DIR/results if OUT is unset (scratch files go
# to a temporary folder: $OUT brings back at most 8 files). Takes under 5
# minutes: every step has a time limit, cut to what is left of 280 s
# (GPU_CHECK_SECONDS).
# Exit status: 1 if a correctness check failed, else 2 if some other step
# failed (timing, tools), else 0.
set -euo pipefail
dir="$(cd "${1:?usage: gpu-check.sh DIR (made by scripts/gpu-prepare.sh)}" && pwd)"
out="${OUT:-$dir/results}"
mkdir -p "$out"
rm -f "$out/cnn.safetensors"  # from an earlier run
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gpu="$dir/fashion_cnn_cuda" cpu="$dir/fashion_cnn_cpu" data="$dir/data"
chmod +x "$dir"/*_cuda "$dir"/*_cpu 2>/dev/null || true  # in case the copy lost the mode bits
tests="$data/t10k-images-idx3-ubyte.gz" test_labels="$data/t10k-labels-idx1-ubyte.gz"

# Small numeric helpers (python3 with numpy).
cat >"$work/check.py" <<'EOF'
import gzip, re, sys
import numpy as np

def idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)

command, args = sys.argv[1], sys.argv[2:]
if command == "images":  # IDX.gz COUNT OUT.npy: the first COUNT images as float32 NHWC in [0, 1]
    np.save(args[2], idx(args[0], 16).reshape(-1, 28, 28, 1)[: int(args[1])].astype(np.float32) / 255)
elif command == "compare":  # GPU.npy CPU.npy TOL [LABELS.gz]: one line of numbers; exit 1 unless error < TOL
    gpu, cpu = (np.load(a).astype(np.float64) for a in args[:2])
    if gpu.shape != cpu.shape:
        print(f"shapes differ: GPU {gpu.shape}, CPU {cpu.shape}")
        sys.exit(1)
    error = np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu)
    text = f"rel. error {error:.1e}, max abs diff {np.abs(gpu - cpu).max():.1e}"
    if len(args) > 3:
        labels = idx(args[3], 8)[: len(cpu)]
        text += f"; accuracy GPU {np.mean(gpu.argmax(1) == labels):.4f}, CPU {np.mean(cpu.argmax(1) == labels):.4f}"
    print(text)
    sys.exit(0 if error < float(args[2]) else 1)  # NaN fails too
elif command == "every-inputs":  # DIR COUNT: random inputs of the every-op model, as DIR/<input>.npy
    rng = np.random.default_rng(7)
    n = int(args[1])
    np.save(f"{args[0]}/image.npy", rng.standard_normal((n, 9, 9, 2)).astype(np.float32))
    np.save(f"{args[0]}/x.npy", rng.standard_normal((n, 6)).astype(np.float32))
    np.save(f"{args[0]}/label.npy", rng.integers(0, 6, n).astype(np.int32))
elif command == "compare-outputs":  # GPU_PREFIX CPU_PREFIX NAMES: every output; floats < 1e-4, ints >= 99.5% equal
    worst, lines, ok = 0.0, [], True
    for name in args[2].split(","):
        gpu, cpu = np.load(f"{args[0]}.{name}.npy"), np.load(f"{args[1]}.{name}.npy")
        if gpu.shape != cpu.shape:
            lines.append(f"{name}: shapes differ"); ok = False
        elif gpu.dtype.kind == "f" and name not in ("cmp", "hit", "neg"):
            e = np.linalg.norm(gpu.astype(np.float64) - cpu) / max(np.linalg.norm(cpu.astype(np.float64)), 1e-30)
            worst = max(worst, e); ok &= bool(e < 1e-4)
            lines.append(f"{name} {e:.1e}")
        else:
            same = float(np.mean(gpu == cpu)); ok &= same >= 0.995
            lines.append(f"{name} {100 * same:.1f}% equal")
    print("; ".join(lines))
    sys.exit(0 if ok else 1)
elif command == "compare-checkpoints":  # A B: two safetensors checkpoints of the same training
    # Parameters: all together, norm-wise < 1e-3 (Adam's update is about
    # lr * sign(gradient), so a gradient near 0 may flip an element's step).
    # Adam's first moments (optimizer/<param>/m, linear in the gradients):
    # each tensor < 1e-4, which checks every gradient kernel.
    import json, struct
    def tensors(path):
        raw = open(path, "rb").read()
        size = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + size])
        data = raw[8 + size:]
        return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], np.float32).astype(np.float64)
                for k, v in header.items() if k != "__metadata__"}
    a, b = tensors(args[0]), tensors(args[1])
    if a.keys() != b.keys():
        print("different tensors"); sys.exit(1)
    params = sorted(k for k in a if not k.startswith("optimizer/"))
    pa, pb = (np.concatenate([t[k] for k in params]) for t in (a, b))
    param_error = np.linalg.norm(pa - pb) / max(np.linalg.norm(pb), 1e-30)
    moments = [(np.linalg.norm(a[k] - b[k]) / max(np.linalg.norm(b[k]), 1e-30), k) for k in a if k.endswith("/m")]
    worst = max(moments) if moments else (0.0, "none")
    print(f"params {param_error:.1e}; gradients (Adam m), worst {worst[0]:.1e} ({worst[1]})")
    sys.exit(0 if param_error < 1e-3 and worst[0] < 1e-4 else 1)
elif command == "serve":  # BINARY WEIGHTS IMAGES.npy CPU.npy OUT.npy CPU16.npy: `serve`, one 16-image request
    # Starts the model binary's server on a free port, sends the first 16
    # images as one KServe v2 request, saves the answer and the CPU's rows.
    import http.client, json, socket, subprocess
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    server = subprocess.Popen([args[0], "serve", "--weights", args[1], "--port", str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        print(server.stdout.readline().strip())
        x = np.load(args[2])[:16]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v2/models/FashionCnn/infer", json.dumps({"inputs": [
            {"name": "image", "datatype": "FP32", "shape": list(x.shape), "data": x.reshape(-1).tolist()}]}),
            {"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read())
        out = answer["outputs"][0]
        np.save(args[4], np.array(out["data"], np.float32).reshape(out["shape"]))
        np.save(args[5], np.load(args[3])[:16])
    finally:
        server.terminate()
        print("server exit status", server.wait(timeout=20))
elif command == "grab":  # FILE REGEX: REGEX's group 1 in its last match in FILE, else n/a
    try:
        matches = re.findall(args[1], open(args[0], errors="replace").read(), re.M)
    except OSError:
        matches = []
    print(matches[-1] if matches else "n/a")
EOF

rows=() failed_steps=() correctness_failed=0
row() { rows+=("| $1 | $2 | $3 | $4 |"); }
grab() { python3 "$work/check.py" grab "$work/$1.txt" "$2"; }
above() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x + 0 > y + 0) }'; }
# ratio A B: A / B to 2 decimals, or n/a
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }'; }

# step NAME LIMIT_S COMMAND...: runs COMMAND for at most LIMIT_S seconds (less if
# the overall deadline is nearer), keeps its output in $work/NAME.txt and the log.
step() {
  local name=$1 limit=$2 rc=0
  shift 2
  (( limit <= deadline - SECONDS )) || limit=$(( deadline - SECONDS ))
  if (( limit <= 0 )); then
    echo "== $name: skipped, out of time"
    failed_steps+=("$name (skipped, out of time)")
    return 124
  fi
  echo "== $name: $* (limit ${limit}s)"
  local start=$SECONDS
  timeout -k 5 "$limit" "$@" >"$work/$name.txt" 2>&1 || rc=$?
  cat "$work/$name.txt"
  echo "== $name: exit status $rc after $(( SECONDS - start ))s"
  if (( rc != 0 )); then failed_steps+=("$name (exit $rc$( (( rc != 124 )) || echo ', timed out'))"); fi
  return $rc
}

# compare NAME GPU.npy CPU.npy [LABELS.gz]: a PASS/FAIL row, GPU within 1e-4 of the CPU (norm-wise).
compare() {
  local name=$1 text
  shift
  if [[ ! -f $1 || ! -f $2 ]]; then
    text="no predictions (a step failed, see log.txt)"
  elif text=$(python3 "$work/check.py" compare "$1" "$2" 1e-4 "${@:3}" 2>&1 | tail -n 1); then
    row "$name" "$text" "-" "PASS (< 1e-4)"
    return
  fi
  row "$name" "$text" "-" "**FAIL** (needs < 1e-4)"
  correctness_failed=1
}

main() {
  deadline=$(( SECONDS + ${GPU_CHECK_SECONDS:-280} ))
  echo "== gpu-check of $dir on $(hostname), $(date -u '+%Y-%m-%d %H:%M UTC'); results in $out"
  uname -a
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores"
  LD_LIBRARY_PATH="$dir/lib" ldd "$gpu.bin" || true

  # a. The machine and the binary.
  step nvidia-smi 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  step info 30 "$gpu" info || true

  # b. Seeded weights: GPU vs CPU on the first 1000 test images.
  step images 30 python3 "$work/check.py" images "$tests" 1000 "$work/images1000.npy" || true
  if ! step predict-seeded-gpu 60 "$gpu" predict --input "$work/images1000.npy" --show 0 \
    --output "$work/seeded_gpu.npy"; then
    # Again, waiting for every kernel, so that a CUDA error names its kernel.
    KILN_CUDA_SYNC=1 step predict-seeded-gpu-sync 60 "$gpu" predict --input "$work/images1000.npy" --show 0 || true
  fi
  step predict-seeded-cpu 60 "$cpu" predict --input "$work/images1000.npy" --show 0 --output "$work/seeded_cpu.npy" || true
  compare "predict, seeded weights, 1000 test images: GPU vs CPU" "$work/seeded_gpu.npy" "$work/seeded_cpu.npy"

  # b2. Every op on the GPU: the every-op model's outputs, GPU vs CPU (seeded
  # weights), and a training step (every gradient kernel, Adam): the weights
  # and the gradients after it, GPU vs CPU.
  mkdir -p "$work/every"
  step every-inputs 30 python3 "$work/check.py" every-inputs "$work/every" 64 || true
  local every_inputs=(--input "$work/every/image.npy" --input "$work/every/x.npy" --input "$work/every/label.npy")
  step every-gpu 30 "$dir/every_op_cuda" predict "${every_inputs[@]}" --show 0 --output "$work/every_gpu.npy" || true
  step every-cpu 30 "$dir/every_op_cpu" predict "${every_inputs[@]}" --show 0 --output "$work/every_cpu.npy" || true
  local text
  if text=$(python3 "$work/check.py" compare-outputs "$work/every_gpu" "$work/every_cpu" ls,r,cmp,idx,hit,neg 2>&1 | tail -n 1); then
    row "every op, predict (6 outputs): GPU vs CPU" "$text" "-" "PASS"
  else
    row "every op, predict (6 outputs): GPU vs CPU" "$text" "-" "**FAIL** (floats < 1e-4, ints >= 99.5% equal)"
    correctness_failed=1
  fi
  # One step: later steps' gradients would depend on the first update, in
  # which Adam may flip the sign of an element's step where its gradient is
  # near 0, so only the first step's gradients can be compared tightly.
  step every-train-gpu 30 "$dir/every_op_cuda" train --data "$work/every" --epochs 1 --batch 16 --limit 16 --quiet \
    --save "$work/every_gpu.safetensors" || true
  step every-train-cpu 30 "$dir/every_op_cpu" train --data "$work/every" --epochs 1 --batch 16 --limit 16 --quiet \
    --save "$work/every_cpu.safetensors" || true
  if text=$(python3 "$work/check.py" compare-checkpoints "$work/every_gpu.safetensors" \
      "$work/every_cpu.safetensors" 2>&1 | tail -n 1); then
    row "every op, a training step: weights and gradients GPU vs CPU" "$text" "-" "PASS"
  else
    row "every op, a training step: weights and gradients GPU vs CPU" "$text" "-" \
      "**FAIL** (needs params < 1e-3, each gradient < 1e-4)"
    correctness_failed=1
  fi

  # c. One epoch of training on the GPU.
  step train 150 "$gpu" train --data "$data" --epochs 1 --batch 128 --save "$out/cnn.safetensors" --quiet || true
  local accuracy
  accuracy=$(grab train 'test_accuracy: ([0-9.]+)')
  if above "$accuracy" 0.80; then
    row "train 1 epoch on the GPU (batch 128): test accuracy" "$accuracy" "-" "PASS (> 0.80)"
  else
    row "train 1 epoch on the GPU (batch 128): test accuracy" "$accuracy" "-" "**FAIL** (needs > 0.80)"
    correctness_failed=1
  fi

  # d. Trained weights: GPU vs CPU on all 10000 test images, and their accuracy.
  if [[ -f $out/cnn.safetensors ]]; then
    step predict-trained-gpu 60 "$gpu" predict --input "$tests" --weights "$out/cnn.safetensors" --show 0 \
      --output "$work/trained_gpu.npy" || true
    step predict-trained-cpu 60 "$cpu" predict --input "$tests" --weights "$out/cnn.safetensors" --show 0 \
      --output "$work/trained_cpu.npy" || true
  fi
  compare "predict, trained weights, 10000 test images: GPU vs CPU" "$work/trained_gpu.npy" \
    "$work/trained_cpu.npy" "$test_labels"

  # d2. `serve` on the GPU binary: one KServe v2 request of 16 test images.
  if [[ -f $out/cnn.safetensors && -f $work/trained_cpu.npy ]]; then
    step serve-gpu 60 python3 "$work/check.py" serve "$gpu" "$out/cnn.safetensors" "$work/images1000.npy" \
      "$work/trained_cpu.npy" "$work/serve_gpu.npy" "$work/serve_cpu16.npy" || true
  fi
  compare "serve on the GPU binary, one 16-image request: GPU vs CPU predict" "$work/serve_gpu.npy" \
    "$work/serve_cpu16.npy"

  # e. Speed: Kiln's bench, then PyTorch on the same GPU.
  step bench-256 60 "$gpu" bench --batch 256 --iters 50 || true
  step bench-1 60 "$gpu" bench --batch 1 --iters 200 || true
  step torch 120 python3 "$dir/gpu_vs_torch.py" --device cuda --data "$data" || true

  local kiln torch
  kiln=$(grab train 'Epoch \S+ - \S+ - ([0-9.]+) img/s') torch=$(grab torch 'torch train batch 128: ([0-9.]+) img/s')
  row "train throughput, batch 128 (img/s)" "$kiln" "$torch" "$(ratio "$kiln" "$torch")"
  for batch in 256 1; do
    kiln=$(grab bench-$batch "predict batch $batch: ([0-9.]+) ms/call")
    torch=$(grab torch "predict batch $batch: ([0-9.]+) ms/call")
    row "predict latency, batch $batch (ms/call, end to end)" "$kiln" "$torch" "$(ratio "$torch" "$kiln")"
  done

  # f. The summary.
  {
    echo "## Kiln CUDA check: FashionCnn ($(date -u '+%Y-%m-%d'))"
    echo
    echo "GPU: $(sed -n 2p "$work/nvidia-smi.txt" 2>/dev/null || echo n/a)."
    echo "PyTorch: $(grab torch '^torch (\S+, CUDA .*)$')."
    echo
    echo "| check | Kiln GPU | PyTorch GPU | verdict, or speed ratio Kiln/PyTorch (> 1: Kiln faster) |"
    echo "| --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    if (( ${#failed_steps[@]} )); then
      echo "Steps that failed (see log.txt):"
      printf -- '- %s\n' "${failed_steps[@]}"
    else
      echo "Every step ran."
    fi
  } >"$out/summary.md"
  echo
  cat "$out/summary.md"
  if (( correctness_failed )); then return 1; fi
  if (( ${#failed_steps[@]} )); then return 2; fi
  return 0
}

main 2>&1 | tee "$out/log.txt"
