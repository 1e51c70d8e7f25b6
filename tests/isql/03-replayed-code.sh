#!/usr/bin/env bash
# Every code works once: the same code a second time is rejected, as a replay by
# someone who saw it would be.
. "$(dirname "$0")/lib.sh"

code="$(totp "$TF_SECRET")"
run "SELECT 'first use'" isql -v -b -k "DSN=$TF_DSN;UID=$TF_USER;PWD=$TF_PASS;TwoFactorCode=$code"
[ "$rc" -eq 0 ] || fail "the first use of the code should log in"
expect_in_output "first use"

run "SELECT 'second use'" isql -v -b -k "DSN=$TF_DSN;UID=$TF_USER;PWD=$TF_PASS;TwoFactorCode=$code"
[ "$rc" -ne 0 ] || fail "a replayed code must not log in"
expect_in_output "28000"
expect_in_output "two-factor code rejected"
expect_not_in_output "second use"
echo "ok: the replayed code was rejected"
