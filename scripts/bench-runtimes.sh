#!/usr/bin/env bash
# `npm run bench:runtimes`: the runtimes comparison (build/bench/runtimes.js). Node.js 24 and
# Bun come from NODE24_BINARY and BUN_BINARY when set, else are installed from their npm
# packages into .runtimes/ (scripts/install-runtimes.sh) first. Arguments go to runtimes.js.
set -euo pipefail
cd "$(dirname "$0")/.."
node24="${NODE24_BINARY:-}"
bun="${BUN_BINARY:-}"
if [ -z "$node24" ] || [ -z "$bun" ]; then
  eval "$(bash scripts/install-runtimes.sh .runtimes)"
  node24="${node24:-$NODE24_BIN/node}"
  bun="${bun:-$BUN_BINARY}"
fi
NODE24_BINARY="$node24" BUN_BINARY="$bun" exec node build/bench/runtimes.js "$@"
