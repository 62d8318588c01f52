#!/usr/bin/env bash
# Records what the engine does on a fixed matrix of prompts, models and settings: the
# text, the counters and the decode calls of every segment (`generate --json`, timings
# removed), one file per case under OUT_DIR (20 prompts, plus 4 zoo questions; every method). Run it before and after a change that must
# not alter behaviour (a refactor) and compare the two folders with `diff -r`.
#   scripts/same_output.sh OUT_DIR [BIN_DIR [REGEX]]   (REGEX: only the cases whose name
#                                                      matches, e.g. 'p11-three|zoo0')
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: same_output.sh OUT_DIR [BIN_DIR]}
bin=${2:-$root/build/bin}
only=${3:-.}
m=$root/build/models
mkdir -p "$out"
prompts=(
  "Once upon a time"
  "The capital of France is"
  "def fibonacci(n):"
  "Q: What is 12 plus 7? A:"
  "今日はとても良い天気です。"
  "In 1969, the first person to walk on the Moon was"
  "Write a haiku about the sea."
  "SELECT name FROM users WHERE"
  "The three primary colors are"
  "Translate to French: good morning"
  "Ein kleiner Hund lief über die Straße"
  "def add(a, b):\n    return"
  "Water boils at 100 degrees"
  "Привет, как дела?"
  "The quick brown fox"
  "List three fruits: apple,"
  "我们今天去公园散步"
  "Q: Who wrote Hamlet? A:"
  "for (int i = 0; i < n; ++i) {"
  "Dear Sir or Madam,"
)
sets=(
  "two|-m $m/rand-llama-spm.gguf -m $m/rand-gpt-2.gguf"
  "three|-m $m/rand-llama-spm.gguf -m $m/rand-gpt-2.gguf -m $m/rand-qwen2.gguf"
  "three-par|-m $m/rand-llama-spm.gguf -m $m/rand-gpt-2.gguf -m $m/rand-qwen2.gguf --parallel-models"
)
settings=(
  "auto|"
  "mean|--score mean"
  "shortest|--method cool-shortest --score mean"
  "rerank|--method rerank"
  "coolr|--method cool+r --score geomean"
  "sampled|--temp 0.8 --seed 7 --score mean"
  "unite|--method unite"
  "gac|--method gac --gate 0.5"
  "adafuse|--method adafuse"
  "safe|--method safe"
)
strip='del(.. | objects | .generate_ms?, .score_ms?, .timings?, .align_ms?) | del(.. | nulls)'
i=0
for p in "${prompts[@]}"; do
  for s in "${sets[@]}"; do
    for t in "${settings[@]}"; do
      name="p$i-${s%%|*}-${t%%|*}"
      [[ $name =~ $only ]] || continue
      # shellcheck disable=SC2086
      "$bin/coolfusion" generate ${s#*|} ${t#*|} -p "$p" -n 24 --json 2>/dev/null | jq -S "$strip" > "$out/$name.json" \
        || echo "failed: $name" >> "$out/failures.txt"
    done
  done
  i=$((i + 1))
done
# The trained zoo (arith3 A, B, C) on test questions: real disagreements, re-encodings.
z=$root/models
j=0
while IFS= read -r q; do
  for t in "${settings[@]}"; do
    [[ zoo$j-${t%%|*} =~ $only ]] || continue
    # shellcheck disable=SC2086
    "$bin/coolfusion" generate -m "$z/arith3-a.gguf" -m "$z/arith3-b.gguf" -m "$z/arith3-c.gguf" ${t#*|} -p "$q" -n 24 \
      --json 2>/dev/null | jq -S "$strip" > "$out/zoo$j-${t%%|*}.json" || echo "failed: zoo$j" >> "$out/failures.txt"
  done
  j=$((j + 1))
done < <(head -n 4 "$root/data/arith3/test.jsonl" | jq -r '"Question: " + .question + "\nAnswer:"')
ls "$out" | wc -l
