# Sourced by run.sh and churn.sh (after server-lifecycle.sh, with BENCH, ROOT and WORK set; SERVERS and
# BASELINE optional): their shared settings (SECS, WARMUP, RUNS, LEN, SERVER_CPU, CLIENT_CPU,
# SERVERS_ALL), and the line-echo servers they compare, built and ready to start one at a time, pinned
# to SERVER_CPU.
#
# Builds greenio (root package) and nio-echo (this package, only when SERVERS is unset or names nio) in
# release mode, c/echo.c with cc -O2 and go/echo.go with the system's go (only when SERVERS is unset or
# names go; Debian: apt-get install golang-go); writes a self-signed P-256 certificate for localhost
# ($CERT, $KEY) and an OpenSSL configuration limiting TLS to 1.3 with TLS_AES_128_GCM_SHA256 ($TLS_CONF);
# adds "baseline" to SERVERS_ALL when BASELINE names another greenio binary. Defines start_NAME MODE PORT
# for greenio, baseline, nio, c and go (MODE plain or tls; each execs its server in the foreground),
# start_server NAME MODE PORT (sets SERVER_PID), cpu_ticks PID, CLK_TCK and log.

log() { printf '%s\n' "$*" >&2; }

# --- settings shared by the scripts (from the environment, else these) --------------------------------
SECS=${SECS:-5}              # seconds measured per bench run
WARMUP=${WARMUP:-1}          # seconds of warm-up before
RUNS=${RUNS:-1}              # runs per row (the median is shown)
LEN=${LEN:-64}               # bytes per line
SERVER_CPU=${SERVER_CPU:-0}  # the server's CPU
CLIENT_CPU=${CLIENT_CPU:-1}  # greenio bench's CPU
SERVERS_ALL=(greenio nio c go)
BENCH_TIMEOUT=$(awk -v s="$SECS" -v w="$WARMUP" 'BEGIN { printf "%d", s + w + 60 }')  # a bench run's limit

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
if [[ " ${SERVERS:-go} " == *" go "* ]]; then
    if ! command -v go >/dev/null; then
        log "the Go peer needs go (Debian: apt-get install golang-go); or leave go out of SERVERS"
        exit 1
    fi
    log "building go/echo ($(go version))"
    GO_ECHO="$WORK/go-echo"
    # A module with no requirements (standard library only): GOPROXY=off makes sure nothing is fetched.
    # go needs a build cache, and has none ("off") without HOME: then one in $WORK.
    if [[ $(go env GOCACHE) == off ]]; then export GOCACHE="$WORK/go-cache"; fi
    (cd "$BENCH/go" && GOPROXY=off go build -o "$GO_ECHO" .) >&2
fi

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
# greenio serve's line limit: its default (64 KiB), or LEN when the lines are longer (the C reference and
# nio-echo take lines up to 1 MiB). GREENIO_ARGS: more options for greenio serve (and BASELINE's), e.g.
# "--log-level notice" to drop the per-connection log lines the other servers do not write.
MAX_LINE=$(( ${LEN:-64} > 65536 ? ${LEN:-64} : 65536 ))
read -r -a GREENIO_EXTRA <<<"${GREENIO_ARGS:-}"
start_greenio() {
    if [[ $1 == tls ]]; then
        OPENSSL_CONF=$TLS_CONF exec "$GREENIO" serve --host 127.0.0.1 --port "$2" --max-line "$MAX_LINE" "${GREENIO_EXTRA[@]}" --tls --cert "$CERT" --key "$KEY"
    else
        exec "$GREENIO" serve --host 127.0.0.1 --port "$2" --max-line "$MAX_LINE" "${GREENIO_EXTRA[@]}"
    fi
}
if [[ -n ${BASELINE:-} ]]; then SERVERS_ALL+=(baseline); fi
start_baseline() {
    if [[ $1 == tls ]]; then
        OPENSSL_CONF=$TLS_CONF exec "$BASELINE" serve --host 127.0.0.1 --port "$2" --max-line "$MAX_LINE" "${GREENIO_EXTRA[@]}" --tls --cert "$CERT" --key "$KEY"
    else
        exec "$BASELINE" serve --host 127.0.0.1 --port "$2" --max-line "$MAX_LINE" "${GREENIO_EXTRA[@]}"
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
# The Go peer: GOMAXPROCS=1 by default, as the server has one CPU (GO_MAXPROCS=N for N of them; hubs.sh).
# Its line limit is 1 MiB, as the C reference's. TLS: Go chooses its TLS 1.3 suite itself (crypto/tls has
# no setting for it, and $TLS_CONF does not reach it). It takes TLS_AES_128_GCM_SHA256 because greenio
# bench lists that suite first (its default profile offers it, then TLS_AES_256_GCM_SHA384 and
# ChaCha20-Poly1305, with or without OPENSSL_CONF) and the CPU has AES-GCM instructions: Go 1.19 then
# prefers AES-128-GCM; without them it would prefer ChaCha20-Poly1305. echo.go closes any connection that
# negotiated another suite, so such a run fails (errors) instead of measuring another cipher.
start_go() {
    if [[ $1 == tls ]]; then
        GOMAXPROCS=${GO_MAXPROCS:-1} exec "$GO_ECHO" -p "$2" --tls "$CERT" "$KEY"
    else
        GOMAXPROCS=${GO_MAXPROCS:-1} exec "$GO_ECHO" -p "$2"
    fi
}

# --- starting and measuring ----------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
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

# server_clock_start / server_clock_stop: bracket a measured run of the server SERVER_PID; the stop sets
# SERVER_UTIME and SERVER_STIME (the server's CPU ticks in between) and BENCH_WALL (seconds).
server_clock_start() {
    SERVER_CLOCK_TICKS=$(cpu_ticks "$SERVER_PID")
    SERVER_CLOCK_T0=$(date +%s.%N)
}
server_clock_stop() {
    local t1 after c0 c1
    t1=$(date +%s.%N)
    after=$(cpu_ticks "$SERVER_PID")
    read -r -a c0 <<<"$SERVER_CLOCK_TICKS"
    read -r -a c1 <<<"$after"
    SERVER_UTIME=$((c1[0] - c0[0]))
    SERVER_STIME=$((c1[1] - c0[1]))
    BENCH_WALL=$(awk -v t0="$SERVER_CLOCK_T0" -v t1="$t1" 'BEGIN { print t1 - t0 }')
}

# measure_bench OUT ARGS...: runs `greenio ARGS` pinned to CLIENT_CPU, with OPENSSL_CONF=$TLS_CONF and
# killed after BENCH_TIMEOUT seconds (a stuck run counts as failed), its output in OUT, while measuring
# the server SERVER_PID: sets BENCH_STATUS (the exit status), SERVER_UTIME and SERVER_STIME (the server's
# CPU ticks meanwhile) and BENCH_WALL (seconds).
measure_bench() {
    local out=$1
    shift
    BENCH_STATUS=0
    server_clock_start
    OPENSSL_CONF=$TLS_CONF timeout "$BENCH_TIMEOUT" taskset -c "$CLIENT_CPU" "$GREENIO" "$@" >"$out" 2>&1 || BENCH_STATUS=$?
    server_clock_stop
}

# bench_failed OUT LABEL: true — after logging the output and setting FAILED=1 — if the run measured by
# measure_bench exited non-zero or its summary in OUT reports errors or mismatches (or none at all).
bench_failed() {
    local errors mismatches
    errors=$(awk '/^errors:/ { print $2 }' "$1")
    mismatches=$(awk '/^mismatches:/ { print $2 }' "$1")
    [[ $BENCH_STATUS -ne 0 || ${errors:-x} != 0 || ${mismatches:-x} != 0 ]] || return 1
    log "FAILED: $2, exit $BENCH_STATUS:"
    cat "$1" >&2
    FAILED=1
}

# server_figures RATE: the server's side of the run measure_bench measured, tab-separated: its CPU seconds,
# its share of the wall time (%), and its user and system CPU-µs per unit, over the RATE × (SECS + WARMUP)
# units of the whole invocation (warm-up and connecting included, so slightly pessimistic, like the share).
server_figures() {
    awk -v rate="$1" -v utime="$SERVER_UTIME" -v stime="$SERVER_STIME" -v hz="$CLK_TCK" -v wall="$BENCH_WALL" \
        -v measured="$SECS" -v warmup="$WARMUP" 'BEGIN {
        cpu = (utime + stime) / hz; total = rate * (measured + warmup); userPer = 0; systemPer = 0
        if (total > 0) { userPer = 1e6 * utime / hz / total; systemPer = 1e6 * stime / hz / total }
        printf "%.2f\t%.0f\t%.2f\t%.2f", cpu, 100 * cpu / wall, userPer, systemPer
    }'
}

# median_row RUNS_FILE COLUMN: the row (one run, tab-separated) with the median of the numeric COLUMN;
# nothing for an empty file.
median_row() {
    local count
    count=$(wc -l <"$1")
    ((count > 0)) || return 0
    sort -t$'\t' -k"$2,$2"n "$1" | sed -n "$(((count + 1) / 2))p"
}
