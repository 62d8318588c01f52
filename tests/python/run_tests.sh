#!/usr/bin/env bash
# The Python package as a user meets it (issue 35), ctest's python_package:
#   1. a virtual environment of Debian's Python with --system-site-packages (Debian's
#      setuptools, pybind11 and pytest), in BUILD_DIR/python_test/;
#   2. `pip install --no-build-isolation --no-index` of a copy of python/ (pip's build
#      directory then stays out of the checkout) against BUILD_DIR's library, as the README
#      says (COOLFUSION_BUILD_DIR=BUILD_DIR), with ccache where it is installed;
#   3. pytest on tests/python/: the README's example as written, Python against the CLI on
#      20 prompts, streams abandoned and threads, bad input.
# Exit status 1 naming the step that failed. About 25 s on 2 cores with a warm ccache (the
# extension's compile is 20 s more when cold). Extra arguments go to pytest.
#   tests/python/run_tests.sh BUILD_DIR [PYTEST_ARGS...]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [PYTEST_ARGS...]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
shift
python=${COOLFUSION_PYTHON:-/usr/bin/python3}
work=$build/python_test
t0=$SECONDS

fail() {
  echo "FAILED: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -30 "$2" | sed 's/^/    | /' >&2
  exit 1
}
step() { echo "== $1 ($((SECONDS - t0)) s)"; }

rm -rf "$work"
mkdir -p "$work/src"
step "a virtual environment: $python -m venv --system-site-packages"
"$python" -m venv --system-site-packages "$work/venv" >"$work/venv.log" 2>&1 ||
  fail "$python -m venv (apt-get install python3-venv)" "$work/venv.log"
"$work/venv/bin/python" -c "import pybind11, setuptools, pytest" 2>"$work/imports.log" ||
  fail "Debian's pybind11, setuptools or pytest is missing (scripts/deps.sh installs them)" \
    "$work/imports.log"

step "pip install --no-build-isolation --no-index (COOLFUSION_BUILD_DIR=$build)"
(cd "$root/python" && tar cf - --exclude=./build --exclude='*.egg-info' --exclude=__pycache__ \
  --exclude='_core*.so' --exclude=coolfusion-sandbox .) | (cd "$work/src" && tar xf -)
if [ -d /usr/lib/ccache ]; then
  export PATH="/usr/lib/ccache:$PATH" CCACHE_BASEDIR="$work" CCACHE_NOHASHDIR=1
fi
COOLFUSION_BUILD_DIR="$build" "$work/venv/bin/pip" install --no-build-isolation --no-index \
  --no-cache-dir --disable-pip-version-check "$work/src" >"$work/pip.log" 2>&1 ||
  fail "pip install" "$work/pip.log"
(cd "$work" && "$work/venv/bin/python" -c "import coolfusion") 2>"$work/import.log" ||
  fail "import coolfusion" "$work/import.log"

step "pytest tests/python"
cd "$root/tests/python"
export COOLFUSION_CLI="$build/bin/coolfusion" COOLFUSION_TINY_MODEL_DIR="$build/models"
export PYTHONDONTWRITEBYTECODE=1
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$@" || fail "pytest"
step "passed"
rm -rf "$work"
