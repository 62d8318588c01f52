#!/usr/bin/env bash
# Runs `coolfusion bench` on the tiny test models and on bench-size models (>= 500M
# parameters, random weights, real vocabularies: llama-spm, gpt-2, qwen2), writing the
# latter to build/models/bench/ first if missing (~1 GB each, f16).
#   scripts/bench.sh [extra bench flags, e.g. -n 32 --repeat 1]
# The methods side by side (time per new token, R, decode calls and tokens decoded per new
# token, and the fitted cost per call and per token that scripts/method_counts.mjs reads):
#   scripts/bench.sh -n 32 --repeat 3 --no-growth --method cool,cool+r,unite,gac,adafuse,safe --json > bench.txt
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -x build/bin/coolfusion ] || "$root/scripts/build.sh"
bin=build/bin
vocab=third_party/llama.cpp/models
big=build/models/bench
mkdir -p "$big"
make_big() {  # name vocab dim layers heads kv_heads ff
  [ -f "$big/$1.gguf" ] || $bin/coolfusion-make-model --vocab "$vocab/ggml-vocab-$2.gguf" --out "$big/$1.gguf" \
    --dim "$3" --layers "$4" --heads "$5" --kv-heads "$6" --ff "$7" --ctx 2048 --type f16 --std 0.02 --seed 3 --name "$1"
}
make_big big-llama-spm llama-spm 1536 17 16 4 4096
make_big big-gpt-2     gpt-2     1280 21 16 4 3584
make_big big-qwen2     qwen2     1024 18 16 4 2816
m=build/models
# the 4th tiny model (qwen2's vocabulary again, with a chat template) is only in the
# cost-growth table's "4 models" row
$bin/coolfusion bench -m $m/rand-llama-spm.gguf -m $m/rand-gpt-2.gguf -m $m/rand-qwen2.gguf \
  -m $m/rand-qwen2-chat.gguf \
  --big $big/big-llama-spm.gguf --big $big/big-gpt-2.gguf --big $big/big-qwen2.gguf "$@"
