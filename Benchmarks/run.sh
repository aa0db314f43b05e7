#!/usr/bin/env bash
# Side-by-side line-echo benchmark (issue 6): greenio serve against its peers, one run, one machine.
#
#   Benchmarks/run.sh
#   SECS=2 WARMUP=1 RUNS=3 CONFIGS="50,32" MODES=tls SERVERS="greenio c" Benchmarks/run.sh
#
# Builds greenio (root package) and nio-echo (this package) in release mode, Benchmarks/c/echo.c with
# cc -O2 and the Go peer Benchmarks/go/echo.go with go build, writes a self-signed P-256 certificate for
# localhost (Benchmarks/peers.sh), then for every server and mode (plain, TLS with that certificate)
# starts the server pinned to CPU 0 and runs `greenio bench` pinned to CPU 1 for each (connections,
# batch) configuration with 64-byte lines. It prints a markdown table: lines/s and the ratio to
# greenio's lines/s in the same configuration, batch round-trip p50/p99, the server's CPU seconds during the
# bench run (utime+stime from /proc/PID/stat, warm-up included) and its share of the run's wall time, lines
# per server CPU-second (lines/s over that share), the server's user and system time per line (the kernel's
# share of the work shows there), and the client's CPU share (a share near 100 % means the row is
# client-bound). With RUNS > 1 each row is the run with the median lines/s.
#
# INTERLEAVE=1 takes the runs round by round instead: in each round every server (started afresh) runs the
# configuration once, so a slow stretch of this shared machine hits all servers alike — use it with RUNS=9
# for the settings where single runs swing most, (50, 1) and (1, 1):
#
#   INTERLEAVE=1 RUNS=9 SECS=3 CONFIGS="50,1 1,1" SERVERS="greenio nio c go asyncio" Benchmarks/run.sh
#
# TLS: TLS 1.3 with TLS_AES_128_GCM_SHA256 for every server. greenio's default TLS profile (Mozilla's
# intermediate) offers that suite first and follows the client's order, so greenio bench offers it first and
# greenio serve picks it; OPENSSL_CONF, pointing at a file that limits OpenSSL's TLS 1.3 suites to that one,
# is kept for builds from before the profiles (BASELINE), which used OpenSSL's lists; the C server sets it
# itself; NIOSSL (BoringSSL) takes the client's first; Go's crypto/tls takes it because the client lists it
# first and the CPU has AES-GCM instructions, and the Go peer closes a connection that got another suite
# (peers.sh).
#
# Needs, besides the package's prerequisites (swift, libssl-dev, openssl): cc, taskset (util-linux), and go
# for the Go peer (Debian 12: `apt-get install golang-go`, Go 1.19; standard library only, nothing is
# downloaded; without go, leave it out of SERVERS); the Python peers need python3's venv and pip (below).
# CI (.ci/run) runs the tests only: it installs none of this and runs no benchmark.
#
# Python peers: if Benchmarks/python/server.py exists, eventlet, gevent and asyncio join the servers, started as
# Benchmarks/python/README.md says (`$VENV/bin/python -W ignore Benchmarks/python/server.py NAME --port P
# [--tls CERT KEY]`); the virtualenv Benchmarks/.venv (eventlet, gevent) is created if missing.
#
# Adding servers (the hook): if Benchmarks/python/servers.sh (or any Benchmarks/servers.d/*.sh) exists it is
# sourced after the builds. It may append names to SERVERS_ALL and define, for each name N, a function
# `start_N MODE PORT` (MODE is plain or tls; the certificate and key are $CERT and $KEY) that execs the server
# in the foreground on 127.0.0.1:PORT; it should print "listening on ..." to standard output once ready (the
# script also polls the port). Example:
#
#   SERVERS_ALL+=(trio)
#   start_trio() { if [[ $1 == tls ]]; then exec "$PY" trio_echo.py --port "$2" --tls "$CERT" "$KEY";
#                  else exec "$PY" trio_echo.py --port "$2"; fi; }
#
# Comparing two builds of greenio: BASELINE=/path/to/other/greenio adds the server "baseline", that binary's
# `greenio serve` started exactly as greenio's (e.g. the last release against the working tree):
#
#   BASELINE=/tmp/old/.build/release/greenio INTERLEAVE=1 RUNS=5 SERVERS="greenio baseline" Benchmarks/run.sh
#
# Connection churn (connections/s, plain, TLS full and resumed, the server's CPU per connection) is
# Benchmarks/churn.sh, which starts the same servers (peers.sh) the same way; the servers on N cores
# (greenio serve --hubs N, Go with GOMAXPROCS=N) are Benchmarks/hubs.sh.
#
# Exit status: non-zero if any bench run failed (errors or mismatches) or a server did not start.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
CONFIGS=${CONFIGS:-"1,1 1,32 50,1 50,32"}
MODES=${MODES:-"plain tls"}
PORT_BASE=${PORT_BASE:-17900}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/greenio-bench.XXXXXX")
source "$BENCH/server-lifecycle.sh"

source "$BENCH/peers.sh"  # builds greenio, nio-echo, c/echo and go/echo; start_NAME for them and baseline

# Python peers (Benchmarks/python, see its README.md).
VENV=${VENV:-$BENCH/.venv}
PY="$VENV/bin/python"
python_wanted() { [[ -z ${SERVERS:-} || " $SERVERS " == *" eventlet "* || " $SERVERS " == *" gevent "* || " $SERVERS " == *" asyncio "* ]]; }
if [[ -f $BENCH/python/server.py ]] && python_wanted; then
    if [[ ! -x $PY ]] || ! "$PY" -c 'import eventlet, gevent' 2>/dev/null; then
        log "creating $VENV (eventlet, gevent)"
        { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q eventlet gevent; } >&2 || log "virtualenv failed"
    fi
    if "$PY" -c 'import eventlet, gevent' 2>/dev/null; then
        SERVERS_ALL+=(eventlet gevent asyncio)
    else
        log "no eventlet/gevent in $VENV: skipping the Python peers"
    fi
fi
start_python() { # PEER MODE PORT
    if [[ $2 == tls ]]; then
        exec "$PY" -W ignore "$BENCH/python/server.py" "$1" --port "$3" --tls "$CERT" "$KEY"
    else
        exec "$PY" -W ignore "$BENCH/python/server.py" "$1" --port "$3"
    fi
}
start_eventlet() { start_python eventlet "$@"; }
start_gevent() { start_python gevent "$@"; }
start_asyncio() { start_python asyncio "$@"; }

for hook in "$BENCH/python/servers.sh" "$BENCH"/servers.d/*.sh; do
    # shellcheck source=/dev/null
    if [[ -f $hook ]]; then source "$hook"; fi
done
read -r -a SERVERS <<<"${SERVERS:-${SERVERS_ALL[*]}}"

# --- measuring ---------------------------------------------------------------------------------------
FAILED=0
RESULTS="$WORK/results.tsv" # server mode conns batch lines p50 p99 client_share server_cpu_s server_share user_us sys_us
: >"$RESULTS"

run_bench() { # NAME MODE PORT CONNS BATCH -> one TSV line on stdout, or nothing on failure
    local name=$1 mode=$2 port=$3 conns=$4 batch=$5 out="$WORK/bench.out"
    local tls_args=()
    [[ $mode == tls ]] && tls_args=(--tls --insecure)
    measure_bench "$out" bench "127.0.0.1:$port" \
        --conns "$conns" --batch "$batch" --len "$LEN" --secs "$SECS" --warmup "$WARMUP" "${tls_args[@]}"
    if bench_failed "$out" "$name $mode ($conns, $batch)"; then return 0; fi
    awk -v name="$name" -v mode="$mode" -v conns="$conns" -v batch="$batch" \
        -v figures="$(server_figures "$(awk '/^lines\/s:/ { print $2 }' "$out")")" '
        /^lines\/s:/ { lines = $2 }
        /^batch round trip:/ { p50 = $5; p99 = $8 }
        /^client CPU:/ { share = $0; sub(/.*\(/, "", share); sub(/%.*/, "", share) }
        END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, mode, conns, batch, lines, p50, p99, share, figures }' "$out"
}

record_median() { # RUNS_FILE: appends the run with the median lines/s to the results, and logs it
    median_row "$1" 5 | tee -a "$RESULTS" |
        awk -F'\t' '{ printf "   %s %s (%s, %s): %s lines/s, p50 %s ms, p99 %s ms, server %s CPU-s (%s %%), client %s %%\n", $1, $2, $3, $4, $5, $6, $7, $9, $10, $8 }' >&2
}

port=$PORT_BASE
if [[ ${INTERLEAVE:-0} == 1 ]]; then
    # Round by round: in each round every server runs the configuration once (started for it and
    # stopped after), so a slow stretch of the machine hits all servers alike instead of one.
    for mode in $MODES; do
        for config in $CONFIGS; do
            conns=${config%,*} batch=${config#*,}
            for name in "${SERVERS[@]}"; do : >"$WORK/runs-$name.tsv"; done
            for ((r = 1; r <= RUNS; r++)); do
                log "== $mode ($conns, $batch), round $r of $RUNS"
                for name in "${SERVERS[@]}"; do
                    declare -F "start_$name" >/dev/null || continue
                    port=$((port + 1))
                    if ! start_server "$name" "$mode" "$port"; then FAILED=1; continue; fi
                    run_bench "$name" "$mode" "$port" "$conns" "$batch" >>"$WORK/runs-$name.tsv"
                    stop_server
                done
            done
            for name in "${SERVERS[@]}"; do record_median "$WORK/runs-$name.tsv"; done
        done
    done
else
    for name in "${SERVERS[@]}"; do
        declare -F "start_$name" >/dev/null || { log "no start_$name function; skipping $name"; continue; }
        for mode in $MODES; do
            port=$((port + 1))
            log "== $name $mode (127.0.0.1:$port)"
            if ! start_server "$name" "$mode" "$port"; then FAILED=1; continue; fi
            for config in $CONFIGS; do
                conns=${config%,*} batch=${config#*,}
                runs="$WORK/runs.tsv"
                : >"$runs"
                for ((r = 1; r <= RUNS; r++)); do
                    run_bench "$name" "$mode" "$port" "$conns" "$batch" >>"$runs"
                done
                record_median "$runs"
            done
            stop_server
        done
    done
fi

# --- table -------------------------------------------------------------------------------------------
echo
echo "$(date -u +%Y-%m-%d) · $(nproc) CPUs · server on CPU $SERVER_CPU, greenio bench on CPU $CLIENT_CPU ·" \
    "$LEN-byte lines, ${SECS} s after ${WARMUP} s warm-up, median of $RUNS run(s)"
echo
echo "| server | mode | conns, batch | lines/s | × greenio | p50 / p99 ms | server CPU-s (share) | lines per server CPU-s | server user / system µs per line | client CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
    function human(x) { return x >= 1e6 ? sprintf("%.2f M", x / 1e6) : sprintf("%d", x) }
    { row[NR] = $0; if ($1 == "greenio") base[$2 "," $3 "," $4] = $5 }
    END {
        for (i = 1; i <= NR; i++) {
            split(row[i], f, "\t")
            key = f[2] "," f[3] "," f[4]
            ratio = (key in base && base[key] > 0) ? sprintf("%.2f", f[5] / base[key]) : "–"
            perCPU = f[10] > 0 ? human(f[5] / (f[10] / 100)) : "–"
            printf "| %s | %s | %s, %s | %s | %s | %s / %s | %s (%s %%) | %s | %s / %s | %s %% |\n", f[1], f[2], f[3], f[4], human(f[5]), ratio, f[6], f[7], f[9], f[10], perCPU, f[11], f[12], f[8]
        }
    }' "$RESULTS"

if ((FAILED)); then
    log "some runs failed (see above)"
    exit 1
fi
