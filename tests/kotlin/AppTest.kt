// The app model through the generated Kotlin API, as a shell would drive it: a Kotlin listener
// that records views and effects, events sent for every touch, against the real server.
// The shell decides nothing: every text, state and step below comes from Rust.
package latchkey.test

import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.runBlocking
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.BeforeClass
import org.junit.Test
import uniffi.latchkey.Action
import uniffi.latchkey.AppEffect
import uniffi.latchkey.AppEvent
import uniffi.latchkey.AppListener
import uniffi.latchkey.AppView
import uniffi.latchkey.Config
import uniffi.latchkey.InputField
import uniffi.latchkey.LatchkeyApp
import uniffi.latchkey.RequestScreen
import uniffi.latchkey.Screen
import uniffi.latchkey.ShellException
import uniffi.latchkey.Tone

const val PASSWORD = "correct horse battery"

/** A phone: its keystore, signer and platform in Kotlin, the app in Rust, and a recorder. */
class Phone(
    val signer: JavaSigner? = JavaSigner(),
    screenLock: Boolean = true,
    languages: List<String> = listOf("en-GB"),
) : AppListener {
    val keystore = MapKeyStore()
    val dir = Files.createTempDirectory("latchkey-kt-phone").toFile()
    val views = CopyOnWriteArrayList<AppView>()
    val effects = CopyOnWriteArrayList<AppEffect>()
    val app = LatchkeyApp(
        Config(dir.path, AppTest.server.caPem, null),
        keystore, signer, TestPlatform(screenLock), languages, 60, this,
    )

    init { send(AppEvent.Started) }

    override fun viewChanged(view: AppView) { views.add(view) }
    override fun perform(effect: AppEffect) { effects.add(effect) }

    fun view(): AppView = app.view()
    fun send(event: AppEvent): AppView { app.send(event); runBlocking { app.idle() }; return view() }
    fun press(action: Action): AppView = send(AppEvent.Press(action))
    fun type(field: InputField, digits: String) { digits.forEach { send(AppEvent.Digit(field, (it - '0').toUByte())) } }
    fun notice(): String = view().notice?.text ?: ""

    /** Waits (the long-poll runs on the app's thread) until the view passes [test]. */
    fun waitFor(what: String, test: (AppView) -> Boolean): AppView {
        repeat(500) {
            runBlocking { app.idle() }
            val v = view()
            if (test(v)) return v
            Thread.sleep(20)
        }
        throw AssertionError("timed out waiting for $what; the view is ${view()}")
    }

    /** Registers [email], adds a device with [pin] on the web, scans the QR frame, enrols. */
    fun enrolNew(email: String, pin: String): String {
        val web = Browser(AppTest.server)
        web.register(email, PASSWORD)
        val frame = qrFrameFromPage(web.addDevice("Test phone", pin))
        press(Action.AddAccount)
        assertTrue(effects.contains(AppEffect.OpenCamera))
        app.scanFrame(frame.luma, frame.width.toUInt(), frame.height.toUInt(), frame.stride.toUInt())
        val enrol = (view().screen as? Screen.Enrol ?: throw AssertionError("no enrol screen: ${view()}")).v1
        assertTrue(enrol.who, enrol.who.contains(email))
        type(InputField.PIN, pin)
        press(Action.Submit)
        assertTrue(notice(), notice().startsWith("This device is ready."))
        val home = (press(Action.Done).screen as Screen.Accounts).v1
        return home.accounts.first { it.account == email }.id
    }

    /** Signs in on the web; waits until the app opens the request by itself. */
    fun signIn(email: String): Pair<Browser, String> {
        val browser = Browser(AppTest.server)
        val code = browser.signIn(email, PASSWORD)
        waitFor("the request") { it.screen is Screen.Request && (it.screen as Screen.Request).v1.secondsLeft > 0u }
        return browser to code
    }

    fun request(): RequestScreen = (view().screen as? Screen.Request ?: throw AssertionError("not a request: ${view()}")).v1

    fun approve(code: String, pin: String): String {
        type(InputField.CODE, code)
        type(InputField.PIN, pin)
        press(request().approve.action)
        return notice()
    }
}

class AppTest {
    companion object {
        lateinit var server: DevServer

        @BeforeClass @JvmStatic fun start() {
            server = DevServer(System.getProperty("latchkey.server")!!)
        }

        @AfterClass @JvmStatic fun stop() = server.close()
    }

    @Test fun enrolFromCameraFrameApproveWithNumberAndPin() {
        val phone = Phone()
        val home = phone.view().screen as Screen.Accounts
        assertEquals("Initialise (add an account)", home.v1.add.label)
        val id = phone.enrolNew("kt-alice@example.org", "4831")
        val row = (phone.view().screen as Screen.Accounts).v1.accounts.single()
        assertEquals(id, row.id)
        assertEquals("Key kept in the device's hardware", row.assurance)
        // The device key lives in the Kotlin signer; Rust only saw its public key.
        assertEquals(1, phone.signer!!.keys.size)
        assertTrue("wrapping keys are kept by the Kotlin keystore", phone.keystore.keys.isNotEmpty())

        val (browser, code) = phone.signIn("kt-alice@example.org")
        val r = phone.request()
        assertEquals("Authenticate", phone.view().title)
        assertEquals("IP address 127.0.0.1", r.ip)
        assertFalse("the number and the PIN first", r.approve.enabled)
        val before = phone.signer.signatures.get()
        assertEquals("Approved. The sign-in continues on the other screen.", phone.approve(code, "4831"))
        assertTrue("requests are signed by the Kotlin signer", phone.signer.signatures.get() > before)
        assertEquals("/account", browser.approvalRedirect())
        assertTrue(phone.views.size > 10)
    }

    @Test fun wrongPinSaysAttemptsLeftAndLocks() {
        val phone = Phone()
        phone.enrolNew("kt-bob@example.org", "4831")
        val (_, code) = phone.signIn("kt-bob@example.org")
        phone.type(InputField.CODE, code)
        for (left in listOf(4, 3, 2)) {
            phone.type(InputField.PIN, "5038")
            phone.press(phone.request().approve.action)
            assertEquals("Wrong PIN. $left attempts left before this account is locked on this device.", phone.notice())
            assertEquals(Tone.ERROR, phone.view().notice!!.tone)
            assertEquals(0.toUByte(), phone.request().pin.filled)
        }
        // The right PIN still works on the same request.
        phone.type(InputField.PIN, "4831")
        phone.press(phone.request().approve.action)
        assertTrue(phone.notice(), phone.notice().startsWith("Approved."))
    }

    @Test fun denyAndThisWasntMe() {
        val phone = Phone()
        phone.enrolNew("kt-dave@example.org", "4831")
        val (browser, _) = phone.signIn("kt-dave@example.org")
        phone.press(phone.request().notMe.action)
        assertTrue(phone.notice(), phone.notice().startsWith("Reported."))
        assertTrue(browser.approvalRedirect() != "/account")
        assertFalse("answered once", phone.request().deny.enabled)
        assertNotNull(phone.request().done)
    }

    @Test fun changePinThenForgotPinThroughTheDevOutbox() {
        val phone = Phone()
        val id = phone.enrolNew("kt-erin@example.org", "4831")
        phone.press(Action.OpenAccount(id))
        phone.press(Action.ChangePin(id))
        phone.type(InputField.PIN, "4831")
        phone.type(InputField.NEW_PIN, "1234")
        val change = (phone.view().screen as Screen.ChangePin).v1
        assertTrue(change.feedback ?: "", (change.feedback ?: "").contains("too easy"))
        repeat(4) { phone.send(AppEvent.Erase(InputField.NEW_PIN)) }
        phone.type(InputField.NEW_PIN, "2963")
        phone.type(InputField.NEW_PIN_AGAIN, "2963")
        phone.press(Action.Submit)
        assertEquals("Your PIN was changed. Use the new one from now on.", phone.notice())
        phone.press(Action.Done)
        phone.press(Action.ForgotPin(id))
        phone.send(AppEvent.Input(InputField.PASSWORD, "not the password"))
        phone.press(Action.Submit)
        assertEquals("The password or the code is wrong.", phone.notice())
        phone.send(AppEvent.Input(InputField.PASSWORD, PASSWORD))
        phone.press(Action.Submit)
        assertTrue(phone.notice(), phone.notice().startsWith("We e-mailed a code to k•••@example.org."))
        phone.type(InputField.MAILED_CODE, server.resetCode())
        phone.type(InputField.NEW_PIN, "7395")
        phone.type(InputField.NEW_PIN_AGAIN, "7395")
        phone.press(Action.Submit)
        assertEquals("Your new PIN is set, and this device can approve sign-ins again.", phone.notice())
        phone.press(Action.Done)
        val (_, code) = phone.signIn("kt-erin@example.org")
        assertTrue(phone.approve(code, "7395").startsWith("Approved."))
    }

    @Test fun twoAccountsAreIsolatedAndRemoveNeedsThePin() {
        val phone = Phone()
        val a = phone.enrolNew("kt-gina@example.org", "4831")
        val b = phone.enrolNew("kt-hank@example.org", "2963")
        assertEquals(2, phone.signer!!.keys.size)
        val (_, code) = phone.signIn("kt-hank@example.org")
        assertEquals("kt-hank@example.org", phone.request().account)
        assertTrue(phone.approve(code, "4831").startsWith("Wrong PIN."))
        assertTrue(phone.approve(code, "2963").startsWith("Approved."))
        phone.press(Action.Done)
        phone.press(Action.RemoveAccount(a))
        phone.type(InputField.PIN, "2963")
        phone.press(Action.Submit)
        assertTrue("removed with another account's PIN", phone.notice().startsWith("Wrong PIN."))
        phone.type(InputField.PIN, "4831")
        val home = (phone.press(Action.Submit).screen as Screen.Accounts).v1
        assertEquals(listOf(b), home.accounts.map { it.id })
        assertEquals(1, phone.signer.keys.size)
    }

    @Test fun softwareSignerWhenTheShellHasNone() {
        val phone = Phone(signer = null)
        phone.enrolNew("kt-ivy@example.org", "4831")
        assertEquals("Key kept in software, encrypted", (phone.view().screen as Screen.Accounts).v1.accounts.single().assurance)
        val (_, code) = phone.signIn("kt-ivy@example.org")
        assertTrue(phone.approve(code, "4831").startsWith("Approved."))
    }

    @Test fun shellFailuresBecomeWordsNotCrashes() {
        val phone = Phone()
        phone.enrolNew("kt-jack@example.org", "4831")
        val (_, code) = phone.signIn("kt-jack@example.org")
        phone.signer!!.failWith = ShellException.Unavailable("the StrongBox is busy")
        val said = phone.approve(code, "4831")
        assertEquals("The device key could not be used. Try again; if it keeps failing, remove the account and add it again.", said)
        phone.signer.failWith = null
        phone.type(InputField.PIN, "4831")
        phone.press(phone.request().approve.action)
        assertTrue(phone.notice(), phone.notice().startsWith("Approved."))
    }

    @Test fun refusalsAndTheDevicesLanguage() {
        val phone = Phone(screenLock = false, languages = listOf("fr-CA", "en"))
        assertEquals("fr", phone.view().language)
        assertEquals("Mes comptes", phone.view().title)
        phone.press(Action.AddAccount)
        val blank = ByteArray(640 * 480) { 0x80.toByte() }
        phone.app.scanFrame(blank, 640u, 480u, 640u)
        val scan = (phone.view().screen as Screen.Scan).v1
        assertTrue(scan.guidance, scan.guidance.startsWith("Dirigez l'appareil photo"))
        phone.send(AppEvent.Input(InputField.LINK, "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example"))
        phone.press(Action.UseLink)
        val refused = (phone.view().screen as Screen.Scan).v1
        assertTrue(refused.guidance, refused.guidance.startsWith("Ce n'est pas un code Latchkey"))
        assertEquals(Tone.WARNING, refused.tone)
        // No screen lock: the enrolment is refused with what to do, in French.
        val web = Browser(server)
        web.register("kt-kim@example.org", PASSWORD)
        val frame = qrFrameFromPage(web.addDevice("Test phone", "4831"))
        phone.app.scanFrame(frame.luma, frame.width.toUInt(), frame.height.toUInt(), frame.stride.toUInt())
        phone.type(InputField.PIN, "4831")
        phone.press(Action.Submit)
        assertTrue(phone.notice(), phone.notice().startsWith("Cet appareil n'a pas de verrouillage d'écran."))
        assertNull(phone.view().busy)
        // The person switches to German in Settings.
        phone.press(Action.Back)
        phone.press(Action.OpenSettings)
        phone.press(Action.SetLanguage("de"))
        assertEquals("Einstellungen", phone.view().title)
    }
}
