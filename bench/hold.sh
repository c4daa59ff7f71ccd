#!/usr/bin/env bash
# Holds N connections open at once against a server with W reactors, every connection
# answered once, and reports how many were held and the server's memory.
#
#   bash bench/hold.sh [N=100000] [W=2]
#
# One source address has about 28,000 ephemeral ports towards one server port, so the load
# generator spreads connections over several 127.0.0.x source addresses. The file limit is
# raised for this script and its children only.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
W=${2:-2}
ulimit -n $((N + N / 2 + 4096))

npm run build --silent
cc -O2 -o build/bench/loadgen bench/loadgen.c

sources=127.0.0.1
for i in $(seq 2 $((N / 25000 + 2))); do sources="$sources,127.0.0.$i"; done

log=$(mktemp)
node build/src/cli/main.js start --port 0 --workers "$W" --idle-timeout 0 --log-level warn >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; rm -f "$log"' EXIT
until grep -q 'listening on' "$log"; do
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$log")
echo "server pid $server on port $port: $(sed -n 's/.*(\(.*\)).*/\1/p' "$log")"

rss_kb() { # the server and every process it started
  local total=0
  for pid in $server $(pgrep -P $server || true); do
    total=$((total + $(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)))
  done
  echo $total
}
idle=$(rss_kb)
build/bench/loadgen -p "$port" -c "$N" -d 60 --mode hold -b "$sources" >"$log.out" &
gen=$!
sleep 50
held=$(rss_kb)
wait $gen
cat "$log.out"
rm -f "$log.out"
echo "server RSS idle ${idle} kB, holding ${held} kB: $(((held - idle) * 1024 / N)) bytes per connection"
