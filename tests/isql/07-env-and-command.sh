#!/usr/bin/env bash
# Two ways for scripts that must not put the code on a command line:
#  1. the environment variable TWOFACTOR_CODE (the name is the DSN key TwoFactorCodeEnv);
#  2. a helper command, TwoFactorCodeCommand, whose output is the code. It is run
#     without a shell, with a timeout (TwoFactorCodeCommandTimeout, default 10 s).
#
# WARNING: `oathtool --totp -b SECRET` next to the script, as below, shows the mechanism
# only. A TOTP secret stored with the password on the same machine is NOT a second
# factor: whoever can read the script has both. Use a helper that asks something the
# script's machine does not hold (a hardware token, a vault, a person).
. "$(dirname "$0")/lib.sh"
: "${TF_USER2:?}" "${TF_PASS2:?}" "${TF_SECRET2:?}"

echo "1. TWOFACTOR_CODE in the environment, plain isql (SQLConnect):"
run "SELECT 'code from the environment'" env TWOFACTOR_CODE="$(totp "$TF_SECRET")" isql -v -b "$TF_DSN" "$TF_USER" "$TF_PASS"
[ "$rc" -eq 0 ] || fail "login with TWOFACTOR_CODE failed"
expect_in_output "code from the environment"
expect_not_in_output "28000"

echo "2. TwoFactorCodeCommand:"
run "SELECT 'code from a helper command'" \
    isql -v -b -k "DSN=$TF_DSN;UID=$TF_USER2;PWD=$TF_PASS2;TwoFactorCodeCommand={oathtool --totp -b $TF_SECRET2}"
[ "$rc" -eq 0 ] || fail "login with TwoFactorCodeCommand failed"
expect_in_output "code from a helper command"
expect_not_in_output "28000"
echo "ok: both script-friendly code sources logged in"
