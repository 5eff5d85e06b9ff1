"""Fixtures for the Python suite: the real `latchkey-server --dev` and a browser (urllib)."""

import http.cookiejar
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "target" / "bindings"))

PASSWORD = "correct horse battery"


class DevServer:
    def __init__(self, binary):
        self.data_dir = Path(tempfile.mkdtemp(prefix="latchkey-py-server"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.log = open(self.data_dir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "--dev", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        self.url = self.ca_path = None
        for line in self.proc.stdout:
            if line.startswith("Latchkey server listening on "):
                self.url = line.split(" on ", 1)[1].strip()
            if line.startswith("Development CA: "):
                self.ca_path = line.split(": ", 1)[1].strip()
            if self.url and self.ca_path:
                break
        assert self.url and self.ca_path, f"server did not start; see {self.data_dir}/server.log"
        self.ca_pem = Path(self.ca_path).read_text()

    def reset_code(self):
        mails = sorted((self.data_dir / "outbox").iterdir(), reverse=True)
        mail = next(m.read_text() for m in mails if "reset your PIN" in m.read_text())
        return next(l.strip() for l in mail.splitlines() if re.fullmatch(r"\d{8}", l.strip()))

    def registration_token(self, email):
        mails = sorted((self.data_dir / "outbox").iterdir(), reverse=True)
        mail = next(m.read_text() for m in mails
                    if "finish creating your account" in m.read_text() and email in m.read_text())
        line = next(l.strip() for l in mail.splitlines() if "/register/finish?t=" in l)
        return line.split("?t=", 1)[1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    def __init__(self, server):
        self.server = server
        ctx = ssl.create_default_context(cadata=server.ca_pem)
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ctx),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            NoRedirect(),
        )

    def request(self, path, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.server.url + path.lstrip("/"), data=data)
        try:
            with self.opener.open(req) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:  # 3xx/4xx without following
            return e.code, e.headers, e.read().decode()

    @staticmethod
    def between(text, start, end):
        at = text.index(start) + len(start)
        return text[at:text.index(end, at)]

    def csrf(self, path):
        return self.between(self.request(path)[2], 'name="csrf" value="', '"')

    def register(self, email):
        """Registers, then opens the link mailed to the address and presses "Create my account"."""
        status, _, body = self.request("/register", {
            "csrf": self.csrf("/register"), "email": email,
            "password": PASSWORD, "password2": PASSWORD})
        assert status == 200 and "Check your e-mail" in body, body
        token = self.server.registration_token(email)
        path = "/register/finish?t=" + token
        status, _, body = self.request("/register/finish", {"csrf": self.csrf(path), "t": token})
        assert status == 303, body

    def add_device(self, pin):
        status, headers, body = self.request("/devices/add", {
            "csrf": self.csrf("/devices/add"), "name": "Python phone", "pin": pin, "pin2": pin})
        assert status == 303, body
        return self.request(headers["Location"])[2]

    def sign_in(self, email):
        status, headers, _ = self.request("/login", {
            "csrf": self.csrf("/login"), "email": email, "password": PASSWORD})
        assert headers.get("Location") == "/login/approve", status
        page = self.request("/login/approve")[2]
        return self.between(page, '<p class="code" aria-describedby="code-label">', "</p>")

    def approval_redirect(self):
        return self.request("/login/approve")[1].get("Location", "")


def qr_frame(html):
    """The page's QR SVG painted into a padded luma frame: (bytes, width, height, stride)."""
    svg = Browser.between(html, '<figure class="qr">', "</figure>")
    w = int(Browser.between(svg, 'width="', '"'))
    h = int(Browser.between(svg, 'height="', '"'))
    fw, fh, stride, ox, oy = w + 160, h + 90, w + 192, 80, 45
    luma = bytearray([0xD8]) * (stride * fh)
    for y in range(h):
        luma[(oy + y) * stride + ox:(oy + y) * stride + ox + w] = b"\xff" * w
    for x, y, rw, rh in re.findall(r"M(\d+) (\d+)h(\d+)v(\d+)", Browser.between(svg, ' d="', '"')):
        x, y, rw, rh = int(x), int(y), int(rw), int(rh)
        for yy in range(y, y + rh):
            start = (oy + yy) * stride + ox + x
            luma[start:start + rw] = b"\x18" * rw
    return bytes(luma), fw, fh, stride


@pytest.fixture(scope="session")
def server():
    s = DevServer(os.environ.get("LATCHKEY_SERVER", str(ROOT / "target/debug/latchkey-server")))
    yield s
    s.stop()
