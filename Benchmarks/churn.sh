#!/usr/bin/env bash
# Connection churn side by side (issue 16): greenio serve against the C reference, SwiftNIO and Go, one
# run, one machine. Every connection connects, sends one line, reads its echo (checked byte for byte) and
# closes: plain, TLS with a full handshake, and TLS resuming the previous connection's session.
#
#   Benchmarks/churn.sh
#   INTERLEAVE=1 RUNS=5 SECS=3 Benchmarks/churn.sh
#   SECS=1 RUNS=1 MODES="full resumed" SERVERS="greenio c" Benchmarks/churn.sh
#
# Builds and starts the servers as run.sh does (peers.sh: greenio serve, nio-echo, Benchmarks/c/echo.c,
# Benchmarks/go/echo.go, and BASELINE=/path/to/other/greenio as "baseline"), pinned to CPU 0, and runs
# `greenio bench --churn` pinned to CPU 1 with CONNS green threads (default 8), each connecting in a loop,
# LEN-byte lines (64), SECS seconds measured (5) after WARMUP (1). Modes (MODES): plain; full (`--tls`: every handshake a full
# one, the client offering no session); resumed (`--tls --resume`: each connection offers the session of
# the one before, so the server may resume it). TLS is 1.3 with TLS_AES_128_GCM_SHA256 for every server
# (see run.sh). Every server keeps its own default resumption: greenio serve session tickets and a cache,
# the C reference OpenSSL's server defaults (a session cache and TLS 1.3 tickets), nio-echo NIOSSL's
# (BoringSSL's), the Go peer crypto/tls's (TLS 1.3 tickets, keys of its own). A server that resumes
# nothing still gets its "resumed" row — full handshakes, flagged in the resumed column and in a note
# under the table — rather than a failure.
#
# The table: connections/s and the ratio to greenio's in the same mode; the connect-to-echo p50/p99; the
# server's CPU seconds during the bench run (utime+stime from /proc/PID/stat, warm-up and connecting
# included) and its share of the run's wall time; connections per server CPU-second (connections/s over
# that share); the server's user and system CPU-µs per connection (over the whole run's connections,
# estimated as connections/s × (SECS + WARMUP)); the client's CPU share (near 100 % the row is
# client-bound: the server's cost per connection is then the figure to compare); the share of connections
# that resumed. With RUNS > 1 each row is the run with the median connections/s; INTERLEAVE=1 takes the
# runs round by round (each server started afresh for each run), as in run.sh.
#
# Exit status: non-zero if any bench run failed (errors, mismatches) or a server did not start.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
CONNS=${CONNS:-8}
MODES=${MODES:-"plain full resumed"}
PORT_BASE=${PORT_BASE:-18100}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/greenio-churn.XXXXXX")
source "$BENCH/server-lifecycle.sh"
source "$BENCH/peers.sh"
read -r -a SERVERS <<<"${SERVERS:-${SERVERS_ALL[*]}}"

FAILED=0
RESULTS="$WORK/results.tsv" # server mode rate p50 p99 client_share resumed server_cpu_s server_share user_us sys_us note
: >"$RESULTS"

server_mode() { if [[ $1 == plain ]]; then echo plain; else echo tls; fi; }

run_churn() { # NAME MODE PORT -> one TSV line on stdout, or nothing on failure
    local name=$1 mode=$2 port=$3 out="$WORK/churn.out" note=""
    local args=()
    [[ $mode != plain ]] && args=(--tls --insecure)
    [[ $mode == resumed ]] && args+=(--resume)
    measure_bench "$out" bench "127.0.0.1:$port" --churn --conns "$CONNS" --len "$LEN" --secs "$SECS" \
        --warmup "$WARMUP" "${args[@]}"
    # A --resume run fails when nothing resumed (and only then says this): here that is a finding about
    # the server, shown in the table, not a failed run.
    if grep -q -- '--resume: no connection resumed' "$out"; then
        BENCH_STATUS=0
        note="does not resume"
    fi
    if bench_failed "$out" "$name $mode"; then return 0; fi
    awk -v name="$name" -v mode="$mode" -v note="$note" \
        -v figures="$(server_figures "$(awk '/^connections\/s:/ { print $2 }' "$out")")" '
        /^connections\/s:/ { rate = $2 }
        /^resumed:/ { resumed = $2 " %" }
        /^connect\+echo:/ { p50 = $3; p99 = $6 }
        /^client CPU:/ { share = $0; sub(/.*\(/, "", share); sub(/%.*/, "", share) }
        END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, mode, rate, p50, p99, share, (resumed == "" ? "–" : resumed), figures, note }' "$out"
}

record_median() { # RUNS_FILE: appends the run with the median connections/s to the results, and logs it
    median_row "$1" 3 | tee -a "$RESULTS" |
        awk -F'\t' '{ printf "   %s %s: %s connections/s, p50 %s ms, server %s CPU-s (%s %%), %s / %s µs per connection, client %s %%, resumed %s\n", $1, $2, $3, $4, $8, $9, $10, $11, $6, $7 }' >&2
}

one_run() { # NAME MODE: a fresh server for one run, appended to runs-NAME-MODE.tsv
    port=$((port + 1))
    if ! start_server "$1" "$(server_mode "$2")" "$port"; then FAILED=1; return 0; fi
    run_churn "$1" "$2" "$port" >>"$WORK/runs-$1-$2.tsv"
    stop_server
}

port=$PORT_BASE
for name in "${SERVERS[@]}"; do
    declare -F "start_$name" >/dev/null || { log "no start_$name function; skipping $name"; continue; }
    for mode in $MODES; do : >"$WORK/runs-$name-$mode.tsv"; done
done
if [[ ${INTERLEAVE:-0} == 1 ]]; then
    # Round by round: a slow stretch of the machine hits every server alike.
    for mode in $MODES; do
        for ((r = 1; r <= RUNS; r++)); do
            log "== $mode, round $r of $RUNS"
            for name in "${SERVERS[@]}"; do
                declare -F "start_$name" >/dev/null && one_run "$name" "$mode"
            done
        done
    done
else
    for name in "${SERVERS[@]}"; do
        declare -F "start_$name" >/dev/null || continue
        for mode in $MODES; do
            log "== $name $mode"
            for ((r = 1; r <= RUNS; r++)); do one_run "$name" "$mode"; done
        done
    done
fi
for mode in $MODES; do
    for name in "${SERVERS[@]}"; do
        if [[ -f $WORK/runs-$name-$mode.tsv ]]; then record_median "$WORK/runs-$name-$mode.tsv"; fi
    done
done

# --- table -------------------------------------------------------------------------------------------
echo
echo "$(date -u +%Y-%m-%d) · $(nproc) CPUs · server on CPU $SERVER_CPU, greenio bench --churn on CPU $CLIENT_CPU ·" \
    "$CONNS connections at a time, one $LEN-byte line each, ${SECS} s after ${WARMUP} s warm-up, median of $RUNS run(s)"
echo
echo "| server | mode | connections/s | × greenio | connect+echo p50 / p99 ms | server CPU-s (share) | connections per server CPU-s | server user / system µs per connection | client CPU | resumed |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
    { row[NR] = $0; if ($1 == "greenio") base[$2] = $3 }
    END {
        for (i = 1; i <= NR; i++) {
            split(row[i], f, "\t")
            ratio = (f[2] in base && base[f[2]] > 0) ? sprintf("%.2f", f[3] / base[f[2]]) : "–"
            perCPU = f[9] > 0 ? sprintf("%d", f[3] / (f[9] / 100)) : "–"
            resumed = f[12] == "" ? f[7] : f[7] " (" f[12] ")"
            printf "| %s | %s | %s | %s | %s / %s | %s (%s %%) | %s | %s / %s | %s %% | %s |\n", f[1], f[2], f[3], ratio, f[4], f[5], f[8], f[9], perCPU, f[10], f[11], f[6], resumed
        }
    }' "$RESULTS"
awk -F'\t' '$12 != "" { printf "\nNote: %s resumed no session in the \"resumed\" mode: its row is full handshakes.\n", $1 }' "$RESULTS"

if ((FAILED)); then
    log "some runs failed (see above)"
    exit 1
fi
