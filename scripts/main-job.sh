#!/usr/bin/env bash
# Kiln's main job (README): set up and build, then compile every example in
# examples/ to the kiln dialect and print a summary of each model (inputs,
# parameters with shapes, outputs). Training arrives with the autodiff issue;
# then this script trains the Fashion-MNIST CNN instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
build="${KILN_BUILD_DIR:-$root/build}"
for f in "$root"/examples/*.kiln; do
  echo "== ${f#$root/}"
  "$build/bin/kilnc" "$f" --emit=summary
done
