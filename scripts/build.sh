#!/usr/bin/env bash
# Fetches the pinned llama.cpp (if needed), configures and builds everything in build/.
# Extra arguments go to CMake's configure step (e.g. -DGGML_NATIVE=ON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/fetch_llama.sh"
export CCACHE_BASEDIR="$root"   # cache hits across clones in other folders (CI)
export CCACHE_NOHASHDIR=1
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$(nproc)"
