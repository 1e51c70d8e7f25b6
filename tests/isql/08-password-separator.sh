#!/usr/bin/env bash
# The code appended to the password, for tools that only have a password field. The DSN
# (or connection string) names the separator; the code is the part after the LAST one,
# so passwords may contain the separator themselves.
#
#   isql -v -k "DSN=TwoFactorDemo;UID=demo;PWD=password:123456;PasswordCodeSeparator=:"
. "$(dirname "$0")/lib.sh"

run "SELECT 'password and code in one field'" \
    isql -v -b -k "DSN=$TF_DSN;UID=$TF_USER;PWD={$TF_PASS:$(totp "$TF_SECRET")};PasswordCodeSeparator=:"
[ "$rc" -eq 0 ] || fail "login with password:code failed"
expect_in_output "password and code in one field"
echo "ok: the code after the separator was used"
