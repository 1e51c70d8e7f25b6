"""One code per sitting (docs/pooling.md, docs/tickets.md), through pyodbc and isql
against a live server: single-flight logins and the driver's two-factor tickets.

Every code comes from tests/python/code_helper.sh as TwoFactorCodeCommand, which counts
its runs: "the helper ran once" is read from that count, and "the server verified one
code" from the server's audit log.

Run: python3 tests/python/test_sitting.py (after building twofactor-server and the
driver into $CARGO_TARGET_DIR). The test of a ticket file copied to another OS user
needs root (it creates a user with useradd); it is skipped, saying so, otherwise.
"""

import json
import os
import pathlib
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_pyodbc import DRIVER, PASSWORD, LiveServer  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
HELPER = HERE / "code_helper.sh"
CLIENT = HERE / "sitting_client.py"
OTHER_USER = "tf-sitting-other"


def put_toml(text, section, key, value):
    """Sets `key = value` in [section]: replaced if present, else added under the header,
    else in a new section at the end."""
    lines = text.splitlines()
    current, header_at = None, None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            current = stripped.strip("[]")
            if current == section:
                header_at = i
        elif current == section and stripped.split("=")[0].strip() == key and not stripped.startswith("#"):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    if header_at is None:
        return text + f"\n[{section}]\n{key} = {value}\n"
    lines.insert(header_at + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


class SittingServer(LiveServer):
    """A server with [tickets] as the test wants, and a skew window of two steps (the
    helper hands out each step once, so quick successive logins use the steps ahead)."""

    def __init__(self, tickets=None):
        self.tickets = tickets or {}
        super().__init__()

    def configure(self, text):
        text = put_toml(text, "totp", "skew_steps", "2")
        for key, value in self.tickets.items():
            text = put_toml(text, "tickets", key, value)
        return text

    def audit(self, user, event=None):
        path = self.data / "audit.log"
        if not path.exists():
            return []
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [e for e in events if e.get("user") == user and (event is None or e.get("event") == event)]

    def verified_codes(self, user):
        return [e for e in self.audit(user, "second_factor") if e.get("outcome") == "ok"]

    def failures(self, user):
        return [e for e in self.audit(user) if e.get("outcome") in ("rejected", "locked")]


class Helper:
    """A directory with the user's TOTP secret and code_helper.sh's counters."""

    def __init__(self, secret):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="tf-helper-"))
        os.chmod(self.dir, 0o755)
        shutil.copy(HELPER, self.dir / "code_helper.sh")
        (self.dir / "secret").write_text(secret)
        os.chmod(self.dir / "secret", 0o644)

    @property
    def command(self):
        return str(self.dir / "code_helper.sh")

    def runs(self):
        path = self.dir / "runs"
        return len(path.read_text().splitlines()) if path.exists() else 0


def run_client(conn_str, threads=1, rounds=1, env=None):
    out = subprocess.run([sys.executable, str(CLIENT), conn_str], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "THREADS": str(threads), "ROUNDS": str(rounds), **(env or {})})
    if out.returncode != 0:
        raise AssertionError(f"sitting_client failed: {out.stdout}{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def private_dir(prefix):
    d = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, 0o700)
    return d


class Base(unittest.TestCase):
    tickets = None

    @classmethod
    def setUpClass(cls):
        cls.server = SittingServer(cls.tickets)
        cls.cache = private_dir("tf-sitting-cache-")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.cache, ignore_errors=True)

    def user(self):
        name = re.sub(r"\W", "_", self.id().rsplit(".", 1)[1])[:40]
        helper = Helper(self.server.add_user(name))
        self.addCleanup(shutil.rmtree, helper.dir, True)
        return name, helper

    def conn_str(self, name, helper, **extra):
        return self.server.connection_string(name, TwoFactorCodeCommand=helper.command, **extra)

    def client_env(self):
        return {"XDG_CACHE_HOME": str(self.cache)}


class TicketsOff(Base):
    """The server issues no tickets: the followers of a flight cannot ride on the leader's
    code, and they fail cleanly without the server counting anything."""

    def test_ten_threads_run_the_helper_once_one_connects_and_nine_fail_cleanly_without_a_lock(self):
        name, helper = self.user()
        results = run_client(self.conn_str(name, helper, TwoFactorTicket="Memory"), threads=10,
                             env=self.client_env())
        ok = [r for r in results if r[0] == "ok"]
        errors = [r[1] for r in results if r[0] == "error"]
        self.assertEqual(helper.runs(), 1, results)
        self.assertEqual(len(ok), 1, results)
        self.assertEqual(ok[0][1], 42)
        self.assertEqual(len(errors), 9, results)
        for e in errors:
            self.assertIn("28000", e)
            self.assertIn("used by a parallel connection of this process", e)
            self.assertIn("docs/tickets.md", e)
        self.assertEqual(len(self.server.verified_codes(name)), 1)
        self.assertEqual(self.server.failures(name), [], "nothing was counted against the user")
        # Not locked: a later login with a new code works.
        self.assertEqual(run_client(self.conn_str(name, helper)), [["ok", 42]])
        self.assertEqual(helper.runs(), 2)

    def test_with_tickets_off_in_the_driver_too_the_followers_fail_the_same_way(self):
        name, helper = self.user()
        results = run_client(self.conn_str(name, helper), threads=4)
        self.assertEqual(helper.runs(), 1)
        self.assertEqual(sorted(r[0] for r in results), ["error", "error", "error", "ok"], results)

    def test_a_wrong_code_fails_every_follower_with_the_leaders_error_and_counts_once(self):
        name, helper = self.user()
        (helper.dir / "secret").write_text("JBSWY3DPEHPK3PXP")  # not this user's secret
        results = run_client(self.conn_str(name, helper), threads=5)
        self.assertEqual(helper.runs(), 1, "no second prompt storm")
        self.assertTrue(all(r[0] == "error" and "28000" in r[1] for r in results), results)
        self.assertEqual(sum("parallel connection of this process for the same user failed" in r[1]
                             for r in results), 4, results)
        self.assertEqual(len(self.server.failures(name)), 1, "one wrong code, one failure")


class TicketsOn(Base):
    tickets = {"enabled": "true", "max_lifetime_secs": "3600", "idle_secs": "900"}

    def test_ten_threads_run_the_helper_once_and_all_ten_run_sql(self):
        name, helper = self.user()
        results = run_client(self.conn_str(name, helper, TwoFactorTicket="Memory"), threads=10)
        self.assertEqual(results, [["ok", 42]] * 10)
        self.assertEqual(helper.runs(), 1)
        self.assertEqual(len(self.server.verified_codes(name)), 1, "the server verified one code")
        self.assertEqual(self.server.failures(name), [])

    def test_memory_tickets_die_with_the_process(self):
        name, helper = self.user()
        cs = self.conn_str(name, helper, TwoFactorTicket="Memory")
        self.assertEqual(run_client(cs), [["ok", 42]])
        self.assertEqual(run_client(cs), [["ok", 42]])
        self.assertEqual(helper.runs(), 2, "a new process has no Memory ticket")

    def test_unixodbc_pooling_with_the_helper_runs_it_once(self):
        name, helper = self.user()
        sysini = private_dir("tf-sitting-pool-")
        self.addCleanup(shutil.rmtree, sysini, True)
        (sysini / "odbcinst.ini").write_text(
            f"[ODBC]\nPooling = Yes\n\n[TwoFactorPooled]\nDriver = {DRIVER}\nCPTimeout = 60\n")
        (sysini / "odbc.ini").write_text("")
        cs = self.conn_str(name, helper, TwoFactorTicket="Memory").replace(f"Driver={DRIVER}",
                                                                           "Driver=TwoFactorPooled")
        env = {"ODBCSYSINI": str(sysini), "ODBCINI": str(sysini / "odbc.ini")}
        results = run_client(cs, threads=10, rounds=3, env=env)
        self.assertEqual(results, [["ok", 42]] * 30)
        self.assertEqual(helper.runs(), 1)
        self.assertEqual(len(self.server.verified_codes(name)), 1)

    def test_a_keyring_ticket_lets_a_second_process_in_until_it_is_revoked(self):
        name, helper = self.user()
        cs = self.conn_str(name, helper, TwoFactorTicket="Keyring")
        env = self.client_env()
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(helper.runs(), 1)
        self.assertEqual(run_client(cs, env=env), [["ok", 42]], "a second process")
        self.assertEqual(helper.runs(), 1, "the second process needed no code")
        self.server.run("user", "tickets", name, "revoke", "--all")
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(helper.runs(), 2, "after the revocation a code was needed again")
        # The refused ticket was evicted and the new one kept: the next process needs none.
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(helper.runs(), 2)

    def test_a_file_ticket_without_its_device_key_is_evicted_and_a_code_is_asked_for(self):
        name, helper = self.user()
        cs = self.conn_str(name, helper, TwoFactorTicket="File")
        cache = private_dir("tf-sitting-devkey-")
        self.addCleanup(shutil.rmtree, cache, True)
        env = {"XDG_CACHE_HOME": str(cache)}
        store = cache / "twofactor-odbc"
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(helper.runs(), 1, "the file ticket served the second process")
        self.assertEqual(oct(store.stat().st_mode & 0o777), "0o700")
        ticket = next(store.glob("ticket-*.json"))
        self.assertEqual(oct(ticket.stat().st_mode & 0o777), "0o600")
        self.assertEqual(oct((store / "device.key").stat().st_mode & 0o777), "0o600")
        before = ticket.read_bytes()
        (store / "device.key").unlink()
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(helper.runs(), 2, "the ticket did not open without its device key")
        self.assertNotEqual(ticket.read_bytes(), before, "evicted, and the new ticket sealed under a new key")
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(helper.runs(), 2)

    def test_a_ticket_file_copied_to_another_os_user_without_its_device_key_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to create a second OS user (useradd) and run isql as it")
        name, helper = self.user()
        cs = self.conn_str(name, helper, TwoFactorTicket="File")
        mine = private_dir("tf-sitting-mine-")
        self.addCleanup(shutil.rmtree, mine, True)
        self.assertEqual(run_client(cs, env={"XDG_CACHE_HOME": str(mine)}), [["ok", 42]])
        files = list((mine / "twofactor-odbc").glob("ticket-*.json"))
        self.assertEqual(len(files), 1, "File mode wrote one ticket file")
        self.assertEqual(helper.runs(), 1)

        try:
            pwd.getpwnam(OTHER_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", OTHER_USER], check=True)
        other = pwd.getpwnam(OTHER_USER)
        shared = pathlib.Path(tempfile.mkdtemp(prefix="tf-sitting-other-"))
        self.addCleanup(shutil.rmtree, shared, True)
        os.chmod(shared, 0o755)
        os.chmod(helper.dir, 0o777)
        for f in ("runs", "last_step"):
            os.chmod(helper.dir / f, 0o666)
        shutil.copy(self.server.data / "ca.pem", shared / "ca.pem")
        os.chmod(shared / "ca.pem", 0o644)
        theirs = shared / "cache" / "twofactor-odbc"
        theirs.mkdir(parents=True)
        copied = theirs / files[0].name
        shutil.copy(files[0], copied)
        for p in (shared / "cache", theirs, copied):
            os.chown(p, other.pw_uid, other.pw_gid)
        os.chmod(shared / "cache", 0o700)
        os.chmod(theirs, 0o700)
        os.chmod(copied, 0o600)
        self.assertFalse((theirs / "device.key").exists(), "the device key stays behind")
        (shared / "odbc.ini").write_text(
            f"[sitting]\nDriver = {DRIVER}\nServer = localhost\nPort = {self.server.port}\n"
            f"CAFile = {shared / 'ca.pem'}\nTwoFactorTicket = File\nTwoFactorCodeCommand = {helper.command}\n")
        (shared / "odbcinst.ini").write_text("")
        before = copied.read_bytes()
        out = subprocess.run(
            ["runuser", "-u", OTHER_USER, "--", "env", f"XDG_CACHE_HOME={shared / 'cache'}",
             f"ODBCSYSINI={shared}", f"ODBCINI={shared / 'odbc.ini'}", "HOME=/nonexistent",
             "isql", "-b", "sitting", name, PASSWORD],
            input="SELECT 40 + 2\n", capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("42", out.stdout)
        self.assertEqual(helper.runs(), 2, "the copied ticket did not open: the normal code path ran")
        self.assertNotEqual(copied.read_bytes(), before, "the copied ticket was evicted (and a new one kept)")
        self.assertEqual([e for e in self.server.audit(name) if e.get("outcome") == "locked"], [])


class TicketLifetime(Base):
    tickets = {"enabled": "true", "max_lifetime_secs": "3", "idle_secs": "3"}

    def test_a_ticket_past_its_lifetime_is_not_used_and_a_code_is_needed(self):
        name, helper = self.user()
        cs = self.conn_str(name, helper, TwoFactorTicket="Keyring")
        env = self.client_env()
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(helper.runs(), 1, "within its lifetime the ticket works")
        time.sleep(4)
        self.assertEqual(run_client(cs, env=env), [["ok", 42]])
        self.assertEqual(helper.runs(), 2, "past its lifetime a code was needed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
