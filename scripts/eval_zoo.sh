#!/usr/bin/env bash
# Measures the committed zoo (models/arith3-{a,b,c}.gguf) with `coolfusion eval`: every
# accuracy table and chart in the README's "Model zoo" section comes from this command.
#   scripts/eval_zoo.sh [OUT_DIR]           (default docs/zoo; tables also on stdout)
# Runs, each a separate `coolfusion eval`:
#   arith3     data/arith3/test.jsonl (600): each model alone; cool, cool-shortest, rerank,
#              cool+r, each scored with the paper's mean PPL and with the median
#   fresh      a new arith3 test set from the same templates, another seed
#              (COOLFUSION_EVAL_SEED, default 4242): single x3, cool, cool+r (mean, median)
#   rules      cool under each scoring rule (mean, geomean, sweetspan, median) on arith3 and facts3,
#              and on a mismatched pair: zoo model B with stories260K (a pretrained model of
#              children's stories, another tokenizer, no arithmetic)
# COOLFUSION_EVAL_LIMIT=N evaluates only the first N rows of each set (a quick look).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-docs/zoo}
bin=${COOLFUSION_BIN:-build/bin}
shared=${COOLFUSION_SHARED_MODELS:-../shared/data/models}
seed=${COOLFUSION_EVAL_SEED:-4242}
limit=()
[ -n "${COOLFUSION_EVAL_LIMIT:-}" ] && limit=(--limit "$COOLFUSION_EVAL_LIMIT")
mkdir -p "$out" build/eval
A=models/arith3-a.gguf B=models/arith3-b.gguf C=models/arith3-c.gguf
for m in $A $B $C; do [ -f "$m" ] || { echo "error: $m missing (scripts/make_zoo.sh makes it)" >&2; exit 1; }; done

ev() {  # NAME ARGS...: one eval (one thread per model); table in build/eval/NAME.txt,
        # JSON with every prediction in build/eval/NAME.json, chart in OUT/NAME.svg
  local name=$1; shift
  { echo "== $name: coolfusion eval $*"
    "$bin/coolfusion" eval -t 1 -n 32 "${limit[@]}" --json "build/eval/$name.json" --svg "$out/$name.svg" "$@" \
      2> "build/eval/$name.log"
  } > "build/eval/$name.txt" || { cat "build/eval/$name.txt"; tail -n 5 "build/eval/$name.log" >&2; return 1; }
}

"$bin/coolfusion-make-task" arith3 --seed "$seed" --n 600 > build/eval/arith3-seed$seed.jsonl
# Two lanes at once (each eval is one process with one thread per model).
ev arith3 --data data/arith3/test.jsonl -m $A -m $B -m $C --method single,cool,cool-shortest,rerank,cool+r \
  --score mean,median &
lane=$!
ev arith3-fresh --data build/eval/arith3-seed$seed.jsonl -m $A -m $B -m $C --method single,cool,cool+r \
  --score mean,median
ev rules-arith3 --data data/arith3/test.jsonl -m $A -m $B -m $C --method cool --score mean,geomean,sweetspan,median
ev rules-facts3 --data data/facts3/test.jsonl -m $A -m $B -m $C --method single,cool \
  --score mean,geomean,sweetspan,median
ev rules-mismatched --data data/arith3/test.jsonl -m $B -m "$shared/stories260K.gguf" \
  --method single,cool --score mean,geomean,sweetspan,median
wait $lane
for n in arith3 arith3-fresh rules-arith3 rules-facts3 rules-mismatched; do cat "build/eval/$n.txt"; echo; done
echo "charts in $out/, tables in build/eval/*.txt, JSON (with every prediction) in build/eval/*.json"
