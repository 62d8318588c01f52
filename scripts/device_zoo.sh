#!/usr/bin/env bash
# Trains the model zoo on a CUDA machine (how the committed models/ were made): builds the
# zoo tools with llama.cpp's CUDA backend (cmake/zoo/), then runs scripts/make_zoo.sh with
# the three models side by side on the GPU. Falls back to the CPU if the GPU run fails.
#   scripts/device_zoo.sh LLAMA_SRC_TGZ VOCAB_DIR OUT_DIR SECONDS
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tgz=$1 vocab=$2 out=$3 budget=$4
t0=$(date +%s)
left() { echo $((budget - ($(date +%s) - t0))); }
nvidia-smi -L || true
mkdir -p /tmp/llama-src "$out" && tar xzf "$tgz" -C /tmp/llama-src || exit 1
cuda=(-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=OFF)
command -v nvcc >/dev/null || cuda=()
cmake -S cmake/zoo -B build-zoo -G Ninja -DCOOLFUSION_LLAMA_SOURCE_DIR=/tmp/llama-src/llama.cpp "${cuda[@]}" \
  > "$out/build.log" 2>&1 && cmake --build build-zoo -j "$(nproc)" >> "$out/build.log" 2>&1
echo "build rc=$? after $(($(date +%s) - t0)) s"
tail -n 3 "$out/build.log"
export COOLFUSION_ZOO_BIN=build-zoo/bin COOLFUSION_ZOO_OUT=$out COOLFUSION_ZOO_WORK=/tmp/zoo \
  COOLFUSION_SHARED_MODELS=$vocab COOLFUSION_VOCAB_DIR=$vocab COOLFUSION_ZOO_PARALLEL=1
if [ ${#cuda[@]} -gt 0 ]; then
  COOLFUSION_ZOO_NGL=99 COOLFUSION_ZOO_THREADS=4 timeout "$(left)" scripts/make_zoo.sh
  rc=$?
else
  rc=1
fi
echo "zoo rc=$rc after $(($(date +%s) - t0)) s"
if [ $rc -ne 0 ] && [ "$(left)" -gt 120 ] && ! ls "$out"/arith3-*.gguf >/dev/null 2>&1; then
  echo "falling back to the CPU"
  COOLFUSION_ZOO_NGL=0 COOLFUSION_ZOO_THREADS=5 COOLFUSION_ZOO_ROWS=20000 COOLFUSION_ZOO_EPOCHS=2 \
    timeout "$(left)" scripts/make_zoo.sh
fi
cp /tmp/zoo/train-*.log "$out/" 2>/dev/null
ls -la "$out"
