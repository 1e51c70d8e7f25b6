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
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time

from common import (NATIVE_PG, NATIVE_SQLITE, ODBC, OURS, OURS_PG, PASSWORD, PSQL, PY, PYBENCH, ROOT, SELECT,
                    SETUP, SQLITE_ODBC, SRVBENCH, STORE_PG, STORE_SQLITE, log)
from report import Results, add_rate, report
from tables import TABLES, NARROW
from targets import OurServer, Postgres, odbc_lib


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
    server_cpu = cpu_seconds(sample_pid) if sample_pid else None
    client_cpu = children_cpu_seconds()
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
    out["client_cpu_s"] = children_cpu_seconds() - client_cpu
    if sample_pid:
        out["server_peak_rss_kib"] = peak[0]
        out["server_cpu_s"] = cpu_seconds(sample_pid) - server_cpu
    return out


def cpu_seconds(pid, task=None):
    """utime + stime of a process (or of one of its threads) from /proc, in seconds."""
    path = "/proc/%s/task/%s/stat" % (pid, task) if task else "/proc/%s/stat" % pid
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # After the command: state is field 3, utime field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """CPU of the measurement processes that ended so far (the clients), user + system."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_by_thread_group(pid):
    """CPU seconds per group of a process's threads, grouped by name without its digits
    (argon2-0 and argon2-1 are `argon2-`; tokio's workers are `tokio-runtime-w`)."""
    groups = {}
    try:
        tasks = os.listdir("/proc/%s/task" % pid)
    except OSError:
        return groups
    for t in tasks:
        try:
            with open("/proc/%s/task/%s/comm" % (pid, t)) as f:
                name = f.read().strip().rstrip("0123456789")
        except OSError:
            continue
        groups[name] = groups.get(name, 0.0) + cpu_seconds(pid, t)
    return groups


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


# ---------------------------------------------------------------- the run

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--insert-rows", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--logins", type=int, default=40)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--big-copies", type=int, default=10, help="0 skips the 10M-row memory check")
    ap.add_argument("--wide-rows", type=int, default=0, help="rows of the wide20 table (default: --rows / 5)")
    ap.add_argument("--text-rows", type=int, default=0, help="rows of the text2k table (default: --rows / 20)")
    ap.add_argument("--tables", default="narrow,wide,text", help="fetch tables: comma list of narrow,wide,text")
    ap.add_argument("--callgrind-rows", type=int, default=20_000,
                    help="rows of the callgrind fetches (client instructions per row)")
    ap.add_argument("--no-callgrind", action="store_true", help="skip the callgrind fetches (valgrind is slow)")
    ap.add_argument("--only", default="", help="comma list: login,fetch,insert,server,store,big")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results.jsonl"))
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    counts = {"narrow": a.rows, "wide": a.wide_rows or max(1, a.rows // 5), "text": a.text_rows or max(1, a.rows // 20)}
    tables = [(TABLES[k], counts[k]) for k in a.tables.split(",") if k]

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
        if want("fetch"):
            load_wide_tables(work, pg, sqlite_db, [(t, n) for t, n in tables if t is not NARROW])
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
            for table, n in tables:
                measure_fetch(res, a, pg, ours, ours_pg, sqlite_odbc, sqlite_db, table, n)
            if not a.no_callgrind:
                for table, n in tables:
                    measure_callgrind(res, a, ours, work, table, min(n, a.callgrind_rows))
            rss_checkpoint(res, ours, "after the fetch benchmarks")
        if want("insert"):
            measure_insert(res, a, pg, ours, ours_pg, sqlite_odbc, sqlite_db, data_db)
        if want("server"):
            measure_server(res, a, ours, burst_file)
            rss_checkpoint(res, ours, "after the %d-login burst" % a.burst)
            measure_idle(res, a, work)
        if want("store"):
            measure_store(res, a, pg, work)
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


def load_wide_tables(work, pg, sqlite_db, tables):
    con = sqlite3.connect(sqlite_db)
    for table, n in tables:
        log("table %s: %d rows into SQLite and PostgreSQL" % (table.name, n))
        table.load_sqlite(con, n)
        con.commit()
        path = os.path.join(work, table.name + ".csv")
        table.write_csv(path, n)
        os.chmod(path, 0o644)
        pg.psql_tls(table.pg_ddl())
        pg.psql_tls("\\copy %s FROM '%s' WITH (FORMAT csv)" % (table.name, path))
        pg.psql_tls("VACUUM ANALYZE %s" % table.name)
        os.remove(path)
    con.close()


def label(table):
    """The measures' suffix: none for the narrow table (the names results.jsonl has had)."""
    return "" if table is NARROW else " [%s]" % table.name


def fixed_cpu(cmd, reps, sample_pid):
    """Server and client CPU of the same fetch limited to one row (medians of `reps`): the
    process start, the TLS handshake and the login (Argon2 alone is ~17 ms of server CPU),
    which add_cpu_per_row subtracts so that a small table's figure is the rows' cost."""
    runs = []
    for _ in range(reps):
        r = run(cmd, 120, sample_pid=sample_pid)
        if r["status"] != "ok":
            return None
        runs.append(r)

    def median(key):
        if any(r.get(key) is None for r in runs):
            return None
        return sorted(r[key] for r in runs)[len(runs) // 2]
    return {"server_cpu_s": median("server_cpu_s"), "client_cpu_s": median("client_cpu_s")}


def add_cpu_per_row(res, measure, target, r, fixed=None):
    """Server and client CPU per fetched row (utime + stime from /proc and getrusage), less
    the CPU of the same fetch of one row (`fixed`) when it was measured. /proc counts in
    clock ticks (10 ms), so the fixed part is known to about a tick."""
    if r.get("status") != "ok" or not r.get("rows"):
        return
    for side in ("server", "client"):
        key = side + "_cpu_s"
        if r.get(key) is None:
            continue
        base = (fixed or {}).get(key)
        spent = r[key] - (base or 0.0)
        res.add(measure + ": %s CPU per row" % side, target, spent / r["rows"] * 1e6, "us/row", "lower",
                {key: r[key], "fixed_" + key: base, "rows": r["rows"]})


def measure_fetch(res, a, pg, ours, ours_pg, sqlite_odbc, sqlite_db, table, rows):
    log("fetch of %s, %d rows, %d runs each" % (table.name, rows, a.reps))
    sfx = label(table)
    sql = table.select
    targets = [(OURS, ours.odbc(), ours.proc.pid), (OURS_PG, ours_pg.odbc(), ours_pg.proc.pid),
               (PSQL, pg.odbc(), None), (SQLITE_ODBC, sqlite_odbc, None)]
    for name, conn, pid in targets:
        def block_cursor(q):
            return [ODBC, "fetch", "--conn", conn, "--sql", q, "--batch", "10000", "--cols", table.cols]

        def pyodbc_fetch(q, mode):
            return [PY, PYBENCH, "fetch", "--conn", conn, "--sql", q, "--mode", mode]
        one_row = sql + " LIMIT 1"
        r = repeated(block_cursor(sql), a.reps, 600, sample_pid=pid)
        add_rate(res, "fetch: block cursor, typed columns, 10k rows" + sfx, name, r)
        add_cpu_per_row(res, "fetch: block cursor" + sfx, name, r, fixed_cpu(block_cursor(one_row), a.reps, pid))
        for mode in ("fetchall", "fetchmany"):
            r = repeated(pyodbc_fetch(sql, mode), a.reps, 600, sample_pid=pid)
            m = "fetch: pyodbc %s" % ("fetchall()" if mode == "fetchall" else "fetchmany(10000)")
            add_rate(res, m + sfx, name, r)
            if mode == "fetchall":
                add_cpu_per_row(res, "fetch: pyodbc fetchall()" + sfx, name, r,
                                fixed_cpu(pyodbc_fetch(one_row, mode), a.reps, pid))
    for mode in ("fetchall", "fetchmany"):
        r = repeated([PY, PYBENCH, "sqlite-fetch", "--db", sqlite_db, "--sql", sql, "--mode", mode],
                     a.reps, 600)
        add_rate(res, "native: python sqlite3 %s%s" % (mode, sfx), NATIVE_SQLITE, r)
    r = run([SETUP, "native-sqlite", "--db", sqlite_db, "--sql", sql, "--reps", str(a.reps)], 600)
    add_rate(res, "native: SQLite C API (rusqlite), every value read" + sfx, NATIVE_SQLITE, r)
    times = []
    copy = "native: psql \\copy (SELECT ...) TO /dev/null" + sfx
    for _ in range(a.reps):
        t = time.perf_counter()
        try:
            pg.psql_tls("\\copy (%s) TO '/dev/null'" % sql)
            times.append(time.perf_counter() - t)
        except subprocess.SubprocessError as e:
            res.add(copy, NATIVE_PG, "error", "rows/s", "higher", {"message": str(e)[:300]})
            break
    if times:
        s = statistics.median(times)
        res.add(copy, NATIVE_PG, rows / s, "rows/s", "higher",
                {"seconds": s, "runs": [rows / x for x in times], "note": "includes psql start and TLS login"})


def callgrind_instructions(cmd, out_file):
    """Instructions the process ran under callgrind (the `totals:` line of its output)."""
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out_file] + cmd,
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError((p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1][:300])
    with open(out_file) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in " + out_file)


def self_cost_by_object(out_file):
    """Instructions of a callgrind output file by shared object (self cost: the cost lines
    that follow a `calls=` line are a callee's inclusive cost and are not counted again).
    Names are the object's file name (libtwofactorodbc.so, libodbc.so.2, python3.11...)."""
    names, by_obj, obj, after_call = {}, {}, "?", False
    with open(out_file) as f:
        for line in f:
            if line.startswith(("ob=", "cob=")):
                # A compressed name, "(id) path", is defined where it first appears, which
                # may be a callee's object (cob=); "(id)" alone refers to it.
                m = re.match(r"c?ob=(?:\((\d+)\))?\s*(.*)", line.rstrip("\n"))
                ident, name = m.group(1), m.group(2)
                if name:
                    names[ident] = os.path.basename(name)
                if line.startswith("ob="):
                    obj = names.get(ident, os.path.basename(name) or "?")
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    by_obj[obj] = by_obj.get(obj, 0) + int(parts[1])
    return by_obj


def measure_callgrind(res, a, ours, work, table, rows):
    """Client instructions per row through our driver: the same fetch under callgrind with
    LIMIT rows and with LIMIT 1, the difference divided by rows - 1, so the process start,
    the login (a few million instructions) and the imports are not counted."""
    log("callgrind: %s, %d rows, block cursor and pyodbc fetchall" % (table.name, rows))
    sfx = label(table)
    clients = (
        ("fetch: block cursor, client instructions per row (callgrind)",
         lambda sql: [ODBC, "fetch", "--conn", ours.odbc(), "--sql", sql, "--batch", "10000", "--cols", table.cols]),
        ("fetch: pyodbc fetchall(), client instructions per row (callgrind)",
         lambda sql: [PY, PYBENCH, "fetch", "--conn", ours.odbc(), "--sql", sql, "--mode", "fetchall"]),
    )
    for measure, cmd in clients:
        try:
            counts = [callgrind_instructions(cmd("%s LIMIT %d" % (table.select, n)),
                                             os.path.join(work, "callgrind.out.%d" % n)) for n in (1, rows)]
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            res.add(measure + sfx, OURS, "error", "instr/row", "lower", {"message": str(e)[:300]})
            continue
        res.add(measure + sfx, OURS, (counts[1] - counts[0]) / max(1, rows - 1), "instr/row", "lower",
                {"rows": rows, "instructions": counts[1], "instructions_limit_1": counts[0]})
        # Where they go: our driver, the driver manager, the client (odbc-api or pyodbc and
        # Python), libc; each as the same difference of the two runs.
        try:
            small, big = (self_cost_by_object(os.path.join(work, "callgrind.out.%d" % n)) for n in (1, rows))
        except (OSError, ValueError) as e:
            log("  callgrind split by object failed: %s" % e)
            continue
        split = {o: (big[o] - small.get(o, 0)) / max(1, rows - 1) for o in big}
        for obj, per_row in sorted(split.items(), key=lambda kv: -kv[1])[:4]:
            res.add("%s, of it in %s" % (measure, obj) + sfx, OURS, per_row, "instr/row", "lower")


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
        if name == OURS_PG and r.get("status") != "ok":
            # The PostgreSQL backend does not translate ODBC's `?` yet: the same arrays
            # with PostgreSQL's own markers, so the array path is measured meanwhile.
            r = repeated([ODBC, "insert", "--conn", conn, "--table", "bench_ins", "--rows", str(a.insert_rows),
                          "--batch", "10000", "--dollar-markers"], a.reps, 600, before=empty)
            add_rate(res, "insert: odbc-api column inserter, 10k-row arrays, $1..$4 markers", name, r)
    r = repeated([PY, PYBENCH, "sqlite-insert", "--db", sqlite_db, "--table", "bench_ins", "--rows",
                  str(a.insert_rows)], a.reps, 600, before=empty_sqlite(sqlite_db))
    add_rate(res, "native: python sqlite3 executemany", NATIVE_SQLITE, r)


def measure_server(res, a, ours, burst_file):
    log("server: %d concurrent TOTP logins, then %d idle sessions" % (a.burst, a.idle))
    # Every burst user logs in once: a TOTP code is good once per 30 s step.
    threads_before = cpu_by_thread_group(ours.proc.pid)
    r = run([SRVBENCH, "burst", "--addr", ours.addr, "--ca", ours.dir + "/ca.pem", "--users", burst_file,
             "--password", PASSWORD, "--probe-user", "bench"], 600, sample_pid=ours.proc.pid)
    threads_after = cpu_by_thread_group(ours.proc.pid)
    if r.get("status") == "ok":
        res.add("burst of %d TOTP logins: time to all ready" % a.burst, OURS, r["all_ready_s"], "s", "lower", r)
        res.add("burst: login p99", OURS, r["login"].get("p99_ms"), "ms", "lower", r["login"])
        res.add("burst: logins/s per core", OURS, r["logins_per_s"] / os.cpu_count(), "logins/s", "higher", r)
        res.add("burst: SELECT 1 on an established session, p99 before", OURS,
                r["probe_before"].get("p99_ms"), "ms", "lower", r["probe_before"])
        res.add("burst: SELECT 1 on an established session, p99 during", OURS,
                r["probe_during"].get("p99_ms"), "ms", "lower", r["probe_during"])
        res.add("burst: SELECT 1 on an established session, max during", OURS,
                r["probe_during"].get("max_ms"), "ms", "lower", r["probe_during"])
        # Which part of the burst slows it: its first 2 s (every TLS handshake and attempt
        # reservation at once) or the rest (logins waiting for their password hashes).
        for phase, what in (("connect", "first 2 s"), ("hash", "after 2 s")):
            during = r.get("probe_during_%s_phase" % phase) or {}
            res.add("burst: SELECT 1 on an established session, p99 during, %s" % what, OURS,
                    during.get("p99_ms"), "ms", "lower", during)
        # Where the CPU went during the burst: the server's threads by kind, and the client.
        for group in sorted(threads_after, key=lambda g: -threads_after[g]):
            spent = threads_after[group] - threads_before.get(group, 0.0)
            if spent >= 0.05:
                res.add("burst: server CPU in %s* threads" % group, OURS, spent, "s", "lower", {})
        res.add("burst: server CPU in all", OURS, r["server_cpu_s"], "s", "lower", {})
        res.add("burst: client CPU (the burst's logins and the probe)", OURS, r["client_cpu_s"], "s", "lower", {})
    else:
        res.add("burst of %d TOTP logins: time to all ready" % a.burst, OURS, r)


def measure_store(res, a, pg, work):
    """Logins on the PostgreSQL user store next to the SQLite store: two fresh servers with
    the same configuration and the same number of users (real Argon2 cost), measured one
    after the other with the same clients: sequential TOTP logins through ODBC, then a
    burst of concurrent logins through the protocol client."""
    log("user store: %d sequential and %d concurrent TOTP logins, SQLite store then PostgreSQL store"
        % (a.logins, a.burst))
    password_file = os.path.join(work, "pg-store-password")
    pg.add_store_database(password_file)
    rates = {}
    for target, name in ((STORE_SQLITE, "tf-store-sqlite"), (STORE_PG, "tf-store-pg")):
        srv = OurServer(work, name)
        try:
            srv.init()
            # The burst stands for many clients behind one address: neither the address's
            # failure budget (which counts logins in flight) nor the login timeout may cut
            # it short, on either store.
            srv.set_auth(address_max_failures=100000)
            srv.set_server(login_timeout_secs=300)
            if target == STORE_PG:
                srv.use_postgres_store(pg, password_file)
            srv.users("bench", 0, two_factor=False)
            seq_file, burst_file, phases_file = (os.path.join(work, "%s-%s.txt" % (name, k))
                                                 for k in ("seq", "burst", "phases"))
            srv.users("s", a.logins + 2, out=seq_file)
            srv.users("p", a.logins, out=phases_file)
            srv.users("b", a.burst, out=burst_file)
            srv.serve()
            # The PostgreSQL store's pool opens its first connections (TLS and SCRAM each)
            # in the background at start; neither store is measured before that is done.
            time.sleep(3)
            r = run([SRVBENCH, "phases", "--addr", srv.addr, "--ca", srv.dir + "/ca.pem", "--users", phases_file,
                     "--password", PASSWORD], 300)
            for k in ("total", "password", "second_factor"):
                res.add("store: login phase without ODBC, median: %s" % k, target,
                        r[k].get("median_ms") if r.get("status") == "ok" else r.get("status"), "ms", "lower",
                        r.get(k, r))
            r = run([ODBC, "login", "--conn", srv.odbc("{user}", ";TwoFactorCode={code}"), "--users", seq_file,
                     "--warmup", "2"], 300)
            if r.get("status") == "ok":
                rates[(target, "seq")] = 1000.0 / r["median_ms"]
                res.add("store: sequential TOTP logins through ODBC (1 / median)", target, rates[(target, "seq")],
                        "logins/s", "higher", r)
            else:
                res.add("store: sequential TOTP logins through ODBC (1 / median)", target, r, "logins/s", "higher")
            r = run([SRVBENCH, "burst", "--addr", srv.addr, "--ca", srv.dir + "/ca.pem", "--users", burst_file,
                     "--password", PASSWORD, "--probe-user", "bench"], 600, sample_pid=srv.proc.pid)
            if r.get("status") == "ok":
                rates[(target, "burst")] = r["logins_per_s"]
                res.add("store: burst of %d concurrent TOTP logins" % a.burst, target, r["logins_per_s"],
                        "logins/s", "higher", r)
                res.add("store: burst login p99", target, r["login"].get("p99_ms"), "ms", "lower", r["login"])
            else:
                res.add("store: burst of %d concurrent TOTP logins" % a.burst, target, r, "logins/s", "higher")
        finally:
            srv.stop()
    for kind, label in (("seq", "sequential"), ("burst", "burst")):
        sq, pq = rates.get((STORE_SQLITE, kind)), rates.get((STORE_PG, kind))
        if sq and pq:
            res.add("store: PostgreSQL / SQLite logins/s, %s (goal >= 0.8)" % label, STORE_PG, pq / sq, "x",
                    "higher", {"sqlite": sq, "postgres": pq})


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


if __name__ == "__main__":
    main()
