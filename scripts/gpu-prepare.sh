#!/usr/bin/env bash
# Prepares the GPU check of Kiln's CUDA target (scripts/gpu-check.sh), here on
# the build machine, after the normal build: compiles examples/fashion_cnn.kiln
# into build/gpu-check/ (made fresh) as fashion_cnn_cuda (--target=cuda) and
# fashion_cnn_cpu (--target-cpu=x86-64-v3, portable to the GPU machine's CPU),
# the every-op model of the tests the same two ways,
# copies in the Fashion-MNIST files and the check scripts, and prints the size
# (everything that travels must stay under 64 MiB) and the `run` call to make.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KILN_BUILD_DIR:-$root/build}"
kilnc="$build/bin/kilnc"
data=/usr/share/datasets/fashion-mnist
out="$root/build/gpu-check"  # the `run` call carries it by this path

[[ -x "$kilnc" ]] || { echo "gpu-prepare: $kilnc is missing: build Kiln first (scripts/setup.sh)" >&2; exit 1; }
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  [[ -f "$data/$f" ]] || { echo "gpu-prepare: $data/$f is missing (Debian's dataset-fashion-mnist)" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/data"
"$kilnc" "$root/examples/fashion_cnn.kiln" --emit=exe --target=cuda -o "$out/fashion_cnn_cuda"
"$kilnc" "$root/examples/fashion_cnn.kiln" --emit=exe --target-cpu=x86-64-v3 -o "$out/fashion_cnn_cpu"
# The model that uses every op (test/numerics/compare_with_torch.py), for
# GPU-vs-CPU checks of every kernel kind.
/usr/bin/python3 -c "import sys; sys.path.insert(0, '$root/test/numerics'); from compare_with_torch import EVERY_OP; print(EVERY_OP)" \
  >"$out/every_op.kiln"
"$kilnc" "$out/every_op.kiln" --emit=exe --target=cuda -o "$out/every_op_cuda"
"$kilnc" "$out/every_op.kiln" --emit=exe --target-cpu=x86-64-v3 -o "$out/every_op_cpu"
# The device machine has no Debian packages: the shared libraries the model
# binaries load beyond glibc (libomp, the server's http_parser and simdjson,
# the C++ runtime) travel in lib/, and each
# binary becomes a wrapper that points the loader there.
mkdir -p "$out/lib"
for bin in fashion_cnn_cuda fashion_cnn_cpu every_op_cuda every_op_cpu; do
  ldd "$out/$bin" | awk '/=> \//{print $3}'
  mv "$out/$bin" "$out/$bin.bin"
  printf '#!/bin/sh\nhere=$(dirname "$0")\nLD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/%s.bin" "$@"\n' \
    "$bin" >"$out/$bin"
  chmod +x "$out/$bin"
done | sort -u | grep -vE '/(libc|libm|libdl|libpthread|librt)\.so' | xargs -r cp -L -t "$out/lib"
cp "$data"/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz "$out/data/"
cp "$root/scripts/gpu-check.sh" "$root/bench/gpu_vs_torch.py" "$root/bench/predict_vs_torch.py" "$root/bench/peer.py" "$out/"

ls -l "$out" "$out/data"
du -sh "$out"
# Everything that travels: tracked and untracked-but-not-ignored files, plus the carried folder.
tree_bytes=$(cd "$root" && git ls-files -z -co --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null |
  awk '{s += $1} END {print s + 0}')
carry_bytes=$(du -sb "$out" | cut -f1)
total_mib=$(( (tree_bytes + carry_bytes) / 1048576 ))
echo "working tree $((tree_bytes / 1048576)) MiB + build/gpu-check $((carry_bytes / 1048576)) MiB = $total_mib MiB (limit 64 MiB)"
if (( tree_bytes + carry_bytes >= 64 * 1048576 )); then
  echo "gpu-prepare: too big to travel (64 MiB limit)" >&2
  exit 1
fi

cat <<'EOF'

Next, on the GPU machine (the `run` tool):
  run(carry=["build/gpu-check"], command="bash build/gpu-check/gpu-check.sh build/gpu-check", timeout_s=420)
It writes log.txt, summary.md and cnn.safetensors under $OUT.
EOF
