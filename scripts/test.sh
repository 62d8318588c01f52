#!/usr/bin/env bash
# Runs the whole test suite: dependencies, build, then every test through ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/deps.sh"
"$root/scripts/build.sh" "$@"
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
