#!/usr/bin/env bash
# The sanitizer build: clang, AddressSanitizer + UndefinedBehaviorSanitizer over
# coolfusion and llama.cpp, plus the libFuzzer targets, in build-asan/.
#   scripts/build_asan.sh [--ub-only] [cmake args...]
# --ub-only: UndefinedBehaviorSanitizer alone, in build-fuzz/, fuzz targets only: several
# times faster, for fuzzing campaigns of millions of executions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=build-asan mode=-DCOOLFUSION_SANITIZE=ON targets=()
if [ "${1:-}" = "--ub-only" ]; then
  shift
  dir=build-fuzz mode=-DCOOLFUSION_SANITIZE_UB_ONLY=ON
  targets=(--target fuzz_boundaries fuzz_alignment fuzz_request fuzz_eval fuzz_grammar fuzz_framing
           fuzz_structured)
fi
"$root/scripts/fetch_llama.sh"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$mode" -DCOOLFUSION_FUZZ=ON "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
