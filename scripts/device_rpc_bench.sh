#!/usr/bin/env bash
# Runs scripts/rpc_bench.sh on a bigger machine (the device machine lent to some sessions:
# 16 cores), where the coordinator gets cores of its own, as when each RPC worker is a host
# of its own. The binaries come prebuilt from this machine (portable build, GGML_NATIVE
# off) with the shared libraries they need, in BUNDLE (a .tar.xz made by hand: bin/
# coolfusion rpc-server coolfusion-make-model, lib/ their Debian libraries, vocab/ the
# ggml-vocab GGUFs). Results go to OUT_DIR.
#   scripts/device_rpc_bench.sh BUNDLE OUT_DIR SECONDS
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bundle=$1 out=$2 budget=$3
t0=$(date +%s)
left() { echo $((budget - ($(date +%s) - t0))); }
mkdir -p /tmp/cfb "$out" && tar xJf "$bundle" -C /tmp/cfb || exit 1
export LD_LIBRARY_PATH=/tmp/cfb/lib COOLFUSION_BIN=/tmp/cfb/bin COOLFUSION_VOCAB_DIR=/tmp/cfb/vocab
export COOLFUSION_BENCH_MODELS=/tmp/cfb/models
mkdir -p "$COOLFUSION_BENCH_MODELS"
nproc; grep -m1 'model name' /proc/cpuinfo
"$COOLFUSION_BIN/coolfusion" --version || exit 1
if ! command -v curl >/dev/null; then  # the ceiling's requests: a stand-in for curl -sf URL -d JSON
  mkdir -p /tmp/cfb/shim
  cat > /tmp/cfb/shim/curl <<'PY'
#!/usr/bin/env python3
import sys, urllib.request
a = sys.argv[1:]; url = [x for x in a if x.startswith("http")][0]; data = a[a.index("-d") + 1].encode()
req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
sys.stdout.write(urllib.request.urlopen(req).read().decode())
PY
  chmod +x /tmp/cfb/shim/curl
  export PATH=/tmp/cfb/shim:$PATH
fi
scripts/rpc_bench.sh --pair q4 --models-only > "$out/make_models.log" 2>&1
echo "models ready after $(($(date +%s) - t0)) s"
run() {  # name args...: one bench configuration, skipped when time is short
  local name=$1; shift
  [ "$(left)" -gt 100 ] || { echo "$name: skipped (time)"; return; }
  timeout "$(( $(left) - 20 ))" scripts/rpc_bench.sh --pair q4 "$@" > "$out/$name.log" 2>&1
  echo "== $name (rc=$?, $(($(date +%s) - t0)) s)"; cat "$out/$name.log"
}
run greedy_1t --worker-cores 0:2 --coordinator-cores 4-15 --repeat 3
run sampled_1t --temp 0.8 --worker-cores 0:2 --coordinator-cores 4-15 --repeat 3
run greedy_4t --threads 4 --worker-cores 0-3:4-7 --coordinator-cores 8-15 --repeat 3
