"""The story through the generated Python API, against the real server over HTTPS."""

import asyncio
import tempfile

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

    def generate(self, alias):
        self.keys[alias] = ec.generate_private_key(ec.SECP256R1())
        return self.keys[alias].public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)

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


def open_phone(server, signer):
    directory = tempfile.mkdtemp(prefix="latchkey-py-phone")
    return lk.Latchkey(lk.Config(data_dir=directory, extra_ca_pem=server.ca_pem),
                       DictKeyStore(), signer, Desktop())


async def enrol(server, phone, email, pin):
    web = Browser(server)
    web.register(email)
    luma, w, h, stride = qr_frame(web.add_device(pin))
    scanned = phone.scan_frame(luma, w, h, stride)
    assert scanned.is_OFFER(), scanned
    assert scanned.offer.label() == f"Latchkey demo — {email}"
    return await phone.enrol(scanned.offer, pin, None)


async def sign_in(server, phone, account, email):
    browser = Browser(server)
    code = browser.sign_in(email)
    challenge = await phone.wait_for_challenge(account.id, 5)
    assert challenge is not None, "no sign-in request arrived"
    return browser, code, challenge


def test_story(server):
    async def story():
        signer = PySigner()
        phone = open_phone(server, signer)
        email = "py-alice@example.org"
        account = await enrol(server, phone, email, "4831")
        assert account.enrolled and account.assurance == lk.Assurance.HARDWARE
        assert len(signer.keys) == 1

        # Approve with the number and the PIN.
        browser, code, challenge = await sign_in(server, phone, account, email)
        assert challenge.service() == "Latchkey demo" and challenge.code_digits() == 2
        assert challenge.account() == account.id
        await phone.approve(challenge, code, "4831")
        assert browser.approval_redirect() == "/account"

        # A wrong PIN: a typed error with attempts left; then deny.
        _, code, challenge = await sign_in(server, phone, account, email)
        with pytest.raises(lk.LatchkeyError.WrongPin) as wrong:
            await phone.approve(challenge, code, "5038")
        assert wrong.value.attempts_left == 4
        assert await phone.deny(challenge, False) == lk.AnswerOutcome.DENIED

        # Change the PIN, then forget it and reset it with the e-mailed code.
        await phone.change_pin(account.id, "4831", "2963")
        ticket = await phone.forgot_pin_start(account.id, "correct horse battery")
        await phone.forgot_pin_finish(account.id, ticket, server.reset_code(), "7395")
        browser, code, challenge = await sign_in(server, phone, account, email)
        await phone.approve(challenge, code, "7395")
        assert browser.approval_redirect() == "/account"

        # A second account on the same phone, isolated from the first; "this wasn't me".
        other = await enrol(server, phone, "py-bob@example.org", "5820")
        assert {a.id for a in phone.accounts()} == {account.id, other.id}
        _, code, challenge = await sign_in(server, phone, other, "py-bob@example.org")
        assert await phone.pending(account.id, 0) == []
        with pytest.raises(lk.LatchkeyError.WrongPin):
            await phone.approve(challenge, code, "7395")
        assert await phone.deny(challenge, True) == lk.AnswerOutcome.REPORTED

        # Removing needs the account's PIN (a wrong one is counted and refused).
        with pytest.raises(lk.LatchkeyError.WrongPin):
            await phone.remove(other.id, "7395")
        assert {a.id for a in phone.accounts()} == {account.id, other.id}
        await phone.remove(other.id, "5820")
        assert [a.id for a in phone.accounts()] == [account.id]

    asyncio.run(story())


def test_refusals(server):
    phone = open_phone(server, None)
    with pytest.raises(lk.LatchkeyError.NotLatchkeyQr):
        phone.parse_link("WIFI:S:home;T:WPA;P:hunter22;;")
    with pytest.raises(lk.LatchkeyError.Invalid):
        phone.scan_frame(b"\x00" * 10, 640, 480, 640)
    assert phone.scan_frame(b"\x80" * (640 * 480), 640, 480, 640).is_NO_CODE()
    assert phone.accounts() == []
