# A fresh server for the shell test suites (sourced by tests/isql/run-all.sh and
# tests/iodbc/run.sh). Uses the caller's $root, $profile (debug or release), $server_bin
# (the twofactor-server binary) and $driver_lib; sets $work and $data.

# Builds the server and the driver if either is missing.
ensure_built() {
    if [ ! -x "$server_bin" ] || [ ! -f "$driver_lib" ]; then
        echo "building the server and the driver ($profile)..."
        local flag=""; [ "$profile" = "release" ] && flag="--release"
        (cd "$root" && cargo build $flag -p twofactor-server -p twofactor-odbc) || return 1
    fi
}

# make_work_dir NAME: a temporary directory $work, with the server's data directory
# $data inside, removed on exit (TWOFACTOR_KEEP_TEST_DIRS=1 keeps it) after the server
# is stopped.
make_work_dir() {
    work="$(mktemp -d "/tmp/twofactor-$1.XXXXXX")"
    data="$work/data"
    server_pid=""
    trap stop_and_clean EXIT
}

stop_and_clean() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    if [ -n "${TWOFACTOR_KEEP_TEST_DIRS:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}

# Initialises $data with a cheap password hash (the tests measure the driver, not
# Argon2) and serves on 127.0.0.1 with a free port. Sets server_pid, addr and port.
start_server() {
    "$server_bin" init --data-dir "$data" --listen 127.0.0.1:0 --hostname localhost >/dev/null || return 1
    sed -i -e 's/^argon2_memory_kib = .*/argon2_memory_kib = 64/' -e 's/^argon2_iterations = .*/argon2_iterations = 1/' \
        "$data/server.toml"
    "$server_bin" serve --data-dir "$data" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log" &
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
    echo "server listening on $addr (data dir $data)"
}

# add_user NAME PASSWORD: enrols a user with a TOTP key; prints the base-32 secret.
add_user() {
    printf '%s\n' "$2" | "$server_bin" user add --data-dir "$data" "$1" --password-stdin >/dev/null || return 1
    "$server_bin" totp enrol --data-dir "$data" "$1" --secret-only
}
