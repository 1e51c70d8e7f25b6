"""unixODBC's connection pool (odbcinst.ini `[ODBC] Pooling=Yes`, the driver's
`CPTimeout`) under pyodbc (`pyodbc.pooling`, on by default): what a pool reuses and what
it must not (docs/pooling.md). tests/clients/run.sh sets TF_DSN, TF_LOGINS, ODBCSYSINI."""

import os
import pathlib
import re
import shutil
import tempfile
import time

# The pool is switched on in a copy of the private unixODBC configuration, before the
# first pyodbc call reads it.
sysini = pathlib.Path(tempfile.mkdtemp(prefix="tf-pool-"))
for name in ("odbcinst.ini", "odbc.ini"):
    shutil.copy(pathlib.Path(os.environ["ODBCSYSINI"]) / name, sysini / name)
inst = (sysini / "odbcinst.ini").read_text()
inst = re.sub(r"^\[TwoFactor\]$", "[TwoFactor]\nCPTimeout = 2", inst, flags=re.M)
(sysini / "odbcinst.ini").write_text("[ODBC]\nPooling = Yes\n\n" + inst)
os.environ["ODBCSYSINI"] = str(sysini)
os.environ["ODBCINI"] = str(sysini / "odbc.ini")

import pyodbc  # noqa: E402

DSN = os.environ["TF_DSN"]
LOGINS = [login.split(":") for login in os.environ["TF_LOGINS"].split(",")]
# (The Rust test tests/tests/pools.rs shows the refused replays count no failure.)


def check(name, ok, why=""):
    print(f"PASS pyodbc_pool: {name}" if ok else f"FAIL pyodbc_pool: {name}: {why}")


def conn_str(login, extra=""):
    return f"DSN={DSN};UID={login[0]};PWD={login[1]};{extra}"


def answer(cnxn):
    return cnxn.cursor().execute("SELECT 40 + 2").fetchval()


def refused_locally(error):
    return "28000" in str(error) and "new code is needed" in str(error)


# 1. A verified connection goes back to the pool on close and comes out verified: the
# second connect with the same (spent) code succeeds only because it is the pooled one.
first = LOGINS[0]
with_code = conn_str(first, f"TwoFactorCode={first[2]}")
try:
    a = pyodbc.connect(with_code)
    check("first pooled login", answer(a) == 42)
    a.close()
    b = pyodbc.connect(with_code)
    check("the pooled connection is reused verified, no code sent", answer(b) == 42)
    # 2. A second connection while the pooled one is in use is a new login with the
    # same code: the driver refuses it before the server counts a failure.
    try:
        pyodbc.connect(with_code)
        check("a new pooled connection with a spent code is refused locally", False, "connected")
    except pyodbc.Error as e:
        check("a new pooled connection with a spent code is refused locally", refused_locally(e), e)
    b.close()
except pyodbc.Error as e:
    check("first pooled login", False, e)

# 3. After CPTimeout the pool closes the idle connection; reconnecting with the same
# string replays the code: refused locally, not counted.
time.sleep(3)
try:
    pyodbc.connect(with_code)
    check("after CPTimeout the replayed code is refused locally", False, "connected")
except pyodbc.Error as e:
    check("after CPTimeout the replayed code is refused locally", refused_locally(e), e)

# 4. A connection closed while its second factor was pending must not come back out of
# the pool: the next connect gets a new connection, which applies attrs_before.
second = LOGINS[1]
try:
    pending = pyodbc.connect(conn_str(second))
    try:
        answer(pending)
        check("a login without a code is pending", False, "a statement ran")
    except pyodbc.Error as e:
        check("a login without a code is pending", "28000" in str(e), e)
    pending.close()
    fresh = pyodbc.connect(conn_str(second), attrs_before={1002: second[2]})
    check("a pending connection is never handed out again by the pool", answer(fresh) == 42)
    fresh.close()
except pyodbc.Error as e:
    check("a pending connection is never handed out again by the pool", False, e)

shutil.rmtree(sysini, ignore_errors=True)
