"""Paths, names and logging shared by bench.py and its modules."""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
PY = sys.executable
PYBENCH = os.path.join(ROOT, "bench", "pyodbc_bench.py")
ODBC = os.path.join(REL, "bench-odbc")
SETUP = os.path.join(REL, "bench-setup")
SRVBENCH = os.path.join(REL, "bench-server")
SERVER = os.path.join(REL, "twofactor-server")
OUR_DRIVER = os.path.join(REL, "libtwofactorodbc.so")
PASSWORD = "bench-password-1"
SELECT = "SELECT id, name, score, ts FROM bench"

OURS, OURS_PG, PSQL, SQLITE_ODBC, NATIVE_SQLITE, NATIVE_PG = (
    "TwoFactor", "TwoFactor on PostgreSQL", "psqlODBC", "SQLite ODBC", "native sqlite3", "native PostgreSQL")
STORE_SQLITE, STORE_PG = "TwoFactor, SQLite store", "TwoFactor, PostgreSQL store"


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)
