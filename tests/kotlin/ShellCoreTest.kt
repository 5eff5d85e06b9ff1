// The Android shell's plain-Kotlin parts (android/app/src/main/kotlin/org/latchkey/android/core)
// on the JVM, against the real app and server: camera planes as cameras give them, intents
// and pushes as Android delivers them, and the layout of real screens.
package latchkey.test

import java.nio.ByteBuffer
import org.junit.AfterClass
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.BeforeClass
import org.junit.Test
import org.latchkey.android.core.Incoming
import org.latchkey.android.core.Layouts
import org.latchkey.android.core.Luma
import org.latchkey.android.core.Node
import uniffi.latchkey.AppEvent
import uniffi.latchkey.InputField
import uniffi.latchkey.NotificationAction
import uniffi.latchkey.Screen

class ShellCoreTest {
    companion object {
        @BeforeClass @JvmStatic fun start() {
            AppTest.server = DevServer(System.getProperty("latchkey.server")!!)
        }

        @AfterClass @JvmStatic fun stop() = AppTest.server.close()
    }

    /** A camera's Y plane: rows padded to `rowStride`, the last one cut at the width. */
    private fun plane(frame: LumaFrame, rowStride: Int, pixelStride: Int = 1): ByteBuffer {
        val size = rowStride * (frame.height - 1) + (frame.width - 1) * pixelStride + 1
        val bytes = ByteArray(size) { 0x55 }
        for (y in 0 until frame.height) for (x in 0 until frame.width) {
            bytes[y * rowStride + x * pixelStride] = frame.luma[y * frame.stride + x]
        }
        return ByteBuffer.allocateDirect(size).put(bytes).also { it.flip() }
    }

    @Test fun cameraPlanesReachTheScannerAsCamerasGiveThem() {
        val web = Browser(AppTest.server)
        web.register("kt-camera@example.org", PASSWORD)
        val page = qrFrameFromPage(web.addDevice("Camera phone", "4831"))
        for ((rowStride, pixelStride) in listOf(page.width + 64 to 1, page.width * 2 to 2)) {
            val phone = Phone()
            phone.press(uniffi.latchkey.Action.AddAccount)
            val frame = Luma.copy(plane(page, rowStride, pixelStride), page.width, page.height, rowStride, pixelStride)
            if (pixelStride == 1) {
                assertEquals("one copy, stride and all", rowStride, frame.rowStride)
                assertEquals("the last row stops at the width", rowStride * (page.height - 1) + page.width, frame.bytes.size)
            } else {
                assertEquals("gathered into a tight plane", page.width, frame.rowStride)
            }
            phone.app.scanFrame(frame.bytes, frame.width.toUInt(), frame.height.toUInt(), frame.rowStride.toUInt())
            val screen = phone.view().screen
            assertTrue("read as the camera gives it ($rowStride/$pixelStride): $screen", screen is Screen.Enrol)
        }
        // The array is reused when it fits; sizes the plane does not hold are refused.
        val frame = Luma.copy(plane(page, page.width), page.width, page.height, page.width, 1)
        val again = Luma.copy(plane(page, page.width), page.width, page.height, page.width, 1, reuse = frame.bytes)
        assertTrue(again.bytes === frame.bytes)
        expectThrows<IllegalArgumentException>("short plane") {
            Luma.copy(ByteBuffer.allocate(10), 100, 100, 100, 1)
        }
        expectThrows<IllegalArgumentException>("stride below width") {
            Luma.copy(plane(page, page.width), page.width, page.height, page.width - 1, 1)
        }
    }

    @Test fun intentsAndPushesBecomeTheAppsEvents() {
        assertEquals(
            listOf(AppEvent.NotificationPressed("a/b", null)),
            Incoming.events(Incoming.OPEN_REQUEST, null, "a/b"),
        )
        assertEquals(
            listOf(AppEvent.NotificationPressed("a/b", NotificationAction.DENY)),
            Incoming.events(Incoming.DENY, null, "a/b"),
        )
        assertEquals(
            listOf(AppEvent.LinkOpened("https://h/e#v=1")),
            Incoming.events(Incoming.VIEW, "https://h/e#v=1", null),
        )
        assertEquals(emptyList<AppEvent>(), Incoming.events("android.intent.action.MAIN", null, null))
        assertEquals(emptyList<AppEvent>(), Incoming.events(Incoming.DENY, null, null))
        val id = "AAECAwQFBgcICQoLDA0ODw"
        assertEquals(AppEvent.PushReceived(null, id), Incoming.push(mapOf("challenge" to id)))
        assertNull(Incoming.push(mapOf("other" to id)))
        assertEquals(AppEvent.PushReceived(null, id), Incoming.push("""{"challenge":"$id"}""".toByteArray()))
        assertNull(Incoming.push("""{"challenge":"short"}""".toByteArray()))
        assertNull(Incoming.push("not json".toByteArray()))
    }

    @Test fun anAppLinkEnrolsAndTheSignerIsAskedForAnAttestation() {
        val web = Browser(AppTest.server)
        web.register("kt-link@example.org", PASSWORD)
        val html = web.addDevice("Linked phone", "4831")
        // The link the page prints under the code (HTML-escaped there).
        val link = Regex("https://[^\"<\\s]*/e#[^\"<\\s]*").find(html)!!.value
            .replace("&#38;", "&").replace("&amp;", "&")
        val phone = Phone()
        Incoming.events(Incoming.VIEW, link, null).forEach { phone.send(it) }
        val enrol = phone.view().screen as? Screen.Enrol
            ?: throw AssertionError("not enrolling from $link: ${phone.view()}")
        assertTrue(enrol.v1.who, enrol.v1.who.contains("kt-link@example.org"))
        phone.type(InputField.PIN, "4831")
        phone.press(uniffi.latchkey.Action.Submit)
        assertTrue(phone.notice(), phone.notice().startsWith("This device is ready."))
        val challenge = phone.signer!!.challenges.single()
        assertEquals("the enrolment's attestation challenge", 32, challenge.size)
    }

    @Test fun screensAreLaidOutWithEveryControlNamed() {
        val phone = Phone()
        val home = Layouts.of(phone.view())
        assertTrue("home may be captured", !home.secure)
        val homeButtons = Layouts.buttons(home)
        assertEquals(3, homeButtons.size)
        homeButtons.forEach { assertTrue("named: $it", it.label.isNotBlank() && it.a11y.isNotBlank()) }
        val id = phone.enrolNew("kt-layout@example.org", "4831")
        val scan = Layouts.of(phone.press(uniffi.latchkey.Action.AddAccount))
        assertTrue("the camera sees enrolment codes", scan.secure)
        val camera = scan.nodes.filterIsInstance<Node.Camera>().single()
        assertEquals("Camera view for scanning the QR code", camera.a11y)
        phone.press(uniffi.latchkey.Action.Back)
        val (_, code) = phone.signIn("kt-layout@example.org")
        val request = Layouts.of(phone.view())
        assertTrue("a PIN screen is kept out of screenshots", request.secure)
        val digits = request.nodes.filterIsInstance<Node.Digits>().map { it.input.field }
        assertEquals(listOf(InputField.CODE, InputField.PIN), digits)
        val labels = Layouts.buttons(request).map { it.label }
        assertTrue(labels.toString(), labels.containsAll(listOf("Approve", "Deny")))
        assertTrue(request.nodes.any { it is Node.Countdown })
        assertTrue(phone.approve(code, "4831").isNotEmpty())
        assertTrue(id.isNotEmpty())
    }
}
