# A fresh server for a test suite (sourced by tests/isql/run-all.sh and
# tests/clients/run.sh, not run). Sourcing sets $root, $profile (TWOFACTOR_PROFILE,
# default debug), $server_bin and $driver_lib (the binaries of `cargo build`);
# `start_test_server PREFIX` then sets
#  - $work: a temporary directory (removed at exit unless TWOFACTOR_KEEP_TEST_DIRS=1),
#  - $data: the server's data directory (`twofactor-server init`, a cheap password hash),
#  - $port, $server_pid: the server, on 127.0.0.1 with a free port, stopped at exit;
#  - ODBCSYSINI, ODBCINI: a private unixODBC configuration with the driver registered
#    (odbcinst/install.sh) and the DSN TwoFactorTest ($TF_DSN) for the server.
# add_user NAME PASSWORD enrols a user with TOTP and prints the base-32 secret.
# ensure_built builds the server and the driver if either is missing.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/test-server.sh"   # serve_in_background
profile="${TWOFACTOR_PROFILE:-debug}"
server_bin="${CARGO_TARGET_DIR:-$root/target}/$profile/twofactor-server"
driver_lib="${CARGO_TARGET_DIR:-$root/target}/$profile/libtwofactorodbc.so"

ensure_built() {
    if [ ! -x "$server_bin" ] || [ ! -f "$driver_lib" ]; then
        echo "building the server and the driver ($profile)..."
        local flag=""; [ "$profile" = "release" ] && flag="--release"
        (cd "$root" && cargo build $flag -p twofactor-server -p twofactor-odbc) || return 1
    fi
}

start_test_server() {
    work="$(mktemp -d "/tmp/$1.XXXXXX")"
    data="$work/data"
    server_pid=""
    trap _stop_test_server EXIT

    "$server_bin" init --data-dir "$data" --listen 127.0.0.1:0 --hostname localhost >/dev/null || return 1
    # Tests measure the driver, not Argon2: a cheap hash.
    sed -i -e 's/^argon2_memory_kib = .*/argon2_memory_kib = 64/' -e 's/^argon2_iterations = .*/argon2_iterations = 1/' \
        "$data/server.toml"

    : >"$work/server.out"  # exists before the background job opens it
    serve_in_background "$server_bin" "$data" "$work" || return 1
    echo "server listening on $addr (data dir $data)"

    export ODBCSYSINI="$work/odbc" ODBCINI="$work/odbc/odbc.ini"
    "$root/odbcinst/install.sh" --config-dir "$ODBCSYSINI" --driver "$driver_lib" \
        --dsn TwoFactorTest --server localhost --port "$port" --ca-file "$data/ca.pem" >/dev/null || return 1
    export TF_DSN=TwoFactorTest
}

_stop_test_server() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    if [ -n "${TWOFACTOR_KEEP_TEST_DIRS:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}

add_user() { # name password -> prints the TOTP secret
    printf '%s\n' "$2" | "$server_bin" user add --data-dir "$data" "$1" --password-stdin >/dev/null || return 1
    "$server_bin" totp enrol --data-dir "$data" "$1" --secret-only
}
