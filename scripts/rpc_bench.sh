#!/usr/bin/env bash
# Parallel speed-up with models on RPC workers: starts two llama.cpp rpc-server workers on
# 127.0.0.1, each pinned to its own core with taskset (1 thread each), places one
# bench-size model (~500M parameters, random weights, real vocabularies) on each, and
# measures in one run, for two pairs of models:
#   ceiling  the same two models generating on their own (one `coolfusion serve` each), one
#            after the other vs both at once: what this machine lets two workers gain at
#            all (two workers on one box share its memory bus; separate hosts do not)
#   fused    the same fused generation with the models one after the other (default) vs
#            side by side (--parallel-models)
# Pairs: q4_0 gpt-neox + gpt-2 (quantized as users run them; each token costs compute
# rather than memory traffic, so two workers on one box do not slow each other) and
# f16 llama-spm + gpt-2 (memory-bound: the workers share the memory bus).
#   scripts/rpc_bench.sh [-n TOKENS] [--repeat K] [--pair q4|f16|both] [--temp T]
#                        [--threads N] [--worker-cores A:B] [--coordinator-cores LIST]
#                        [--models-only]
#   (defaults: 32 tokens, 5 runs each after a warm-up, both pairs, greedy; each worker
#   1 thread on one core: cores 0 and 1; the coordinator unpinned; medians are printed)
# --temp T samples at temperature T (seed 7) instead of greedy decoding. --worker-cores
# takes two taskset core lists (e.g. 0-3:4-7 with --threads 4); --coordinator-cores pins
# the coordinator (and the single-model servers) to cores the workers do not use, as on
# a machine of its own.
# Writes the models to build/models/bench/ when missing (q4_0: ~300 MB each; f16: ~1 GB
# each, also made by scripts/bench.sh). Needs >= 2 cores. COOLFUSION_BIN (default
# build/bin), COOLFUSION_VOCAB_DIR and COOLFUSION_BENCH_MODELS move its inputs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=32 repeat=5 pair=both temp=0 threads=1 wcores=0:1 ccores= models_only=0
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --pair) pair=$2; shift 2 ;;
    --temp) temp=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --worker-cores) wcores=$2; shift 2 ;;
    --coordinator-cores) ccores=$2; shift 2 ;;
    --models-only) models_only=1; shift ;;
    *) echo "error: unknown argument $1 (see the header of $0)" >&2; exit 1 ;;
  esac
done
case $pair in q4|f16|both) ;; *) echo "error: --pair must be q4, f16 or both" >&2; exit 1 ;; esac
[ "$repeat" -ge 1 ] 2>/dev/null || { echo "error: --repeat must be a positive integer" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "error: needs 2 cores" >&2; exit 1; }
case $wcores in *:*) ;; *) echo "error: --worker-cores must be two core lists, A:B" >&2; exit 1 ;; esac
c1=${wcores%%:*} c2=${wcores#*:}
bin=${COOLFUSION_BIN:-build/bin} vocab=${COOLFUSION_VOCAB_DIR:-third_party/llama.cpp/models}
big=${COOLFUSION_BENCH_MODELS:-build/models/bench}
[ -n "${COOLFUSION_BIN:-}" ] || [ -x build/bin/coolfusion ] || "$root/scripts/build.sh"
pin=()  # runs the coordinator side (coolfusion generate / serve)
[ -z "$ccores" ] || pin=(taskset -c "$ccores")
mkdir -p "$big"
make_model() {  # name vocab type seed dim layers heads kv_heads ff
  [ -f "$big/$1.gguf" ] && return
  echo "writing $big/$1.gguf" >&2
  $bin/coolfusion-make-model --vocab "$vocab/ggml-vocab-$2.gguf" --out "$big/$1.gguf" --type "$3" --seed "$4" \
    --dim "$5" --layers "$6" --heads "$7" --kv-heads "$8" --ff "$9" --ctx 2048 --std 0.02 --name "$1" >/dev/null
}

# An rpc-server serves one coordinator at a time: the fused runs use workers 1 and 2, the
# single-model servers of the ceiling workers 3 and 4 (on the same two cores).
base=$((50100 + RANDOM % 1000)) p1=$base p2=$((base + 1)) p3=$((base + 2)) p4=$((base + 3))
workers=() servers=()
taskset -c "$c1" $bin/rpc-server -H 127.0.0.1 -p $p1 -t "$threads" >/dev/null 2>&1 & workers+=($!)
taskset -c "$c2" $bin/rpc-server -H 127.0.0.1 -p $p2 -t "$threads" >/dev/null 2>&1 & workers+=($!)
taskset -c "$c1" $bin/rpc-server -H 127.0.0.1 -p $p3 -t "$threads" >/dev/null 2>&1 & workers+=($!)
taskset -c "$c2" $bin/rpc-server -H 127.0.0.1 -p $p4 -t "$threads" >/dev/null 2>&1 & workers+=($!)
trap 'kill "${workers[@]}" "${servers[@]}" 2>/dev/null' EXIT
sleep 1
prompt="The history of the city begins in the early middle ages, when"
ms() { python3 -c 'import json,sys; print(json.load(sys.stdin)["timings"]["total_ms"])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gen() {  # model@rpc... [flags]: prints total_ms
  "${pin[@]}" $bin/coolfusion generate -t 1 -n "$n" --temp "$temp" --seed 7 --json -p "$prompt" "$@" | ms
}

# A single-model server for the ceiling (loaded once, so that two can start generating at
# the same moment); sets $url.
serve_one() {  # model@rpc
  local log=/tmp/coolfusion_rpc_bench_serve.$$.${#servers[@]} i port=
  "${pin[@]}" $bin/coolfusion serve --port 0 -t 1 --seed 7 -m "$1" >/dev/null 2>"$log" &
  servers+=($!)
  for ((i = 0; i < 600; i++)); do
    port=$(grep -o 'listening on http://[^ ]*' "$log" | sed 's/.*://' | head -1 || true)
    [ -n "$port" ] && break
    sleep 0.2
  done
  [ -n "$port" ] || { echo "error: the server for $1 did not start: $(cat "$log")" >&2; exit 1; }
  rm -f "$log"
  url="http://127.0.0.1:$port"
}
complete() {  # url: wall ms of one greedy completion of n tokens
  local t0 t1
  t0=$(date +%s%N)
  curl -sf "$1/v1/completions" -d "{\"prompt\": \"$prompt\", \"max_tokens\": $n, \"temperature\": $temp, \"seed\": 7}" >/dev/null
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

bench_pair() {  # label modelA modelB
  [ $models_only = 0 ] || return 0
  local label=$1 a="$big/$2.gguf@rpc=127.0.0.1:$p1" b="$big/$3.gguf@rpc=127.0.0.1:$p2" i
  local alone=() together=() seq=() par=() ua ub
  serve_one "$big/$2.gguf@rpc=127.0.0.1:$p3"; ua=$url
  serve_one "$big/$3.gguf@rpc=127.0.0.1:$p4"; ub=$url
  complete "$ua" >/dev/null; complete "$ub" >/dev/null  # warm-up
  gen -m "$a" -m "$b" >/dev/null
  for ((i = 0; i < repeat; i++)); do
    local ta tb t0 t1
    ta=$(complete "$ua") tb=$(complete "$ub")
    alone+=("$((ta + tb))")
    t0=$(date +%s%N)
    complete "$ua" >/dev/null & local job=$!
    complete "$ub" >/dev/null; wait $job
    t1=$(date +%s%N)
    together+=("$(((t1 - t0) / 1000000))")
    seq+=("$(gen -m "$a" -m "$b")")
    par+=("$(gen -m "$a" -m "$b" --parallel-models)")
  done
  kill "${servers[@]}" 2>/dev/null; wait "${servers[@]}" 2>/dev/null || true
  servers=()
  python3 - "$label" "$n" \
    "$(printf '%s\n' "${alone[@]}" | median)" "$(printf '%s\n' "${together[@]}" | median)" \
    "$(printf '%s\n' "${seq[@]}" | median)" "$(printf '%s\n' "${par[@]}" | median)" <<'PY'
import sys
label, n = sys.argv[1], sys.argv[2]
alone, together, s, p = map(float, sys.argv[3:7])
print(f"{label}, {n} tokens, medians:")
print(f"  ceiling: single models one after the other {alone:7.0f} ms, both at once {together:7.0f} ms  {alone/together:5.2f}x")
print(f"  fused:   sequential                        {s:7.0f} ms, --parallel-models {p:5.0f} ms  {s/p:5.2f}x")
PY
}

where=unpinned mode=greedy
[ -z "$ccores" ] || where="on cores $ccores"
[ "$temp" = 0 ] || mode="temperature $temp"
echo "2 models on 2 RPC workers (taskset cores $c1 and $c2, $threads thread(s) each; coordinator $where), $mode, $repeat runs each:"
if [ $pair != f16 ]; then
  make_model q4-gpt-neox gpt-neox q4_0 5 1280 21 16 4 3584
  make_model q4-gpt-2 gpt-2 q4_0 3 1280 21 16 4 3584
  bench_pair "q4_0 gpt-neox 504M + gpt-2 504M" q4-gpt-neox q4-gpt-2
fi
if [ $pair != q4 ]; then
  make_model big-llama-spm llama-spm f16 3 1536 17 16 4 4096
  make_model big-gpt-2 gpt-2 f16 3 1280 21 16 4 3584
  bench_pair "f16 llama-spm 520M + gpt-2 504M" big-llama-spm big-gpt-2
fi
