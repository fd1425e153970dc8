#!/usr/bin/env bash
# Formats Kiln's C and C++ sources with clang-format-22 and the repository's
# .clang-format (LLVM style, 120 columns).
#   scripts/format.sh           rewrite the files in place
#   scripts/format.sh --check   change nothing; list the files that differ
#                               and exit 1 if any does (CI runs this)
# The files are those git tracks under the source folders; generated code
# and third-party code are not in git, so they are never touched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

format=""
for candidate in clang-format-22 /usr/lib/llvm-22/bin/clang-format; do
  if command -v "$candidate" >/dev/null; then format="$candidate"; break; fi
done
if [[ -z "$format" ]]; then
  echo "format.sh: clang-format-22 is not installed (apt-get install clang-format-22)" >&2
  exit 2
fi

mapfile -t files < <(git ls-files -- 'frontend' 'dialect' 'passes' 'codegen' 'compiler' 'runtime' 'tools' 'test' \
                                     'bench' 'examples' 'include' | grep -E '\.(c|cpp|h)$')
if [[ "${1:-}" == "--check" ]]; then
  differ=()
  for file in "${files[@]}"; do
    if ! "$format" --style=file "$file" | cmp -s - "$file"; then differ+=("$file"); fi
  done
  if ((${#differ[@]})); then
    echo "format.sh: ${#differ[@]} file(s) differ from clang-format's output (run scripts/format.sh):" >&2
    printf '  %s\n' "${differ[@]}" >&2
    exit 1
  fi
  echo "format.sh: ${#files[@]} files formatted as .clang-format says"
else
  "$format" --style=file -i "${files[@]}"
fi
