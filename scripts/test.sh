#!/usr/bin/env bash
# Runs every Kiln test (README): set up and build, check the code's format
# (scripts/format.sh --check), then ctest, which runs the
# lit suites (through one `lit` entry) and the GoogleTest unit tests, and
# prints its closing "N% tests passed, M tests failed out of K" line; then the
# runtime under ASan and UBSan (scripts/sanitize.sh: its unit tests and a
# short FashionCnn training, evaluation, prediction and serving).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/format.sh" --check
build="${KILN_BUILD_DIR:-$root/build}"
(cd "$build" && ctest --output-on-failure -j2)
"$root/scripts/sanitize.sh"
