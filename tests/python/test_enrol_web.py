"""The enrolment web page in a real browser: headless Chromium (Debian's), driven by
Playwright, against a live server with `[enrol_web]` on.

A link from `enrol-link`, the password, the QR code read from the page's image and decoded
with zxing-cpp, the first code computed from the decoded secret, the backup codes shown
and downloaded, then a login through the ODBC driver (pyodbc, unixODBC) with the new key.
Also: a spent, revoked, expired or forged link gets one plain page; an abandoned
enrolment leaves the old key working; a wrong password is counted like a failed login; a
form without its CSRF token is refused; an oversized or malformed request gets a 4xx and
the server keeps serving.

Run: python3 tests/python/test_enrol_web.py (after `cargo build -p twofactor-server -p
twofactor-odbc`). With TF_ENROL_SCREENSHOTS=DIR it also saves each page state at phone
and desktop width (docs/screenshots/enrolment/ holds the committed ones).
"""

import http.client
import io
import os
import pathlib
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import pyodbc
import zxingcpp
from PIL import Image
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_pyodbc import LiveServer, PASSWORD, totp  # noqa: E402

CHROMIUM = os.environ.get("TF_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("TF_ENROL_SCREENSHOTS")
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
CSP = ("default-src 'none'; img-src data: 'self'; style-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EnrolServer(LiveServer):
    """test_pyodbc's live server with the enrolment page on a port of its own."""

    def configure(self, text):
        self.web_port = free_port()
        on = f'[enrol_web]\nenabled = true\nlisten = "127.0.0.1:{self.web_port}"\n'
        text, n = re.subn(r'\[enrol_web\]\nenabled = false\nlisten = "[^"]*"\n', on, text)
        text, m = re.subn(r'(?m)^public_url = ""$', f'public_url = "https://localhost:{self.web_port}"', text)
        assert (n, m) == (1, 1), "server.toml has the [enrol_web] section init writes"
        return text

    def link(self, name, *extra):
        return self.run("enrol-link", name, *extra).strip()

    def failed_passwords(self, name):
        for line in self.run("user", "list").splitlines()[1:]:
            cols = line.split()
            if cols[0] == name:
                return int(cols[5])
        raise AssertionError(f"no user {name} in user list")

    def audit(self):
        return (self.data / "audit.log").read_text()


def spki_pin(cert_pem):
    """The base64 SHA-256 of the server key's SubjectPublicKeyInfo: what Chromium is told
    to trust, so the certificate is still checked, against this one key."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert_pem), "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der,
                            capture_output=True, check=True).stdout
    import base64
    return base64.b64encode(digest).decode()


class EnrolmentPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = EnrolServer()
        cls.profile = tempfile.TemporaryDirectory(prefix="tf-chromium-")
        cls.pw = sync_playwright().start()
        cls.browser = cls.pw.chromium.launch_persistent_context(
            cls.profile.name, executable_path=CHROMIUM, headless=True, viewport=DESKTOP,
            accept_downloads=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--ignore-certificate-errors-spki-list={spki_pin(cls.server.data / 'server.pem')}"])

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.pw.stop()
        cls.profile.cleanup()
        cls.server.stop()

    def setUp(self):
        self.page = self.browser.new_page()
        self.csp_errors = []
        self.page.on("console", lambda m: self.csp_errors.append(m.text)
                     if "Content Security Policy" in m.text else None)

    def tearDown(self):
        self.page.close()
        self.browser.clear_cookies()
        self.assertEqual(self.csp_errors, [], "the page never trips its own CSP")

    def user(self, enrolled=False):
        name = self.id().rsplit(".", 1)[1][5:45]
        self.server.run("user", "add", name, "--password-stdin", stdin=PASSWORD + "\n")
        secret = self.server.run("totp", "enrol", name, "--secret-only").strip() if enrolled else None
        return name, secret

    def login(self, name, code):
        return pyodbc.connect(self.server.connection_string(name), attrs_before={1002: code})

    def shoot(self, state):
        """The state at phone and desktop width; and at phone width nothing scrolls sideways
        (what 200 % zoom of a 720 px window also looks like)."""
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            self.page.set_viewport_size(size)
            overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            self.assertLessEqual(overflow, 0, f"{state} scrolls sideways at {size['width']} px")
            if SHOTS:
                pathlib.Path(SHOTS).mkdir(parents=True, exist_ok=True)
                self.page.screenshot(path=f"{SHOTS}/{state}-{label}.png", full_page=True)
        self.page.set_viewport_size(DESKTOP)

    def assert_labelled(self):
        unlabelled = self.page.evaluate(
            "[...document.querySelectorAll('input:not([type=hidden])')].filter(i => i.labels.length == 0).length")
        self.assertEqual(unlabelled, 0, "every field has a label")

    def post(self, url, body, content_type="application/x-www-form-urlencoded"):
        """A request from outside the page (no form, a forged one, an oversized one), with
        the browser's enrolment cookie, over TLS verified against the server's CA."""
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in self.browser.cookies(url))
        ctx = ssl.create_default_context(cafile=str(self.server.data / "ca.pem"))
        conn = http.client.HTTPSConnection("localhost", self.server.web_port, context=ctx, timeout=10)
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
        try:
            conn.request("POST", urllib.parse.urlparse(url).path, body=body,
                         headers={"Content-Type": content_type, "Cookie": cookies})
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    def open_and_log_in(self, url, password=PASSWORD):
        first = self.page.goto(url)
        self.assertEqual(first.status, 200)
        self.page.get_by_label("Password").fill(password)
        with self.page.expect_response(lambda r: r.request.method == "POST") as posted:
            self.page.get_by_role("button", name="Continue").click()
        self.page.wait_for_load_state()
        return first, posted.value

    def decode_qr(self):
        """The secret, from the QR code as the browser drew it."""
        png = self.page.locator("#qr").screenshot()
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        self.assertEqual(len(found), 1, "one QR code on the page")
        uri = urllib.parse.urlparse(found[0].text)
        self.assertEqual((uri.scheme, uri.netloc), ("otpauth", "totp"))
        return urllib.parse.parse_qs(uri.query)["secret"][0], urllib.parse.unquote(uri.path)

    def test_a_link_enrols_a_new_key_that_then_logs_in_through_odbc(self):
        name, _ = self.user()
        url = self.server.link(name)
        self.assertRegex(url, rf"^https://localhost:{self.server.web_port}/enrol/[A-Za-z0-9_-]{{43}}$")
        first = self.page.goto(url)
        self.assertEqual(first.status, 200)
        self.assertEqual(first.headers["content-security-policy"], CSP)
        self.assertEqual(first.headers["referrer-policy"], "no-referrer")
        cookie = first.header_value("set-cookie")
        for attr in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(attr, cookie)
        self.assert_labelled()
        self.shoot("1-password")
        self.page.get_by_label("Password").fill(PASSWORD)
        with self.page.expect_response(lambda r: r.request.method == "POST") as posted_info:
            self.page.get_by_role("button", name="Continue").click()
        self.page.wait_for_load_state()
        posted = posted_info.value
        self.assertEqual(posted.status, 200)
        self.assertEqual(posted.headers["cache-control"], "no-store", "the secret is never cached")
        secret, label = self.decode_qr()
        self.assertIn(name, label)
        self.assertEqual(self.page.locator("#secret").inner_text().replace(" ", ""), secret,
                         "the written-out key is the QR code's")
        self.assert_labelled()
        self.shoot("2-key")
        self.page.get_by_label(re.compile("code your app shows")).fill(totp(secret, time.time()))
        with self.page.expect_response(lambda r: r.request.method == "POST") as confirmed:
            self.page.get_by_role("button", name="Confirm").click()
        self.page.wait_for_load_state()
        self.assertEqual(confirmed.value.headers["cache-control"], "no-store")
        codes = self.page.locator("#codes li").all_inner_texts()
        self.assertEqual(len(codes), 10)
        self.shoot("3-done")
        with self.page.expect_download() as dl:
            self.page.locator("#download").click()
        text = pathlib.Path(dl.value.path()).read_text()
        self.assertEqual(dl.value.suggested_filename, "backup-codes.txt")
        for c in codes:
            self.assertIn(c, text)
        # The next step's code (within the skew window): the confirming one is used up.
        cnxn = self.login(name, totp(secret, time.time() + 30))
        self.assertEqual(cnxn.cursor().execute("SELECT 6 * 7").fetchone()[0], 42)
        cnxn.close()
        again = self.page.goto(url)
        self.assertEqual(again.status, 404, "a spent link is refused")
        self.assertIn("not valid", self.page.content())
        self.assertNotIn(name, self.page.content())
        self.shoot("4-invalid")
        self.assertIn('"enrol_web_confirm","outcome":"ok"', self.server.audit().replace(" ", ""))

    def test_an_abandoned_re_enrolment_leaves_the_old_key_working(self):
        name, old = self.user(enrolled=True)
        refused = subprocess.run([str(self.server_binary()), "enrol-link", name, "--data-dir", str(self.server.data)],
                                 capture_output=True, text=True)
        self.assertNotEqual(refused.returncode, 0, "an enrolled user needs --reset")
        self.assertIn("--reset", refused.stderr)
        url = self.server.link(name, "--reset", "--ttl", "10m")
        self.open_and_log_in(url)
        new, _ = self.decode_qr()
        self.assertNotEqual(new, old)
        self.page.close()  # walks away without confirming
        self.page = self.browser.new_page()
        cnxn = self.login(name, totp(old, time.time()))
        self.assertEqual(cnxn.cursor().execute("SELECT 1").fetchone()[0], 1)
        cnxn.close()
        with self.assertRaises(pyodbc.Error):
            self.login(name, totp(new, time.time() + 30)).close()

    def server_binary(self):
        from test_pyodbc import SERVER
        return SERVER

    def test_a_wrong_password_or_code_is_counted_like_a_failed_login(self):
        name, _ = self.user()
        url = self.server.link(name)
        self.open_and_log_in(url, password="not the password")
        self.assertIn("password is not right", self.page.locator("#error").inner_text())
        self.assertEqual(self.server.failed_passwords(name), 1)
        self.shoot("1-password-wrong")
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Continue").click()
        self.page.wait_for_load_state()
        secret, _ = self.decode_qr()
        wrong = f"{(int(totp(secret, time.time())) + 1) % 1_000_000:06d}"
        self.page.get_by_label(re.compile("code your app shows")).fill(wrong)
        self.page.get_by_role("button", name="Confirm").click()
        self.page.wait_for_load_state()
        self.assertIn("code is not right", self.page.locator("#error").inner_text())
        failed_codes = int(self.server.run("user", "list").split(name, 1)[1].split()[4])
        self.assertEqual(failed_codes, 1)
        self.assertIn('"enrol_web_password","outcome":"failed"', self.server.audit().replace(" ", ""))

    def test_a_form_without_its_csrf_token_is_refused(self):
        name, _ = self.user()
        url = self.server.link(name)
        self.page.goto(url)
        csrf = self.page.locator("input[name=csrf]").get_attribute("value")
        missing = self.post(url, {"step": "password", "password": PASSWORD})
        self.assertEqual(missing[0], 403)
        forged = self.post(url, {"csrf": "x" + csrf[1:], "step": "password", "password": PASSWORD})
        self.assertEqual(forged[0], 403)
        self.assertEqual(self.server.failed_passwords(name), 0, "a refused form checks no password")
        ok = self.post(url, {"csrf": csrf, "step": "password", "password": PASSWORD})
        self.assertEqual(ok[0], 200)
        self.assertIn('id="qr"', ok[1])
        self.assertIn('"enrol_web_csrf","outcome":"refused"', self.server.audit().replace(" ", ""))

    def test_oversized_and_malformed_requests_get_4xx_and_the_server_keeps_serving(self):
        name, _ = self.user()
        url = self.server.link(name)
        self.page.goto(url)
        ctx = ssl.create_default_context(cafile=str(self.server.data / "ca.pem"))
        path = urllib.parse.urlparse(url).path.encode()
        with socket.create_connection(("127.0.0.1", self.server.web_port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                # A 100 kB form: refused from its declared length, before the body is read.
                tls.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\n"
                            b"Content-Type: application/x-www-form-urlencoded\r\n"
                            b"Content-Length: 100000\r\n\r\n" + b"a=" + b"x" * 1000)
                answer = tls.recv(200)
        self.assertRegex(answer, rb"^HTTP/1\.1 413 ")
        ctx = ssl.create_default_context(cafile=str(self.server.data / "ca.pem"))
        with socket.create_connection(("127.0.0.1", self.server.web_port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                answer = tls.recv(200)
        self.assertRegex(answer, rb"^HTTP/1\.1 4\d\d")
        with socket.create_connection(("127.0.0.1", self.server.web_port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /enrol/x HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"y" * 40_000 + b"\r\n\r\n")
                answer = tls.recv(200)
        self.assertRegex(answer, rb"^HTTP/1\.1 4\d\d")
        self.assertEqual(self.page.goto(url).status, 200, "still serving")
        self.assertEqual(self.page.goto(f"https://localhost:{self.server.web_port}/enrol/style.css").status, 200)

    def test_revoked_expired_and_forged_links_get_one_plain_page(self):
        name, _ = self.user()
        revoked = self.server.link(name)
        short = re.search(r"^(\w{8}) ", self.server.run("enrol-link", "list", "--user", name).splitlines()[-1]).group(1)
        self.server.run("enrol-link", "revoke", short)
        self.assertIn("revoked", self.server.run("enrol-link", "list", "--user", name))
        expired = self.server.link(name, "--ttl", "1s")
        time.sleep(1.5)
        forged = revoked.rsplit("/", 1)[0] + "/" + "A" * 43
        pages = []
        for url in (revoked, expired, forged):
            r = self.page.goto(url)
            self.assertEqual(r.status, 404)
            pages.append(self.page.locator("main").inner_html())
        self.assertEqual(pages[0], pages[1])
        self.assertEqual(pages[0], pages[2], "a forged link looks like any other invalid one")
        self.assertNotIn(name, pages[0])
        audit = self.server.audit().replace(" ", "")
        self.assertIn('"outcome":"invalid"', audit)
        self.assertIn(f"link{short}:revoked", audit)


if __name__ == "__main__":
    unittest.main()
