#!/usr/bin/env bash
# Kiln set-up: installs the Debian packages the build needs (only those that
# are missing), then configures and builds Kiln into ./build with Ninja,
# clang-22 and ccache. Sourced or called by scripts/main-job.sh and
# scripts/test.sh, so that each README command works on a fresh machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KILN_BUILD_DIR:-$root/build}"

# Packages (docs/building.md says why each is there): the compiler toolchain
# and its formatter,
# LLVM/MLIR 22 (libmlir-22-dev alone is not enough: find_package(MLIR) needs
# mlir-22-tools and llvm-22-dev), GoogleTest, clang's runtime libraries for
# the fuzzer build, the runtime's zlib and JSON, the server's HTTP and fast
# JSON (http_parser, simdjson), the references the tests compare against
# (PyTorch, NumPy, scikit-learn) plus the Fashion-MNIST data, curl (the main
# job sends the served model an image), and headless Chromium driven over its
# DevTools protocol with python3-websocket (the serving page's test), and
# Open MPI's mpirun and libmpi (openmpi-bin; data-parallel training's test).
packages=(cmake ninja-build clang-22 clang-format-22 lld-22 liblld-22-dev g++ ccache llvm-22 llvm-22-dev llvm-22-tools libomp-22-dev
          libmlir-22-dev mlir-22-tools libclang-rt-22-dev libgtest-dev
          zlib1g-dev nlohmann-json3-dev libcli11-dev libhttp-parser-dev libsimdjson-dev
          python3-numpy python3-torch python3-sklearn dataset-fashion-mnist
          curl chromium python3-websocket openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "kiln: installing missing packages: ${missing[*]}"
  sudo_cmd=""
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
# Two cores and 24 GiB: two compile jobs fit comfortably.
ninja -C "$build" -j"${KILN_JOBS:-2}"
