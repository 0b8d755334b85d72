#!/usr/bin/env bash
# Installs the npm package onnxruntime-node (its Linux x64 CPU library ships
# inside the package, so --ignore-scripts: no post-install download) into
# <prefix>/node_modules, once; the ONNX Runtime test (onnx.ort) then loads it.
#   tests/onnx/install_ort.sh <prefix> [version]
# Exit status 77 (a ctest skip) when node or npm is missing or the registry
# cannot be reached.
set -uo pipefail
prefix=${1:?usage: install_ort.sh <prefix> [version]}
version=${2:-1.30.0}
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "onnx.ort: SKIPPED - $tool not found (Debian: apt-get install nodejs npm)"; exit 77; }
done
pkg=$prefix/node_modules/onnxruntime-node/package.json
if [ -f "$pkg" ] && grep -q "\"version\": \"$version\"" "$pkg"; then
  echo "onnx.ort: onnxruntime-node $version already in $prefix"
  exit 0
fi
mkdir -p "$prefix"
if ! npm install --prefix "$prefix" --ignore-scripts --no-audit --no-fund --no-save --loglevel=error \
     "onnxruntime-node@$version" >"$prefix/npm.log" 2>&1; then
  echo "onnx.ort: SKIPPED - npm could not install onnxruntime-node@$version (offline?); see $prefix/npm.log:"
  tail -n 5 "$prefix/npm.log"
  exit 77
fi
binding=$(find "$prefix/node_modules/onnxruntime-node/bin" -path '*linux/x64/onnxruntime_binding.node' | head -n 1)
echo "onnx.ort: installed onnxruntime-node $version in $prefix (native binding: ${binding:-none for linux x64})"
