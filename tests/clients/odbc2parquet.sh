#!/usr/bin/env bash
# odbc2parquet (cargo install, cached; tests/clients/run.sh sets ODBC2PARQUET, TF_DSN,
# TF_LOGINS). It takes a connection string only, so the code goes in it; every call is a
# process of its own, so a code reused by a second call is the server's refusal (native
# 1002), not the driver's. Every type goes Parquet -> table -> Parquet; pyarrow writes
# and reads the files. No catalog API.
set -uo pipefail
IFS=, read -r -a logins <<<"$TF_LOGINS"
out="$(mktemp -d /tmp/tf-o2p.XXXXXX)"
trap 'rm -rf "$out"' EXIT
check() { if [ "$2" = 0 ]; then echo "PASS odbc2parquet: $1"; else echo "FAIL odbc2parquet: $1: ${3:0:400}"; fi; }
cs() { IFS=: read -r user pass code <<<"$1"; echo "DSN=$TF_DSN;UID=$user;PWD=$pass;${2//@CODE@/$code}"; }
o2p() { "$ODBC2PARQUET" --quiet "$@" 2>&1; }

err="$(o2p query --connection-string "$(cs "${logins[0]}" 'TwoFactorCode=@CODE@')" "$out/none.par" \
    "CREATE TABLE o2p_types (i INTEGER, big BIGINT, d DOUBLE, s VARCHAR(40), dt DATE, ts TIMESTAMP, b BLOB)")"
check "login with TwoFactorCode= (CREATE TABLE)" $? "$err"
err="$(o2p query --connection-string "$(cs "${logins[0]}" 'TwoFactorCode=@CODE@')" "$out/x.par" "SELECT 1")"
[ $? -ne 0 ] && grep -q "28000" <<<"$err" && grep -q "1002" <<<"$err"
check "a code reused by another process is refused by the server (28000, 1002)" $? "$err"

python3 - "$out/in.par" <<'PY'
import datetime, sys
import pyarrow as pa, pyarrow.parquet as pq
cols = {
    "i": pa.array([42, None], pa.int32()), "big": pa.array([2**40, None], pa.int64()),
    "d": pa.array([2.5, None], pa.float64()), "s": pa.array(["grüße, 世界", None], pa.string()),
    "dt": pa.array([datetime.date(1999, 12, 31), None], pa.date32()),
    "ts": pa.array([datetime.datetime(2026, 11, 23, 10, 30, 15), None], pa.timestamp("ms")),
    "b": pa.array([bytes(range(256)), None], pa.binary()),
}
pq.write_table(pa.table(cols), sys.argv[1])
PY
err="$(o2p insert --connection-string "$(cs "${logins[1]}" 'DMConnAttr=[1002]=@CODE@')" "$out/in.par" o2p_types)"
check "login with DMConnAttr=[1002]= (insert every type from Parquet)" $? "$err"
err="$(o2p query --column-length-limit 4096 --connection-string "$(cs "${logins[2]}" 'TwoFactorCode=@CODE@')" \
    "$out/back.par" "SELECT i, big, d, s, dt, ts, b FROM o2p_types ORDER BY i IS NULL, i")"
check "query every type to Parquet" $? "$err"
if [ -f "$out/back.par" ]; then
    err="$(python3 - "$out/in.par" "$out/back.par" <<'PY' 2>&1
import sys, pyarrow.parquet as pq
sent, back = (pq.read_table(p).to_pylist() for p in sys.argv[1:])
def plain(v):
    return v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo else v
bad = {k: (back[0].get(k), v) for k, v in sent[0].items() if plain(back[0].get(k)) != v}
nulls = [k for k, v in back[1].items() if v is not None] if len(back) == 2 else ["row missing"]
sys.exit(f"differs (got, sent): {bad}; not NULL: {nulls}" if bad or nulls else 0)
PY
)"
    check "every type round-trips through Parquet, BLOB 00..FF and NULLs included" $? "$err"
fi
# A binary expression: its described size must hold its value (buffers are sized by it).
err="$(o2p query --connection-string "$(cs "${logins[3]}" 'TwoFactorCode=@CODE@')" "$out/lit.par" \
    "SELECT X'$(python3 -c 'print(bytes(range(256)).hex())')' AS b")"
check "a 256-byte BLOB expression fits the size the driver describes" $? "$err"
