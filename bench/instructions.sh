#!/usr/bin/env bash
# Instructions the server executes per session (connect mode) or per reply (pingpong) during a
# load window, counted by callgrind: repeatable where wall-clock ratios on a busy VM are not.
# The warm-up and start-up are not counted (instrumentation is switched on for the window only).
#
#   bash bench/instructions.sh SERVER_SCRIPT [connect|pingpong] [SECONDS] [CONNECTIONS]
#   bash bench/instructions.sh build/src/cli/main.js connect 15
#
# SERVER_SCRIPT is run as `node SERVER_SCRIPT $SERVER_ARGS` (default `start --port 0`; the
# port must be 0 and the script must print `listening on HOST:PORT`); LOADGEN_ARGS are added to
# the load generator's arguments. Over TLS, for example:
#   SERVER_ARGS="start --port 0 --tls-cert C --tls-key K" LOADGEN_ARGS=--tls bash bench/instructions.sh build/src/cli/main.js connect 60
#   SERVER_ARGS="0 C K" LOADGEN_ARGS=--tls bash bench/instructions.sh build/bench/baseline-server.js connect 60
# With CALLGRIND_OUT=DIR the profile of the window is kept there, for callgrind_annotate.
# Needs valgrind and the load generator (build/bench/loadgen: `npm run bench` or bench:ab build
# it). Compare two builds in alternation and at similar counts: JIT warm-up under valgrind
# weighs on short runs.
set -euo pipefail
script=$1 mode=${2:-connect} seconds=${3:-15} connections=${4:-20}
read -r -a server_args <<<"${SERVER_ARGS:-start --port 0}"
read -r -a loadgen_args <<<"${LOADGEN_ARGS:-}"
loadgen="$(dirname "$0")/../build/bench/loadgen"
work=$(mktemp -d)
server=
# The server is stopped on every exit, a failed step included (it would idle on, eating CPU).
trap 'if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.%p" node "$script" "${server_args[@]}" >"$work/out" 2>"$work/err" &
server=$!
for _ in $(seq 1 600); do grep -q "listening on" "$work/out" && break; sleep 0.5; done
port=$(grep -o "listening on [^ ]*" "$work/out" | sed 's/.*://')
"$loadgen" -p "$port" -c "$connections" -d 2 --mode "$mode" "${loadgen_args[@]}" >/dev/null   # warm-up, not counted
callgrind_control -i on "$server" >/dev/null
callgrind_control -z "$server" >/dev/null
result=$("$loadgen" -p "$port" -c "$connections" -d "$seconds" --mode "$mode" "${loadgen_args[@]}")
callgrind_control -i off "$server" >/dev/null
callgrind_control -d "$server" >/dev/null
kill -TERM "$server"
wait "$server" || true
server=
instructions=$(grep -a "^totals:" "$work"/cg.*.1 | head -1 | awk '{print $2}')
if [ -n "${CALLGRIND_OUT:-}" ]; then mkdir -p "$CALLGRIND_OUT" && cp "$work"/cg.*.1 "$CALLGRIND_OUT"/; fi
field=$([ "$mode" = connect ] && echo sessions || echo replies)
count=$(echo "$result" | grep -o "$field=[0-9]*" | cut -d= -f2)
echo "$script $mode $field=$count instructions=$instructions per=$((instructions / count))"
