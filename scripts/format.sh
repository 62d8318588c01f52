#!/usr/bin/env bash
# Applies .clang-format to coolfusion's own C++ (src, include, tools, tests, python; not
# third_party or node_modules). --check: changes nothing, lists the files that differ
# and exits 1 if any does (CI).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cf=$(command -v clang-format-14 || true)  # the version fixes the output: 14 only
[ -n "$cf" ] || { echo "error: clang-format-14 not found (scripts/deps.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'include/*.h' 'tools/*.cc' 'tools/*.h' 'tests/*.cc' 'tests/*.h' 'python/*.cc' 'python/*.h' |
  grep -v node_modules)
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
      echo "not formatted: $f (run scripts/format.sh)"
      bad=1
    fi
  done
  [ $bad = 0 ] && echo "formatting: ${#files[@]} files clean"
  exit $bad
fi
"$cf" -i "${files[@]}"
echo "formatted ${#files[@]} files"
