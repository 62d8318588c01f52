#!/usr/bin/env bash
# Which models sit out on short prompts (issue 25: weights that need evidence). For chat
# prompts of 2, 8, 32 and 128 bytes (the first bytes of a zoo question and of a story),
# prints each model's bits per byte, the bytes it was measured on and its weight, under
# the default (--prompt-evidence 32) and without the evidence rule (--prompt-evidence 0).
#   scripts/sit_out_table.sh            (about a minute; a Markdown table on stdout)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${COOLFUSION_BIN:-build/bin}
shared=${COOLFUSION_SHARED_MODELS:-../shared/data/models}
zoo_text='Ann has 23 shells. Ann gives 8 shells to Ben. How many shells does Ann have now? Tom has 41 apples. Tom eats 5 apples. How many apples does Tom have now?'
story_text='Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree.'
row() {  # LABEL TEXT BYTES EVIDENCE MODELS...
  local label=$1 text=$2 len=$3 ev=$4
  shift 4
  local args=() p
  for m in "$@"; do args+=(-m "$m"); done
  p=$(printf '%s' "$text" | head -c "$len")
  local w
  w=$(printf '%s\n' "$p" | "$bin/coolfusion" chat "${args[@]}" -n 1 --trace --prompt-evidence "$ev" 2>&1 |
    grep -o '\[weights\].*' | head -1 | sed 's/\[weights\] //')
  printf '| %s | %s | `%s` | %s |\n' "$label" "$len" "$ev" "$w"
}
echo "| models | prompt bytes | --prompt-evidence | per model: bits/byte (bytes measured) weight |"
echo "|---|---|---|---|"
for len in 2 8 32 128; do
  for ev in 32 0; do
    row "zoo A, B, C" "$zoo_text" "$len" "$ev" models/arith3-a.gguf models/arith3-b.gguf models/arith3-c.gguf
  done
done
for len in 2 8 32 128; do
  for ev in 32 0; do
    row "stories260K, aidreams260K, babyllama105" "$story_text" "$len" "$ev" \
      "$shared/stories260K.gguf" "$shared/aidreams260K.gguf" "$shared/babyllama105.gguf"
  done
done
