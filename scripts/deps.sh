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

# The end-to-end tests' clients: the official openai package and playwright-core (which
# drives Debian's Chromium; it downloads no browser of its own).
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$root/tests/e2e/node_modules/openai" ] || [ ! -d "$root/tests/e2e/node_modules/playwright-core" ]; then
  (cd "$root/tests/e2e" && npm ci --no-audit --no-fund --silent)
fi
