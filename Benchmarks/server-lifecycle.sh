# Sourced by run.sh, churn.sh, memory.sh and resp.sh: the one server process they run at a time (SERVER_PID)
# and their work directory (WORK, set by the script), both cleaned up on exit or interruption.

SERVER_PID=""

# Stops the running server, if any, and waits for it.
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

cleanup() {
    stop_server
    if [[ -n ${WORK:-} ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
