#!/usr/bin/env bash
# Timeout punctuality under load (issue 6): `greenio serve --timeout T` must close idle connections
# between T and T + 50 ms (p99) while it is busy echoing for `greenio bench`.
# Server on CPU 0; load generator and idle clients on CPU 1. Knobs: T=0.2 CONNS=500 LOAD="50 32".
set -euo pipefail
cd "$(dirname "$0")/.."
T=${T:-0.2}
CONNS=${CONNS:-500}
LOAD=${LOAD:-"50 32"}
swift build -c release --product greenio >/dev/null
GREENIO=$(swift build -c release --show-bin-path)/greenio
out=$(mktemp)
taskset -c 0 "$GREENIO" serve --port 0 --timeout "$T" >"$out" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true; kill $load 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do grep -q "^listening on" "$out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$out")
set -- $LOAD
# The load keeps sending lines, so its own connections never time out.
taskset -c 1 "$GREENIO" bench "127.0.0.1:$port" --conns "$1" --batch "$2" --secs 8 --warmup 0.5 >/dev/null 2>&1 &
load=$!
sleep 1
taskset -c 1 python3 Benchmarks/python/idleclient.py --port "$port" --conns "$CONNS" --spread 3 | python3 -c '
import json, sys
t = float(sys.argv[1])
d = json.load(sys.stdin)["delays"]
def pct(p): return d[min(len(d) - 1, int(p / 100 * len(d)))]
print(f"timeout {t:.3f} s, {len(d)} idle connections under load: min {d[0]:.3f} s, p50 {pct(50):.3f} s, p99 {pct(99):.3f} s, max {d[-1]:.3f} s")
ok = d[0] >= t - 0.001 and pct(99) <= t + 0.05
print("punctual (T <= every close, p99 <= T + 50 ms)" if ok else "NOT punctual")
sys.exit(0 if ok else 1)
' "$T"
wait $load || true
