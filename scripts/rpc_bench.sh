#!/usr/bin/env bash
# Parallel speed-up with models on RPC workers: starts two llama.cpp rpc-server workers on
# 127.0.0.1, each pinned to its own core with taskset (1 thread each), places one
# bench-size model on each, and times the same fused generation with the models run one
# after another (default) and side by side (--parallel-models), in one run.
#   scripts/rpc_bench.sh [-n TOKENS] [--repeat K]     (defaults: 16 tokens, 3 runs each)
# Needs build/models/bench/ (scripts/bench.sh writes it) and >= 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=16 repeat=3
while [ $# -gt 0 ]; do
  case $1 in -n) n=$2; shift 2 ;; --repeat) repeat=$2; shift 2 ;; *) echo "error: unknown argument $1" >&2; exit 1 ;; esac
done
bin=build/bin big=build/models/bench
models=("$big/big-llama-spm.gguf" "$big/big-gpt-2.gguf")
for m in "${models[@]}"; do [ -f "$m" ] || { echo "error: $m missing (run scripts/bench.sh first)" >&2; exit 1; }; done
[ "$(nproc)" -ge 2 ] || { echo "error: needs 2 cores" >&2; exit 1; }
p1=$((50100 + RANDOM % 500)) p2=$((50700 + RANDOM % 500))
taskset -c 0 $bin/rpc-server -H 127.0.0.1 -p $p1 -t 1 >/dev/null 2>&1 & w1=$!
taskset -c 1 $bin/rpc-server -H 127.0.0.1 -p $p2 -t 1 >/dev/null 2>&1 & w2=$!
trap 'kill $w1 $w2 2>/dev/null' EXIT
sleep 1
args=(-m "${models[0]}@rpc=127.0.0.1:$p1" -m "${models[1]}@rpc=127.0.0.1:$p2" -t 1 -n "$n" --json
      -p "The history of the city begins in the early middle ages, when")
run() {  # prints the wall ms of each run
  local i
  for ((i = 0; i <= repeat; i++)); do
    $bin/coolfusion generate "${args[@]}" "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["timings"]["total_ms"])'
  done | tail -n "$repeat"   # the first run warms up (weights sent to the workers)
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seq_ms=$(run | median)
par_ms=$(run --parallel-models | median)
python3 - "$seq_ms" "$par_ms" "$n" <<'PY'
import sys
s, p, n = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print(f"2 models on 2 RPC workers (one core each), {n} tokens, median of runs:")
print(f"  sequential           {s:9.1f} ms")
print(f"  --parallel-models    {p:9.1f} ms")
print(f"  sequential/parallel  {s/p:9.2f}x")
PY
