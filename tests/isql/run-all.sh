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
. "$here/test-server.sh"   # $root, $profile, $server_bin, $driver_lib

for tool in isql iusql odbcinst oathtool; do
    command -v "$tool" >/dev/null || { echo "run-all.sh: $tool is missing (apt-get install unixodbc oathtool)" >&2; exit 1; }
done
ensure_built || exit 1

start_test_server twofactor-isql || exit 1
# For scripts that administer the server themselves (09: service accounts).
export TF_SERVER_BIN="$server_bin" TF_DATA="$data" TF_DRIVER="$driver_lib" TF_PORT="$port"

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
