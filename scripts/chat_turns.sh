#!/usr/bin/env bash
# The prompt cache where users feel it: tests/e2e/chat_turns.mjs (a 10-turn chat, history
# sent whole each turn) on the bench-size models (made by scripts/bench.sh if missing),
# with and without the cache. Writes build/chat_turns.json.
#   scripts/chat_turns.sh [MODEL.gguf MODEL.gguf ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
big=build/models/bench
if [ $# -gt 0 ]; then
  abs=()
  for f in "$@"; do abs+=("$(realpath "$f")"); done
  models=$(IFS=,; echo "${abs[*]}")
else
  [ -f $big/big-llama-spm.gguf ] && [ -f $big/big-gpt-2.gguf ] || "$root/scripts/bench.sh" -n 1 --repeat 1 >/dev/null
  models=$root/$big/big-llama-spm.gguf,$root/$big/big-gpt-2.gguf
fi
cd tests/e2e
COOLFUSION_BIN="$root/build/bin/coolfusion" COOLFUSION_MODELS="$models" COOLFUSION_OUT="$root/build" \
  node chat_turns.mjs
