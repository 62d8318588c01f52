#!/usr/bin/env bash
# Fetches the pinned llama.cpp (if needed), configures and builds everything in build/
# (or $COOLFUSION_BUILD_DIR). Extra arguments go to CMake's configure step (e.g.
# -DGGML_NATIVE=ON, or -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 where a CUDA toolkit is).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/fetch_llama.sh"
export CCACHE_BASEDIR="$root"   # cache hits across clones in other folders (CI)
export CCACHE_NOHASHDIR=1
dir=${COOLFUSION_BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
