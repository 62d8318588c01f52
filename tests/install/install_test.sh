#!/usr/bin/env bash
# The installed library as a user meets it (issue 32), ctest's install_readme_example:
#   1. `cmake --install BUILD_DIR --prefix` a temporary prefix (BUILD_DIR/install_test/);
#   2. what must be there is there: bin/coolfusion and bin/coolfusion-sandbox (which runs),
#      every header of include/coolfusion/ as it is in the tree (and no llama.h), the
#      library, its CMake package and coolfusion.pc; the library looks for the sandbox at
#      SANDBOX_INSTALL_PATH, not in the build tree;
#   3. the README's C++ example, taken from README.md as written (its ```cpp program, its
#      ```cmake CMakeLists.txt and its pkg-config command line), built out of the tree
#      twice: with find_package(coolfusion) and with pkg-config;
#   4. both programs run on the models the example names (../shared/data/models/, made to
#      point at SHARED_MODEL_DIR), exit 0 and print the same text, several words long.
# Exit status 1 naming the step that failed. About 20 s on 2 cores.
#   tests/install/install_test.sh BUILD_DIR SHARED_MODEL_DIR SANDBOX_INSTALL_PATH
set -euo pipefail
[ $# = 3 ] || { echo "usage: $0 BUILD_DIR SHARED_MODEL_DIR SANDBOX_INSTALL_PATH" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
models=$2
sandbox_path=$3
readme=$root/README.md
cmake=${CMAKE:-cmake}
work=$build/install_test
prefix=$work/prefix
rm -rf "$work"
mkdir -p "$work"
t0=$SECONDS

fail() {
  echo "FAILED: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -30 "$2" | sed 's/^/    | /' >&2
  exit 1
}
step() { echo "== $1 ($((SECONDS - t0)) s)"; }

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
  fail "cmake --install" "$work/install.log"

step "the installed files"
for exe in coolfusion coolfusion-sandbox; do
  [ -x "$prefix/bin/$exe" ] || fail "bin/$exe is not installed"
done
set +e
"$prefix/bin/coolfusion-sandbox" >/dev/null 2>"$work/sandbox.log"
rc=$?
set -e
[ $rc = 2 ] && grep -q "not for use by hand" "$work/sandbox.log" ||
  fail "bin/coolfusion-sandbox does not run as the sandbox (exit status $rc)" "$work/sandbox.log"
for h in "$root"/include/coolfusion/*.h; do
  cmp -s "$h" "$prefix/include/coolfusion/$(basename "$h")" ||
    fail "include/coolfusion/$(basename "$h") is not installed as it is in the tree"
done
[ -z "$(find "$prefix" -name 'llama*.h' -o -name 'ggml*.h')" ] || fail "llama.cpp's headers are installed"
pc=$(find "$prefix" -path '*/pkgconfig/coolfusion.pc' | head -1)
[ -n "$pc" ] || fail "no pkgconfig/coolfusion.pc"
libdir=$(dirname "$(dirname "$pc")")
[ -f "$libdir/cmake/coolfusion/coolfusion-config.cmake" ] ||
  fail "no cmake/coolfusion/coolfusion-config.cmake beside $pc"
lib=""
for f in "$libdir"/libcoolfusion.a "$libdir"/libcoolfusion.so; do
  [ -f "$f" ] && lib=$f
done
[ -n "$lib" ] || fail "no libcoolfusion.a or libcoolfusion.so in $libdir"
grep -qaF "$sandbox_path" "$lib" || fail "$lib does not look for the sandbox at $sandbox_path"
! grep -qaF "$build/bin/coolfusion-sandbox" "$lib" || fail "$lib looks for the sandbox in the build tree"

# block LANG TEXT: the first ```LANG block of the README that contains TEXT
block() {
  awk -v lang="$1" -v want="$2" '
    !inside && $0 == "```" lang { inside = 1; text = ""; next }
    inside && /^```/ { inside = 0; if (index(text, want)) { printf "%s", text; found = 1; exit } next }
    inside { text = text $0 "\n" }
    END { exit !found }' "$readme"
}
step "the README's example"
mkdir -p "$work/cmake" "$work/pkg-config"
block cpp "int main(" >"$work/example.cc" || fail "README.md has no \`\`\`cpp block with a main()"
block cmake "find_package(coolfusion" >"$work/cmake/CMakeLists.txt" ||
  fail "README.md has no \`\`\`cmake block with find_package(coolfusion"
pc_command=$(block sh "pkg-config" | grep -E '^c\+\+ .*pkg-config' | head -1) ||
  fail "README.md has no \`\`\`sh line compiling with pkg-config"
cp "$work/example.cc" "$work/cmake/example.cc"
cp "$work/example.cc" "$work/pkg-config/example.cc"

step "built with find_package(coolfusion)"
(cd "$work/cmake" && "$cmake" -S . -B build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release &&
  "$cmake" --build build) >"$work/cmake.log" 2>&1 || fail "the CMake build of the example" "$work/cmake.log"

step "built with pkg-config: $pc_command"
(cd "$work/pkg-config" && PKG_CONFIG_PATH="$libdir/pkgconfig" bash -c "$pc_command") \
  >"$work/pkg-config.log" 2>&1 || fail "the pkg-config build of the example" "$work/pkg-config.log"

# The example's model paths are relative (../shared/data/models/NAME.gguf): run it from a
# directory where they lead to SHARED_MODEL_DIR's models.
mkdir -p "$work/run/cwd" "$work/run/shared/data/models"
for f in $(grep -oE '\.\./shared/data/models/[A-Za-z0-9_.-]+\.gguf' "$work/example.cc" | sort -u); do
  [ -f "$models/$(basename "$f")" ] || fail "the example's model $(basename "$f") is not in $models"
  ln -s "$models/$(basename "$f")" "$work/run/shared/data/models/$(basename "$f")"
done
run() {  # NAME EXE [VAR=VALUE...]
  local name=$1 exe=$2 rc=0
  shift 2
  (cd "$work/run/cwd" && env "$@" timeout 120 "$exe") >"$work/$name.out" 2>"$work/$name.err" || rc=$?
  [ $rc = 0 ] || fail "the example built with $name exits with status $rc" "$work/$name.err"
}
step "run"
run cmake "$work/cmake/build/example"
# (a shared libcoolfusion: CMake gave its program the library's directory, pkg-config not)
run pkg-config "$work/pkg-config/example" LD_LIBRARY_PATH="$libdir"
cmp -s "$work/cmake.out" "$work/pkg-config.out" || fail "the two builds of the example print different texts"
words=$(grep -oE '[A-Za-z]{2,}' "$work/cmake.out" | wc -l)
[ "$words" -ge 8 ] || fail "the example printed $words words: $(head -c 200 "$work/cmake.out")"
echo "   it printed: $(head -c 200 "$work/cmake.out" | tr '\n' ' ')"
step "passed"
rm -rf "$work"
