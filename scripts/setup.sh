#!/usr/bin/env bash
# One command for a newcomer on a fresh Debian 12 machine: installs dependencies,
# fetches the pinned llama.cpp, builds coolfusion and its test models, and runs a fused
# generation on the project's own models.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/deps.sh"
"$root/scripts/build.sh" "$@"
bin=build/bin/coolfusion
m=build/models
echo
echo "== fused generation: three random-weight models with the llama-spm, gpt-2 and qwen2 tokenizers"
$bin generate -m $m/rand-llama-spm.gguf -m $m/rand-gpt-2.gguf -m $m/rand-qwen2.gguf \
  -p "The quick brown fox" -n 24
shared=../shared/data/models
if [ -f $shared/stories260K.gguf ]; then
  echo
  echo "== fused generation: stories260K + aidreams260K + babyllama105 (pretrained, three tokenizers)"
  $bin generate -m $shared/stories260K.gguf -m $shared/aidreams260K.gguf -m $shared/babyllama105.gguf \
    -p "Once upon a time" -n 48 --score geomean
fi
echo
echo "== fused generation: the zoo (models/: A knows add+sub, B sub+mul, C add+mul; three tokenizers)"
echo "   a subtraction, which C cannot do: by default C's bits per byte of the question make it sit out"
echo "   (--trace shows each model's weight, and its perplexity of each candidate)"
$bin generate -m models/arith3-a.gguf -m models/arith3-b.gguf -m models/arith3-c.gguf \
  -p $'Question: Ann has 23 shells. Ann gives 8 shells to Ben. How many shells does Ann have now?\nAnswer:' -n 32
echo
echo "setup done: build/bin/coolfusion --help"
