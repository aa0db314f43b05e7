#!/usr/bin/env bash
# The line echo on N cores, side by side (issues 16 and 18): `greenio serve --hubs N` against the Go peer
# with GOMAXPROCS=N, each server pinned to CPUs 0..N-1, one run, one machine.
#
#   Benchmarks/hubs.sh
#   SECS=1 RUNS=1 MODES=plain Benchmarks/hubs.sh
#   HUBS="1 8" CONFIGS="200,32 400,1" CLIENT_CPUS=8-15 INTERLEAVE=1 RUNS=3 Benchmarks/hubs.sh   # 16 cores
#
# Builds and starts the servers as run.sh does (peers.sh: greenio serve, Benchmarks/go/echo.go, and
# BASELINE=/path/to/other/greenio as "baseline", started as greenio serve), then for each N in HUBS
# (default "1 2"; an N over the machine's CPUs is skipped), each server in SERVERS (default "greenio go";
# greenio, baseline and go take part) and each mode in MODES (plain tls) starts the server on CPUs
# 0..N-1 — greenio serve with --hubs N (GREENIO_ARGS adds options, e.g. "--balance least-connections"),
# Go with GOMAXPROCS=N (GO_MAXPROCS) — and, for each (connections, batch) in CONFIGS (default "50,1 50,32"),
# runs LOADGENS `greenio bench` processes at once, the connections shared among them, each pinned to the
# next CPU of CLIENT_CPUS (a list for taskset -c, e.g. "8-15" or "2,3"), LEN-byte lines (64), SECS seconds
# (5) after WARMUP (1). One greenio bench is one hub, so one core: LOADGENS defaults to the number of
# CLIENT_CPUS, and CLIENT_CPUS to the CPUs left after the widest server (from the largest N in HUBS to the
# last CPU) — or, where none is left, to the last CPU alone, which the server then shares with the load
# generator. On a 2-core machine that is the case at N=2: the server's second hub (or Go's second thread)
# and greenio bench share CPU 1, so N=2 shows that the servers run on two cores, not how they scale; the
# scaling is for a machine with cores to spare for the load generators.
#
# The C reference is not here: Benchmarks/c/echo.c is one thread and does not set SO_REUSEPORT, so N of
# its processes cannot share the port. nio-echo has one event loop and no option for more.
#
# The table: lines/s (the load generators' sum) and the ratio to greenio's at the same N, the ratio to
# the same server's lines/s at N=1 (its scaling), the batch round trip p50/p99 of the slowest load
# generator, the server's CPU seconds (all its threads; utime+stime from /proc/PID/stat, warm-up
# included) and its share of the run's wall time (up to N × 100 %), lines per server CPU-second, the
# server's user and system µs per line, and the load generators' mean CPU share (near 100 % the row is
# client-bound: compare lines per server CPU-second). With RUNS > 1 each row is the run with the median
# lines/s; INTERLEAVE=1 takes the runs round by round (each server started afresh for each), as run.sh.
#
# Exit status: non-zero if any bench run failed (errors or mismatches) or a server did not start.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
HUBS=${HUBS:-"1 2"}
CONFIGS=${CONFIGS:-"50,1 50,32"}
MODES=${MODES:-"plain tls"}
PORT_BASE=${PORT_BASE:-18300}
SERVERS=${SERVERS:-"greenio go"}  # before peers.sh, so that it builds only these

WORK=$(mktemp -d "${TMPDIR:-/tmp}/greenio-hubs.XXXXXX")
source "$BENCH/server-lifecycle.sh"
source "$BENCH/peers.sh"
read -r -a SERVERS <<<"$SERVERS"
for name in "${SERVERS[@]}"; do
    case $name in
    greenio | go) ;;
    baseline) [[ -n ${BASELINE:-} ]] || { log "baseline needs BASELINE=/path/to/other/greenio"; exit 2; } ;;
    *) log "hubs.sh runs greenio, baseline and go (servers that take a core count), not $name"; exit 2 ;;
    esac
done

# --- CPUs ----------------------------------------------------------------------------------------------
CPUS=$(nproc)
read -r -a HUB_COUNTS <<<"$HUBS"
WIDEST=0
for n in "${HUB_COUNTS[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { log "HUBS: $n is not a count"; exit 2; }
    if ((n <= CPUS && n > WIDEST)); then WIDEST=$n; fi
done
((WIDEST > 0)) || { log "HUBS: no N fits this machine's $CPUS CPUs"; exit 2; }
if [[ -z ${CLIENT_CPUS:-} ]]; then
    if ((WIDEST < CPUS)); then CLIENT_CPUS="$WIDEST-$((CPUS - 1))"; else CLIENT_CPUS=$((CPUS - 1)); fi
fi

# cpu_list LIST: the CPUs of a taskset-style LIST ("8-15", "2,3", "1"), one a line.
cpu_list() {
    local part parts
    IFS=, read -r -a parts <<<"$1"
    for part in "${parts[@]}"; do
        if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
    done
}
mapfile -t CLIENT_CPU_LIST < <(cpu_list "$CLIENT_CPUS")
LOADGENS=${LOADGENS:-${#CLIENT_CPU_LIST[@]}}

# use_cores N: the next server starts on CPUs 0..N-1 with N hubs (greenio, baseline) or GOMAXPROCS=N (go).
read -r -a GREENIO_BASE_EXTRA <<<"${GREENIO_ARGS:-}"
use_cores() {
    if (($1 == 1)); then SERVER_CPU=0; else SERVER_CPU="0-$(($1 - 1))"; fi
    GREENIO_EXTRA=("${GREENIO_BASE_EXTRA[@]}" --hubs "$1")
    GO_MAXPROCS=$1
}

# --- measuring ---------------------------------------------------------------------------------------
FAILED=0
RESULTS="$WORK/results.tsv" # n server mode conns batch lines p50 p99 client_share server_cpu_s server_share user_us sys_us
: >"$RESULTS"

run_loadgens() { # N NAME MODE PORT CONNS BATCH -> one TSV line on stdout, or nothing on failure
    local n=$1 name=$2 mode=$3 port=$4 conns=$5 batch=$6
    local gens=$((LOADGENS < conns ? LOADGENS : conns)) tls_args=() pids=() statuses=() outs=() i share failed=0
    [[ $mode == tls ]] && tls_args=(--tls --insecure)
    server_clock_start
    for ((i = 0; i < gens; i++)); do
        share=$((conns / gens + (i < conns % gens ? 1 : 0)))
        outs+=("$WORK/bench-$i.out")
        OPENSSL_CONF=$TLS_CONF timeout "$BENCH_TIMEOUT" taskset -c "${CLIENT_CPU_LIST[i % ${#CLIENT_CPU_LIST[@]}]}" \
            "$GREENIO" bench "127.0.0.1:$port" --conns "$share" --batch "$batch" --len "$LEN" --secs "$SECS" \
            --warmup "$WARMUP" "${tls_args[@]}" >"${outs[i]}" 2>&1 &
        pids+=($!)
    done
    for ((i = 0; i < gens; i++)); do
        statuses[i]=0
        wait "${pids[i]}" || statuses[i]=$?
    done
    server_clock_stop
    for ((i = 0; i < gens; i++)); do
        BENCH_STATUS=${statuses[i]}
        if bench_failed "${outs[i]}" "$name $mode N=$n ($conns, $batch), load generator $((i + 1)) of $gens"; then failed=1; fi
    done
    ((failed == 0)) || return 0
    awk -v n="$n" -v name="$name" -v mode="$mode" -v conns="$conns" -v batch="$batch" -v gens="$gens" \
        -v figures="$(server_figures "$(awk '/^lines\/s:/ { s += $2 } END { print s }' "${outs[@]}")")" '
        /^lines\/s:/ { lines += $2 }
        /^batch round trip:/ { if ($5 > p50) p50 = $5; if ($8 > p99) p99 = $8 }
        /^client CPU:/ { s = $0; sub(/.*\(/, "", s); sub(/%.*/, "", s); share += s }
        END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\n", n, name, mode, conns, batch, lines, p50, p99, share / gens, figures }' "${outs[@]}"
}

record_median() { # RUNS_FILE: appends the run with the median lines/s to the results, and logs it
    median_row "$1" 6 | tee -a "$RESULTS" |
        awk -F'\t' '{ printf "   N=%s %s %s (%s, %s): %s lines/s, p50 %s ms, p99 %s ms, server %s CPU-s (%s %%), clients %s %%\n", $1, $2, $3, $4, $5, $6, $7, $8, $10, $11, $9 }' >&2
}

port=$PORT_BASE
for n in "${HUB_COUNTS[@]}"; do
    if ((n > CPUS)); then log "skipping N=$n: this machine has $CPUS CPUs"; continue; fi
    use_cores "$n"
    log "== N=$n: server on CPUs $SERVER_CPU, $LOADGENS greenio bench on CPUs $CLIENT_CPUS"
    if [[ ${INTERLEAVE:-0} == 1 ]]; then
        # Round by round: a slow stretch of the machine hits every server alike.
        for mode in $MODES; do
            for config in $CONFIGS; do
                conns=${config%,*} batch=${config#*,}
                for name in "${SERVERS[@]}"; do : >"$WORK/runs-$name.tsv"; done
                for ((r = 1; r <= RUNS; r++)); do
                    log "== N=$n $mode ($conns, $batch), round $r of $RUNS"
                    for name in "${SERVERS[@]}"; do
                        port=$((port + 1))
                        if ! start_server "$name" "$mode" "$port"; then FAILED=1; continue; fi
                        run_loadgens "$n" "$name" "$mode" "$port" "$conns" "$batch" >>"$WORK/runs-$name.tsv"
                        stop_server
                    done
                done
                for name in "${SERVERS[@]}"; do record_median "$WORK/runs-$name.tsv"; done
            done
        done
    else
        for name in "${SERVERS[@]}"; do
            for mode in $MODES; do
                port=$((port + 1))
                log "== N=$n $name $mode (127.0.0.1:$port)"
                if ! start_server "$name" "$mode" "$port"; then FAILED=1; continue; fi
                for config in $CONFIGS; do
                    conns=${config%,*} batch=${config#*,}
                    : >"$WORK/runs.tsv"
                    for ((r = 1; r <= RUNS; r++)); do
                        run_loadgens "$n" "$name" "$mode" "$port" "$conns" "$batch" >>"$WORK/runs.tsv"
                    done
                    record_median "$WORK/runs.tsv"
                done
                stop_server
            done
        done
    fi
done

# --- table -------------------------------------------------------------------------------------------
echo
echo "$(date -u +%Y-%m-%d) · $CPUS CPUs · server on CPUs 0..N-1, greenio bench ×$LOADGENS on CPUs $CLIENT_CPUS ·" \
    "$LEN-byte lines, ${SECS} s after ${WARMUP} s warm-up, median of $RUNS run(s)"
echo
echo "| N | server | mode | conns, batch | lines/s | × greenio | ÷ N=1 | p50 / p99 ms | server CPU-s (share) | lines per server CPU-s | server user / system µs per line | client CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
    function human(x) { return x >= 1e6 ? sprintf("%.2f M", x / 1e6) : sprintf("%d", x) }
    {
        row[NR] = $0
        if ($2 == "greenio") base[$1 "," $3 "," $4 "," $5] = $6
        if ($1 == 1) single[$2 "," $3 "," $4 "," $5] = $6
    }
    END {
        for (i = 1; i <= NR; i++) {
            split(row[i], f, "\t")
            key = f[1] "," f[3] "," f[4] "," f[5]
            ratio = (key in base && base[key] > 0) ? sprintf("%.2f", f[6] / base[key]) : "–"
            own = f[2] "," f[3] "," f[4] "," f[5]
            scaling = (own in single && single[own] > 0) ? sprintf("%.2f", f[6] / single[own]) : "–"
            perCPU = f[11] > 0 ? human(f[6] / (f[11] / 100)) : "–"
            printf "| %s | %s | %s | %s, %s | %s | %s | %s | %s / %s | %s (%s %%) | %s | %s / %s | %s %% |\n", f[1], f[2], f[3], f[4], f[5], human(f[6]), ratio, scaling, f[7], f[8], f[10], f[11], perCPU, f[12], f[13], f[9]
        }
    }' "$RESULTS"
# Say so where the server's CPUs held a load generator's: those rows measure a shared core.
for n in "${HUB_COUNTS[@]}"; do
    ((n <= CPUS)) || continue
    for cpu in "${CLIENT_CPU_LIST[@]}"; do
        if ((cpu < n)); then
            printf '\nNote: at N=%s the server (CPUs 0..%s) shares CPU %s with the load generator.\n' "$n" "$((n - 1))" "$cpu"
            break
        fi
    done
done

if ((FAILED)); then
    log "some runs failed (see above)"
    exit 1
fi
