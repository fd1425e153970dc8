#!/usr/bin/env bash
# Builds the libFuzzer targets (ASan + UBSan, build-fuzz/) and runs each for a
# number of executions, starting from the seeds in test/fuzz/corpus/<target>
# (docs/fuzzing.md records the runs).
#
#   scripts/fuzz.sh [--runs N] [--merge] [TARGET...]
#
# TARGET: idx npy csv safetensors protocol http frontend (default: all but the
# front end, whose instrumented build takes most of an hour on two cores).
# --runs N: executions per target (default 1000000). --merge: afterwards,
# merge what the run found into test/fuzz/corpus/<target>, keeping only the
# inputs that add coverage. A crash, sanitizer report, leak or hang stops the
# script with the fuzzer's exit status and leaves the input in build-fuzz/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=1000000 merge=0 targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(idx npy csv safetensors protocol http)

# The main build: its kilnc compiles the model the protocol fuzzer serves.
"$root/scripts/setup.sh"
fuzz="${KILN_FUZZ_BUILD_DIR:-$root/build-fuzz}"
if [[ ! -f "$fuzz/build.ninja" ]]; then
  cmake -G Ninja -S "$root" -B "$fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_ENABLE_FUZZER=ON \
    -DKILN_FUZZ_KILNC="${KILN_BUILD_DIR:-$root/build}/bin/kilnc"
fi
ninja -C "$fuzz" -j"${KILN_JOBS:-2}" $(printf 'kiln-%s-fuzzer ' "${targets[@]}")

for target in "${targets[@]}"; do
  binary="$fuzz/bin/kiln-$target-fuzzer"
  seeds="$root/test/fuzz/corpus/$target"
  work="$fuzz/corpus/$target"
  mkdir -p "$work" "$seeds"
  extra=()
  [[ $target == frontend ]] && extra=(-dict="$root/test/fuzz/kiln.dict")
  echo "== $target: $runs executions"
  # Findings (crash-*, leak-*, timeout-*) land in build-fuzz/.
  (cd "$fuzz" && "$binary" "$work" "$seeds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 "${extra[@]}" 2>&1 | tee "$fuzz/$target.log" |
      grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)' || true)
  grep -q "Done $runs runs" "$fuzz/$target.log" || { echo "fuzz.sh: $target stopped early (see $fuzz/$target.log)"; exit 1; }
  if [[ $merge -eq 1 ]]; then
    "$binary" -merge=1 "$seeds" "$work" >/dev/null 2>&1
  fi
done
