// The Android shell under Robolectric (the Android framework on the JVM, android-all 16 from
// Maven Central): the real MainActivity and LatchkeyApplication over the real app model (the
// Rust library through JNA), drawn with the framework's widgets. What a person sees and what
// the shell asks of Android, for the screens that need no server.
package org.latchkey.android

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Looper
import android.view.View
import android.view.ViewGroup
import android.view.WindowManager
import android.widget.Button
import android.widget.TextView
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [36], manifest = Config.NONE, application = LatchkeyApplication::class)
class ShellTest {
    /** Lets the app finish its work and the UI thread draw what it sent. */
    private fun settle(app: LatchkeyApplication) {
        repeat(20) {
            app.app.idle()
            shadowOf(Looper.getMainLooper()).idle()
        }
    }

    private fun all(view: View): List<View> =
        listOf(view) + if (view is ViewGroup) (0 until view.childCount).flatMap { all(view.getChildAt(it)) } else emptyList()

    private fun shown(root: View): List<View> = all(root).filter { it.isShown }

    private fun texts(root: View): List<String> =
        shown(root).filterIsInstance<TextView>().filter { it !is Button }.map { it.text.toString() }

    private fun button(root: View, label: String): Button =
        shown(root).filterIsInstance<Button>().firstOrNull { it.text.toString() == label }
            ?: throw AssertionError("no button \"$label\" in ${shown(root).filterIsInstance<Button>().map { it.text }}")

    private fun secure(activity: MainActivity): Boolean =
        activity.window.attributes.flags and WindowManager.LayoutParams.FLAG_SECURE != 0

    @Test fun homeScanAndARefusedCameraAreDrawnAndExplained() {
        val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
        val activity = controller.get()
        val app = activity.application as LatchkeyApplication
        settle(app)
        val root = activity.window.decorView
        // Android 13+: the notifications permission is asked at start; refused, home says what
        // that means.
        val notifications = shadowOf(activity).lastRequestedPermission
        assertEquals(listOf(Manifest.permission.POST_NOTIFICATIONS), notifications.requestedPermissions.toList())
        activity.onRequestPermissionsResult(
            notifications.requestCode,
            notifications.requestedPermissions,
            intArrayOf(PackageManager.PERMISSION_DENIED),
        )
        settle(app)
        assertTrue(texts(root).toString(), texts(root).any { it.startsWith("Notifications are off") })
        assertTrue(texts(root).toString(), texts(root).any { it.startsWith("No account yet.") })
        // Every button is named for screen readers.
        shown(root).filterIsInstance<Button>().forEach {
            assertTrue("unnamed: ${it.text}", !it.contentDescription.isNullOrBlank())
        }
        assertFalse("home may be captured", secure(activity))

        button(root, "Initialise (add an account)").performClick()
        settle(app)
        assertTrue(texts(root).toString(), texts(root).any { it.startsWith("Point the camera") })
        assertTrue("the camera sees enrolment codes: no screenshots", secure(activity))
        // The camera needs the permission: asked, refused, explained.
        val asked = shadowOf(activity).lastRequestedPermission
        assertEquals(listOf(Manifest.permission.CAMERA), asked.requestedPermissions.toList())
        activity.onRequestPermissionsResult(
            asked.requestCode,
            asked.requestedPermissions,
            intArrayOf(PackageManager.PERMISSION_DENIED),
        )
        settle(app)
        assertTrue(texts(root).toString(), texts(root).any { it.startsWith("Latchkey may not use the camera.") })

        // Another site's link, opened by the system: the reason on the scan screen.
        controller.newIntent(Intent(Intent.ACTION_VIEW).setData(android.net.Uri.parse("https://example.org/welcome")))
        settle(app)
        assertTrue("${texts(root)} / ${app.app.view()}", texts(root).any { it.startsWith("This is not a Latchkey code") })

        button(root, "Back").performClick()
        settle(app)
        assertFalse(secure(activity))
        assertTrue(texts(root).any { it.startsWith("No account yet.") })
    }
}
