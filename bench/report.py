"""The figures of one run: collected, printed as one table with ratios, appended to
bench/results.jsonl."""
import json
import re

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
    if unit in ("rows/s", "logins/s", "instr/row"):
        return "{:,.0f}".format(v)
    return "{:,.1f}".format(v) if v >= 10 else "{:,.2f}".format(v)


def suffix(measure):
    """The table a fetch measure is about: " [wide20]", or "" for the narrow table."""
    m = re.search(r" \[\w+\]$", measure)
    return m.group(0) if m else ""


def native_ref(res, r):
    m = r["measure"]
    if not m.startswith(("fetch:", "insert:")) or r["target"] not in (OURS, OURS_PG, PSQL, SQLITE_ODBC):
        return None
    if r["unit"] != "rows/s":
        return None
    sfx = suffix(m)
    if m.startswith("fetch: pyodbc fetchmany"):
        ref = "native: python sqlite3 fetchmany"
    elif m.startswith("fetch"):
        ref = "native: python sqlite3 fetchall"
    elif m.startswith("insert"):
        ref = "native: python sqlite3 executemany"
    else:
        return None
    if r["target"] in (PSQL, OURS_PG):
        return res.get("native: psql \\copy (SELECT ...) TO /dev/null" + sfx, NATIVE_PG) if m.startswith("fetch") else None
    return res.get(ref + sfx, NATIVE_SQLITE)


# The targets: (what, numerator (measure, target), denominator (measure, target),
# goal, True when the ratio must be at least the goal). Fetch targets per table.
FETCH_TARGETS = (
    ("columnar fetch / rusqlite C scan", ("fetch: block cursor, typed columns, 10k rows", OURS),
     ("native: SQLite C API (rusqlite), every value read", NATIVE_SQLITE), 0.7, True),
    ("columnar fetch / psqlODBC columnar", ("fetch: block cursor, typed columns, 10k rows", OURS),
     ("fetch: block cursor, typed columns, 10k rows", PSQL), 3.0, True),
    ("pyodbc fetchall / python sqlite3 fetchall", ("fetch: pyodbc fetchall()", OURS),
     ("native: python sqlite3 fetchall", NATIVE_SQLITE), 0.9, True),
)
BURST_TARGET = ("SELECT 1 p99 during / before the burst", ("burst: SELECT 1 on an established session, p99 during", OURS),
                ("burst: SELECT 1 on an established session, p99 before", OURS), 2.0, False)


def target_rows(res):
    """(what, table, numerator, denominator, ratio, goal, verdict) for every target whose
    figures this run has."""
    tables = sorted({suffix(r["measure"]) for r in res.rows if r["measure"].startswith("fetch: block cursor")})
    checks = [(what + sfx, (n + sfx, nt), (d + sfx, dt), goal, at_least)
              for sfx in tables for what, (n, nt), (d, dt), goal, at_least in FETCH_TARGETS]
    checks.append(BURST_TARGET)
    out = []
    for what, (n, nt), (d, dt), goal, at_least in checks:
        num, den = res.get(n, nt), res.get(d, dt)
        if num is None or not den:
            continue
        q = num / den
        met = q >= goal if at_least else q <= goal
        out.append((what, num, den, q, ("≥ " if at_least else "≤ ") + "%gx" % goal, "met" if met else "NOT met"))
    return out


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
    checks = target_rows(res)
    if checks:
        print("\nTargets (issue 13), ratios of this run's figures:\n")
        table = [("target", "figure", "against", "ratio", "goal", "")]
        table += [(w, "{:,.2f}".format(n), "{:,.2f}".format(d), "%.2fx" % q, g, v) for w, n, d, q, g, v in checks]
        widths = [max(len(str(row[i])) for row in table) for i in range(6)]
        for k, row in enumerate(table):
            print(" | ".join(str(c).ljust(w) if i in (0, 4, 5) else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths))))
            if k == 0:
                print("-+-".join("-" * w for w in widths))
    with open(a.results, "a") as f:
        for r in res.rows:
            rec = dict(m)
            rec.update(measure=r["measure"], target=r["target"], value=r["value"], unit=r["unit"],
                       detail={k: v for k, v in r["detail"].items() if k != "checksum"})
            f.write(json.dumps(rec) + "\n")
        for what, num, den, q, goal, verdict in checks:
            rec = dict(m)
            rec.update(measure="target: " + what, target=OURS, value=q, unit="x",
                       detail={"figure": num, "against": den, "goal": goal, "verdict": verdict})
            f.write(json.dumps(rec) + "\n")
    print("\n%d figures appended to %s" % (len(res.rows), a.results))
