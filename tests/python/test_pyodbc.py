"""pyodbc, a real client, through the unixODBC driver manager against a live server.

pyodbc calls the wide entry points and binds strings as SQL_C_WCHAR; it passes
`attrs_before={1002: code}` to SQLSetConnectAttr before SQLDriverConnect, which is how a
Python application supplies the second factor in one step.

Run: python3 tests/python/test_pyodbc.py (after `cargo build --workspace`).
"""

import datetime
import decimal
import hmac
import os
import base64
import hashlib
import pathlib
import shutil
import struct
import subprocess
import tempfile
import time
import unittest

import pyodbc

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROFILE = os.environ.get("TF_PROFILE", "debug")
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
SERVER = TARGET / PROFILE / "twofactor-server"
DRIVER = TARGET / PROFILE / "libtwofactorodbc.so"
PASSWORD = "correct horse battery"


def totp(secret_b32: str, at: float) -> str:
    """RFC 6238 with SHA-1, 6 digits, 30 s: what an authenticator app computes."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class LiveServer:
    """A server of our own on an ephemeral port, with one enrolled user per test."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="tf-pyodbc-"))
        self.data = self.dir / "data"
        self.run("init")
        config = self.data / "server.toml"
        text = config.read_text()
        # Cheap hashing keeps the suite fast; the default cost is tested elsewhere.
        text = text.replace("argon2_memory_kib = 19456", "argon2_memory_kib = 1024")
        text = text.replace("argon2_iterations = 2", "argon2_iterations = 1")
        config.write_text(self.configure(text))
        self.log = self.dir / "server.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [str(SERVER), "serve", "--data-dir", str(self.data), "--listen", "127.0.0.1:0"],
                stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"server did not start: {line!r}; its log: {self.log.read_text()[-2000:]}")
        self.port = int(line.strip().rsplit(":", 1)[1])

    def configure(self, text):
        """server.toml as the tests want it (test_pyodbc_pg.py adds the PostgreSQL backend)."""
        return text

    def run(self, *args, stdin=None):
        return subprocess.run([str(SERVER), *args, "--data-dir", str(self.data)], input=stdin,
                              capture_output=True, text=True, check=True).stdout

    def add_user(self, name):
        self.run("user", "add", name, "--password-stdin", stdin=PASSWORD + "\n")
        return self.run("totp", "enrol", name, "--secret-only").strip()

    def connection_string(self, user, **extra):
        keys = {"Driver": str(DRIVER), "Server": "localhost", "Port": str(self.port),
                "CAFile": str(self.data / "ca.pem"), "UID": user, "PWD": PASSWORD, **extra}
        return ";".join(f"{k}={{{v}}}" if ";" in v else f"{k}={v}" for k, v in keys.items())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class PyodbcTwoFactor(unittest.TestCase):
    # What the SQL backend calls these types (test_pyodbc_pg.py runs the cases on PostgreSQL).
    server_class = LiveServer
    DOUBLE = "DOUBLE"
    BLOB = "BLOB"

    @classmethod
    def setUpClass(cls):
        cls.server = cls.server_class()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def user(self):
        name = self.id().rsplit(".", 1)[1][:40]
        return name, self.server.add_user(name)

    def test_attrs_before_supplies_the_code_in_one_step(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name),
                              attrs_before={1002: totp(secret, time.time())})
        self.assertEqual(cnxn.cursor().execute("SELECT 40 + 2").fetchone()[0], 42)
        cnxn.close()

    def test_without_a_code_the_first_statement_fails_with_28000(self):
        name, _ = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name))
        with self.assertRaises(pyodbc.Error) as caught:
            cnxn.cursor().execute("SELECT 1")
        self.assertEqual(caught.exception.args[0], "28000")
        self.assertIn("two-factor authentication required", str(caught.exception))
        cnxn.close()

    def test_the_iris_flow_sets_attribute_1002_after_connecting(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name), autocommit=False)
        cur = cnxn.cursor()
        with self.assertRaises(pyodbc.Error) as caught:
            cur.execute("SELECT 1")
        self.assertEqual(caught.exception.args[0], "28000")
        cnxn.set_attr(1002, totp(secret, time.time()))
        # The autocommit setting pyodbc made while the code was pending now holds.
        cur.execute("CREATE TABLE py_iris (v INTEGER)")
        cnxn.commit()
        cur.execute("INSERT INTO py_iris VALUES (7)")
        cnxn.rollback()
        self.assertEqual(cur.execute("SELECT COUNT(*) FROM py_iris").fetchone()[0], 0)
        cnxn.close()

    def test_a_wrong_code_fails_the_connect_with_28000(self):
        name, secret = self.user()
        good = {totp(secret, time.time() + d) for d in (-30, 0, 30)}
        wrong = next(c for c in ("111111", "222222", "333333", "444444") if c not in good)
        with self.assertRaises(pyodbc.Error) as caught:
            pyodbc.connect(self.server.connection_string(name, TwoFactorCode=wrong))
        self.assertEqual(caught.exception.args[0], "28000")
        self.assertIn("two-factor code rejected", str(caught.exception))

    def test_parameters_and_types_round_trip(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name, TwoFactorCode=totp(secret, time.time())),
                              autocommit=False)
        cur = cnxn.cursor()
        cur.execute(f"CREATE TABLE py_types (i BIGINT, d {self.DOUBLE}, s VARCHAR(40), b {self.BLOB}, "
                    "ts TIMESTAMP, dt DATE, n DECIMAL(12,3))")
        row = (2**40, 2.5, "grüße, 世界", b"\x00\xff\x10", datetime.datetime(2026, 11, 23, 10, 30, 15),
               datetime.date(1999, 12, 31), decimal.Decimal("12345.678"))
        cur.execute("INSERT INTO py_types VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        cur.execute("INSERT INTO py_types VALUES (?, ?, ?, ?, ?, ?, ?)", (None,) * 7)
        cnxn.commit()
        got = cur.execute("SELECT i, d, s, b, ts, dt, n FROM py_types ORDER BY i IS NULL").fetchall()
        self.assertEqual(tuple(got[0]), row)
        self.assertEqual(tuple(got[1]), (None,) * 7)
        cnxn.close()

    def test_rollback_discards_and_commit_keeps(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name, TwoFactorCode=totp(secret, time.time())),
                              autocommit=False)
        cur = cnxn.cursor()
        cur.execute("CREATE TABLE py_tx (v INTEGER)")
        cnxn.commit()
        cur.execute("INSERT INTO py_tx VALUES (1)")
        cnxn.rollback()
        cur.execute("INSERT INTO py_tx VALUES (2)")
        cnxn.commit()
        self.assertEqual([r[0] for r in cur.execute("SELECT v FROM py_tx").fetchall()], [2])
        cnxn.close()

    def test_fast_executemany_inserts_in_one_parameter_array(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name, TwoFactorCode=totp(secret, time.time())))
        cur = cnxn.cursor()
        cur.execute(f"CREATE TABLE py_bulk (id BIGINT, name VARCHAR(32), score {self.DOUBLE})")
        cur.fast_executemany = True
        rows = [(i, f"name-{i}", i / 4) for i in range(20_000)]
        cur.executemany("INSERT INTO py_bulk VALUES (?, ?, ?)", rows)
        count, total, last = cur.execute("SELECT COUNT(*), SUM(id), MAX(name) FROM py_bulk").fetchone()
        self.assertEqual((count, total, last), (20_000, sum(range(20_000)), "name-9999"))
        cnxn.close()

    def test_catalog_functions_describe_a_table(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name, TwoFactorCode=totp(secret, time.time())))
        cur = cnxn.cursor()
        cur.execute("CREATE TABLE py_cat (id INTEGER PRIMARY KEY, label VARCHAR(12) NOT NULL)")
        tables = [t.table_name for t in cur.tables(tableType="TABLE")]
        self.assertIn("py_cat", tables)
        columns = [(c.column_name, c.data_type, c.column_size, c.nullable) for c in cur.columns(table="py_cat")]
        self.assertEqual(columns, [("id", pyodbc.SQL_INTEGER, 10, 1 if columns[0][3] else 0),
                                   ("label", pyodbc.SQL_VARCHAR, 12, 0)])
        cnxn.close()

    def test_procedures_and_procedure_columns_are_empty_not_im001(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name, TwoFactorCode=totp(secret, time.time())))
        cur = cnxn.cursor()
        self.assertEqual(cur.procedures().fetchall(), [])
        self.assertEqual([d[0].lower() for d in cur.description][:3], ["procedure_cat", "procedure_schem", "procedure_name"])
        self.assertEqual(cur.procedureColumns().fetchall(), [])
        self.assertEqual(len(cur.description), 19)
        cnxn.close()

    def test_long_text_and_bytes_travel_as_data_at_execution(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name, TwoFactorCode=totp(secret, time.time())))
        cur = cnxn.cursor()
        cur.execute(f"CREATE TABLE py_long (t TEXT, b {self.BLOB})")
        # Long enough that pyodbc sends both with SQLPutData; the emoji are surrogate
        # pairs in UTF-16, which pyodbc's pieces may cut in half.
        text = "x" * 100_000 + "é" + "😀" * 3_001
        blob = bytes(range(256)) * 1000
        cur.execute("INSERT INTO py_long VALUES (?, ?)", text, blob)
        cur.execute("INSERT INTO py_long VALUES (?, ?)", None, b"")
        got = cur.execute("SELECT t, b FROM py_long ORDER BY t IS NULL").fetchall()
        self.assertEqual((got[0][0], got[0][1]), (text, blob))
        self.assertEqual((got[1][0], got[1][1]), (None, b""))
        # A parameter array whose rows each send their text at execution: pyodbc's
        # fast_executemany does so for a column size of 0.
        cur.execute("CREATE TABLE py_long_many (id INTEGER, t TEXT)")
        cur.fast_executemany = True
        cur.setinputsizes([(pyodbc.SQL_INTEGER, 0, 0), (pyodbc.SQL_WLONGVARCHAR, 0, 0)])
        rows = [(i, "y" * 50_000 + "😀" if i % 2 else "short") for i in range(5)]
        cur.executemany("INSERT INTO py_long_many VALUES (?, ?)", rows)
        got = [tuple(r) for r in cur.execute("SELECT id, t FROM py_long_many ORDER BY id").fetchall()]
        self.assertEqual(got, rows)
        cnxn.close()

    def test_bytes_stay_bytes_and_invalid_utf8_text_is_refused(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name, TwoFactorCode=totp(secret, time.time())))
        cur = cnxn.cursor()
        cur.execute("CREATE TABLE py_bytes (id INTEGER, body BLOB, note TEXT)")
        every_byte = bytes(range(256))
        cur.execute("INSERT INTO py_bytes (id, body) VALUES (1, ?)", every_byte)
        # fast_executemany binds from SQLDescribeParam: the BLOB column is binary, the TEXT
        # column size 0 (sent as data-at-execution, so longer text is not refused).
        cur.fast_executemany = True
        cur.executemany("INSERT INTO py_bytes (id, body, note) VALUES (?, ?, ?)",
                        [(2, b"\x00\x01\xfe\xff", "z" * 70_000), (3, every_byte, "short")])
        cur.fast_executemany = False
        got = cur.execute("SELECT id, body, typeof(body), ifnull(length(note), -1) FROM py_bytes ORDER BY id")
        self.assertEqual([tuple(r) for r in got.fetchall()], [(1, every_byte, "blob", -1),
                                                              (2, b"\x00\x01\xfe\xff", "blob", 70_000),
                                                              (3, every_byte, "blob", 5)])
        # TEXT that is not UTF-8, as another SQLite writer may store it: refused, not guessed.
        cur.execute("INSERT INTO py_bytes (id, note) VALUES (4, CAST(X'61FF62' AS TEXT))")
        with self.assertRaises(pyodbc.Error) as caught:
            cur.execute("SELECT note FROM py_bytes WHERE id = 4").fetchall()
        self.assertEqual(caught.exception.args[0], "22018")
        cnxn.close()

    def test_read_only_refuses_writes_with_25006(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name, TwoFactorCode=totp(secret, time.time()),
                                                            ReadOnly="1"))
        cur = cnxn.cursor()
        self.assertEqual(cur.execute("SELECT 1").fetchone()[0], 1)
        with self.assertRaises(pyodbc.Error) as caught:
            cur.execute("CREATE TABLE py_ro (v INTEGER)")
        self.assertEqual(caught.exception.args[0], "25006")
        cnxn.close()

    def test_a_query_past_its_timeout_fails_with_hyt00_and_the_connection_stays_usable(self):
        name, secret = self.user()
        cnxn = pyodbc.connect(self.server.connection_string(name, TwoFactorCode=totp(secret, time.time())))
        cnxn.timeout = 1  # pyodbc sets SQL_ATTR_QUERY_TIMEOUT on each statement from it
        cur = cnxn.cursor()
        begun = time.monotonic()
        with self.assertRaises(pyodbc.Error) as caught:
            cur.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c")
        self.assertEqual(caught.exception.args[0], "HYT00")
        self.assertIn("query timeout expired", str(caught.exception))
        self.assertLess(time.monotonic() - begun, 10)
        self.assertEqual(cur.execute("SELECT 40 + 2").fetchone()[0], 42, "a quick query under the same timeout")
        cnxn.timeout = 0
        self.assertEqual(cnxn.cursor().execute("SELECT 1").fetchone()[0], 1)
        cnxn.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
