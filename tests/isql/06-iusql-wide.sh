#!/usr/bin/env bash
# iusql (the wide-character isql, SQLDriverConnectW) with the code set as attribute
# 1002 BEFORE connecting, by unixODBC itself, from the DSN's DMConnAttr key:
#
#   [MyDSN]
#   ...
#   DMConnAttr = [1002]=123456
#
# (bare, not [1002]=\"123456\": unixODBC 2.3 reads a value starting with a backslash as
# an integer and the code never reaches the driver.)
#
# A code changes every 30 seconds, so this writes a private copy of the DSN with the
# current code into its own odbc.ini (ODBCINI) instead of editing the shared one.
# iusql has no -k, so the code cannot go in a connection string here.
. "$(dirname "$0")/lib.sh"
: "${TF_USER2:?}" "${TF_PASS2:?}" "${TF_SECRET2:?}"

private="$(mktemp -d)"
trap 'rm -rf "$private"' EXIT
# The DSN's keys as unixODBC sees them (system and user files), plus DMConnAttr.
{
    echo "[${TF_DSN}_1002]"
    odbcinst -q -s -n "$TF_DSN" | grep -v '^\[' | grep -v '^DMConnAttr'
    echo "DMConnAttr = [1002]=$(totp "$TF_SECRET")"
} > "$private/odbc.ini"
sed 's/\(DMConnAttr = .*\)[0-9]\{6\}/\1XXXXXX/' "$private/odbc.ini" | sed 's/^/    odbc.ini: /'
run "SELECT 'wide login ok'" env ODBCINI="$private/odbc.ini" iusql -v -b "${TF_DSN}_1002" "$TF_USER" "$TF_PASS"
[ "$rc" -eq 0 ] || fail "iusql with DMConnAttr failed"
expect_in_output "wide login ok"
expect_not_in_output "28000"

# The same DSN key route with the driver's own key, TwoFactorCode, for the second user.
{
    echo "[${TF_DSN}_code]"
    odbcinst -q -s -n "$TF_DSN" | grep -v '^\[' | grep -v '^TwoFactorCode'
    echo "TwoFactorCode = $(totp "$TF_SECRET2")"
} > "$private/odbc.ini"
run "SELECT 'wide login with TwoFactorCode ok'" env ODBCINI="$private/odbc.ini" iusql -v -b "${TF_DSN}_code" "$TF_USER2" "$TF_PASS2"
[ "$rc" -eq 0 ] || fail "iusql with TwoFactorCode in the DSN failed"
expect_in_output "TwoFactorCode ok"
echo "ok: iusql logged in with the code set before connect"
