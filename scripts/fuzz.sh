#!/usr/bin/env bash
# Runs the libFuzzer targets, each for SECONDS (default 60), from the seed corpus in
# tests/fuzz/corpus/ (new inputs go to $b/fuzz/corpus/, never into the repo).
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 3600 alignment
#   COOLFUSION_FUZZ_RUNS=1000000 scripts/fuzz.sh 0 request   (a number of executions instead)
# Uses $b/ (ASan + UBSan; scripts/test.sh or scripts/build_asan.sh make it), or
# the faster UBSan-only build with COOLFUSION_FUZZ_BUILD=build-fuzz (scripts/build_asan.sh --ub-only),
# for campaigns of millions of executions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-60}
shift || true
targets=("$@")
b=${COOLFUSION_FUZZ_BUILD:-build-asan}
[ ${#targets[@]} -gt 0 ] || targets=(boundaries alignment request eval)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$root/tests/ubsan.supp}
for t in "${targets[@]}"; do
  work="$b/fuzz/corpus/$t"
  mkdir -p "$work" $b/fuzz/findings
  echo "== fuzz_$t for ${secs}s"
  len=${COOLFUSION_FUZZ_MAX_LEN:-128}; [ "$t" = request ] || [ "$t" = eval ] && len=1024
  limit=(-max_total_time="$secs")
    [ -n "${COOLFUSION_FUZZ_RUNS:-}" ] && limit=(-runs="$COOLFUSION_FUZZ_RUNS")
  $b/fuzz/fuzz_$t "$work" "tests/fuzz/corpus/$t" "${limit[@]}" -max_len=$len -timeout=10 \
    -artifact_prefix=$b/fuzz/findings/ -print_final_stats=1 2>&1 |
    grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|ERROR|SUMMARY|Done|crash-|timeout-" || true
  # libFuzzer exits non-zero on a finding; grep hides the status, so check for artifacts.
  if ls $b/fuzz/findings/*-* >/dev/null 2>&1; then
    echo "fuzz_$t: finding(s) in $b/fuzz/findings/" >&2
    exit 1
  fi
done
