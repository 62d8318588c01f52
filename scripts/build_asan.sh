#!/usr/bin/env bash
# The sanitizer build: clang, AddressSanitizer + UndefinedBehaviorSanitizer over
# coolfusion and llama.cpp, plus the libFuzzer targets, in build-asan/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/fetch_llama.sh"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCOOLFUSION_SANITIZE=ON -DCOOLFUSION_FUZZ=ON "$@" >/dev/null
cmake --build build-asan -j "$(nproc)"
