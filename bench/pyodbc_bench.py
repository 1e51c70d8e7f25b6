#!/usr/bin/env python3
"""pyodbc and python-sqlite3 sides of the benchmark; one measurement per process.

    pyodbc_bench.py fetch  --conn STR --sql SQL --mode fetchall|fetchmany [--size 10000]
    pyodbc_bench.py insert --conn STR --table T --rows N          (fast_executemany)
    pyodbc_bench.py sqlite-fetch  --db FILE --sql SQL --mode fetchall|fetchmany
    pyodbc_bench.py sqlite-insert --db FILE --table T --rows N     (executemany)

Prints one JSON object. bench.py runs each in its own process, so a driver that crashes
takes down only its own figure.
"""
import argparse
import datetime
import json
import resource
import sys
import time


def rows_for_insert(n):
    base = datetime.datetime(2024, 1, 1)
    return [
        (i, "name_%d" % (i * 7919 % 1000003), (i * 37 % 10007) / 7.0,
         base + datetime.timedelta(seconds=i, milliseconds=i % 1000))
        for i in range(n)
    ]


def drain(cur, mode, size):
    rows = 0
    if mode == "fetchall":
        rows = len(cur.fetchall())
    else:
        while True:
            batch = cur.fetchmany(size)
            if not batch:
                break
            rows += len(batch)
    return rows


def result(rows, seconds, **extra):
    out = {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
           "client_peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    out.update(extra)
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command")
    p.add_argument("--conn")
    p.add_argument("--db")
    p.add_argument("--sql")
    p.add_argument("--mode", default="fetchall")
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--table")
    p.add_argument("--rows", type=int, default=100000)
    a = p.parse_args()

    if a.command in ("fetch", "insert"):
        import pyodbc
        conn = pyodbc.connect(a.conn)
        cur = conn.cursor()
        if a.command == "fetch":
            t = time.perf_counter()
            cur.execute(a.sql)
            rows = drain(cur, a.mode, a.size)
            result(rows, time.perf_counter() - t)
        else:
            data = rows_for_insert(a.rows)
            cur.fast_executemany = True
            t = time.perf_counter()
            cur.executemany("INSERT INTO %s (id, name, score, ts) VALUES (?, ?, ?, ?)" % a.table, data)
            conn.commit()
            result(a.rows, time.perf_counter() - t)
        conn.close()
    elif a.command in ("sqlite-fetch", "sqlite-insert"):
        import sqlite3
        conn = sqlite3.connect(a.db)
        if a.command == "sqlite-fetch":
            t = time.perf_counter()
            cur = conn.execute(a.sql)
            rows = drain(cur, a.mode, a.size)
            result(rows, time.perf_counter() - t)
        else:
            data = [(i, n, s, ts.isoformat(" ", "milliseconds")) for i, n, s, ts in rows_for_insert(a.rows)]
            t = time.perf_counter()
            conn.executemany("INSERT INTO %s (id, name, score, ts) VALUES (?, ?, ?, ?)" % a.table, data)
            conn.commit()
            result(a.rows, time.perf_counter() - t)
        conn.close()
    else:
        sys.exit("unknown command " + a.command)


if __name__ == "__main__":
    main()
