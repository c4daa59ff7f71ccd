#!/usr/bin/env bash
# Holds N connections open at once against a server with W reactors, every connection
# answered once, and reports how many were held and the server's memory.
#
#   bash bench/hold.sh [N=100000] [W=6]
#
# A process here may open only so many files (`ulimit -n`, 20,000 on this project's machines),
# so the connections are spread: the server over W reactor processes (processes mode: each
# reactor has its own limit) and the load over several generator processes, each from its own
# 127.0.0.x source address (one address has about 28,000 ephemeral ports per server port).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
W=${2:-6}
limit=$(ulimit -n)
if [ $((N / W + 1000)) -gt "$limit" ]; then
  echo "each of $W reactors would hold $((N / W)) connections, over the $limit open files a process may have: use more reactors" >&2
  exit 2
fi
per_gen=$((limit - 1000 < 25000 ? limit - 1000 : 25000))
gens=$(((N + per_gen - 1) / per_gen))

npm run build --silent
compiler=$(command -v cc || command -v gcc || command -v clang) || { echo "hold.sh needs a C compiler (cc, gcc or clang)" >&2; exit 2; }
"$compiler" -O2 -o build/bench/loadgen bench/loadgen.c -lssl -lcrypto || { echo "the load generator needs OpenSSL (Debian: apt-get install -y libssl-dev)" >&2; exit 2; }

log=$(mktemp)
node build/src/cli/main.js start --port 0 --workers "$W" --reactor-mode processes --idle-timeout 0 --log-level warn >"$log" 2>&1 &
server=$!
cleanup() { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log" "$log".gen*; }
trap cleanup EXIT
until grep -q 'listening on' "$log"; do
  kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$log")
echo "server pid $server, port $port: $(sed -n 's/.*(\(.*\)).*/\1/p' "$log"); $gens generator processes"

rss_kb() { # the server and its reactor processes
  local total=0 pid
  for pid in "$server" $(pgrep -P "$server" || true); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
idle=$(rss_kb)
seconds=${HOLD_SECONDS:-90}
stagger=${HOLD_STAGGER:-10}
for g in $(seq 1 "$gens"); do
  count=$((g < gens ? per_gen : N - per_gen * (gens - 1)))
  build/bench/loadgen -p "$port" -c "$count" -d "$seconds" --mode hold -b "127.0.0.$((g + 1))" >"$log.gen$g" &
  # Staggered: in processes mode every connection passes through the primary, whose own file
  # limit a burst of all N at once would exceed.
  sleep "$stagger"
done
# Sample while every generator still holds its connections (a short HOLD_SECONDS: at once).
rest=$((seconds - stagger * gens - 5))
if [ "$rest" -gt 0 ]; then sleep "$rest"; fi
held_rss=$(rss_kb)
wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
alive=0; errors=0; bad=0
for g in $(seq 1 "$gens"); do
  line=$(cat "$log.gen$g")
  alive=$((alive + $(echo "$line" | sed -n 's/.*alive=\([0-9]*\).*/\1/p')))
  errors=$((errors + $(echo "$line" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')))
  bad=$((bad + $(echo "$line" | sed -n 's/.*bad=\([0-9]*\).*/\1/p')))
done
echo "held and answered: $alive of $N (errors $errors, wrong replies $bad)"
echo "server RSS idle ${idle} kB, holding ${held_rss} kB: $(((held_rss - idle) * 1024 / N)) bytes per connection"
[ "$alive" -eq "$N" ] && [ "$bad" -eq 0 ]
