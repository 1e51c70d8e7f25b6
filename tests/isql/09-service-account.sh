#!/usr/bin/env bash
# A nightly job as cron runs it: no terminal, an empty environment (env -i: PATH, HOME
# and ODBCINI only), the DSN in the job's own odbc.ini naming the driver by its path. The
# job logs in as a service account with its key file (ServiceKeyFile), then with a client
# certificate (ClientCertificate + ClientKey): no password, no code, no TOTP seed beside
# the job. An account whose --from excludes 127.0.0.1 is refused, and so is a key file
# others can read.
# Needs TF_SERVER_BIN, TF_DATA (the server's binary and data directory), TF_DRIVER (the
# driver library) and TF_PORT, which run-all.sh sets.
. "$(dirname "$0")/lib.sh"
: "${TF_SERVER_BIN:?}" "${TF_DATA:?}" "${TF_DRIVER:?}" "${TF_PORT:?}"

job="$(mktemp -d /tmp/tf-nightly.XXXXXX)"
trap 'rm -rf "$job"' EXIT
admin() { "$TF_SERVER_BIN" --data-dir "$TF_DATA" service-account "$@"; }

admin add nightly-key --from 127.0.0.1/32 --generate-key "$job/nightly.pem" >/dev/null || fail "add nightly-key"
admin add nightly-cert --from 127.0.0.0/8 --issue-cert "$job/certs" >/dev/null || fail "add nightly-cert"
admin add elsewhere --from 10.0.0.0/8,192.168.0.0/16 --generate-key "$job/elsewhere.pem" >/dev/null || fail "add elsewhere"

dsn() { # name, then extra key lines
    local name="$1"; shift
    printf '[%s]\nDriver = %s\nServer = localhost\nPort = %s\nCAFile = %s\n' "$name" "$TF_DRIVER" "$TF_PORT" "$TF_DATA/ca.pem"
    printf '%s\n' "$@"
    echo
}
{
    dsn NightlyKey "UID = nightly-key" "ServiceKeyFile = $job/nightly.pem"
    dsn NightlyCert "UID = nightly-cert" "ClientCertificate = $job/certs/nightly-cert.crt" "ClientKey = $job/certs/nightly-cert.key"
    dsn Elsewhere "UID = elsewhere" "ServiceKeyFile = $job/elsewhere.pem"
} > "$job/.odbc.ini"

# What cron gives a job: no terminal (setsid), nothing in the environment but these.
# unixODBC finds the user DSN file from the passwd entry's home, not $HOME, so the job
# names its own with ODBCINI, as a crontab line (ODBCINI=...) would.
cron_like() { setsid -w env -i PATH=/usr/bin:/bin HOME="$job" ODBCINI="$job/.odbc.ini" "$@" </dev/null; }
as_cron() { # DSN SQL
    out="$(printf '%s\n' "$2" > "$job/job.sql"; cron_like sh -c "isql -b -v '$1' < '$job/job.sql'" 2>&1)"
    rc=$?
    printf '%s\n' "$out" | sed 's/^/    | /'
    echo "    (exit status $rc)"
}

as_cron NightlyKey "SELECT 'key job ran' || ''"
[ "$rc" -eq 0 ] || fail "the key job did not run"
expect_in_output "key job ran"

as_cron NightlyCert "SELECT 'cert job ran' || ''"
[ "$rc" -eq 0 ] || fail "the certificate job did not run"
expect_in_output "cert job ran"

as_cron Elsewhere "SELECT 'should not run'"
[ "$rc" -ne 0 ] || fail "a login from outside the account's networks succeeded"
expect_in_output "28000"
expect_in_output "service-account login refused"
expect_not_in_output "should not run"

chmod 644 "$job/nightly.pem"
as_cron NightlyKey "SELECT 'should not run'"
[ "$rc" -ne 0 ] || fail "a world-readable key file was used"
expect_in_output "chmod 600"
expect_not_in_output "should not run"

"$TF_SERVER_BIN" --data-dir "$TF_DATA" audit --event service_login | grep '"method":"certificate"' | grep -q '"outcome":"ok"' \
    || fail "no audited certificate login"
echo "ok: a cron-like job logged in with its key and with its certificate; an address outside the list and a readable key were refused"
