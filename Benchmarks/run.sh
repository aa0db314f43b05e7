#!/usr/bin/env bash
# Side-by-side line-echo benchmark (issue 6): greenio serve against its peers, one run, one machine.
#
#   Benchmarks/run.sh
#   SECS=2 WARMUP=1 RUNS=3 CONFIGS="50,32" MODES=tls SERVERS="greenio c" Benchmarks/run.sh
#
# Builds greenio (root package) and nio-echo (this package) in release mode and Benchmarks/c/echo.c with
# cc -O2, writes a self-signed P-256 certificate for localhost, then for every server and mode (plain, TLS
# with that certificate) starts the server pinned to CPU 0 and runs `greenio bench` pinned to CPU 1 for each
# (connections, batch) configuration with 64-byte lines. It prints a markdown table: lines/s and the ratio to
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
#   INTERLEAVE=1 RUNS=9 SECS=3 CONFIGS="50,1 1,1" SERVERS="greenio nio c asyncio" Benchmarks/run.sh
#
# TLS: TLS 1.3 with TLS_AES_128_GCM_SHA256 for every server. greenio's default TLS profile (Mozilla's
# intermediate) offers that suite first and follows the client's order, so greenio bench offers it first and
# greenio serve picks it; OPENSSL_CONF, pointing at a file that limits OpenSSL's TLS 1.3 suites to that one,
# is kept for builds from before the profiles (BASELINE), which used OpenSSL's lists; the C server sets it
# itself; NIOSSL (BoringSSL) takes the client's first.
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
# Exit status: non-zero if any bench run failed (errors or mismatches) or a server did not start.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
RUNS=${RUNS:-1}
LEN=${LEN:-64}
CONFIGS=${CONFIGS:-"1,1 1,32 50,1 50,32"}
MODES=${MODES:-"plain tls"}
PORT_BASE=${PORT_BASE:-17900}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SERVERS_ALL=(greenio nio c)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/greenio-bench.XXXXXX")
source "$BENCH/server-lifecycle.sh"

log() { printf '%s\n' "$*" >&2; }

# --- build -------------------------------------------------------------------------------------------
log "building greenio (release)"
swift build -c release --package-path "$ROOT" --product greenio >&2
GREENIO="$(swift build -c release --package-path "$ROOT" --show-bin-path)/greenio"
if [[ " ${SERVERS:-nio} " == *" nio "* ]]; then
    log "building nio-echo (release)"
    swift build -c release --package-path "$BENCH" --product nio-echo >&2
    NIO_ECHO="$(swift build -c release --package-path "$BENCH" --show-bin-path)/nio-echo"
fi
log "building c/echo"
C_ECHO="$WORK/c-echo"
cc -O2 -Wall -o "$C_ECHO" "$BENCH/c/echo.c" -lssl -lcrypto

CERT="$WORK/cert.pem"
KEY="$WORK/key.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$KEY" -out "$CERT" -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null

# OpenSSL configuration limiting TLS to 1.3 with TLS_AES_128_GCM_SHA256 (for greenio serve and bench).
TLS_CONF="$WORK/openssl.cnf"
cat >"$TLS_CONF" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_section
[ssl_section]
system_default = system_default_section
[system_default_section]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
EOF

# --- servers -----------------------------------------------------------------------------------------
# start_NAME MODE PORT: exec the server in the foreground on 127.0.0.1:PORT.
start_greenio() {
    if [[ $1 == tls ]]; then
        OPENSSL_CONF=$TLS_CONF exec "$GREENIO" serve --host 127.0.0.1 --port "$2" --tls --cert "$CERT" --key "$KEY"
    else
        exec "$GREENIO" serve --host 127.0.0.1 --port "$2"
    fi
}
if [[ -n ${BASELINE:-} ]]; then SERVERS_ALL+=(baseline); fi
start_baseline() {
    if [[ $1 == tls ]]; then
        OPENSSL_CONF=$TLS_CONF exec "$BASELINE" serve --host 127.0.0.1 --port "$2" --tls --cert "$CERT" --key "$KEY"
    else
        exec "$BASELINE" serve --host 127.0.0.1 --port "$2"
    fi
}
start_nio() {
    if [[ $1 == tls ]]; then
        exec "$NIO_ECHO" --host 127.0.0.1 --port "$2" --tls --cert "$CERT" --key "$KEY"
    else
        exec "$NIO_ECHO" --host 127.0.0.1 --port "$2"
    fi
}
start_c() {
    if [[ $1 == tls ]]; then exec "$C_ECHO" -p "$2" --tls "$CERT" "$KEY"; else exec "$C_ECHO" -p "$2"; fi
}

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
CLK_TCK=$(getconf CLK_TCK)
BENCH_TIMEOUT=$(awk -v s="$SECS" -v w="$WARMUP" 'BEGIN { printf "%d", s + w + 60 }')
cpu_ticks() { # "utime stime" of PID (fields 14 and 15; the command name may hold spaces)
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12, $13 }' <<<"$stat"
}

start_server() { # NAME MODE PORT; sets SERVER_PID or returns 1
    local log_file="$WORK/server-$1-$2.log"
    # Pin the subshell before it execs the server, so every thread the server starts inherits the CPU.
    ( taskset -pc "$SERVER_CPU" "$BASHPID" >/dev/null && "start_$1" "$2" "$3" ) >"$log_file" 2>&1 &
    SERVER_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        if grep -q 'listening on' "$log_file" 2>/dev/null || (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "server $1 ($2) did not start:"
    cat "$log_file" >&2
    stop_server
    return 1
}

FAILED=0
RESULTS="$WORK/results.tsv" # server mode conns batch lines p50 p99 server_cpu_s server_share client_share user_us sys_us
: >"$RESULTS"

run_bench() { # NAME MODE PORT CONNS BATCH -> one TSV line on stdout, or nothing on failure
    local name=$1 mode=$2 port=$3 conns=$4 batch=$5 out="$WORK/bench.out" before after t0 t1 status=0 c0 c1
    local tls_args=()
    [[ $mode == tls ]] && tls_args=(--tls --insecure)
    before=$(cpu_ticks "$SERVER_PID")
    t0=$(date +%s.%N)
    # Bounded: the run takes WARMUP + SECS plus connecting; a stuck run is killed and counts as failed.
    OPENSSL_CONF=$TLS_CONF timeout "$BENCH_TIMEOUT" taskset -c "$CLIENT_CPU" "$GREENIO" bench "127.0.0.1:$port" \
        --conns "$conns" --batch "$batch" --len "$LEN" --secs "$SECS" --warmup "$WARMUP" "${tls_args[@]}" \
        >"$out" 2>&1 || status=$?
    t1=$(date +%s.%N)
    after=$(cpu_ticks "$SERVER_PID")
    read -r -a c0 <<<"$before"
    read -r -a c1 <<<"$after"
    local errors mismatches
    errors=$(awk '/^errors:/ { print $2 }' "$out")
    mismatches=$(awk '/^mismatches:/ { print $2 }' "$out")
    if [[ $status -ne 0 || ${errors:-x} != 0 || ${mismatches:-x} != 0 ]]; then
        log "FAILED: $name $mode ($conns, $batch), exit $status:"
        cat "$out" >&2
        FAILED=1
        return 0
    fi
    # The server's user and system time per line: over the whole invocation (warm-up and connecting
    # included), so slightly pessimistic, like the CPU share.
    awk -v name="$name" -v mode="$mode" -v conns="$conns" -v batch="$batch" \
        -v utime=$((c1[0] - c0[0])) -v stime=$((c1[1] - c0[1])) -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" \
        -v measured="$SECS" -v warmup="$WARMUP" '
        /^lines\/s:/ { lines = $2 }
        /^batch round trip:/ { p50 = $5; p99 = $8 }
        /^client CPU:/ { share = $0; sub(/.*\(/, "", share); sub(/%.*/, "", share) }
        END {
            cpu = (utime + stime) / hz; wall = t1 - t0
            total = lines * (measured + warmup)
            userPerLine = 0; systemPerLine = 0
            if (total > 0) { userPerLine = 1e6 * utime / hz / total; systemPerLine = 1e6 * stime / hz / total }
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.0f\t%s\t%.2f\t%.2f\n", name, mode, conns, batch, lines, p50, p99, cpu, 100 * cpu / wall, share, userPerLine, systemPerLine
        }' "$out"
}

record_median() { # RUNS_FILE: appends the run with the median lines/s to the results, and logs it
    local count
    count=$(wc -l <"$1")
    ((count > 0)) || return 0
    sort -t$'\t' -k5,5n "$1" | sed -n "$(((count + 1) / 2))p" | tee -a "$RESULTS" |
        awk -F'\t' '{ printf "   %s %s (%s, %s): %s lines/s, p50 %s ms, p99 %s ms, server %s CPU-s (%s %%), client %s %%\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' >&2
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
            perCPU = f[9] > 0 ? human(f[5] / (f[9] / 100)) : "–"
            printf "| %s | %s | %s, %s | %s | %s | %s / %s | %s (%s %%) | %s | %s / %s | %s %% |\n", f[1], f[2], f[3], f[4], human(f[5]), ratio, f[6], f[7], f[8], f[9], perCPU, f[11], f[12], f[10]
        }
    }' "$RESULTS"

if ((FAILED)); then
    log "some runs failed (see above)"
    exit 1
fi
