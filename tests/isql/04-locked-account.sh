#!/usr/bin/env bash
# Five wrong codes lock the account (server config: [auth] max_failed_attempts = 5);
# then even the right code is refused, and the message says the account is locked.
# An admin unlocks it with: twofactor-server user unlock --data-dir DIR NAME
. "$(dirname "$0")/lib.sh"

bad="$(wrong_code "$TF_SECRET")"
for attempt in 1 2 3 4 5; do
    echo "wrong code, attempt $attempt:"
    run "SELECT 1" isql -v -b -k "DSN=$TF_DSN;UID=$TF_USER;PWD=$TF_PASS;TwoFactorCode=$bad"
    [ "$rc" -ne 0 ] || fail "a wrong code must not log in"
    expect_in_output "28000"
done

echo "the right code, now:"
run "SELECT 'should not run'" isql -v -b -k "DSN=$TF_DSN;UID=$TF_USER;PWD=$TF_PASS;TwoFactorCode=$(totp "$TF_SECRET")"
[ "$rc" -ne 0 ] || fail "a locked account must not log in"
expect_in_output "28000"
expect_in_output "locked"
expect_not_in_output "should not run"
echo "ok: the account is locked and says so"
