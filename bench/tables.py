"""The fetch benchmark's tables: the narrow one (4 columns, the issue's first figures) and
two wide ones, since 4 narrow columns flatter a driver: `wide20`, 20 columns of mixed
types (bigint, int, varchar of several lengths, double, timestamp, date, decimal/numeric,
nullable columns with NULLs, a varbinary), and `text2k`, an id and a 2 KiB text column.

Each table is loaded into the SQLite file (the SQLite ODBC driver's, copied to our
server's data.db) with python sqlite3 and into PostgreSQL with \\copy from a CSV; every
driver reads it with the same column buffers (`cols`, bench-odbc's `--cols`)."""
import csv
import datetime

BASE = datetime.datetime(2024, 1, 1)


class Table:
    def __init__(self, name, columns, cols, rows_fn):
        """columns: (name, SQLite type, PostgreSQL type); cols: bench-odbc buffer kinds;
        rows_fn(n): the rows as python values (None for NULL, bytes for binary)."""
        self.name = name
        self.columns = columns
        self.cols = cols
        self.rows_fn = rows_fn
        self.select = "SELECT %s FROM %s" % (", ".join(c[0] for c in columns), name)

    def sqlite_ddl(self, table=None):
        return "CREATE TABLE %s (%s)" % (table or self.name, ", ".join("%s %s" % (c[0], c[1]) for c in self.columns))

    def pg_ddl(self, table=None):
        return "CREATE TABLE %s (%s)" % (table or self.name, ", ".join("%s %s" % (c[0], c[2]) for c in self.columns))

    def write_csv(self, path, n):
        """PostgreSQL's CSV: an unquoted empty field is NULL, bytea as \\x hex."""
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            for row in self.rows_fn(n):
                w.writerow(["" if v is None else ("\\x" + v.hex()) if isinstance(v, bytes)
                            else v.isoformat(" ", "milliseconds") if isinstance(v, datetime.datetime)
                            else v for v in row])

    def load_sqlite(self, con, n):
        marks = ", ".join("?" * len(self.columns))

        def stored(v):
            # As the narrow table is stored: date/time as ISO text (SQLite has no type for them).
            if isinstance(v, datetime.datetime):
                return v.isoformat(" ", "milliseconds")
            if isinstance(v, datetime.date):
                return v.isoformat()
            return v
        con.execute(self.sqlite_ddl())
        con.executemany("INSERT INTO %s VALUES (%s)" % (self.name, marks),
                        (tuple(stored(v) for v in row) for row in self.rows_fn(n)))


def narrow_rows(n):
    for i in range(n):
        yield (i, "name_%d" % (i * 7919 % 1000003), (i * 37 % 10007) / 7.0,
               BASE + datetime.timedelta(seconds=i, milliseconds=i % 1000))


NARROW = Table("bench", [("id", "BIGINT", "bigint"), ("name", "VARCHAR(32)", "varchar(32)"),
                         ("score", "DOUBLE", "double precision"), ("ts", "TIMESTAMP", "timestamp")],
               "i64,text:32,f64,ts", narrow_rows)

STATUSES = ("new", "open", "pending", "shipped", "closed", "returned")


def wide_rows(n):
    for i in range(n):
        h = i * 2654435761 % 4294967296
        yield (
            i,                                                    # id bigint
            h % 100000,                                           # qty int
            "C%05d" % (h % 99991),                                # code varchar(8)
            "customer_%d" % (h % 1000003),                        # name varchar(32)
            "item %d, colour %d, size %d" % (h % 9973, h % 17, h % 41),  # descr varchar(100)
            (h % 1000000) / 100.0,                                # price double
            (h % 9999) / 9999.0,                                  # ratio double
            BASE + datetime.timedelta(seconds=i, milliseconds=i % 1000),  # created timestamp
            (BASE + datetime.timedelta(days=i % 3650)).date(),    # day date
            "%d.%04d" % (h % 10000000, i % 10000),                # amount decimal(18,4)
            "%d.%02d" % (h % 1000, i % 100),                      # fee numeric(10,2)
            None if i % 3 == 0 else h % 1000,                     # maybe_int int, a third NULL
            None if i % 4 == 0 else "note %d" % h,                # maybe_text varchar(64), a quarter NULL
            h * 7 % 10000000000,                                  # counter bigint
            h.to_bytes(4, "little") * 4,                          # token varbinary(16)
            BASE + datetime.timedelta(seconds=2 * i + 17),        # updated timestamp
            STATUSES[i % len(STATUSES)],                          # status varchar(16)
            (h % 50000) / 1000.0,                                 # weight double
            h % 256,                                              # flags int
            "x" * (1 + h % 200),                                  # remark varchar(255), 1-200 chars (an empty
                                                                  # one would be NULL in PostgreSQL's CSV)
        )


WIDE = Table("wide20", [
    ("id", "BIGINT", "bigint"), ("qty", "INTEGER", "integer"), ("code", "VARCHAR(8)", "varchar(8)"),
    ("name", "VARCHAR(32)", "varchar(32)"), ("descr", "VARCHAR(100)", "varchar(100)"),
    ("price", "DOUBLE", "double precision"), ("ratio", "DOUBLE", "double precision"),
    ("created", "TIMESTAMP", "timestamp"), ("day", "DATE", "date"),
    ("amount", "DECIMAL(18,4)", "numeric(18,4)"), ("fee", "NUMERIC(10,2)", "numeric(10,2)"),
    ("maybe_int", "INTEGER", "integer"), ("maybe_text", "VARCHAR(64)", "varchar(64)"),
    ("counter", "BIGINT", "bigint"), ("token", "VARBINARY(16)", "bytea"),
    ("updated", "TIMESTAMP", "timestamp"), ("status", "VARCHAR(16)", "varchar(16)"),
    ("weight", "DOUBLE", "double precision"), ("flags", "INTEGER", "integer"),
    ("remark", "VARCHAR(255)", "varchar(255)"),
], "i64,i32,text:8,text:32,text:100,f64,f64,ts,date,text:20,text:12,i32,text:64,i64,bin:16,ts,text:16,f64,i32,"
   "text:255", wide_rows)

TEXT_LEN = 2048


def text_rows(n):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    for i in range(n):
        # Different for every row (a repeated string would flatter nothing, but be honest).
        k = i % len(alphabet)
        body = (alphabet[k:] + alphabet[:k]) * (TEXT_LEN // len(alphabet) + 1)
        yield (i, ("%08d" % i + body)[:TEXT_LEN])


TEXT2K = Table("text2k", [("id", "BIGINT", "bigint"), ("body", "VARCHAR(%d)" % TEXT_LEN, "varchar(%d)" % TEXT_LEN)],
               "i64,text:%d" % TEXT_LEN, text_rows)

TABLES = {"narrow": NARROW, "wide": WIDE, "text": TEXT2K}
