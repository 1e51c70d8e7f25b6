"""arrow-odbc (PyPI; tests/clients/run.sh sets TF_DSN and TF_LOGINS): Arrow tables in and
out through ODBC bulk binding. It cannot set attribute 1002 and has no catalog API: the
code goes in the connection string."""

import datetime
import os

import arrow_odbc
import pyarrow as pa

DSN = os.environ["TF_DSN"]
LOGINS = [login.split(":") for login in os.environ["TF_LOGINS"].split(",")]


def check(name, ok, why=""):
    print(f"PASS arrow_odbc: {name}" if ok else f"FAIL arrow_odbc: {name}: {why}")


def connection_string(login, extra):
    user, password, _ = login
    return f"DSN={DSN};UID={user};PWD={password};{extra}"


def answer(conn):
    batches = list(conn.read_arrow_batches("SELECT 40 + 2 AS v"))
    return batches[0].column(0)[0].as_py()


conn = None
try:
    conn = arrow_odbc.connect(connection_string(LOGINS[0], f"TwoFactorCode={LOGINS[0][2]}"))
    check("login with TwoFactorCode=", answer(conn) == 42)
except Exception as e:  # noqa: BLE001 - every failure is a check result
    check("login with TwoFactorCode=", False, e)

try:
    arrow_odbc.connect(connection_string(LOGINS[0], f"TwoFactorCode={LOGINS[0][2]}"))
    check("a reused code is refused locally with 28000", False, "connected")
except arrow_odbc.Error as e:
    check("a reused code is refused locally with 28000", "28000" in str(e) and "new code is needed" in str(e), e)

try:
    dm = arrow_odbc.connect(connection_string(LOGINS[1], f"DMConnAttr=[1002]={LOGINS[1][2]}"))
    check("login with DMConnAttr=[1002]=", answer(dm) == 42)
except Exception as e:  # noqa: BLE001
    check("login with DMConnAttr=[1002]=", False, e)

if conn is not None:
    blob = bytes(range(256))
    row = {
        "i": (42, pa.int32()),
        "big": (2**40, pa.int64()),
        "d": (2.5, pa.float64()),
        "s": ("grüße, 世界", pa.string()),
        "dt": (datetime.date(1999, 12, 31), pa.date32()),
        "ts": (datetime.datetime(2026, 11, 23, 10, 30, 15), pa.timestamp("ms")),
        "b": (blob, pa.binary()),
    }
    table = pa.table({k: pa.array([v, None], type=t) for k, (v, t) in row.items()})
    try:
        conn.execute("CREATE TABLE ar_types (i INTEGER, big BIGINT, d DOUBLE, s VARCHAR(40), dt DATE, "
                     "ts TIMESTAMP, b BLOB)")
        conn.from_table_to_db(table, "ar_types")
        check("insert every type from an Arrow table", True)
    except Exception as e:  # noqa: BLE001
        check("insert every type from an Arrow table", False, e)
    try:
        got = pa.Table.from_batches(list(conn.read_arrow_batches(
            "SELECT i, big, d, s, dt, ts, b FROM ar_types ORDER BY i IS NULL, i",
            # A BLOB column reports SQLite's 1 GiB limit as its size; arrow-odbc
            # preallocates the largest value, so LOB columns need a bound (docs/clients.md).
            max_binary_size=4096, max_text_size=4096))).to_pylist()
        check("select returns both rows", len(got) == 2, got)
        if len(got) == 2:
            for name, (value, _) in row.items():
                v = got[0][name]
                if isinstance(v, datetime.datetime) and v.tzinfo is not None:
                    v = v.replace(tzinfo=None)
                ok = v == value
                shown = f"{len(v)} bytes starting {bytes(v[:8]).hex()}" if isinstance(v, bytes) else repr(v)
                check(f"{name} round-trips", ok, f"got {shown}, expected {value!r}"[:200])
            check("NULL round-trips in every column", all(v is None for v in got[1].values()), got[1])
    except Exception as e:  # noqa: BLE001
        check("select returns both rows", False, e)
