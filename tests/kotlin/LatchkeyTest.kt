// The whole story through the generated Kotlin API, against the real server over HTTPS.
package latchkey.test

import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.BeforeClass
import org.junit.Test
import uniffi.latchkey.Account
import uniffi.latchkey.AnswerOutcome
import uniffi.latchkey.Assurance
import uniffi.latchkey.Challenge
import uniffi.latchkey.Config
import uniffi.latchkey.Latchkey
import uniffi.latchkey.LatchkeyException
import uniffi.latchkey.ScanResult
import uniffi.latchkey.ShellException

const val PASSWORD = "correct horse battery"

class Phone(val signer: JavaSigner? = JavaSigner(), screenLock: Boolean = true) {
    val keystore = MapKeyStore()
    val dir = Files.createTempDirectory("latchkey-kt-phone").toFile()
    val latchkey = Latchkey(
        Config(dir.path, LatchkeyTest.server.caPem, null),
        keystore, signer, TestPlatform(screenLock),
    )

    /** Registers [email], adds a device with [pin] on the web, scans the QR frame, enrols. */
    fun enrolNew(email: String, pin: String): Account = runBlocking {
        val web = Browser(LatchkeyTest.server)
        web.register(email, PASSWORD)
        val frame = qrFrameFromPage(web.addDevice("Test phone", pin))
        val scanned = latchkey.scanFrame(frame.luma, frame.width.toUInt(), frame.height.toUInt(), frame.stride.toUInt())
        val offer = (scanned as? ScanResult.Offer ?: fail("expected an offer, got $scanned") as Nothing).offer
        assertEquals("Latchkey demo — $email", offer.label())
        assertEquals("localhost", offer.host())
        assertEquals(4.toUByte(), offer.pinDigits())
        assertFalse(offer.pinChosenInApp())
        latchkey.enrol(offer, pin, null)
    }

    /** Signs in on the web and waits for the request on the device. */
    fun signIn(account: Account, email: String): Triple<Browser, String, Challenge> = runBlocking {
        val browser = Browser(LatchkeyTest.server)
        val code = browser.signIn(email, PASSWORD)
        val challenge = latchkey.waitForChallenge(account.id, 5u) ?: fail("no sign-in request arrived") as Nothing
        Triple(browser, code, challenge)
    }

    fun approves(account: Account, email: String, pin: String) = runBlocking {
        val (browser, code, challenge) = signIn(account, email)
        latchkey.approve(challenge, code, pin)
        assertEquals("/account", browser.approvalRedirect())
    }
}

class LatchkeyTest {
    companion object {
        lateinit var server: DevServer

        @BeforeClass @JvmStatic fun start() {
            server = DevServer(System.getProperty("latchkey.server")!!)
        }

        @AfterClass @JvmStatic fun stop() = server.close()
    }

    @Test fun enrolFromCameraFrameApproveWithCodeAndPin() = runBlocking<Unit> {
        val phone = Phone()
        val account = phone.enrolNew("kt-alice@example.org", "4831")
        assertTrue(account.enrolled)
        assertEquals(Assurance.HARDWARE, account.assurance)
        assertEquals(listOf(account), phone.latchkey.accounts())
        // The device key lives in the Kotlin signer; Rust only saw its public key.
        assertEquals(1, phone.signer!!.keys.size)
        assertTrue("wrapping keys are kept by the Kotlin keystore", phone.keystore.keys.isNotEmpty())

        val (browser, code, challenge) = phone.signIn(account, "kt-alice@example.org")
        assertEquals(account.id, challenge.account())
        assertEquals("Latchkey demo", challenge.service())
        assertEquals(2.toUByte(), challenge.codeDigits())
        assertTrue(challenge.expiresAt() > challenge.createdAt())
        val before = phone.signer.signatures.get()
        phone.latchkey.approve(challenge, code, "4831")
        assertTrue("requests are signed by the Kotlin signer", phone.signer.signatures.get() > before)
        assertEquals("/account", browser.approvalRedirect())
    }

    @Test fun wrongPinIsATypedExceptionWithAttemptsLeft() = runBlocking<Unit> {
        val phone = Phone()
        val account = phone.enrolNew("kt-bob@example.org", "4831")
        val (_, code, challenge) = phone.signIn(account, "kt-bob@example.org")
        val e = expectThrows<LatchkeyException.WrongPin>("a wrong PIN approved") { phone.latchkey.approve(challenge, code, "5038") }
        assertEquals(4.toUByte(), e.attemptsLeft)
        assertEquals("wrong PIN; 4 attempts left before this device is locked", e.reason)
        // The right PIN still works on the same request.
        phone.latchkey.approve(challenge, code, "4831")
    }

    @Test fun wrongNumberIsACodeMismatch() = runBlocking<Unit> {
        val phone = Phone()
        val account = phone.enrolNew("kt-carol@example.org", "4831")
        val (_, code, challenge) = phone.signIn(account, "kt-carol@example.org")
        val wrong = if (code == "00") "01" else "00"
        val e = expectThrows<LatchkeyException.CodeMismatch>("a wrong number approved") { phone.latchkey.approve(challenge, wrong, "4831") }
        assertTrue(e.reason, e.reason.isNotEmpty())
    }

    @Test fun denyThisWasntMe() = runBlocking<Unit> {
        val phone = Phone()
        val account = phone.enrolNew("kt-dave@example.org", "4831")
        val (browser, _, challenge) = phone.signIn(account, "kt-dave@example.org")
        assertEquals(AnswerOutcome.REPORTED, phone.latchkey.deny(challenge, true))
        assertTrue(browser.approvalRedirect() != "/account")
        expectThrows<LatchkeyException.AlreadyAnswered>("answered twice") { phone.latchkey.deny(challenge, false) }
    }

    @Test fun changePin() = runBlocking<Unit> {
        val phone = Phone()
        val account = phone.enrolNew("kt-erin@example.org", "4831")
        val e = expectThrows<LatchkeyException.PinPolicy>("a sequence was accepted") { phone.latchkey.changePin(account.id, "4831", "1234") }
        assertTrue(e.reason, e.reason.isNotEmpty())
        phone.latchkey.changePin(account.id, "4831", "2963")
        phone.approves(account, "kt-erin@example.org", "2963")
        val (_, code, challenge) = phone.signIn(account, "kt-erin@example.org")
        expectThrows<LatchkeyException.WrongPin>("the old PIN still works") { phone.latchkey.approve(challenge, code, "4831") }
    }

    @Test fun forgotPinThroughTheDevOutbox() = runBlocking<Unit> {
        val phone = Phone()
        val account = phone.enrolNew("kt-frank@example.org", "4831")
        expectThrows<LatchkeyException.Rejected>("a wrong password started a reset") { phone.latchkey.forgotPinStart(account.id, "not the password") }
        val ticket = phone.latchkey.forgotPinStart(account.id, PASSWORD)
        assertTrue(ticket.sentTo.isNotEmpty())
        phone.latchkey.forgotPinFinish(account.id, ticket, server.resetCode(), "7395")
        phone.approves(account, "kt-frank@example.org", "7395")
        assertTrue(phone.latchkey.settle().all { it.account != account.id || it.outcome.name == "NOTHING" })
    }

    @Test fun twoAccountsAreIsolated() = runBlocking<Unit> {
        val phone = Phone()
        val a = phone.enrolNew("kt-gina@example.org", "4831")
        val b = phone.enrolNew("kt-hank@example.org", "2963")
        assertEquals(setOf(a.id, b.id), phone.latchkey.accounts().map { it.id }.toSet())
        assertEquals(2, phone.signer!!.keys.size)
        // A sign-in for b reaches b only, and b's PIN is not a's.
        val (_, code, challenge) = phone.signIn(b, "kt-hank@example.org")
        assertEquals(emptyList<String>(), phone.latchkey.pending(a.id, 0u))
        assertEquals(b.id, challenge.account())
        expectThrows<LatchkeyException.WrongPin>("a's PIN approved b") { phone.latchkey.approve(challenge, code, "4831") }
        phone.latchkey.approve(challenge, code, "2963")
        phone.approves(a, "kt-gina@example.org", "4831")
        // Removing needs the account's PIN: b's PIN does not remove a.
        expectThrows<LatchkeyException.WrongPin>("removed with another account's PIN") { phone.latchkey.remove(a.id, "2963") }
        assertEquals(setOf(a.id, b.id), phone.latchkey.accounts().map { it.id }.toSet())
        phone.latchkey.remove(a.id, "4831")
        assertEquals(listOf(b.id), phone.latchkey.accounts().map { it.id })
        assertEquals(1, phone.signer.keys.size)
    }

    @Test fun softwareSignerWhenTheShellHasNone() = runBlocking<Unit> {
        val phone = Phone(signer = null)
        val account = phone.enrolNew("kt-ivy@example.org", "4831")
        assertEquals(Assurance.SOFTWARE, account.assurance)
        phone.approves(account, "kt-ivy@example.org", "4831")
    }

    @Test fun shellFailuresSurfaceAsTypedErrors() = runBlocking<Unit> {
        val phone = Phone()
        val account = phone.enrolNew("kt-jack@example.org", "4831")
        phone.signer!!.failWith = ShellException.Unavailable("the StrongBox is busy")
        val e = expectThrows<LatchkeyException.Signer>("a failing signer signed") { phone.latchkey.pending(account.id, 0u) }
        assertTrue(e.reason, e.reason.contains("the StrongBox is busy"))
        phone.signer.failWith = null
        assertNotNull(phone.latchkey.pending(account.id, 0u))
    }

    @Test fun refusals() = runBlocking<Unit> {
        val phone = Phone(screenLock = false)
        val e = expectThrows<LatchkeyException.NotLatchkeyQr>("an otpauth link was accepted") { phone.latchkey.parseLink("otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example") }
        assertTrue(e.reason, e.reason.isNotEmpty())
        expectThrows<LatchkeyException.Invalid>("a short frame was accepted") { phone.latchkey.scanFrame(ByteArray(10), 640u, 480u, 640u) }
        val blank = ByteArray(640 * 480) { 0x80.toByte() }
        assertEquals(ScanResult.NoCode, phone.latchkey.scanFrame(blank, 640u, 480u, 640u))
        expectThrows<LatchkeyException.ScreenLockMissing>("enrolled without a screen lock") { phone.enrolNew("kt-kim@example.org", "4831") }
        assertEquals(emptyList<Account>(), phone.latchkey.accounts())
    }
}
