#!/usr/bin/env bash
# RESP: redis-benchmark against `greenio serve --protocol resp` and against redis-server (issue 6).
#
#   redis-benchmark -t ping_inline,set,get -P 16 -c 50 -n 200000 -q [--tls --insecure]
# server pinned with `taskset -c 0`, client with `taskset -c 1`; plain and TLS; RUNS runs each, median shown.
# Prints requests/s per test and the ratio GreenIO / redis-server as a markdown table.
#
#   Benchmarks/resp.sh
#   RUNS=3 MODES="plain tls" GREENIO=/path/to/greenio Benchmarks/resp.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RUNS=${RUNS:-3}
MODES=${MODES:-"plain tls"}
TESTS=ping_inline,set,get
BENCH_ARGS=(-t "$TESTS" -P 16 -c 50 -n 200000 -q)
WORK=$(mktemp -d /tmp/greenio-resp.XXXXXX)
source "$HERE/server-lifecycle.sh"

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    echo "installing Debian's redis-server (and redis-tools)" >&2
    apt-get install -y redis-server redis-tools >&2 || { apt-get update >&2 && apt-get install -y redis-server redis-tools >&2; }
fi
if [[ -z "${GREENIO:-}" ]]; then
    (cd "$ROOT" && swift build -c release --product greenio >&2)
    GREENIO="$ROOT/.build/release/greenio"
fi

# Does this redis-server build speak TLS? (Debian's is built with BUILD_TLS=yes; a build without it rejects tls-port.)
REDIS_TLS=yes
if ! ldd "$(command -v redis-server)" 2>/dev/null | grep -q libssl; then
    REDIS_TLS=no
    echo "this redis-server build is not linked with OpenSSL (no TLS support): its TLS rows are skipped" >&2
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {  # wait_port PORT: until something accepts on 127.0.0.1:PORT (bounded)
    local i
    for i in $(seq 100); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2).close()" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start_server NAME MODE: sets SERVER_PID and PORT.
start_server() {
    local name=$1 mode=$2
    PORT=$(free_port)
    case "$name" in
        greenio)
            local tls=()
            [[ $mode == tls ]] && tls=(--tls --cert "$WORK/cert.pem" --key "$WORK/key.pem")
            taskset -c 0 "$GREENIO" serve --protocol resp --host 127.0.0.1 --port "$PORT" "${tls[@]}" \
                >"$WORK/server.out" 2>/dev/null &
            ;;
        redis-server)
            local args=(--bind 127.0.0.1 --save "" --appendonly no --daemonize no --logfile "$WORK/redis.log" --dir "$WORK")
            if [[ $mode == tls ]]; then
                args+=(--port 0 --tls-port "$PORT" --tls-cert-file "$WORK/cert.pem" --tls-key-file "$WORK/key.pem"
                       --tls-ca-cert-file "$WORK/cert.pem" --tls-auth-clients no)
            else
                args+=(--port "$PORT")
            fi
            taskset -c 0 redis-server "${args[@]}" >/dev/null 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    wait_port "$PORT"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
for mode in $MODES; do
    for name in greenio redis-server; do
        if [[ $name == redis-server && $mode == tls && $REDIS_TLS == no ]]; then continue; fi
        if ! start_server "$name" "$mode"; then echo "$name $mode did not start" >&2; stop_server; continue; fi
        tlsargs=(); [[ $mode == tls ]] && tlsargs=(--tls --insecure)
        for run in $(seq "$RUNS"); do
            # --csv prints the same figures as -q, one "test","rps",... line per test.
            out=$(taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$PORT" "${BENCH_ARGS[@]}" "${tlsargs[@]}" --csv 2>&1) || {
                echo "redis-benchmark failed against $name $mode: $out" >&2; continue; }
            echo "$out" | tr -d '"' | awk -F, -v n="$name" -v m="$mode" -v r="$run" \
                'NR > 1 && $2 ~ /^[0-9.]+$/ { printf "%s\t%s\t%s\t%s\t%s\n", n, m, $1, r, $2 }' >>"$RESULTS"
            echo "$name $mode run $run: $(echo "$out" | tr -d '"' | awk -F, 'NR > 1 { printf "%s %s  ", $1, $2 }')" >&2
        done
        stop_server
    done
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    name, mode, test, _run, rps = line.rstrip("\n").split("\t")
    runs[(name, mode, test)].append(float(rps))
med = {k: statistics.median(v) for k, v in runs.items()}
tests = []
for (_, _, t) in runs:
    if t not in tests: tests.append(t)
print("| mode | test | greenio serve --protocol resp req/s | redis-server req/s | GreenIO / redis-server |")
print("|---|---|---|---|---|")
for mode in ("plain", "tls"):
    for t in tests:
        g, r = med.get(("greenio", mode, t)), med.get(("redis-server", mode, t))
        if g is None and r is None: continue
        f = lambda x: f"{x:,.0f}" if x is not None else "n/a"
        ratio = f"{g / r:.2f}" if g and r else "n/a"
        print(f"| {mode} | {t} | {f(g)} | {f(r)} | {ratio} |")
PY
