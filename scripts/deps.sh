#!/usr/bin/env bash
# Installs the Debian packages coolfusion needs (only those missing), as root or via sudo.
set -euo pipefail
# The Python package (python/) builds offline with Debian's pybind11, setuptools and wheel
# in a venv; its tests run under Debian's pytest.
pkgs=(build-essential cmake ccache git pkg-config libicu-dev libgtest-dev nlohmann-json3-dev libcpp-httplib-dev
      curl chromium clang libclang-rt-14-dev clang-format-14 python3
      python3-dev python3-venv python3-setuptools python3-wheel pybind11-dev python3-pybind11 python3-pytest)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The end-to-end tests' clients: the official openai package, LangChain JS and
# playwright-core (which drives Debian's Chromium; it downloads no browser of its own).
# Installed again when one is missing or package-lock.json is newer than the install (a
# pull that added or moved a dependency).
root=$(cd "$(dirname "$0")/.." && pwd)
e2e="$root/tests/e2e"
need_npm=0
for d in openai playwright-core ajv @langchain/openai @langchain/core; do
  [ -d "$e2e/node_modules/$d" ] || need_npm=1
done
[ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ] && need_npm=1
if [ $need_npm = 1 ]; then
  (cd "$e2e" && npm ci --no-audit --no-fund --silent)
fi
