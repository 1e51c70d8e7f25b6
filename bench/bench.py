#!/usr/bin/env python3
"""TwoFactor benchmark next to psqlODBC and the SQLite ODBC driver, in one run.

Run through bench/run.sh (it installs and builds first). Everything listens on loopback
and lives in one temporary directory. Each measurement runs in its own process with a
time limit: a peer driver that crashes is reported as "crash" and the run goes on.
Writes one JSON line per figure to bench/results.jsonl and prints one table.
"""
import argparse
import csv
import datetime
import glob
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
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
# The login role our PostgreSQL-backed server connects as; each session then runs as the
# ODBC user's role (`bench`, the role psqlODBC logs in as), so both read the same table
# with the same rights.
PG_LOGIN_ROLE = "twofactor_login"


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def odbc_lib(name):
    for d in ("/usr/lib/x86_64-linux-gnu/odbc", "/usr/lib/aarch64-linux-gnu/odbc", "/usr/lib/odbc",
              "/usr/lib64", "/usr/lib"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    hits = glob.glob("/usr/lib/**/" + name, recursive=True)
    return hits[0] if hits else name


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, timeout, env=None, sample_pid=None):
    """One measurement in its own process: its JSON, or {"status": "crash"|"error"|"timeout"}.
    With sample_pid, that process's RSS is sampled meanwhile (peak in server_peak_rss_kib)."""
    peak = [0]
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(sample_pid))
            stop.wait(0.05)

    th = None
    if sample_pid:
        th = threading.Thread(target=sampler, daemon=True)
        th.start()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "message": "over %ds" % timeout}
    finally:
        stop.set()
        if th:
            th.join()
    if p.returncode < 0:
        return {"status": "crash", "message": "signal %d" % -p.returncode}
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
        return {"status": "error", "message": tail[:300]}
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"status": "error", "message": "no JSON: " + p.stdout[-200:]}
    out["status"] = "ok"
    if sample_pid:
        out["server_peak_rss_kib"] = peak[0]
    return out


def rss_kib(pid, field="VmRSS:"):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def repeated(cmd, reps, timeout, key="rows_per_s", sample_pid=None, before=None):
    """Median of `reps` runs of a throughput measurement (stops at the first failure)."""
    runs = []
    for _ in range(reps):
        if before:
            before()
        r = run(cmd, timeout, sample_pid=sample_pid)
        if r["status"] != "ok":
            return r
        runs.append(r)
    out = dict(sorted(runs, key=lambda r: r[key])[len(runs) // 2])
    out["runs"] = [r[key] for r in runs]
    return out


# ---------------------------------------------------------------- data

def make_csv(path, n):
    base = datetime.datetime(2024, 1, 1)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        for i in range(n):
            ts = base + datetime.timedelta(seconds=i, milliseconds=i % 1000)
            w.writerow((i, "name_%d" % (i * 7919 % 1000003), (i * 37 % 10007) / 7.0,
                        ts.isoformat(" ", "milliseconds")))


SQLITE_DDL = ("CREATE TABLE {t} (id BIGINT, name VARCHAR(32), score DOUBLE, ts TIMESTAMP)")
PG_DDL = ("CREATE TABLE {t} (id bigint, name varchar(32), score double precision, ts timestamp)")


def load_sqlite(db, csv_path, extra_copies=0):
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute(SQLITE_DDL.format(t="bench"))
    con.execute(SQLITE_DDL.format(t="bench_ins"))
    with open(csv_path, newline="") as f:
        con.executemany("INSERT INTO bench VALUES (?, ?, ?, ?)",
                        ((int(a), b, float(c), d) for a, b, c, d in csv.reader(f)))
    con.commit()
    con.close()


def make_big_sqlite(db, copies):
    """bench10: the 1M-row table `copies` times (ids shifted), for the flat-memory check."""
    con = sqlite3.connect(db)
    con.execute(SQLITE_DDL.format(t="bench_big"))
    for k in range(copies):
        con.execute("INSERT INTO bench_big SELECT id + ?, name, score, ts FROM bench", (k * 10_000_000,))
    con.commit()
    con.close()


# ---------------------------------------------------------------- PostgreSQL

class Postgres:
    def __init__(self, work):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin = os.path.dirname(bins[-1])
        self.dir = os.path.join(work, "pg")
        self.sock = os.path.join(work, "pg-sock")
        self.port = free_port()
        os.makedirs(self.dir)
        os.makedirs(self.sock)
        as_root = os.geteuid() == 0
        self.prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        if as_root:
            shutil.chown(work, "postgres")
            for d in (self.dir, self.sock):
                shutil.chown(d, "postgres")
            os.chmod(work, 0o755)

    def sh(self, cmd, **kw):
        return subprocess.run(self.prefix + cmd, check=True, capture_output=True, text=True, **kw)

    def start(self):
        self.sh([self.bin + "/initdb", "-D", self.dir, "-U", "postgres", "--auth-local=trust",
                 "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"])
        self.make_certificates()
        with open(self.dir + "/postgresql.conf", "a") as f:
            f.write("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                    "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                    "password_encryption = 'scram-sha-256'\nmax_connections = 100\n"
                    % (self.port, self.sock))
        with open(self.dir + "/pg_hba.conf", "w") as f:
            f.write("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
                    "host all all 127.0.0.1/32 reject\n")
        self.sh([self.bin + "/pg_ctl", "-D", self.dir, "-l", self.dir + "/log", "-w", "start"])
        self.psql_local("CREATE ROLE bench LOGIN PASSWORD '%s'" % PASSWORD)
        self.psql_local("CREATE DATABASE bench OWNER bench")

    def make_certificates(self):
        """A throwaway CA and a server certificate for 127.0.0.1 signed by it: psqlODBC
        connects with sslmode=require; our server verifies the certificate (rustls needs
        the address in subjectAltName and a CA that is not the server's own certificate)."""
        work = os.path.dirname(self.dir)
        self.ca_file = os.path.join(work, "pg-ca.crt")
        ca_key, csr, ext = (os.path.join(work, n) for n in ("pg-ca.key", "pg-server.csr", "pg-server.ext"))
        quiet = dict(check=True, capture_output=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=bench CA", "-keyout", ca_key, "-out", self.ca_file], **quiet)
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                        "-keyout", self.dir + "/server.key", "-out", csr], **quiet)
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", ca_key,
                        "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", self.dir + "/server.crt"],
                       **quiet)
        os.chmod(self.dir + "/server.key", 0o600)
        if self.prefix:
            for f in ("server.key", "server.crt"):
                shutil.chown(os.path.join(self.dir, f), "postgres")

    def add_login_role(self, password_file):
        """The role our server logs in as: it may SET ROLE bench and nothing else. The
        password goes to psql on stdin, never in an argument."""
        password = os.urandom(18).hex()
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password)
        self.sh(["psql", "-h", self.sock, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                 "-v", "ON_ERROR_STOP=1", "-qAt"],
                input="CREATE ROLE %s LOGIN PASSWORD '%s'; GRANT bench TO %s;" % (PG_LOGIN_ROLE, password,
                                                                                  PG_LOGIN_ROLE))

    def psql_local(self, sql, db="postgres"):
        return self.sh(["psql", "-h", self.sock, "-p", str(self.port), "-U", "postgres", "-d", db,
                        "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])

    def tls_env(self):
        env = dict(os.environ, PGPASSWORD=PASSWORD, PGSSLMODE="require")
        return env

    def psql_tls(self, sql, timeout=600):
        return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "bench",
                               "-d", "bench", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                              env=self.tls_env(), check=True, capture_output=True, text=True,
                              timeout=timeout)

    def load(self, csv_path):
        self.psql_tls(PG_DDL.format(t="bench"))
        self.psql_tls(PG_DDL.format(t="bench_ins"))
        self.psql_tls("\\copy bench FROM '%s' WITH (FORMAT csv)" % csv_path)
        self.psql_tls("VACUUM ANALYZE bench")

    def stop(self):
        subprocess.run(self.prefix + [self.bin + "/pg_ctl", "-D", self.dir, "-m", "fast", "stop"],
                       capture_output=True)

    def odbc(self):
        return ("Driver=%s;Server=127.0.0.1;Port=%d;Database=bench;UID=bench;PWD=%s;"
                "SSLmode=require;CommLog=0;Debug=0" % (odbc_lib("psqlodbcw.so"), self.port, PASSWORD))


# ---------------------------------------------------------------- our server

class OurServer:
    def __init__(self, work, name="tf"):
        self.dir = os.path.join(work, name)
        self.proc = None
        self.addr = None

    def init(self):
        subprocess.run([SERVER, "init", "--data-dir", self.dir], check=True, capture_output=True)
        # The burst stands for many clients, but comes from one address.
        conf = os.path.join(self.dir, "server.toml")
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(re.sub(r"(?m)^address_max_pending_logins = .*$", "address_max_pending_logins = 100000", text))

    def use_postgres_sql(self, pg, password_file):
        """[sql] backend = "postgres" on the bench database, as PG_LOGIN_ROLE; ODBC user
        `bench` runs as role `bench` (role_map = "same")."""
        conf = os.path.join(self.dir, "server.toml")
        with open(conf) as f:
            text = f.read()
        text = text.replace("[sql]\n", '[sql]\nbackend = "postgres"\n', 1)
        text += ('\n[sql.postgres]\nurl = "postgres://%s@127.0.0.1:%d/bench?sslmode=require"\n'
                 'ca_file = "%s"\npassword_file = "%s"\nrole_map = "same"\n'
                 % (PG_LOGIN_ROLE, pg.port, pg.ca_file, password_file))
        with open(conf, "w") as f:
            f.write(text)

    def users(self, prefix, count, out=None, two_factor=True, cheap=False):
        cmd = [SETUP, "users", "--data-dir", self.dir, "--prefix", prefix, "--count", str(count),
               "--password", PASSWORD]
        if out:
            cmd += ["--out", out]
        if not two_factor:
            cmd.append("--no-two-factor")
        if cheap:
            cmd.append("--cheap-hash")
        subprocess.run(cmd, check=True, capture_output=True)

    def serve(self):
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.proc = subprocess.Popen([SERVER, "serve", "--data-dir", self.dir, "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError("twofactor-server did not start: %r (see %s/serve.log)" % (line, self.dir))
        self.addr = line.split()[-1]
        self.host, self.port = self.addr.rsplit(":", 1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def odbc(self, user="bench", extra=""):
        return ("Driver=%s;Server=%s;Port=%s;CAFile=%s/ca.pem;UID=%s;PWD=%s%s"
                % (OUR_DRIVER, self.host, self.port, self.dir, user, PASSWORD, extra))


# ---------------------------------------------------------------- the run

class Results:
    def __init__(self, meta):
        self.meta = meta
        self.rows = []

    def add(self, measure, target, value, unit="", better="", detail=None):
        """value: a number, or a status string ("crash", "error", "n/a", ...)."""
        if isinstance(value, dict):
            detail, value = value, value.get("status", "error")
        self.rows.append(dict(measure=measure, target=target, value=value, unit=unit, better=better,
                              detail=detail or {}))
        note = "" if isinstance(value, (int, float)) else " " + str((detail or {}).get("message", ""))
        log("  %s | %s: %s %s%s" % (measure, target, fmt(value, unit), unit, note))

    def get(self, measure, target):
        for r in self.rows:
            if r["measure"] == measure and r["target"] == target and isinstance(r["value"], (int, float)):
                return r["value"]
        return None


def add_rate(res, measure, target, r, unit="rows/s"):
    if r.get("status") == "ok":
        res.add(measure, target, r["rows_per_s"], unit, "higher", r)
    else:
        res.add(measure, target, r, unit, "higher")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--insert-rows", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--logins", type=int, default=40)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--big-copies", type=int, default=10, help="0 skips the 10M-row memory check")
    ap.add_argument("--only", default="", help="comma list: login,fetch,insert,server,big")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results.jsonl"))
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))

    def want(part):
        return not only or part in only

    work = tempfile.mkdtemp(prefix="twofactor-bench-")
    log("working in %s" % work)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    meta = {"commit": commit + ("-dirty" if dirty else ""),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "nproc": os.cpu_count(), "loadavg_start": os.getloadavg()[0], "rows": a.rows,
            "machine": platform.machine()}
    res = Results(meta)
    pg = Postgres(work)
    ours = OurServer(work)
    ours_pg = OurServer(work, "tf-pg")
    t0 = time.time()
    try:
        log("generating %d rows" % a.rows)
        csv_path = os.path.join(work, "bench.csv")
        make_csv(csv_path, a.rows)
        os.chmod(csv_path, 0o644)
        log("PostgreSQL: cluster with TLS and scram-sha-256 on 127.0.0.1:%d, COPY" % pg.port)
        pg.start()
        pg.load(csv_path)
        log("SQLite file for the SQLite ODBC driver and for our server's data.db")
        sqlite_db = os.path.join(work, "bench.sqlite")
        load_sqlite(sqlite_db, csv_path)
        log("our server: init, users (bench-setup through the server's own store), data.db")
        ours.init()
        ours.users("bench", 0, two_factor=False)
        logins_file = os.path.join(work, "login-users.txt")
        ours.users("l", a.logins + 2, out=logins_file)
        phases_file = os.path.join(work, "phases-users.txt")
        ours.users("p", a.logins, out=phases_file)
        burst_file = os.path.join(work, "burst-users.txt")
        if want("server"):
            ours.users("b", a.burst, out=burst_file)
            ours.users("idle", 0, two_factor=False, cheap=True)
        # data.db is plain SQLite: the same file, copied before `serve` opens it.
        shutil.copy(sqlite_db, os.path.join(ours.dir, "data.db"))
        ours.serve()
        log("our server listening on %s (pid %d)" % (ours.addr, ours.proc.pid))
        if want("fetch") or want("insert"):
            log("our server on PostgreSQL: [sql] backend = postgres on the bench database")
            ours_pg.init()
            ours_pg.users("bench", 0, two_factor=False)
            pg_password_file = os.path.join(work, "pg-login-password")
            pg.add_login_role(pg_password_file)
            ours_pg.use_postgres_sql(pg, pg_password_file)
            ours_pg.serve()
            log("our PostgreSQL-backed server listening on %s (pid %d)" % (ours_pg.addr, ours_pg.proc.pid))
        sqlite_odbc = "Driver=%s;Database=%s" % (odbc_lib("libsqlite3odbc.so"), sqlite_db)
        data_db = os.path.join(ours.dir, "data.db")

        if want("login"):
            rss_checkpoint(res, ours, "at start")
            measure_login(res, a, pg, ours, logins_file, phases_file)
            rss_checkpoint(res, ours, "after the login benchmarks (~%d Argon2 verifies)" % (3 * a.logins + 30))
        if want("fetch"):
            measure_fetch(res, a, pg, ours, ours_pg, sqlite_odbc, sqlite_db)
            rss_checkpoint(res, ours, "after the fetch benchmarks")
        if want("insert"):
            measure_insert(res, a, pg, ours, ours_pg, sqlite_odbc, sqlite_db, data_db)
        if want("server"):
            measure_server(res, a, ours, burst_file)
            rss_checkpoint(res, ours, "after the %d-login burst" % a.burst)
            measure_idle(res, a, work)
        if want("big") and a.big_copies > 0:
            measure_big(res, a, work, sqlite_db)
    finally:
        ours.stop()
        ours_pg.stop()
        pg.stop()
        if a.keep:
            log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    meta["seconds"] = round(time.time() - t0, 1)
    meta["loadavg_end"] = os.getloadavg()[0]
    report(res, a)


def rss_checkpoint(res, ours, label):
    res.add("our server RSS %s" % label, OURS, rss_kib(ours.proc.pid) / 1024, "MiB", "lower",
            {"threads": rss_kib(ours.proc.pid, "Threads:")})


def measure_login(res, a, pg, ours, logins_file, phases_file):
    log("login latency: %d logins each" % a.logins)
    r = run([SETUP, "argon2", "--n", "20"], 300)
    res.add("Argon2id verify (server default cost)", OURS, r.get("median_ms", r.get("status")), "ms", "lower", r)
    argon = r.get("median_ms")
    r = run([ODBC, "login", "--conn", ours.odbc("{user}", ";TwoFactorCode={code}"), "--users", logins_file,
             "--warmup", "2"], 300)
    res.add("login: TLS + password + TOTP + disconnect", OURS, r.get("median_ms", r.get("status")), "ms",
            "lower", r)
    if r.get("status") == "ok" and argon:
        res.add("login minus Argon2 verify", OURS, r["median_ms"] - argon, "ms", "lower",
                {"login_median_ms": r["median_ms"], "argon2_median_ms": argon})
    r = run([ODBC, "login", "--conn", ours.odbc(), "--n", str(a.logins), "--warmup", "2"], 300)
    res.add("login: TLS + password only", OURS, r.get("median_ms", r.get("status")), "ms", "lower", r)
    # The same logins without ODBC (the wire protocol from Rust), phase by phase: what the
    # driver and the driver manager add, and where the server's time goes.
    r = run([SRVBENCH, "phases", "--addr", ours.addr, "--ca", ours.dir + "/ca.pem", "--users", phases_file,
             "--password", PASSWORD], 300)
    if r.get("status") == "ok":
        for k in ("total", "tcp", "tls", "hello", "password", "second_factor"):
            res.add("login without ODBC (protocol client), TOTP user: %s" % k, OURS, r[k].get("median_ms"), "ms",
                    "lower", r[k])
    else:
        res.add("login without ODBC (protocol client), TOTP user: total", OURS, r, "ms", "lower")
    r = run([ODBC, "login", "--conn", pg.odbc(), "--n", str(a.logins), "--warmup", "2"], 300)
    for m in ("login: TLS + password + TOTP + disconnect", "login: TLS + password only",
              "login minus Argon2 verify"):
        res.add(m, PSQL, r.get("median_ms", r.get("status")), "ms", "lower", r)


def measure_fetch(res, a, pg, ours, ours_pg, sqlite_odbc, sqlite_db):
    log("fetch of %d rows, %d runs each" % (a.rows, a.reps))
    targets = [(OURS, ours.odbc(), ours.proc.pid), (OURS_PG, ours_pg.odbc(), ours_pg.proc.pid),
               (PSQL, pg.odbc(), None), (SQLITE_ODBC, sqlite_odbc, None)]
    for name, conn, pid in targets:
        r = repeated([ODBC, "fetch", "--conn", conn, "--sql", SELECT, "--batch", "10000"], a.reps, 600,
                     sample_pid=pid)
        add_rate(res, "fetch: block cursor, typed columns, 10k rows", name, r)
        for mode in ("fetchall", "fetchmany"):
            r = repeated([PY, PYBENCH, "fetch", "--conn", conn, "--sql", SELECT, "--mode", mode], a.reps, 600)
            add_rate(res, "fetch: pyodbc %s" % ("fetchall()" if mode == "fetchall" else "fetchmany(10000)"),
                     name, r)
    for mode in ("fetchall", "fetchmany"):
        r = repeated([PY, PYBENCH, "sqlite-fetch", "--db", sqlite_db, "--sql", SELECT, "--mode", mode],
                     a.reps, 600)
        add_rate(res, "native: python sqlite3 %s" % mode, NATIVE_SQLITE, r)
    r = run([SETUP, "native-sqlite", "--db", sqlite_db, "--sql", SELECT, "--reps", str(a.reps)], 600)
    add_rate(res, "native: SQLite C API (rusqlite), every value read", NATIVE_SQLITE, r)
    times = []
    for _ in range(a.reps):
        t = time.perf_counter()
        try:
            pg.psql_tls("\\copy (%s) TO '/dev/null'" % SELECT)
            times.append(time.perf_counter() - t)
        except subprocess.SubprocessError as e:
            res.add("native: psql \\copy (SELECT ...) TO /dev/null", NATIVE_PG, "error", "rows/s", "higher",
                    {"message": str(e)[:300]})
            break
    if times:
        s = statistics.median(times)
        res.add("native: psql \\copy (SELECT ...) TO /dev/null", NATIVE_PG, a.rows / s, "rows/s", "higher",
                {"seconds": s, "runs": [a.rows / x for x in times], "note": "includes psql start and TLS login"})


def measure_insert(res, a, pg, ours, ours_pg, sqlite_odbc, sqlite_db, data_db):
    log("insert of %d rows with parameter arrays" % a.insert_rows)

    def empty_sqlite(db):
        def f():
            con = sqlite3.connect(db, timeout=30)
            con.execute("DELETE FROM bench_ins")
            con.commit()
            con.close()
        return f

    def empty_pg():
        pg.psql_tls("TRUNCATE bench_ins")

    targets = [(OURS, ours.odbc(), empty_sqlite(data_db)), (OURS_PG, ours_pg.odbc(), empty_pg),
               (PSQL, pg.odbc(), empty_pg), (SQLITE_ODBC, sqlite_odbc, empty_sqlite(sqlite_db))]
    for name, conn, empty in targets:
        r = repeated([ODBC, "insert", "--conn", conn, "--table", "bench_ins", "--rows", str(a.insert_rows),
                      "--batch", "10000"], a.reps, 600, before=empty)
        add_rate(res, "insert: odbc-api column inserter, 10k-row arrays", name, r)
        r = repeated([PY, PYBENCH, "insert", "--conn", conn, "--table", "bench_ins", "--rows",
                      str(a.insert_rows)], a.reps, 600, before=empty)
        add_rate(res, "insert: pyodbc fast_executemany", name, r)
    r = repeated([PY, PYBENCH, "sqlite-insert", "--db", sqlite_db, "--table", "bench_ins", "--rows",
                  str(a.insert_rows)], a.reps, 600, before=empty_sqlite(sqlite_db))
    add_rate(res, "native: python sqlite3 executemany", NATIVE_SQLITE, r)


def measure_server(res, a, ours, burst_file):
    log("server: %d concurrent TOTP logins, then %d idle sessions" % (a.burst, a.idle))
    # Every burst user logs in once: a TOTP code is good once per 30 s step.
    r = run([SRVBENCH, "burst", "--addr", ours.addr, "--ca", ours.dir + "/ca.pem", "--users", burst_file,
             "--password", PASSWORD, "--probe-user", "bench"], 600, sample_pid=ours.proc.pid)
    if r.get("status") == "ok":
        res.add("burst of %d TOTP logins: time to all ready" % a.burst, OURS, r["all_ready_s"], "s", "lower", r)
        res.add("burst: login p99", OURS, r["login"].get("p99_ms"), "ms", "lower", r["login"])
        res.add("burst: logins/s per core", OURS, r["logins_per_s"] / os.cpu_count(), "logins/s", "higher", r)
        res.add("burst: SELECT 1 on an established session, p99 before", OURS,
                r["probe_before"].get("p99_ms"), "ms", "lower", r["probe_before"])
        res.add("burst: SELECT 1 on an established session, p99 during", OURS,
                r["probe_during"].get("p99_ms"), "ms", "lower", r["probe_during"])
    else:
        res.add("burst of %d TOTP logins: time to all ready" % a.burst, OURS, r)


def measure_idle(res, a, work):
    """On a fresh server of its own, so the figure is the sessions' memory and not what the
    burst's Argon2 left behind; its one user has a cheap hash and no second factor (10,000
    logins at the real cost would take minutes and say nothing about idle memory)."""
    log("server: %d idle sessions on a fresh server" % a.idle)
    srv = OurServer(work, "tf-idle")
    try:
        srv.init()
        srv.users("idle", 0, two_factor=False, cheap=True)
        srv.serve()
        r = run([SRVBENCH, "idle", "--addr", srv.addr, "--ca", srv.dir + "/ca.pem", "--user", "idle",
                 "--password", PASSWORD, "--sessions", str(a.idle), "--server-pid", str(srv.proc.pid)], 600)
        errors = sum(1 for line in open(srv.dir + "/serve.log") if "cannot open the SQL database" in line)
    finally:
        srv.stop()
    if r.get("status") == "ok":
        r["server_sql_open_failures"] = errors
        res.add("%d idle sessions: server RSS" % a.idle, OURS, r["server_rss_kib"] / 1024, "MiB", "lower", r)
        res.add("idle sessions: server RSS per session", OURS, r["per_session_kib"], "KiB", "lower", r)
        res.add("idle sessions: SQL database not opened (out of fds)", OURS, errors, "sessions", "lower", r)
    else:
        res.add("%d idle sessions: server RSS" % a.idle, OURS, r, "MiB", "lower")


def measure_big(res, a, work, sqlite_db):
    """Server and client memory while fetching the table and the table x N, on a fresh
    server of its own (so what the logins' Argon2 left behind does not hide the figure)."""
    log("fetch memory: the table x1 and x%d through our driver on a fresh server" % a.big_copies)
    srv = OurServer(work, "tf-big")
    try:
        srv.init()
        srv.users("bench", 0, two_factor=False, cheap=True)
        data_db = os.path.join(srv.dir, "data.db")
        shutil.copy(sqlite_db, data_db)
        make_big_sqlite(data_db, a.big_copies)
        srv.serve()
        for label, sql in (("1x", SELECT), ("%dx" % a.big_copies, SELECT.replace("bench", "bench_big"))):
            before = rss_kib(srv.proc.pid)
            r = run([ODBC, "fetch", "--conn", srv.odbc(), "--sql", sql, "--batch", "10000"], 900,
                    sample_pid=srv.proc.pid)
            if r.get("status") == "ok":
                r["server_rss_before_kib"] = before
                res.add("fetch %s rows (%d): server peak RSS" % (label, r["rows"]), OURS,
                        r["server_peak_rss_kib"] / 1024, "MiB", "lower", r)
                res.add("fetch %s rows (%d): client peak RSS" % (label, r["rows"]), OURS,
                        r["client_peak_rss_kib"] / 1024, "MiB", "lower", r)
                res.add("fetch %s rows (%d): rows/s" % (label, r["rows"]), OURS, r["rows_per_s"], "rows/s",
                        "higher", r)
            else:
                res.add("fetch %s rows: server peak RSS" % label, OURS, r, "MiB", "lower")
    finally:
        srv.stop()


# ---------------------------------------------------------------- report

def fmt(v, unit):
    if not isinstance(v, (int, float)):
        return str(v)
    if unit == "rows/s" or unit == "logins/s":
        return "{:,.0f}".format(v)
    return "{:,.1f}".format(v) if v >= 10 else "{:,.2f}".format(v)


def native_ref(res, r):
    m = r["measure"]
    if not m.startswith(("fetch:", "insert:")) or r["target"] not in (OURS, OURS_PG, PSQL, SQLITE_ODBC):
        return None
    if m.startswith("fetch: pyodbc fetchmany"):
        ref = "native: python sqlite3 fetchmany"
    elif m.startswith("fetch"):
        ref = "native: python sqlite3 fetchall"
    elif m.startswith("insert"):
        ref = "native: python sqlite3 executemany"
    else:
        return None
    if r["target"] in (PSQL, OURS_PG):
        return res.get("native: psql \\copy (SELECT ...) TO /dev/null", NATIVE_PG) if m.startswith("fetch") else None
    return res.get(ref, NATIVE_SQLITE)


def ratio(v, ref, better):
    if not isinstance(v, (int, float)) or not ref:
        return ""
    return "%.2fx" % (v / ref)


def report(res, a):
    lines = []
    head = ("measure", "target", "figure", "unit", "vs psqlODBC", "vs native")
    table = [head]
    for r in res.rows:
        psql = res.get(r["measure"], PSQL) if r["target"] != PSQL else None
        table.append((r["measure"], r["target"], fmt(r["value"], r["unit"]), r["unit"],
                      ratio(r["value"], psql, r["better"]), ratio(r["value"], native_ref(res, r), r["better"])))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for k, row in enumerate(table):
        lines.append(" | ".join(str(c).ljust(w) if i < 2 or i == 3 else str(c).rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("-+-".join("-" * w for w in widths))
    m = res.meta
    print("\nTwoFactor benchmark  commit %s  %s  nproc %s  load avg %.1f -> %.1f  %.0f s"
          % (m["commit"], m["date"], m["nproc"], m["loadavg_start"], m.get("loadavg_end", 0), m.get("seconds", 0)))
    print("ratios: figure / psqlODBC's figure and / the native reader's (python sqlite3 for SQLite-backed "
          "targets, psql \\copy for psqlODBC); for ms lower is better, for rows/s higher.\n")
    print("\n".join(lines))
    with open(a.results, "a") as f:
        for r in res.rows:
            rec = dict(m)
            rec.update(measure=r["measure"], target=r["target"], value=r["value"], unit=r["unit"],
                       detail={k: v for k, v in r["detail"].items() if k != "checksum"})
            f.write(json.dumps(rec) + "\n")
    print("\n%d figures appended to %s" % (len(res.rows), a.results))


if __name__ == "__main__":
    main()
