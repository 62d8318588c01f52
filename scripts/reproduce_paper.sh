#!/usr/bin/env bash
# The paper's GSM8K table in one command (issue 35): one `coolfusion eval` on the GSM8K test
# split under the paper's protocol, on your GGUF files, then the paper's numbers beside the
# run's (scripts/paper_table.mjs): each model alone, the paper's Cool, Rerank and Cool+R
# under its rule (--score mean), and this project's default (cool, --score auto), each
# fused run with its paired difference to the best single model (95% interval).
#   scripts/reproduce_paper.sh -m A.gguf -m B.gguf [-m C.gguf ...] [options] [-- EVAL ARGS]
#   scripts/reproduce_paper.sh --dry [options]
# The paper fused Llama-3-8B, Phi-3-mini and GLM-4-9B (give them in any order; a single
# row shows the paper's number when its file name names the model).
# Options:
#   --limit N      the first N test rows only (default: all 1319)
#   -ngl N         layers on the GPU, every model (default 0; 99: all)
#   --out DIR      eval.json (every prediction), samples.jsonl (harness-style, per row and
#                  run), eval.txt (eval's own table), eval.log and table.md
#                  (default build/paper, --dry: build/paper-dry)
#   --shots K      worked examples before each question (default 5)
#   -n N           new tokens per answer (default 256)
#   --shortest     also cool-shortest under the paper's rule (its Cool without aligned
#                  segments; one more fused run)
#   --data-dir DIR test.jsonl and train.jsonl in GSM8K's format (default
#                  ../shared/data/datasets/gsm8k, or COOLFUSION_GSM8K_DIR)
#   --dry          the same steps on the committed zoo (models/arith3-{a,b,c}.gguf,
#                  data/arith3/, 1-shot, 8 rows, -n 32, one thread per model) in seconds:
#                  the test suite runs it (tests/CMakeLists.txt, reproduce_paper_dry)
#   -- ARGS        passed to eval unchanged (-t, -c, -fa, --no-mmap, --parallel-models, ...)
# The protocol (docs/paper.md says where each part comes from): GSM8K's test split; K-shot
# from the first K rows of its train split; prompts "Question: {q}\nAnswer: {a}\n\n" per
# example, then "Question: {q}\nAnswer:"; greedy; up to N new tokens, stopping at
# "\nQuestion:"; the answer after "####", else the last number (lm-evaluation-harness's
# strict-match and flexible-extract beside it). COOLFUSION_BIN: the binaries (build/bin).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${COOLFUSION_BIN:-$root/build/bin}
usage() { sed -n '7,8p' "$0" | sed 's/^# *//' >&2; echo "(the options: the comment at the top of $0)" >&2; exit 1; }

models=() eval_args=() limit='' ngl='' out='' shots='' ntok='' shortest=0 dry=0
data_dir=${COOLFUSION_GSM8K_DIR:-$root/../shared/data/datasets/gsm8k}
while [ $# -gt 0 ]; do
  case $1 in
    -m|--model) [ $# -ge 2 ] || usage; models+=(-m "$2"); shift 2 ;;
    --limit) [ $# -ge 2 ] || usage; limit=$2; shift 2 ;;
    -ngl|--n-gpu-layers) [ $# -ge 2 ] || usage; ngl=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --shots) [ $# -ge 2 ] || usage; shots=$2; shift 2 ;;
    -n|--n-predict) [ $# -ge 2 ] || usage; ntok=$2; shift 2 ;;
    --data-dir) [ $# -ge 2 ] || usage; data_dir=$2; shift 2 ;;
    --shortest) shortest=1; shift ;;
    --dry) dry=1; shift ;;
    --) shift; eval_args+=("$@"); break ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; usage ;;
  esac
done

if [ $dry = 1 ]; then
  [ ${#models[@]} -eq 0 ] || { echo "error: --dry takes the zoo's models, not -m" >&2; exit 1; }
  models=(-m "$root/models/arith3-a.gguf" -m "$root/models/arith3-b.gguf" -m "$root/models/arith3-c.gguf")
  test_file=$root/data/arith3/test.jsonl train_file=$root/data/arith3/train.jsonl
  : "${shots:=1}" "${limit:=8}" "${ntok:=32}" "${out:=$root/build/paper-dry}"
  eval_args=(-t 1 "${eval_args[@]}")
else
  [ ${#models[@]} -ge 4 ] || { echo "error: give two or more models (-m A.gguf -m B.gguf ...), or --dry" >&2; exit 1; }
  [ -d "$data_dir" ] && data_dir=$(cd "$data_dir" && pwd)
  test_file=$data_dir/test.jsonl train_file=$data_dir/train.jsonl
  : "${shots:=5}" "${ntok:=256}" "${out:=$root/build/paper}"
fi
for f in "$test_file" "$train_file" "$bin/coolfusion"; do
  [ -e "$f" ] || { echo "error: $f missing (--data-dir DIR, COOLFUSION_BIN)" >&2; exit 1; }
done
command -v node >/dev/null || { echo "error: node (Node.js) is needed for the table" >&2; exit 1; }
methods=single,cool,rerank,cool+r
[ $shortest = 1 ] && methods+=,cool-shortest
args=(eval --data "$test_file" --train "$train_file" --few-shot "$shots" -n "$ntok"
      --method "$methods" --score mean "${models[@]}"
      --json "$out/eval.json" --log-samples "$out/samples.jsonl")
[ -n "$limit" ] && args+=(--limit "$limit")
[ -n "$ngl" ] && args+=(-ngl "$ngl")
args+=("${eval_args[@]}")

mkdir -p "$out"
rm -f "$out/eval.json" "$out/table.md"
echo "coolfusion ${args[*]}" > "$out/command.txt"
echo "== $(cat "$out/command.txt")" >&2
# eval's table to eval.txt; its progress (stderr) to the terminal and eval.log.
if ! "$bin/coolfusion" "${args[@]}" > "$out/eval.txt" 2> >(tee "$out/eval.log" >&2); then
  echo "error: coolfusion eval failed (the log: $out/eval.log)" >&2
  exit 1
fi
wait  # for tee
node "$root/scripts/paper_table.mjs" "$out/eval.json" > "$out/table.md"
cat "$out/table.md"
echo "(in $out: table.md, eval.json with every prediction, samples.jsonl, eval.txt, eval.log)" >&2
