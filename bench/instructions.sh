#!/usr/bin/env bash
# Instructions the server executes per session (connect mode) or per reply (pingpong) during a
# load window, counted by callgrind: repeatable where wall-clock ratios on a busy VM are not.
# The warm-up and start-up are not counted (instrumentation is switched on for the window only).
#
#   bash bench/instructions.sh SERVER_SCRIPT [connect|pingpong] [SECONDS] [CONNECTIONS]
#   bash bench/instructions.sh build/src/cli/main.js connect 15
#
# SERVER_SCRIPT is run as `node SERVER_SCRIPT start --port 0`. Needs valgrind and the load
# generator (build/bench/loadgen: `npm run bench` or bench:ab build it). Compare two builds in
# alternation and at similar counts: JIT warm-up under valgrind weighs on short runs.
set -euo pipefail
script=$1 mode=${2:-connect} seconds=${3:-15} connections=${4:-20}
loadgen="$(dirname "$0")/../build/bench/loadgen"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.%p" node "$script" start --port 0 >"$work/out" 2>"$work/err" &
server=$!
for _ in $(seq 1 600); do grep -q "listening on" "$work/out" && break; sleep 0.5; done
port=$(grep -o "listening on [^ ]*" "$work/out" | sed 's/.*://')
"$loadgen" -p "$port" -c "$connections" -d 2 --mode "$mode" >/dev/null   # warm-up, not counted
callgrind_control -i on "$server" >/dev/null
callgrind_control -z "$server" >/dev/null
result=$("$loadgen" -p "$port" -c "$connections" -d "$seconds" --mode "$mode")
callgrind_control -i off "$server" >/dev/null
callgrind_control -d "$server" >/dev/null
kill -TERM "$server"
wait "$server" || true
instructions=$(grep -a "^totals:" "$work"/cg.*.1 | head -1 | awk '{print $2}')
field=$([ "$mode" = connect ] && echo sessions || echo replies)
count=$(echo "$result" | grep -o "$field=[0-9]*" | cut -d= -f2)
echo "$script $mode $field=$count instructions=$instructions per=$((instructions / count))"
