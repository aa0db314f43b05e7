#!/usr/bin/env bash
# Server user-space instructions per echoed line (callgrind), greenio serve against the C reference, in
# the cells of run.sh's table: the figure that the machine's noise cannot move.
#
#   Benchmarks/instructions.sh
#   BASELINE=/path/to/other/greenio Benchmarks/instructions.sh        # adds "baseline"
#   SERVERS="greenio" MODES=tls CONFIGS="1,1 50,32" Benchmarks/instructions.sh
#
# Each server runs under `valgrind --tool=callgrind` twice, with `greenio bench --warmup 0` (native, not
# under valgrind) driving it for SHORT (2) and LONG (6) seconds; the figure is the difference of the two
# runs' instruction counts over the difference of the lines echoed (the bench's batches times the batch
# size, every echo checked), so start-up, connecting and TLS handshakes cancel out. greenio runs with
# --log-level notice (no log line per connection). valgrind 3.19 cannot read Swift 6.3's DWARF 5, so
# the greenio binaries run as `strip --strip-debug` copies. Needs valgrind, cc, openssl (as run.sh).
#
# Exit status: non-zero if a bench run failed or a server did not start.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
SERVERS=${SERVERS:-"greenio c"}
MODES=${MODES:-"plain tls"}
CONFIGS=${CONFIGS:-"1,1 1,32 50,1 50,32"}
SHORT=${SHORT:-2}
LONG=${LONG:-6}
PORT_BASE=${PORT_BASE:-18300}
command -v valgrind >/dev/null || { echo "instructions.sh needs valgrind (apt-get install valgrind)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/greenio-instructions.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log() { printf '%s\n' "$*" >&2; }

log "building greenio (release) and c/echo"
swift build -c release --package-path "$ROOT" --product greenio >&2
BIN="$(swift build -c release --package-path "$ROOT" --show-bin-path)/greenio"
strip --strip-debug -o "$WORK/greenio" "$BIN"
if [[ -n ${BASELINE:-} ]]; then
    strip --strip-debug -o "$WORK/baseline" "$BASELINE"
    SERVERS="$SERVERS baseline"
fi
cc -O2 -Wall -o "$WORK/c-echo" "$BENCH/c/echo.c" -lssl -lcrypto
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -keyout "$WORK/key.pem" \
    -out "$WORK/cert.pem" -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null

PORT=$PORT_BASE
# measure NAME MODE CONNS BATCH SECS -> "LINES INSTRUCTIONS" of one callgrind run.
measure() {
    local name=$1 mode=$2 conns=$3 batch=$4 secs=$5 out="$WORK/callgrind.out" tls=() pid batches
    PORT=$((PORT + 1))
    rm -f "$out"
    if [[ $name == c ]]; then
        [[ $mode == tls ]] && tls=(--tls "$WORK/cert.pem" "$WORK/key.pem")
        valgrind --tool=callgrind --callgrind-out-file="$out" "$WORK/c-echo" -p "$PORT" "${tls[@]}" >/dev/null 2>&1 &
    else
        [[ $mode == tls ]] && tls=(--tls --cert "$WORK/cert.pem" --key "$WORK/key.pem")
        valgrind --tool=callgrind --callgrind-out-file="$out" "$WORK/$name" serve --host 127.0.0.1 --port "$PORT" \
            --log-level notice "${tls[@]}" >/dev/null 2>&1 &
    fi
    pid=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    tls=()
    [[ $mode == tls ]] && tls=(--tls --insecure)
    if ! batches=$("$BIN" bench "127.0.0.1:$PORT" "${tls[@]}" --conns "$conns" --batch "$batch" --len 64 \
        --secs "$secs" --warmup 0 --timeout 120 | grep -oE '\(([0-9]+) batches\)' | grep -oE '[0-9]+'); then
        kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
        log "bench against $name $mode ($conns, $batch) failed"
        return 1
    fi
    kill -INT "$pid"; sleep 1; kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    echo "$((batches * batch)) $(awk '/^summary:/ {print $2}' "$out")"
}

echo "| server | mode | conns, batch | instructions per line |"
echo "|---|---|---|---:|"
for mode in $MODES; do
    for config in $CONFIGS; do
        conns=${config%,*} batch=${config#*,}
        for name in $SERVERS; do
            read -r l1 i1 < <(measure "$name" "$mode" "$conns" "$batch" "$SHORT")
            read -r l2 i2 < <(measure "$name" "$mode" "$conns" "$batch" "$LONG")
            echo "| $name | $mode | $conns, $batch | $(( (i2 - i1) / (l2 - l1) )) |"
        done
    done
done
