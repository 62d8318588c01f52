#!/usr/bin/env bash
# Runs the libFuzzer targets, each for SECONDS (default 60), from the seed corpus in
# tests/fuzz/corpus/ (new inputs go to build-asan/fuzz/corpus/, never into the repo).
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 3600 alignment
# Needs the sanitizer build (scripts/test.sh makes it, or scripts/build_asan.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(boundaries alignment request)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$root/tests/ubsan.supp}
for t in "${targets[@]}"; do
  work="build-asan/fuzz/corpus/$t"
  mkdir -p "$work" build-asan/fuzz/findings
  echo "== fuzz_$t for ${secs}s"
  build-asan/fuzz/fuzz_$t "$work" "tests/fuzz/corpus/$t" -max_total_time="$secs" -max_len=256 -timeout=10 \
    -artifact_prefix=build-asan/fuzz/findings/ -print_final_stats=1 2>&1 |
    grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|ERROR|SUMMARY|Done|crash-|timeout-" || true
  # libFuzzer exits non-zero on a finding; grep hides the status, so check for artifacts.
  if ls build-asan/fuzz/findings/*-* >/dev/null 2>&1; then
    echo "fuzz_$t: finding(s) in build-asan/fuzz/findings/" >&2
    exit 1
  fi
done
