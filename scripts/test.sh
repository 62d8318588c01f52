#!/usr/bin/env bash
# Checks formatting, then runs the whole test suite twice, both builds with warnings as
# errors: in the normal build, and in the sanitizer build (clang, ASan + UBSan over
# coolfusion and llama.cpp, thread-safety analysis on); then each fuzz target for a
# minute. `scripts/test.sh --fast` runs only the normal build's suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fast=0
[ "${1:-}" = "--fast" ] && fast=1
"$root/scripts/deps.sh"
echo "== formatting"
"$root/scripts/format.sh" --check
"$root/scripts/build.sh" -DCOOLFUSION_WERROR=ON
echo "== test suite (normal build)"
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900)
[ $fast = 1 ] && exit 0

echo "== test suite under AddressSanitizer + UndefinedBehaviorSanitizer"
"$root/scripts/build_asan.sh" -DCOOLFUSION_WERROR=ON -DCOOLFUSION_SOAK_SECONDS=60 -DCOOLFUSION_SOAK_MAX_RSS_GROWTH=0.6
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=64
export LSAN_OPTIONS=suppressions="$root/tests/lsan.supp":print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions="$root/tests/ubsan.supp"
(cd build-asan && ctest --output-on-failure -j "$(nproc)" --timeout 1800)

echo "== fuzzing: each target for ${COOLFUSION_FUZZ_SECONDS:-60} s"
"$root/scripts/fuzz.sh" "${COOLFUSION_FUZZ_SECONDS:-60}"
echo "== all passed"
