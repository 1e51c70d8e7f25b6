"""A client process for test_sitting.py: THREADS threads (default 1) connect at once with
the connection string in argv[1], run SELECT 40 + 2 and close, ROUNDS times (default 1).
Prints one JSON list: per connection ["ok", 42] or ["error", message].

Run as its own process so that its tickets are not in the test's Memory store (a second
process must find them in the keyring or the file store) and so that unixODBC's pool can
be switched on (ODBCSYSINI) before pyodbc first reads the configuration."""

import json
import os
import sys
import threading

import pyodbc


def connect_once(conn_str):
    try:
        cnxn = pyodbc.connect(conn_str)
        try:
            return ["ok", cnxn.cursor().execute("SELECT 40 + 2").fetchval()]
        finally:
            cnxn.close()
    except pyodbc.Error as e:
        return ["error", str(e)]


def main():
    conn_str = sys.argv[1]
    threads = int(os.environ.get("THREADS", "1"))
    rounds = int(os.environ.get("ROUNDS", "1"))
    results = []
    for _ in range(rounds):
        barrier = threading.Barrier(threads)
        out = [None] * threads

        def worker(i):
            barrier.wait()
            out[i] = connect_once(conn_str)

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        results.extend(out)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
