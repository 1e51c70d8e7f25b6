#!/usr/bin/env bash
# A wrong code: isql cannot connect, exits non-zero, and shows SQLSTATE 28000 with
# "two-factor code rejected" (it does not say whether the code was wrong or expired).
. "$(dirname "$0")/lib.sh"

code="$(wrong_code "$TF_SECRET")"
run "SELECT 1" isql -v -b -k "DSN=$TF_DSN;UID=$TF_USER;PWD=$TF_PASS;TwoFactorCode=$code"
[ "$rc" -ne 0 ] || fail "isql should fail with a wrong code"
expect_in_output "28000"
expect_in_output "two-factor code rejected"
echo "ok: the wrong code was rejected with 28000"
