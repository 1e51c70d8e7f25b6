"""The figures of one run: collected, printed as one table with ratios, appended to
bench/results.jsonl."""
import json

from common import log, NATIVE_PG, NATIVE_SQLITE, OURS, OURS_PG, PSQL, SQLITE_ODBC


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
