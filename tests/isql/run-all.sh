#!/usr/bin/env bash
# Runs every tests/isql/NN-*.sh example against a fresh server:
#  - a temporary data directory (`twofactor-server init`), a cheap password hash, the
#    server on 127.0.0.1 with a free port;
#  - the driver and a DSN registered with odbcinst/install.sh in a private unixODBC
#    configuration (ODBCSYSINI), so the machine's /etc/odbc*.ini are not touched;
#  - two fresh enrolled users per script (a code is accepted once, so scripts do not
#    share users and never wait for the next 30-second step).
# Prints one line per script and `N passed, M failed`; exits non-zero if any failed.
#
# Environment: TWOFACTOR_PROFILE=debug|release (default debug: the binaries of
# `cargo build --workspace`); ISQL_TESTS="01 05" runs only those scripts;
# TWOFACTOR_KEEP_TEST_DIRS=1 keeps the temporary directory.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
profile="${TWOFACTOR_PROFILE:-debug}"
target="${CARGO_TARGET_DIR:-$root/target}/$profile"
server_bin="$target/twofactor-server"
driver_lib="$target/libtwofactorodbc.so"

for tool in isql iusql odbcinst oathtool; do
    command -v "$tool" >/dev/null || { echo "run-all.sh: $tool is missing (apt-get install unixodbc oathtool)" >&2; exit 1; }
done
if [ ! -x "$server_bin" ] || [ ! -f "$driver_lib" ]; then
    echo "building the server and the driver ($profile)..."
    flag=""; [ "$profile" = "release" ] && flag="--release"
    (cd "$root" && cargo build $flag -p twofactor-server -p twofactor-odbc) || exit 1
fi

work="$(mktemp -d /tmp/twofactor-isql.XXXXXX)"
data="$work/data"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    if [ -n "${TWOFACTOR_KEEP_TEST_DIRS:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$server_bin" init --data-dir "$data" --listen 127.0.0.1:0 --hostname localhost >/dev/null || exit 1
# Tests measure the driver, not Argon2: a cheap hash.
sed -i -e 's/^argon2_memory_kib = .*/argon2_memory_kib = 64/' -e 's/^argon2_iterations = .*/argon2_iterations = 1/' \
    "$data/server.toml"

. "$root/scripts/test-server.sh"
serve_in_background "$server_bin" "$data" "$work" || exit 1
echo "server listening on $addr (data dir $data)"

export ODBCSYSINI="$work/odbc" ODBCINI="$work/odbc/odbc.ini"
"$root/odbcinst/install.sh" --config-dir "$ODBCSYSINI" --driver "$driver_lib" \
    --dsn TwoFactorTest --server localhost --port "$port" --ca-file "$data/ca.pem" >/dev/null || exit 1
export TF_DSN=TwoFactorTest

add_user() { # name password -> prints the TOTP secret
    printf '%s\n' "$2" | "$server_bin" user add --data-dir "$data" "$1" --password-stdin >/dev/null || return 1
    "$server_bin" totp enrol --data-dir "$data" "$1" --secret-only
}

passed=0
failed=0
failed_names=()
for script in "$here"/[0-9][0-9]-*.sh; do
    name="$(basename "$script" .sh)"
    number="${name%%-*}"
    if [ -n "${ISQL_TESTS:-}" ] && ! grep -qw "$number" <<<"$ISQL_TESTS"; then continue; fi
    user="u${number}a"; user2="u${number}b"
    export TF_USER="$user" TF_PASS="pw-$user" TF_USER2="$user2" TF_PASS2="pw-$user2"
    TF_SECRET="$(add_user "$user" "$TF_PASS")" && TF_SECRET2="$(add_user "$user2" "$TF_PASS2")" || {
        echo "run-all.sh: could not enrol users for $name" >&2; exit 1; }
    export TF_SECRET TF_SECRET2
    log="$work/$name.log"
    if timeout 120 bash "$script" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "FAIL $name"
        sed 's/^/    /' "$log"
    fi
done

if [ "$failed" -gt 0 ]; then
    echo "failed: ${failed_names[*]} (server log: last lines)"
    tail -n 20 "$work/server.log" | sed 's/^/    /'
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
