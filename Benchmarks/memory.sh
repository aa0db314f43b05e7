#!/usr/bin/env bash
# Server resident memory per idle connection (issue 6).
#
# For each server (greenio serve plain and --tls; the Python peers plain and TLS; nio-echo if built; the C
# reference Benchmarks/c/echo.c if present; redis-server if installed, answering PING): start it
# on 127.0.0.1, let one connection echo a line and close, read VmRSS (the baseline), then for each of WAVES waves
# open CONNS connections, make each echo one 64-byte line, hold them all open, read VmRSS, close them all.
# KiB/conn for wave k = (RSS held in wave k - baseline) / CONNS, so memory that is not given back shows up as a
# climb from wave to wave. Prints a markdown table.
#
#   Benchmarks/memory.sh                  # from the package root or anywhere
#   CONNS=5000 WAVES=4 SERVERS="greenio eventlet gevent asyncio nio c redis" MODES="plain tls" Benchmarks/memory.sh
#   GREENIO=/path/to/greenio Benchmarks/memory.sh   # skip the release build
#   BASELINE=/path/to/other/greenio SERVERS="greenio baseline" Benchmarks/memory.sh   # two builds side by side
#   SERVERS=readme Benchmarks/memory.sh   # servers written as the README shows: line-server (TLS, answers in
#                                         # capitals; its connection limit raised to CONNS + 100) and
#                                         # service-group-example (plain), both on GreenIOServer
#   NIO=/path/to/nio-echo C_SRC=/path/to/echo.c     # peers built elsewhere (defaults: Benchmarks/.build/release/
#                                                   # nio-echo, Benchmarks/c/echo.c; each skipped if absent)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CONNS=${CONNS:-5000}
WAVES=${WAVES:-4}
SETTLE=${SETTLE:-1.0}
SERVERS=${SERVERS:-"greenio eventlet gevent asyncio nio c redis"}
MODES=${MODES:-"plain tls"}
VENV="$HERE/.venv"
PY="$VENV/bin/python"
WORK=$(mktemp -d /tmp/greenio-memory.XXXXXX)
source "$HERE/server-lifecycle.sh"

# Room for CONNS connections on both ends (the servers inherit this limit).
NOFILE=$((CONNS + 1000))
if (( $(ulimit -n) < NOFILE )); then ulimit -n "$NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; fi

# Python peers' virtualenv.
if [[ ! -x "$PY" ]] || ! "$PY" -c 'import eventlet, gevent' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q eventlet gevent
fi

# greenio (release), and the README-style examples when asked for.
if [[ -z "${GREENIO:-}" ]]; then
    (cd "$ROOT" && swift build -c release --product greenio >&2)
    GREENIO="$ROOT/.build/release/greenio"
fi
if [[ " $SERVERS " == *" readme "* ]]; then
    (cd "$ROOT" && swift build -c release --product line-server >&2 && swift build -c release --product service-group-example >&2)
fi
NIO=${NIO:-"$HERE/.build/release/nio-echo"}
C_SRC=${C_SRC:-"$HERE/c/echo.c"}

# One identity for every TLS server.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# start_server NAME MODE: starts it on a free port, sets SERVER_PID and PORT (or returns 1 if unavailable).
start_server() {
    local name=$1 mode=$2 tls=()
    local out="$WORK/$name-$mode.out"
    case "$name" in
        greenio)
            [[ $mode == tls ]] && tls=(--tls --cert "$WORK/cert.pem" --key "$WORK/key.pem")
            "$GREENIO" serve --host 127.0.0.1 --port 0 "${tls[@]}" >"$out" 2>"$WORK/$name-$mode.err" &
            ;;
        baseline)
            [[ -n ${BASELINE:-} ]] || return 1
            [[ $mode == tls ]] && tls=(--tls --cert "$WORK/cert.pem" --key "$WORK/key.pem")
            "$BASELINE" serve --host 127.0.0.1 --port 0 "${tls[@]}" >"$out" 2>"$WORK/$name-$mode.err" &
            ;;
        readme)
            # They log "… listening on 127.0.0.1:PORT" to standard error.
            if [[ $mode == tls ]]; then
                "$ROOT/.build/release/line-server" 0 $((CONNS + 100)) >"$out" 2>&1 &
            else
                "$ROOT/.build/release/service-group-example" 0 >"$out" 2>&1 &
            fi
            ;;
        eventlet|gevent|asyncio)
            [[ $mode == tls ]] && tls=(--tls "$WORK/cert.pem" "$WORK/key.pem")
            "$PY" -W ignore "$HERE/python/server.py" "$name" --port 0 "${tls[@]}" >"$out" 2>"$WORK/$name-$mode.err" &
            ;;
        nio)
            [[ -x "$NIO" ]] || return 1
            [[ $mode == tls ]] && tls=(--tls --cert "$WORK/cert.pem" --key "$WORK/key.pem")
            "$NIO" --host 127.0.0.1 --port 0 "${tls[@]}" >"$out" 2>"$WORK/$name-$mode.err" &
            ;;
        c)
            [[ -f "$C_SRC" ]] || return 1
            [[ -x "$WORK/c-echo" ]] || cc -O2 -o "$WORK/c-echo" "$C_SRC" -lssl -lcrypto || return 1
            [[ $mode == tls ]] && tls=(--tls "$WORK/cert.pem" "$WORK/key.pem")
            "$WORK/c-echo" -p 0 "${tls[@]}" >"$out" 2>"$WORK/$name-$mode.err" &
            ;;
        redis)
            command -v redis-server >/dev/null || return 1
            local rport
            rport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
            local args=(--bind 127.0.0.1 --save "" --appendonly no --daemonize no --maxclients $((CONNS + 100))
                        --dir "$WORK" --logfile "$WORK/$name-$mode.err")
            if [[ $mode == tls ]]; then
                args+=(--port 0 --tls-port "$rport" --tls-cert-file "$WORK/cert.pem" --tls-key-file "$WORK/key.pem"
                       --tls-ca-cert-file "$WORK/cert.pem" --tls-auth-clients no)
            else
                args+=(--port "$rport")
            fi
            redis-server "${args[@]}" >/dev/null 2>&1 &
            SERVER_PID=$!
            local i
            for i in $(seq 100); do  # no start line: wait until it accepts
                if "$PY" -c "import socket; socket.create_connection(('127.0.0.1',$rport),0.2).close()" 2>/dev/null; then
                    PORT=$rport; return 0
                fi
                kill -0 "$SERVER_PID" 2>/dev/null || break
                sleep 0.1
            done
            echo "redis-server $mode did not start" >&2
            return 1
            ;;
    esac
    SERVER_PID=$!
    local i
    for i in $(seq 100); do
        PORT=$(sed -n 's/^\(.* \)\{0,1\}listening on [^ ]*:\([0-9][0-9]*\).*/\2/p' "$out" | head -1)
        [[ -n "$PORT" ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "$name $mode did not start:" >&2; cat "$WORK/$name-$mode.err" >&2
    return 1
}

ROWS=()
for name in $SERVERS; do
    for mode in $MODES; do
        if ! start_server "$name" "$mode"; then
            [[ -n "$SERVER_PID" ]] && stop_server
            echo "skipping $name $mode" >&2
            continue
        fi
        echo "$name $mode (pid $SERVER_PID, port $PORT):" >&2
        flag=(); [[ $mode == tls ]] && flag=(--tls)
        [[ $name == redis ]] && flag+=(--resp)
        [[ $name == readme && $mode == tls ]] && flag+=(--upper)
        if json=$("$PY" "$HERE/python/memclient.py" --port "$PORT" --pid "$SERVER_PID" \
                  --conns "$CONNS" --waves "$WAVES" --settle "$SETTLE" "${flag[@]}"); then
            ROWS+=("$(printf '%s\t%s\t%s' "$name" "$mode" "$json")")
        else
            echo "  failed" >&2
        fi
        stop_server
    done
done

# Markdown table.
printf '%s\n' "${ROWS[@]}" | "$PY" "$HERE/python/memtable.py" "$CONNS"
