#!/usr/bin/env bash
# Fetches llama.cpp's source, pinned and hash-checked, from the npm package
# node-llama-cpp@3.21.1 (llama/gitRelease.bundle, a git bundle of llama.cpp), into
# third_party/llama.cpp, then applies patches/llama.cpp/*.patch (see patches/README.md).
# Idempotent: does nothing when the pinned commit is there, patched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/llama.cpp"

NPM_PKG="node-llama-cpp@3.21.1"
TGZ_SHA256="7a231d6bafa14142a1cbed9893d4ec5bc6041b2a5f5939a623accaab4203c11f"
BUNDLE_SHA256="9336d8aab8f8e6a8919380f3641fe92e57b02fb55df1b6bd083b82491a6293b8"
LLAMA_COMMIT="80fb11ac73e66d89eae2c6a91d8a77428fa733ed"

# coolfusion's patches to the pinned source (patches/llama.cpp/*.patch), applied once.
apply_patches() {
  local p
  for p in "$root"/patches/llama.cpp/*.patch; do
    [ -e "$p" ] || continue
    if git -C "$dest" apply --reverse --check "$p" 2>/dev/null; then
      continue  # already applied
    fi
    git -C "$dest" apply "$p" || { echo "error: cannot apply $p to llama.cpp" >&2; exit 1; }
    echo "applied $(basename "$p")"
  done
}

if [ -d "$dest/.git" ] && [ "$(git -C "$dest" rev-parse HEAD)" = "$LLAMA_COMMIT" ]; then
  apply_patches
  echo "llama.cpp $LLAMA_COMMIT already in $dest"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetching $NPM_PKG from the npm registry"
(cd "$work" && npm pack --silent "$NPM_PKG" >/dev/null)
tgz=$(ls "$work"/node-llama-cpp-*.tgz)
echo "$TGZ_SHA256  $tgz" | sha256sum -c --quiet - || { echo "error: $tgz hash mismatch" >&2; exit 1; }
tar -xzf "$tgz" -C "$work" package/llama/gitRelease.bundle
bundle="$work/package/llama/gitRelease.bundle"
echo "$BUNDLE_SHA256  $bundle" | sha256sum -c --quiet - || { echo "error: bundle hash mismatch" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
git -c advice.detachedHead=false clone -q "$bundle" "$dest"
git -C "$dest" -c advice.detachedHead=false checkout -q "$LLAMA_COMMIT"
apply_patches
echo "llama.cpp $(git -C "$dest" rev-parse --short HEAD) in $dest (hash-checked)"
