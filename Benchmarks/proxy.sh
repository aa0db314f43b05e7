#!/usr/bin/env bash
# What the PROXY protocol costs (issue 13), measured side by side in one run on this machine:
#
#   Benchmarks/proxy.sh
#   RUNS=5 SECS=3 Benchmarks/proxy.sh
#
# 1. Connection churn: Benchmarks/c/churn.c (2 processes, pinned to CPU 1) opens a connection, sends a
#    PROXY header in its own write as a balancer does (none, v1 or v2), one 64-byte line, reads the echo
#    and closes, against `greenio serve` pinned to CPU 0 (with --proxy-protocol --proxy-trusted
#    127.0.0.1 for v1 and v2). "v2+" sends the header and the line in one write, as a balancer does
#    when the client's bytes are already there (one wake-up for both). Reports connections/s and the
#    server's CPU time per connection (utime+stime from /proc/PID/stat), the median of RUNS
#    interleaved rounds.
# 2. Lines through HAProxy: `greenio bench` at (50 connections, 32 lines per batch) straight to
#    `greenio serve`, and through HAProxy (mode tcp, send-proxy-v2, one backend) to `greenio serve
#    --proxy-protocol`. The server is pinned to CPU 0; the client and HAProxy share CPU 1, so lines/s
#    through HAProxy are bound by that core: the server's lines per CPU-second is the comparable number.
#    A third row goes through HAProxy without a header (to plain `greenio serve`): the balancer's own
#    effect on the server (smaller reads and writes, as HAProxy relays) apart from the header's.
#
# Needs haproxy (Debian's package) for part 2; part 1 runs without it.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
SECS=${SECS:-3}
RUNS=${RUNS:-3}
PORT=${PORT:-17950}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greenio-proxy-bench.XXXXXX")
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
log() { printf '%s\n' "$*" >&2; }

log "building greenio (release) and c/churn"
swift build -c release --package-path "$ROOT" --product greenio >&2
GREENIO="$(swift build -c release --package-path "$ROOT" --show-bin-path)/greenio"
cc -O2 -Wall -o "$WORK/churn" "$BENCH/c/churn.c"

cpu_ticks() { local stat; stat=$(<"/proc/$1/stat"); stat=${stat##*) }; awk '{ print $12 + $13 }' <<<"$stat"; }
hz=$(getconf CLK_TCK)

# start_server PORT [FLAGS...]: greenio serve on CPU 0, waits for its start line; sets SERVER.
start_server() {
    local port=$1; shift
    taskset -c 0 "$GREENIO" serve --host 127.0.0.1 --port "$port" "$@" >"$WORK/server.out" 2>/dev/null &
    SERVER=$!
    pids+=("$SERVER")
    for _ in $(seq 1 100); do grep -q '^listening on' "$WORK/server.out" 2>/dev/null && return 0; sleep 0.05; done
    log "greenio serve did not start"; exit 1
}
stop_server() { kill -INT "$SERVER"; wait "$SERVER" || true; }

# --- 1. churn ----------------------------------------------------------------------------------------
declare -A rates usecs
for round in $(seq 1 "$RUNS"); do
    for header in none v1 v2 v2+; do
        flags=()
        [[ $header != none ]] && flags=(--proxy-protocol --proxy-trusted 127.0.0.1)
        start_server "$PORT" "${flags[@]}"
        t0=$(cpu_ticks "$SERVER")
        out=$(taskset -c 1 "$WORK/churn" 127.0.0.1 "$PORT" "$SECS" 2 "$header")
        t1=$(cpu_ticks "$SERVER")
        stop_server
        count=$(awk '{ print $2 }' <<<"$out")
        rate=$(awk '{ print $7 }' <<<"$out" | tr -d '/s,')
        rates[$header]+="$rate "
        usecs[$header]+="$(awk -v t=$((t1 - t0)) -v n="$count" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }') "
        log "round $round $header: $out"
    done
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
echo "## Connection churn: one line per connection (median of $RUNS, ${SECS} s each)"
echo
echo "| PROXY header | connections/s | ratio | server CPU µs per connection | ratio |"
echo "|---|---:|---:|---:|---:|"
base_rate=$(median "${rates[none]}"); base_us=$(median "${usecs[none]}")
for header in none v1 v2 v2+; do
    r=$(median "${rates[$header]}"); u=$(median "${usecs[$header]}")
    printf '| %s | %s | %.3f | %s | %.3f |\n' "$header" "$r" "$(awk -v a="$r" -v b="$base_rate" 'BEGIN { print a / b }')" \
        "$u" "$(awk -v a="$u" -v b="$base_us" 'BEGIN { print a / b }')"
done

# --- 2. HAProxy ----------------------------------------------------------------------------------------
if ! command -v haproxy >/dev/null; then log "no haproxy: skipping the HAProxy comparison"; exit 0; fi
cat >"$WORK/haproxy.cfg" <<CFG
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend lines
    bind 127.0.0.1:$((PORT + 1))
    default_backend greenio
backend greenio
    server one 127.0.0.1:$((PORT + 2)) send-proxy-v2
frontend lines_plain
    bind 127.0.0.1:$((PORT + 3))
    default_backend greenio_plain
backend greenio_plain
    server one 127.0.0.1:$((PORT + 2))
CFG
taskset -c 1 haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
pids+=($!)
sleep 0.5
echo
echo "## (50, 32) lines, direct and through HAProxy (send-proxy-v2), ${SECS} s each"
echo
echo "| path | lines/s | server CPU share | lines per server CPU-second |"
echo "|---|---:|---:|---:|"
for path in direct "haproxy, no header" "haproxy, send-proxy-v2"; do
    case $path in
        direct) start_server "$PORT"; target=$PORT ;;
        "haproxy, no header") start_server "$((PORT + 2))"; target=$((PORT + 3)) ;;
        *) start_server "$((PORT + 2))" --proxy-protocol --proxy-trusted 127.0.0.1; target=$((PORT + 1)) ;;
    esac
    t0=$(cpu_ticks "$SERVER"); w0=$(date +%s.%N)
    out=$(taskset -c 1 "$GREENIO" bench "127.0.0.1:$target" --conns 50 --batch 32 --secs "$SECS" --warmup 1)
    t1=$(cpu_ticks "$SERVER"); w1=$(date +%s.%N)
    stop_server
    lines=$(grep -o '^lines/s: [0-9]*' <<<"$out" | awk '{ print $2 }')
    share=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v w0="$w0" -v w1="$w1" 'BEGIN { printf "%.2f", t / hz / (w1 - w0) }')
    printf '| %s | %s | %s | %.0f |\n' "$path" "$lines" "$share" "$(awk -v l="$lines" -v s="$share" 'BEGIN { print l / s }')"
done
