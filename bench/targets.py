"""What bench.py measures against: a PostgreSQL cluster of its own (psqlODBC's server, and
the database behind our server's PostgreSQL SQL backend and user store) and our server,
each in the run's temporary directory on loopback."""
import glob
import os
import re
import shutil
import socket
import subprocess

from common import OUR_DRIVER, PASSWORD, SERVER, SETUP

PG_DDL = ("CREATE TABLE {t} (id bigint, name varchar(32), score double precision, ts timestamp)")
# The login role our PostgreSQL-backed server connects as; each session then runs as the
# ODBC user's role (`bench`, the role psqlODBC logs in as), so both read the same table
# with the same rights.
PG_LOGIN_ROLE = "twofactor_login"


def odbc_lib(name):
    for d in ("/usr/lib/x86_64-linux-gnu/odbc", "/usr/lib/aarch64-linux-gnu/odbc", "/usr/lib/odbc",
              "/usr/lib64", "/usr/lib"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    # A walk that does not follow symbolic links: a recursive glob does, and loops for
    # ever in the cycles some packages leave under /usr/lib (llvm-14's, for one).
    for root, _dirs, files in os.walk("/usr/lib", followlinks=False):
        if name in files:
            return os.path.join(root, name)
    return name


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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

    def add_store_database(self, password_file):
        """Database and role of the PostgreSQL user store (the server migrates its schema)."""
        password = os.urandom(18).hex()
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password)
        self.sh(["psql", "-h", self.sock, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                 "-v", "ON_ERROR_STOP=1", "-qAt"],
                input="CREATE ROLE twofactor_store LOGIN PASSWORD '%s';"
                      "CREATE DATABASE twofactor_store OWNER twofactor_store;" % password)

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

    def set_keys(self, section, **keys):
        """Replaces `key = ...` lines of [section] in server.toml (keys init wrote)."""
        conf = os.path.join(self.dir, "server.toml")
        with open(conf) as f:
            text = f.read()
        head, sep, rest = text.partition("\n[%s]\n" % section)
        body, nxt, tail = rest.partition("\n[")
        for key, value in keys.items():
            body, n = re.subn(r"(?m)^%s = .*$" % key, "%s = %s" % (key, value), body)
            if n != 1:
                raise RuntimeError("server.toml: [%s] %s not found" % (section, key))
        with open(conf, "w") as f:
            f.write(head + sep + body + nxt + tail)

    def set_auth(self, **keys):
        self.set_keys("auth", **keys)

    def set_server(self, **keys):
        self.set_keys("server", **keys)

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

    def use_postgres_store(self, pg, password_file):
        """[store] on the bench cluster's twofactor_store database (add_store_database)."""
        conf = os.path.join(self.dir, "server.toml")
        with open(conf) as f:
            text = f.read()
        if "\n[store]\n" not in text:
            raise RuntimeError("server.toml has no [store] section: this server has no PostgreSQL store")
        text = text.replace("\n[store]\n", '\n[store]\nurl = "postgres://twofactor_store@127.0.0.1:%d/twofactor_store'
                            '?sslmode=require"\nca_file = "%s"\npassword_file = "%s"\n'
                            % (pg.port, pg.ca_file, password_file), 1)
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
