# Starts `twofactor-server serve` for a test script (sourced by tests/isql/test-server.sh and
# tests/ffi-abuse/run.sh).
# Usage: serve_in_background SERVER_BIN DATA_DIR WORK_DIR
# Sets server_pid, addr and port; the server's stdout and log go to WORK_DIR/server.out
# and WORK_DIR/server.log. Returns 1 (after printing the log) if it does not print
# `listening on ADDR` within 30 s.

serve_in_background() {
    local bin="$1" data="$2" work="$3"
    "$bin" serve --data-dir "$data" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log" &
    server_pid=$!
    addr=""
    for _ in $(seq 1 300); do
        addr="$(sed -n 's/^listening on //p' "$work/server.out" | head -n 1)"
        [ -n "$addr" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$addr" ]; then
        echo "the server did not start:" >&2
        cat "$work/server.log" >&2
        return 1
    fi
    port="${addr##*:}"
}
