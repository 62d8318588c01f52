#!/usr/bin/env bash
# What CI runs (.ci/run). Stages, each timed against a budget (the table at the end):
#   deps            scripts/deps.sh: the Debian and npm packages, when missing
#   format          scripts/format.sh --check
#   normal build    g++, -Werror on coolfusion's code
#   normal suite    every test (ctest), the slow repetitions included
#   sanitizer build clang, ASan + UBSan on coolfusion's code (not llama.cpp's), -Wthread-safety
#   sanitizer suite every test that is not labelled `slow` (see docs/testing.md)
#   fuzz            each libFuzzer target (seven) for COOLFUSION_FUZZ_SECONDS (60), two at a time
#   planted bugs    scripts/sanitizer_check.sh: a heap overflow and a use-after-free planted
#                   in our code are each caught by the sanitizer build's tests
# After each suite, its 15 slowest tests and every test over its budget in
# tests/time_budgets.tsv; a stage over its budget is marked in the table. Neither fails the
# run: ctest's TIMEOUT is the hard limit, the budgets make growth visible before it bites.
#   scripts/test.sh --fast   only the normal build's suite
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fast=0
[ "${1:-}" = "--fast" ] && fast=1

# Stage budgets in seconds. The builds' are for a cold ccache (measured 436 s and 530 s on
# 2 cores; a warm one, as CI on the same machine has, takes 83 s and 110 s). The whole run's
# budget is the 40 minutes CI is kept under. The fuzz stage runs seven targets two at a
# time for 60 s each: four rounds, 240 s, plus each target's start (vocabularies loaded
# under ASan, the seed corpus run once: structured's seeds each go through the grammar
# sandbox, and a few take its limits, seconds each).
declare -A budget=([deps]=120 [format]=30 [normal build]=540 [normal suite]=660
                   [sanitizer build]=600 [sanitizer suite]=600 [fuzz]=300 [planted bugs]=90)
stages=() seconds=() t_all=$(date +%s) current=""
summary() {
  local rc=$? i total=0 s b mark
  [ ${#stages[@]} -gt 0 ] || return 0
  echo
  echo "== stage times"
  printf '  %-16s %8s %8s\n' stage seconds budget
  for i in "${!stages[@]}"; do
    s=${seconds[$i]} b=${budget[${stages[$i]}]:-0} mark=""
    [ "$s" -gt "$b" ] && mark="  OVER BUDGET"
    printf '  %-16s %8d %8d%s\n' "${stages[$i]}" "$s" "$b" "$mark"
  done
  [ -n "$current" ] && printf '  %-16s %8d %8s  (failed here)\n' "$current" $(($(date +%s) - t_start)) ""
  total=$(($(date +%s) - t_all))
  printf '  %-16s %8d %8d%s\n' total "$total" 2400 "$([ $total -gt 2400 ] && echo '  OVER BUDGET')"
  grep -hs "^OVER BUDGET" "$root/build/test-times.txt" "$root/build-asan/test-times.txt" || true
  return $rc
}
trap summary EXIT
# stage NAME COMMAND...: runs COMMAND, records its time under NAME
stage() {
  current=$1
  shift
  echo "== $current"
  t_start=$(date +%s)
  "$@"
  stages+=("$current") seconds+=($(($(date +%s) - t_start)))
  current=""
}
# suite NAME BUILD_DIR TIMEOUT [ctest args...]: ctest with a JUnit file, then its times
suite() {
  local name=$1 dir=$2 timeout=$3 t listed
  shift 3
  # A test named `slow` in tests/CMakeLists.txt that no longer exists (renamed) would run
  # under the sanitizers unnoticed: ctest ignores properties of unknown tests.
  listed=$(cd "$dir" && ctest -N)
  for t in $(sed -n 's/^set_tests_properties(\([^ ]*\) .*/\1/p' "$dir/tests/slow_tests.cmake"); do
    awk -F': ' -v t="$t" '$2 == t { found = 1 } END { exit !found }' <<<"$listed" ||
      { echo "error: tests/CMakeLists.txt marks $t slow, but no such test exists" >&2; return 1; }
  done
  rm -f "$dir/junit.xml" "$dir/test-times.txt"
  (cd "$dir" && ctest --output-on-failure -j "$(nproc)" --timeout "$timeout" --output-junit junit.xml "$@")
  node "$root/scripts/test_times.mjs" "$dir/junit.xml" "$name" 15 | tee "$dir/test-times.txt"
}

stage deps "$root/scripts/deps.sh"
stage format "$root/scripts/format.sh" --check
stage "normal build" "$root/scripts/build.sh" -DCOOLFUSION_WERROR=ON
stage "normal suite" suite normal build 900
[ $fast = 1 ] && exit 0

stage "sanitizer build" "$root/scripts/build_asan.sh" -DCOOLFUSION_WERROR=ON \
  -DCOOLFUSION_SOAK_SECONDS=60 -DCOOLFUSION_SOAK_MAX_RSS_GROWTH=0.6
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=64
export LSAN_OPTIONS=suppressions="$root/tests/lsan.supp":print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions="$root/tests/ubsan.supp"
stage "sanitizer suite" suite sanitizer build-asan 900 -LE slow

stage fuzz "$root/scripts/fuzz.sh" "${COOLFUSION_FUZZ_SECONDS:-60}"
stage "planted bugs" "$root/scripts/sanitizer_check.sh"
echo "== all passed"
