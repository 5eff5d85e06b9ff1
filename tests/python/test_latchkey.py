"""The story through the generated Python API, against the real server over HTTPS."""

import tempfile
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import latchkey as lk
from conftest import Browser, qr_frame


class DictKeyStore(lk.KeyStore):
    def __init__(self):
        self.keys = {}

    def put(self, id, key):
        self.keys[id] = bytes(key)

    def get(self, id):
        return self.keys.get(id)

    def delete(self, id):
        self.keys.pop(id, None)


class PySigner(lk.DeviceSigner):
    """Device keys in Python's `cryptography` (EC P-256, ECDSA-SHA256, DER signatures)."""

    def __init__(self):
        self.keys = {}

    def assurance(self):
        return lk.Assurance.HARDWARE

    def generate(self, alias, attestation_challenge):
        assert len(attestation_challenge) == 32, "the enrolment's attestation challenge"
        self.keys[alias] = ec.generate_private_key(ec.SECP256R1())
        public = self.keys[alias].public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        # Python's `cryptography` attests nothing: no chain.
        return lk.GeneratedKey(public_key=public, attestation=[])

    def sign(self, alias, message):
        if alias not in self.keys:
            raise lk.ShellError.Missing(f"no key {alias}")
        return self.keys[alias].sign(bytes(message), ec.ECDSA(hashes.SHA256()))

    def delete(self, alias):
        self.keys.pop(alias, None)


class Desktop(lk.Platform):
    def has_screen_lock(self):
        return True

    def device_model(self):
        return "Python test desktop"


class Shell(lk.AppListener):
    """A shell that draws nothing: it records views and effects, and sends events."""

    def __init__(self, server, signer, languages=("en",)):
        self.views, self.effects = [], []
        directory = tempfile.mkdtemp(prefix="latchkey-py-phone")
        self.app = lk.LatchkeyApp(lk.Config(data_dir=directory, extra_ca_pem=server.ca_pem),
                                  DictKeyStore(), signer, Desktop(), list(languages), 0, self)
        self.send(lk.AppEvent.STARTED())

    def view_changed(self, view):
        self.views.append(view)

    def perform(self, effect):
        self.effects.append(effect)

    def view(self):
        return self.app.view()

    def send(self, event):
        self.app.send(event)
        self.app.idle()
        return self.view()

    def press(self, action):
        return self.send(lk.AppEvent.PRESS(action))

    def type(self, field, digits):
        for d in digits:
            self.send(lk.AppEvent.DIGIT(field=field, digit=int(d)))

    def notice(self):
        view = self.view()
        return view.notice.text if view.notice else ""

    def wait_for(self, what, test):
        for _ in range(500):
            self.app.idle()
            view = self.view()
            if test(view):
                return view
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}: {self.view()}")


def enrol(server, shell, email, pin):
    web = Browser(server)
    web.register(email)
    luma, w, h, stride = qr_frame(web.add_device(pin))
    shell.press(lk.Action.ADD_ACCOUNT())
    assert lk.AppEffect.OPEN_CAMERA() in shell.effects
    shell.app.scan_frame(luma, w, h, stride)
    enrol_screen = shell.view().screen
    assert enrol_screen.is_ENROL(), enrol_screen
    assert email in enrol_screen[0].who
    shell.type(lk.InputField.PIN, pin)
    shell.press(lk.Action.SUBMIT())
    assert shell.notice().startswith("This device is ready."), shell.notice()
    home = shell.press(lk.Action.DONE()).screen[0]
    return next(row for row in home.accounts if row.account == email)


def sign_in(server, shell, email):
    browser = Browser(server)
    code = browser.sign_in(email)
    shell.wait_for("the request", lambda v: v.screen.is_REQUEST() and v.screen[0].seconds_left > 0)
    return browser, code


def approve(shell, code, pin):
    shell.type(lk.InputField.CODE, code)
    shell.type(lk.InputField.PIN, pin)
    shell.press(shell.view().screen[0].approve.action)
    return shell.notice()


def test_story(server):
    """One story through the app object: enrol, approve, a wrong PIN, change and forget the
    PIN, a second account, "this wasn't me", removal — every word from the app."""
    signer = PySigner()
    shell = Shell(server, signer)
    email = "py-alice@example.org"
    row = enrol(server, shell, email, "4831")
    assert row.assurance == "Key kept in the device's hardware"
    assert len(signer.keys) == 1

    browser, code = sign_in(server, shell, email)
    request = shell.view().screen[0]
    assert request.who.startswith("Sign-in to Latchkey demo from"), request.who
    assert approve(shell, code, "4831").startswith("Approved.")
    assert browser.approval_redirect() == "/account"
    shell.press(lk.Action.DONE())

    _, code = sign_in(server, shell, email)
    said = approve(shell, code, "5038")
    assert said == "Wrong PIN. 4 attempts left before this account is locked on this device.", said
    shell.press(shell.view().screen[0].deny.action)
    assert shell.notice() == "Denied. Nobody was signed in."
    shell.press(lk.Action.DONE())

    shell.press(lk.Action.CHANGE_PIN(account=row.id))
    shell.type(lk.InputField.PIN, "4831")
    shell.type(lk.InputField.NEW_PIN, "2963")
    shell.type(lk.InputField.NEW_PIN_AGAIN, "2963")
    shell.press(lk.Action.SUBMIT())
    assert shell.notice() == "Your PIN was changed. Use the new one from now on."
    shell.press(lk.Action.DONE())
    shell.press(lk.Action.FORGOT_PIN(account=row.id))
    shell.send(lk.AppEvent.INPUT(field=lk.InputField.PASSWORD, text="correct horse battery"))
    shell.press(lk.Action.SUBMIT())
    assert shell.notice().startswith("We e-mailed a code to"), shell.notice()
    shell.type(lk.InputField.MAILED_CODE, server.reset_code())
    shell.type(lk.InputField.NEW_PIN, "7395")
    shell.type(lk.InputField.NEW_PIN_AGAIN, "7395")
    shell.press(lk.Action.SUBMIT())
    assert shell.notice().startswith("Your new PIN is set"), shell.notice()
    shell.press(lk.Action.DONE())
    browser, code = sign_in(server, shell, email)
    assert approve(shell, code, "7395").startswith("Approved.")
    shell.press(lk.Action.DONE())

    other = enrol(server, shell, "py-bob@example.org", "5820")
    _, code = sign_in(server, shell, "py-bob@example.org")
    assert shell.view().screen[0].account == "py-bob@example.org"
    shell.press(shell.view().screen[0].not_me.action)
    assert shell.notice().startswith("Reported."), shell.notice()
    shell.press(lk.Action.DONE())

    shell.press(lk.Action.REMOVE_ACCOUNT(account=other.id))
    shell.type(lk.InputField.PIN, "7395")
    shell.press(lk.Action.SUBMIT())
    assert shell.notice().startswith("Wrong PIN."), "removed with another account's PIN"
    shell.type(lk.InputField.PIN, "5820")
    home = shell.press(lk.Action.SUBMIT()).screen[0]
    assert [a.id for a in home.accounts] == [row.id]


def test_refusals_in_german(server):
    shell = Shell(server, None, languages=("de-AT",))
    assert shell.view().title == "Meine Konten"
    shell.press(lk.Action.ADD_ACCOUNT())
    shell.app.scan_frame(b"\x80" * (640 * 480), 640, 480, 640)
    assert shell.view().screen[0].guidance.startswith("Richten Sie die Kamera")
    shell.send(lk.AppEvent.INPUT(field=lk.InputField.LINK, text="WIFI:S:home;T:WPA;P:hunter22;;"))
    shell.press(lk.Action.USE_LINK())
    guidance = shell.view().screen[0].guidance
    assert guidance == "Das ist kein Latchkey-Code: es ist der Code eines WLAN-Netzes.", guidance
