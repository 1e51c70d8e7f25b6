#!/usr/bin/env bash
# odbc2parquet (cargo install, cached; tests/clients/run.sh sets ODBC2PARQUET, TF_DSN,
# TF_LOGINS). It takes a connection string only: the code goes in it. Every type is
# written to Parquet from a query and read back with pyarrow.
set -uo pipefail
IFS=, read -r -a logins <<<"$TF_LOGINS"
out="$(mktemp -d /tmp/tf-o2p.XXXXXX)"
trap 'rm -rf "$out"' EXIT
check() { if [ "$2" = 0 ]; then echo "PASS odbc2parquet: $1"; else echo "FAIL odbc2parquet: $1: $3"; fi; }
cs() { IFS=: read -r user pass code <<<"$1"; echo "DSN=$TF_DSN;UID=$user;PWD=$pass;${2//@CODE@/$code}"; }

blob="X'$(python3 -c 'print(bytes(range(256)).hex())')'"
query="SELECT 42 AS i, 1099511627776 AS big, 2.5 AS d, 'grüße, 世界' AS s, $blob AS b"
err="$("$ODBC2PARQUET" query --connection-string "$(cs "${logins[0]}" 'TwoFactorCode=@CODE@')" "$out/a.par" "$query" 2>&1)"
check "login with TwoFactorCode= and query to Parquet" $? "$err"
err="$("$ODBC2PARQUET" query --connection-string "$(cs "${logins[0]}" 'TwoFactorCode=@CODE@')" "$out/x.par" "SELECT 1" 2>&1)"
[ $? -ne 0 ] && grep -q "new code is needed" <<<"$err"; check "a reused code is refused locally with 28000" $? "$err"
err="$("$ODBC2PARQUET" query --connection-string "$(cs "${logins[1]}" 'DMConnAttr=[1002]=@CODE@')" "$out/b.par" "SELECT 40 + 2 AS v" 2>&1)"
check "login with DMConnAttr=[1002]=" $? "$err"
if [ -f "$out/a.par" ]; then
    err="$(python3 - "$out/a.par" <<'PY' 2>&1
import sys, pyarrow.parquet as pq
row = pq.read_table(sys.argv[1]).to_pylist()[0]
want = {"i": 42, "big": 2**40, "d": 2.5, "s": "grüße, 世界", "b": bytes(range(256))}
bad = {k: row.get(k) for k in want if row.get(k) != want[k]}
sys.exit(f"differs: {bad}"[:300] if bad else 0)
PY
)"
    check "every type round-trips through Parquet" $? "$err"
fi
