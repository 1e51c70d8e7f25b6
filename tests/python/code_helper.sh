#!/bin/sh
# TwoFactorCodeCommand for tests/python/test_sitting.py: counts its runs (one line per
# run in ./runs) and prints the TOTP code of the next time step no run has used yet (the
# server accepts each step once; its skew window takes the step after the current one).
# Its directory holds `secret` (base 32) and the files it keeps.
set -eu
dir=$(dirname "$0")
echo run >> "$dir/runs"
now=$(date +%s)
step=$((now / 30))
last=$(cat "$dir/last_step" 2>/dev/null || echo 0)
if [ "$step" -le "$last" ]; then step=$((last + 1)); fi
echo "$step" > "$dir/last_step"
# Slow enough that the connects of a pool overlap with this run.
sleep "${TF_HELPER_SLEEP:-1}"
exec oathtool --totp -b -N "@$((step * 30))" "$(cat "$dir/secret")"
