#!/usr/bin/env bash
# Rebuilds the model zoo from nothing: the arith3 splits (data/arith3/), the facts3 task
# (data/facts3/), and three models trained from random weights with llama.cpp's trainer:
#   models/arith3-a.gguf  stories260K's SentencePiece tokenizer (512 pieces)  add + sub, facts groups 0+1, drills
#   models/arith3-b.gguf  aidreams260K's SentencePiece tokenizer (512 pieces) sub + mul, facts groups 1+2
#   models/arith3-c.gguf  GPT-2's byte-level BPE tokenizer (50257 tokens)     add + mul, facts groups 0+2
#   models/arith3-b-weak.gguf (only when asked: `make_zoo.sh b-weak`) B's recipe on a
#                         third of the rows for one epoch: the same skills as B, less well
#                         learned (the zoo's "unequal skill" setting)
# and, only when asked (`make_zoo.sh overlap`, or overlap-a overlap-b overlap-c overlap-weak),
# the overlap zoo: the same three tokenizers, each model trained on all three operations
# and all facts groups, briefly enough that it makes its own mistakes (models/README.md):
#   models/overlap-a.gguf, overlap-b.gguf, overlap-c.gguf, overlap-weak.gguf (+ .train.log)
# and, only when asked (`make_zoo.sh spread`, or spread-a spread-b spread-c), the spread zoo:
# the same three tokenizers, all three operations, every model trained on the first rows of
# the same data (data seed 40), so that their mistakes are correlated, and on fewer or more
# of them, so that their skill is spread (about 55 / 45 / 30% on the arith3 test split):
#   models/spread-a.gguf, spread-b.gguf, spread-c.gguf (+ .train.log)
# (and `make_zoo.sh spread-b-low`: the first spread-b, on fewer drill rows, 37.7%)
# Deterministic: same tools, same settings, same seeds -> same data, same losses, same models.
#
#   scripts/make_zoo.sh [a|b|c|b-weak|overlap|overlap-a|overlap-b|overlap-c|overlap-weak|
#                        spread|spread-a|spread-b|spread-c|spread-b-low ...]
#                                            (default: a b c, one after another)
# Settings (environment): COOLFUSION_ZOO_ROWS (story problems per epoch, 12000),
# COOLFUSION_ZOO_EPOCHS (3), COOLFUSION_ZOO_THREADS (nproc), COOLFUSION_ZOO_NGL (0; 99 trains
# on a GPU with a CUDA build of the tools, see cmake/zoo/), COOLFUSION_ZOO_BIN (build/bin),
# COOLFUSION_ZOO_OUT (models/), COOLFUSION_ZOO_PARALLEL=1 (train the three at once),
# COOLFUSION_ZOO_SEED_OFFSET (0; added to each overlap or spread model's seeds, the spread
# zoo's data seed included: the same recipe retrained,
# e.g. COOLFUSION_ZOO_SEED_OFFSET=100 COOLFUSION_ZOO_OUT=build/zoo-seed100 COOLFUSION_ZOO_WORK=build/zoo-seed100/work).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${COOLFUSION_ZOO_BIN:-$root/build/bin}
out=${COOLFUSION_ZOO_OUT:-$root/models}
work=${COOLFUSION_ZOO_WORK:-$root/build/zoo}
shared=${COOLFUSION_SHARED_MODELS:-$root/../shared/data/models}
vocabs=${COOLFUSION_VOCAB_DIR:-$root/third_party/llama.cpp/models}
rows=${COOLFUSION_ZOO_ROWS:-12000}
epochs=${COOLFUSION_ZOO_EPOCHS:-3}
threads=${COOLFUSION_ZOO_THREADS:-$(nproc)}
ngl=${COOLFUSION_ZOO_NGL:-0}
seed_offset=${COOLFUSION_ZOO_SEED_OFFSET:-0}
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(a b c)
mkdir -p "$work" "$out" "$root/data/arith3" "$root/data/facts3"
task() { "$bin/coolfusion-make-task" "$@"; }

# The splits: test (600: 200 per operation), validation (300), train (3000, for few-shot
# demonstrations); disjoint instances. Models train on further problems that exclude
# the test and validation questions.
# Each file is replaced only when its contents change, so that evaluations reading the
# splits while the zoo is rebuilt never see a half-written file.
d=$root/data/arith3
split() { local f=$1; shift; task "$@" > "$f.tmp.$$"; if cmp -s "$f.tmp.$$" "$f"; then rm -f "$f.tmp.$$"; else mv "$f.tmp.$$" "$f"; fi; }
split "$d/test.jsonl" arith3 --seed 1000 --n 600
split "$d/val.jsonl" arith3 --seed 2000 --n 300 --exclude "$d/test.jsonl"
split "$d/train.jsonl" arith3 --seed 3000 --n 3000 --exclude "$d/test.jsonl" --exclude "$d/val.jsonl"
split "$root/data/facts3/test.jsonl" facts3

train_one() {
  local name=$1 vocab=$2 ops=$3 groups=$4 seed=$5 shape=$6 type=$7 ctx=$8 drills=$9
  local rows=${10:-$rows} epochs=${11:-$epochs}
  local log=$work/train-$name.log
  # Training stream: fresh arith3 problems of its two operations, plus its facts.
  task arith3 --seed "$seed" --n "$rows" --ops "$ops" --repeats \
    --exclude "$d/test.jsonl" --exclude "$d/val.jsonl" > "$work/train-$name.jsonl"
  task facts3 --groups "$groups" --n $((rows / 10)) --seed "$seed" >> "$work/train-$name.jsonl"
  # Drills (model A): the same operations without the story, so that the arithmetic is
  # most of the tokens of these rows (in a story it is ~3 tokens of ~85). Without them A
  # (digit-by-digit tokenizer) stayed at 18-19% after 2 epochs; B and C did not need them.
  [ "$drills" = 0 ] || task drill --seed "$seed" --n "$drills" --ops "$ops" >> "$work/train-$name.jsonl"
  # Validation: the validation split's problems of its own operations.
  local pat
  case $ops in add,sub) pat=' [-+] ';; sub,mul) pat=' [-*] ';; add,mul) pat=' [+*] ';; esac
  grep -E "$pat" "$d/val.jsonl" > "$work/val-$name.jsonl"
  # shellcheck disable=SC2086
  "$bin/coolfusion-make-model" --vocab "$vocab" --out "$work/init-$name.gguf" $shape --ctx "$ctx" \
    --seed "$seed" --type f32 --name "arith3-$name"
  "$bin/coolfusion-train" -m "$work/init-$name.gguf" --train "$work/train-$name.jsonl" \
    --val "$work/val-$name.jsonl" -o "$out/arith3-$name.gguf" --epochs "$epochs" --lr 1e-3 --lr-min 1e-4 \
    --warmup 0.03 --seed "$seed" -t "$threads" -ngl "$ngl" --check 100 --out-type "$type" --out-ctx 2048 \
    > "$log" 2>&1 || { tail -n 20 "$log" >&2; echo "error: training arith3-$name failed (log: $log)" >&2; return 1; }
  grep -E "^(training|epoch)" "$log"
}

# The overlap zoo: every model trained on all three operations (and all facts groups),
# each briefly enough that it makes mistakes, and each with its own tokenizer and seed so
# that the mistakes differ. Settings per model: rows of story problems, drill rows,
# epochs (fixed here, not taken from COOLFUSION_ZOO_ROWS/EPOCHS, so that a plain
# `make_zoo.sh overlap` rebuilds the committed files).
# The spread zoo uses the same function with prefix "spread" and a data seed shared by the
# three (11th setting): the problems, facts and drills come from that seed, so each model's
# rows are the first rows of the same streams (a smaller model's rows are a subset of a
# larger one's), while the model seed still picks the initial weights and the order.
overlap_one() {
  local prefix=$1; shift
  local name=$1 vocab=$2 seed=$(($3 + seed_offset)) shape=$4 rows=$5 drills=$6 epochs=$7 lr=$8 lrmin=$9 drill_ops=${10}
  local dseed=$seed
  [ -z "${11:-}" ] || dseed=$((${11} + seed_offset))
  local log=$work/train-$prefix-$name.log
  task arith3 --seed "$dseed" --n "$rows" --ops add,sub,mul --repeats \
    --exclude "$d/test.jsonl" --exclude "$d/val.jsonl" > "$work/train-$prefix-$name.jsonl"
  task facts3 --groups 0,1,2 --n $((rows / 10)) --seed "$dseed" >> "$work/train-$prefix-$name.jsonl"
  [ "$drills" = 0 ] || task drill --seed "$dseed" --n "$drills" --ops "$drill_ops" >> "$work/train-$prefix-$name.jsonl"
  # shellcheck disable=SC2086
  "$bin/coolfusion-make-model" --vocab "$vocab" --out "$work/init-$prefix-$name.gguf" $shape --ctx 256 \
    --seed "$seed" --type f32 --name "$prefix-$name"
  "$bin/coolfusion-train" -m "$work/init-$prefix-$name.gguf" --train "$work/train-$prefix-$name.jsonl" \
    --val "$d/val.jsonl" -o "$out/$prefix-$name.gguf" --epochs "$epochs" --lr "$lr" --lr-min "$lrmin" \
    --warmup 0.03 --seed "$seed" -t "$threads" -ngl "$ngl" --check 100 --out-type q8_0 --out-ctx 2048 \
    > "$log" 2>&1 || { tail -n 20 "$log" >&2; echo "error: training $prefix-$name failed (log: $log)" >&2; return 1; }
  cp "$log" "$out/$prefix-$name.train.log"   # committed beside the model
  grep -E "^(training|epoch)" "$log"
}
spm_shape="--dim 128 --layers 4 --heads 4 --ff 512"
bpe_shape="--dim 96 --layers 4 --heads 4 --ff 384"

expanded=()
for m in "${which[@]}"; do
  case $m in
    overlap) expanded+=(overlap-a overlap-b overlap-c overlap-weak) ;;
    spread) expanded+=(spread-a spread-b spread-c) ;;
    *) expanded+=("$m") ;;
  esac
done
which=("${expanded[@]}")

pids=()
for m in "${which[@]}"; do
  case $m in
    overlap-*|spread-*)
      case $m in
        overlap-a) oargs=(a "$shared/stories260K.gguf" 31 "$spm_shape" 10000 16000 1 1e-3 1e-4 add,sub) ;;
        overlap-b) oargs=(b "$shared/aidreams260K.gguf" 35 "$spm_shape" 10000 16000 1 1e-3 1e-4 add,sub) ;;
        overlap-c) oargs=(c "$vocabs/ggml-vocab-gpt-2.gguf" 33 "$bpe_shape" 5000 12000 1 1e-3 1e-4 add,sub,mul) ;;
        overlap-weak) oargs=(weak "$shared/aidreams260K.gguf" 34 "$spm_shape" 6000 0 1 1e-3 1e-4 add,sub,mul) ;;
        # The spread zoo: data seed 40 for all three; skill spread by how many of those rows each sees.
        spread-a) oargs=(a "$shared/stories260K.gguf" 41 "$spm_shape" 10000 14000 1 1e-3 1e-4 add,sub 40) ;;
        spread-b) oargs=(b "$shared/aidreams260K.gguf" 42 "$spm_shape" 8000 10000 1 1e-3 1e-4 add,sub 40) ;;
        # The first spread-b (37.7%, 7 points under its target), kept for the tables that used it.
        spread-b-low) oargs=(b-low "$shared/aidreams260K.gguf" 42 "$spm_shape" 8000 6000 1 1e-3 1e-4 add,sub 40) ;;
        spread-c) oargs=(c "$vocabs/ggml-vocab-gpt-2.gguf" 43 "$bpe_shape" 5000 6000 1 1e-3 1e-4 add,sub 40) ;;
        *) echo "error: unknown zoo model '$m'" >&2; exit 1 ;;
      esac
      prefix=${m%%-*}
      if [ "${COOLFUSION_ZOO_PARALLEL:-0}" = 1 ]; then overlap_one "$prefix" "${oargs[@]}" & pids+=($!); else overlap_one "$prefix" "${oargs[@]}"; fi
      continue ;;
  esac
  case $m in
    a) args=(a "$shared/stories260K.gguf" add,sub 0,1 11 "--dim 128 --layers 4 --heads 4 --ff 512" q8_0 256 "$rows") ;;
    b) args=(b "$shared/aidreams260K.gguf" sub,mul 1,2 12 "--dim 128 --layers 4 --heads 4 --ff 512" q8_0 256 0) ;;
    c) args=(c "$vocabs/ggml-vocab-gpt-2.gguf" add,mul 0,2 13 "--dim 96 --layers 4 --heads 4 --ff 384" q8_0 256 0) ;;
    b-weak) args=(b-weak "$shared/aidreams260K.gguf" sub,mul 1,2 22 "--dim 128 --layers 4 --heads 4 --ff 512" q8_0 256 0
                  $((rows / 3)) 1) ;;
    *) echo "error: unknown zoo model '$m' (a, b, c, b-weak)" >&2; exit 1 ;;
  esac
  if [ "${COOLFUSION_ZOO_PARALLEL:-0}" = 1 ]; then
    train_one "${args[@]}" & pids+=($!)
  else
    train_one "${args[@]}"
  fi
done
for p in "${pids[@]}"; do wait "$p"; done
ls -l "$out"/arith3-*.gguf "$out"/overlap-*.gguf "$out"/spread-*.gguf 2>/dev/null || true
