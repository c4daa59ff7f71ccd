#!/usr/bin/env bash
# Instructions per message on one build's message path without sockets (bench/path-one.ts),
# counted by callgrind over the measured run only (the warm-up and start-up are not counted).
# Repeatable where wall-clock ratios on a busy VM are not, though a collection falling inside
# the run or not still moves a count by up to 10 %: compare builds in alternation, twice.
#
#   bash bench/path-instructions.sh BUILD [seed|length|line] [whole|split] [MESSAGES]
#   bash bench/path-instructions.sh build length split
#
# BUILD is a build directory (the one holding src/index.js). Needs valgrind.
set -euo pipefail
build=$1 codec=${2:-seed} mode=${3:-whole} messages=${4:-200000}
script="$(dirname "$0")/../build/bench/path-one.js"
split=$([ "$mode" = split ] && echo --split || true)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkfifo "$work/in"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.%p" node "$script" "$build" --codec "$codec" $split --messages "$messages" <"$work/in" >"$work/out" 2>"$work/err" &
pid=$!
exec 3>"$work/in"
for _ in $(seq 1 1200); do grep -q READY "$work/out" && break; sleep 0.5; done
callgrind_control -i on "$pid" >/dev/null 2>&1
callgrind_control -z "$pid" >/dev/null 2>&1
echo run >&3
for _ in $(seq 1 2400); do grep -q DONE "$work/out" && break; sleep 0.5; done
callgrind_control -i off "$pid" >/dev/null 2>&1
callgrind_control -d "$pid" >/dev/null 2>&1
echo exit >&3
wait "$pid" || true
instructions=$(grep -ah "^totals:" "$work"/cg.* | awk '{print $2}' | sort -n | tail -1)
echo "$build $codec $mode messages=$messages instructions=$instructions per=$((instructions / messages))"
