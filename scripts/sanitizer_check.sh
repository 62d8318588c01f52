#!/usr/bin/env bash
# Shows that the sanitizer build, as CI configures it (llama.cpp not instrumented), still
# catches memory bugs in coolfusion's code. Plants each bug below in the source, one at a
# time, rebuilds the test that covers it in build-asan/, runs that test's cases from the
# sanitizer pass (ctest -LE slow) and expects the named AddressSanitizer report; then
# restores the file. Every line should say CAUGHT; exit status 1 if any does not.
#   scripts/sanitizer_check.sh      (needs build-asan/: scripts/build_asan.sh or scripts/test.sh)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -f build-asan/CMakeCache.txt ] || { echo "error: no build-asan/ (run scripts/build_asan.sh)" >&2; exit 2; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=64
export LSAN_OPTIONS=suppressions="$root/tests/lsan.supp":print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions="$root/tests/ubsan.supp"
backup=$(mktemp) log=$(mktemp)
failed=0
# plant FILE OLD NEW TARGET CTEST_REGEX REPORT DESCRIPTION
plant() {
  local file=$1 old=$2 new=$3 target=$4 regex=$5 report=$6 name=$7
  cp -p "$file" "$backup"
  if ! node -e '
const fs = require("fs");
const [p, a, b] = process.argv.slice(1);
const s = fs.readFileSync(p, "utf8");
if (!s.includes(a)) { console.error("pattern not found in " + p + ": " + a); process.exit(1); }
fs.writeFileSync(p, s.replace(a, () => a + b));
' "$file" "$old" "$new"
  then
    echo "== $name: NOT PLANTED (the code changed: update the pattern in $0)"
    failed=1
    return
  fi
  if ! cmake --build build-asan -j "$(nproc)" --target "$target" >"$log" 2>&1; then
    echo "== $name: does not build"; tail -20 "$log"
    failed=1
  elif (cd build-asan && ctest -LE slow -R "$regex" --output-on-failure) >"$log" 2>&1; then
    echo "== $name: NOT CAUGHT (ctest -LE slow -R '$regex' passed in build-asan/)"
    failed=1
  elif grep -q "ERROR: AddressSanitizer: $report" "$log"; then
    echo "== $name: CAUGHT by ctest -LE slow -R '$regex':"
    grep -m1 "ERROR: AddressSanitizer: $report" "$log" | sed 's/^/     /'
    grep -m1 -A1 "^    #0 " "$log" | sed 's/^/     /'
    grep -m1 "^SUMMARY: AddressSanitizer" "$log" | sed 's/^/     /'
  else
    echo "== $name: the tests failed without an AddressSanitizer $report report:"
    grep -E "Failed|FAILED|ERROR" "$log" | head -10
    failed=1
  fi
  cp -p "$backup" "$file"
  touch "$file"  # newer than the planted object: the next build compiles the real code again
}

# 1. A heap overflow: our code writes one token past the batch that llama.cpp allocated
#    (llama_batch_init's malloc). llama.cpp is not instrumented, but the write is ours.
plant src/backend/llama_model.cc '    b.logits[i] = items[i].want_logits;
  }
' '  b.token[h_->batch_capacity] = items[0].token;  // PLANTED: one past the end
' fusion_test '^Fusion\.BatchedScoring' heap-buffer-overflow \
  "heap overflow: a write past llama.cpp's batch"

# 2. A use-after-free in our own memory: the emitter grows the generated text after taking
#    the view it streams (the string moves to a new buffer; the view points into the freed
#    one). The CLI's streaming test reads the view.
plant src/fusion/emitter.cc '  if (safe > emitted_) delta = std::string_view(g2).substr(emitted_, safe - emitted_);
' '  generated.reserve(generated.capacity() + 1);  // PLANTED: the text moves, delta dangles
' coolfusion-cli '^Cli\.GenerateStreams' heap-use-after-free \
  "use-after-free: the emitter streams a view of freed text"

rm -f "$backup" "$log"
cmake --build build-asan -j "$(nproc)" --target fusion_test coolfusion-cli >/dev/null 2>&1 ||
  echo "warning: rebuilding the restored tests failed" >&2
exit $failed
