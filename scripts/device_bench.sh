#!/usr/bin/env bash
# Single and fused speed on a lent GPU machine (the `device` tool), with binaries built
# there: a CUDA build (scripts/build.sh -DGGML_CUDA=ON) in build-cuda/, then three
# realistic shapes with random weights and real vocabularies, q4_0, every layer on the GPU:
#   llama3-8b   Llama-3-8B's shape (4096 x 32 layers, 32/8 heads, ff 14336), llama-bpe
#   qwen2-7b    Qwen2-7B's shape (3584 x 28, 28/4 heads, ff 18944), qwen2
#   phi3-mini   Phi-3-mini's shape (3072 x 32, 32/32 heads, ff 8192), phi-3
# and `coolfusion bench` on 2 and 3 of them: each model's single tokens/s, fused tokens/s,
# R = fused / sum of singles, sequential and --parallel-models (one GPU). Prints a
# markdown table for docs/performance.md and leaves bench.json and the logs in OUT_DIR.
#   scripts/device_bench.sh [--dry] [OUT_DIR]
# --dry: the same steps on this machine's CPU build (build/), with tiny shapes and no
# GPU, in seconds: the test suite runs it (tests/CMakeLists.txt, device_bench_dry).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dry=0
if [ "${1:-}" = "--dry" ]; then
  dry=1
  shift
fi
out=${1:-$root/build/device_bench}
mkdir -p "$out"
vocab=${COOLFUSION_VOCAB_DIR:-$root/third_party/llama.cpp/models}
if [ $dry = 1 ]; then
  bin=${COOLFUSION_BIN:-$root/build/bin}
  models=$out/models
  ngl=0 n=8 repeat=1 ctx=256
  shapes=(
    "llama3-8b llama-bpe 64 2 4 2 128"
    "qwen2-7b qwen2 64 2 4 1 160"
    "phi3-mini phi-3 48 2 4 4 96"
  )
else
  command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  COOLFUSION_BUILD_DIR=build-cuda "$root/scripts/build.sh" -DGGML_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" -DGGML_NATIVE=ON -DCOOLFUSION_BUILD_TESTS=OFF \
    > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
  bin=$root/build-cuda/bin
  models=${COOLFUSION_BENCH_MODELS:-$root/build-cuda/models}
  ngl=99 n=${BENCH_TOKENS:-64} repeat=${BENCH_REPEAT:-2} ctx=4096
  shapes=(
    "llama3-8b llama-bpe 4096 32 32 8 14336"
    "qwen2-7b qwen2 3584 28 28 4 18944"
    "phi3-mini phi-3 3072 32 32 32 8192"
  )
fi
mkdir -p "$models"
paths=()
for s in "${shapes[@]}"; do
  read -r name voc dim layers heads kv ff <<<"$s"
  f=$models/$name-q4_0.gguf
  if [ ! -f "$f" ]; then
    "$bin/coolfusion-make-model" --vocab "$vocab/ggml-vocab-$voc.gguf" --out "$f" --dim "$dim" \
      --layers "$layers" --heads "$heads" --kv-heads "$kv" --ff "$ff" --ctx "$ctx" --type q4_0 \
      --std 0.02 --seed 3 --name "$name" > "$out/make-$name.log" 2>&1 || { cat "$out/make-$name.log"; exit 1; }
  fi
  paths+=(--big "$f")
done
# bench-size group: 2 models, then 3; every layer on the GPU (ngl 0 in --dry)
"$bin/coolfusion" bench "${paths[@]}" -ngl "$ngl" -n "$n" --repeat "$repeat" --json \
  > "$out/bench.txt" 2> "$out/bench.err" || { cat "$out/bench.err"; exit 1; }
sed -n '/^{/,$p' "$out/bench.txt" > "$out/bench.json"
sed '/^{/,$d' "$out/bench.txt"
# The table: tokens/s from bench's own numbers (new tokens / milliseconds).
node - "$out/bench.json" <<'JS'
const fs = require('fs');
const runs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')).bench;
const name = (p) => p.split('/').pop().replace(/\.gguf$/, '');
console.log('\n| models | single tok/s (each) | fused tok/s | fused tok/s, --parallel-models | R (sequential) | R (parallel) |');
console.log('|---|---|---|---|---|---|');
for (const r of runs) {
  if (!(r.fused_ms > 0 && r.new_tokens > 0)) throw new Error('bench printed no timings');
  const singles = r.per_model.map((m, i) => `${name(r.models[i])} ${(1000 * m.single_tokens / m.single_ms).toFixed(1)}`);
  const fused = 1000 * r.new_tokens / r.fused_ms, par = 1000 * r.new_tokens / r.parallel_ms;
  console.log(`| ${r.models.map(name).join(' + ')} | ${singles.join(', ')} | ${fused.toFixed(1)} | ${par.toFixed(1)} | ${r.R.toFixed(2)} | ${(r.parallel_ms / r.sum_single_ms).toFixed(2)} |`);
}
JS
