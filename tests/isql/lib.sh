# Helpers shared by the isql example scripts (sourced, not run).
#
# Every script reads its setting from the environment, so you can run one by hand
# against your own server:
#   TF_DSN      a DSN for the TwoFactor driver (odbc.ini), e.g. TwoFactorDemo
#   TF_USER     a user with two-factor on and a TOTP key,  TF_PASS its password,
#   TF_SECRET   the user's base-32 TOTP secret (as printed by `twofactor-server totp enrol`)
#   TF_USER2, TF_PASS2, TF_SECRET2   a second such user (scripts that log in twice)
# The codes are computed with oathtool, exactly as an authenticator app computes them.
# tests/isql/run-all.sh sets all of this up against a fresh server.

set -uo pipefail

: "${TF_DSN:?set TF_DSN to a TwoFactor DSN}"
: "${TF_USER:?set TF_USER}" "${TF_PASS:?set TF_PASS}" "${TF_SECRET:?set TF_SECRET}"

# The current TOTP code of a base-32 secret.
totp() { oathtool --totp -b "$1"; }

# A six-digit code that is not the current, previous or next one of secret $1.
wrong_code() {
    local bad=123456
    while oathtool --totp -b -w 2 -N "now - 30 seconds" "$1" | grep -qx "$bad"; do
        bad=$(( (bad + 111111) % 1000000 ))
        bad=$(printf '%06d' "$bad")
    done
    echo "$bad"
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# Runs a command with SQL on stdin, keeps its output in $out and exit status in $rc,
# and shows the output (the point of these scripts is to show what a user sees).
run() {
    local sql="$1"; shift
    out="$(printf '%s\n' "$sql" | "$@" 2>&1)"
    rc=$?
    printf '%s\n' "$out" | sed 's/^/    | /'
    echo "    (exit status $rc)"
}

expect_in_output() {
    printf '%s\n' "$out" | grep -qF -- "$1" || fail "expected \"$1\" in the output above"
}

expect_not_in_output() {
    if printf '%s\n' "$out" | grep -qF -- "$1"; then fail "did not expect \"$1\" in the output above"; fi
}
