#!/usr/bin/env bash
# The bad-input suite over every export of the driver (issue 9: nothing brings the host
# down). Starts a real twofactor-server on 127.0.0.1 with a temporary data directory and
# users (one without a second factor, 20 whose code stays pending), then runs
# `ffi-abuse`, which dlopens the driver's .so itself (no driver manager) and runs every
# case in a forked child with an alarm. Then a sample of the cases under valgrind, which
# fails on memory errors. See tests/ffi-abuse/README.md.
#
# Usage: tests/ffi-abuse/run.sh [ffi-abuse arguments: --case N, --filter TEXT, ...]
# Environment: TWOFACTOR_PROFILE=debug|release (default debug); FFI_ABUSE_FULL=1 runs
# every case (see below); FFI_ABUSE_VALGRIND=0 skips valgrind, =only runs just that
# pass; FFI_ABUSE_VALGRIND_EVERY=K runs every K-th case under it (default 400);
# TWOFACTOR_KEEP_TEST_DIRS=1 keeps the temporary directory.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$root/scripts/packages.sh"
# nm (binutils) lists the driver's exports; valgrind checks a sample for memory errors.
ensure_packages binutils valgrind || exit 1
profile="${TWOFACTOR_PROFILE:-debug}"
target="${CARGO_TARGET_DIR:-$root/target}/$profile"
flag=""; [ "$profile" = "release" ] && flag="--release"
# Two builds: one with the harness would unify features across the three and rebuild the
# server's dependencies.
(cd "$root" && cargo build -q $flag -p twofactor-server -p twofactor-odbc && cargo build -q $flag -p twofactor-ffi-abuse) || exit 1
server_bin="$target/twofactor-server"
driver_lib="$target/libtwofactorodbc.so"
harness="$target/ffi-abuse"

# Every export of the driver must have a row in the harness's table.
missing="$(comm -23 <(nm -D --defined-only "$driver_lib" | awk '$2 == "T" && $3 ~ /^(SQL|Config)/ {print $3}' | sort) \
                    <("$harness" --list-functions | sort))"
if [ -n "$missing" ]; then
    echo "run.sh: exports without cases (add them to tests/ffi-abuse/src/signatures.rs): $missing" >&2
    exit 1
fi

work="$(mktemp -d /tmp/twofactor-ffi-abuse.XXXXXX)"
data="$work/data"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    if [ -n "${TWOFACTOR_KEEP_TEST_DIRS:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$server_bin" init --data-dir "$data" --listen 127.0.0.1:0 --hostname localhost --hostname 127.0.0.1 >/dev/null || exit 1
# A cheap hash, no delays after failures, short lockouts: thousands of connections, and
# the pending users' codes are wrong on purpose.
sed -i -e 's/^argon2_memory_kib = .*/argon2_memory_kib = 64/' -e 's/^argon2_iterations = .*/argon2_iterations = 1/' \
    -e 's/^max_failed_attempts = .*/max_failed_attempts = 100/' -e 's/^lockout_secs = .*/lockout_secs = 1/' \
    -e 's/^address_max_failures = .*/address_max_failures = 1000000000/' \
    -e 's/^backoff_base_ms = .*/backoff_base_ms = 0/' -e 's/^backoff_max_ms = .*/backoff_max_ms = 0/' \
    "$data/server.toml"
printf 'pw-abuse-1\n' | "$server_bin" user add abuse --password-stdin --data-dir "$data" >/dev/null || exit 1
"$server_bin" user two-factor abuse off --data-dir "$data" >/dev/null || exit 1
pending_users=20
for n in $(seq 0 $((pending_users - 1))); do
    printf 'pw-pending-1\n' | "$server_bin" user add "pending$n" --password-stdin --data-dir "$data" >/dev/null || exit 1
    "$server_bin" totp enrol "pending$n" --secret-only --data-dir "$data" >/dev/null || exit 1
done

. "$root/scripts/test-server.sh"
serve_in_background "$server_bin" "$data" "$work" || exit 1

# SQLConnect's DSN, in a private configuration (the machine's odbc.ini plays no part).
printf '[abuse]\nDriver = %s\nServer = 127.0.0.1\nPort = %s\nCAFile = %s\n' "$driver_lib" "$port" "$data/ca.pem" >"$work/odbc.ini"
: >"$work/odbcinst.ini"
export ODBCSYSINI="$work" ODBCINI="$work/odbc.ini"

base="Server=127.0.0.1;Port=$port;CAFile=$data/ca.pem"
args=(--driver "$driver_lib" --connect "$base;UID=abuse;PWD=pw-abuse-1" --connect-pending "$base;UID=pending{n};PWD=pw-pending-1"
      --pending-users "$pending_users"
      --dsn abuse --uid abuse --pwd pw-abuse-1)

# With no arguments: every case that needs no server, every case of attribute 1002,
# execute and fetch after huge sizes and counts, and an even sample of 5000 of the other
# connected cases (each connects: most of the time); FFI_ABUSE_FULL=1 runs all of them
# (about 70,000; some 20 minutes on 2 cores). Then every 400th of those under valgrind
# (FFI_ABUSE_VALGRIND=only: just that pass, on the cases the arguments select).
sample=()
if [ $# -eq 0 ] && [ -z "${FFI_ABUSE_FULL:-}" ]; then sample=(--connected-sample "${FFI_ABUSE_SAMPLE:-5000}"); fi
under_valgrind=(--connected-sample "${FFI_ABUSE_SAMPLE:-5000}" --every "${FFI_ABUSE_VALGRIND_EVERY:-400}")
[ $# -gt 0 ] && under_valgrind=("$@")
valgrind_mode="${FFI_ABUSE_VALGRIND:-1}"
[ $# -gt 0 ] && [ "$valgrind_mode" != only ] && valgrind_mode=0
status=0
if [ "$valgrind_mode" != only ]; then
    "$harness" "${args[@]}" "${sample[@]}" "$@" || status=1
fi
if [ "$valgrind_mode" != 0 ]; then
    if command -v valgrind >/dev/null; then
        echo "== ffi-abuse under valgrind: ${under_valgrind[*]}"
        valgrind -q --error-exitcode=99 --exit-on-first-error=yes --suppressions="$here/valgrind.supp" \
            "$harness" "${args[@]}" "${under_valgrind[@]}" --timeout 60 || status=1
    else
        echo "run.sh: valgrind is not installed; skipping the valgrind pass" >&2
        status=1
    fi
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run.sh: the server died during the suite; its log:" >&2
    tail -n 50 "$work/server.log" >&2
    status=1
fi
exit "$status"
