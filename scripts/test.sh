#!/usr/bin/env bash
# The whole test suite (README's second command; CI runs exactly this):
#   1. installs what the tests need if missing: unixODBC (isql, iusql, odbcinst, libodbc
#      and its headers for the end-to-end test crate), oathtool, a C compiler;
#   2. builds the workspace (the driver library and the server binary the tests start);
#   3. cargo test --workspace: protocol, server and driver unit tests, and the end-to-end
#      tests through the unixODBC driver manager;
#   4. tests/isql/run-all.sh: the isql/iusql example scripts against a fresh server;
#   5. tests/python/test_pyodbc.py: pyodbc (wide calls, attrs_before={1002: code}).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/packages.sh
# Each step's heading carries the time since the start, so a slow CI shows where it went.
step() { echo "== $* [$((SECONDS / 60))m$((SECONDS % 60))s]"; }

# python3-aiosmtpd: the real SMTP server the SMS and e-mail code tests deliver to.
# tmux: the terminal the twofactor-sql tests type into and read (tests/tests/twofactor_sql.rs).
# poppler-utils: pdftoppm and pdftotext read the activation letter back (server-stub/tests/letter.rs).
ensure_packages unixodbc unixodbc-dev odbcinst oathtool gcc libc6-dev python3-aiosmtpd \
    postgresql openssl haproxy tmux chromium poppler-utils slapd ldap-utils
python3 -c 'import pyodbc' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check pyodbc </dev/null
# The enrolment page's browser test: Playwright drives Debian's chromium (no browser
# download), zxing-cpp decodes the QR code, Pillow reads the screenshot it is decoded from.
python3 -c 'import playwright, zxingcpp, PIL' 2>/dev/null ||
    python3 -m pip install -q --disable-pip-version-check playwright zxing-cpp pillow </dev/null
# Those tests skip only where no SMTP server can be had; here one is installed, so a
# skip would hide a failure.
export TWOFACTOR_REQUIRE_SMTP=1

# A private PostgreSQL on a loopback port for the PostgreSQL store and SQL backend tests
# (each test makes its own database in it); as with SMTP, a missing one fails the tests.
pg_dir=$(mktemp -d /tmp/twofactor-test-pg.XXXXXX)
trap 'bash scripts/pg-cluster.sh destroy "$pg_dir/cluster"; rm -rf "$pg_dir"' EXIT
chmod 755 "$pg_dir"
bash scripts/pg-cluster.sh start "$pg_dir/cluster"
. "$pg_dir/cluster/env"
export TWOFACTOR_REQUIRE_PG=1
# haproxy is installed above: the balancer test must run, not skip.
export TWOFACTOR_REQUIRE_HAPROXY=1
# tmux too: the twofactor-sql terminal tests must run, not skip.
export TWOFACTOR_REQUIRE_TMUX=1
# slapd and ldap-utils too: the directory first-factor tests (testkit/slapd) must run.
export TWOFACTOR_REQUIRE_SLAPD=1

step "cargo build --workspace"
cargo build --workspace
# Both suites run even if the first fails, so one run shows every failure.
status=0
step "cargo test --workspace"
cargo test --workspace --no-fail-fast || status=1
step "tests/isql/run-all.sh"
tests/isql/run-all.sh || status=1
step "tests/python/test_pyodbc.py"
python3 tests/python/test_pyodbc.py || status=1
step "tests/python/test_pyodbc_pg.py"; python3 tests/python/test_pyodbc_pg.py || status=1
step "tests/python/test_sitting.py"; python3 tests/python/test_sitting.py || status=1
step "tests/python/test_enrol_web.py"; python3 tests/python/test_enrol_web.py || status=1
step "tests/clients/run.sh"
tests/clients/run.sh || status=1
step "tests/iodbc/run.sh"; tests/iodbc/run.sh || status=1
step "tests/ffi-abuse/run.sh"; tests/ffi-abuse/run.sh || status=1
step "fuzz/run.sh"; fuzz/run.sh || status=1
# The Windows export list matches the source (the DLL build and Wine test are separate:
# tests/windows/run.sh, docs/windows.md).
step "driver/windows/def.sh --check"; driver/windows/def.sh --check || status=1
step "done"
if [ "$status" -ne 0 ]; then echo "test.sh: FAILED (see above)"; fi
exit "$status"
