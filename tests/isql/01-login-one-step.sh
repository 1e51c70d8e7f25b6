#!/usr/bin/env bash
# Two-factor login in ONE isql call: password and TOTP code in the connection string
# (isql -k uses SQLDriverConnect), then a table, rows, and a query.
#
#   isql -v -k "DSN=TwoFactorDemo;UID=demo;PWD=...;TwoFactorCode=123456"
#
# The code is what the user's authenticator app shows; here oathtool computes it.
. "$(dirname "$0")/lib.sh"

code="$(totp "$TF_SECRET")"
run "CREATE TABLE one_step (id INTEGER PRIMARY KEY, name VARCHAR(20))
INSERT INTO one_step VALUES (1, 'first')
INSERT INTO one_step VALUES (2, 'second')
SELECT id, name FROM one_step ORDER BY id" \
    isql -v -b -k "DSN=$TF_DSN;UID=$TF_USER;PWD=$TF_PASS;TwoFactorCode=$code"
[ "$rc" -eq 0 ] || fail "isql failed"
expect_in_output "second"
expect_not_in_output "[ISQL]ERROR"
echo "ok: logged in with password and code in one step"
