// The one activity: draws the app model's views (Render), passes intents (App Links,
// notification taps) to the app, asks for the camera and notification permissions when the
// app needs them, and keeps PIN screens out of screenshots (the view's `secure`).
package org.latchkey.android

import android.Manifest
import android.app.Activity
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import android.os.Bundle
import android.view.WindowManager
import org.latchkey.android.core.Incoming
import org.latchkey.android.core.Layouts
import uniffi.latchkey.AppEvent
import uniffi.latchkey.AppView

class MainActivity : Activity() {
    private lateinit var latchkey: LatchkeyApplication
    private lateinit var render: Render
    private lateinit var camera: CameraScanner
    private val draw: (AppView) -> Unit = { view -> show(view) }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        latchkey = application as LatchkeyApplication
        camera = CameraScanner(this, latchkey.app) { granted -> askCamera(granted) }
        render = Render(this, latchkey.app::send, camera)
        setContentView(render.root)
        handle(intent)
        if (Build.VERSION.SDK_INT >= 33 &&
            checkSelfPermission(Manifest.permission.POST_NOTIFICATIONS) != PackageManager.PERMISSION_GRANTED
        ) {
            requestPermissions(arrayOf(Manifest.permission.POST_NOTIFICATIONS), NOTIFICATIONS)
        }
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        handle(intent)
    }

    private fun handle(intent: Intent?) {
        intent ?: return
        // This activity is exported (the launcher, App Links): a Deny arrives only through the
        // app's own receiver, never from an intent any app could send here.
        if (intent.action == Incoming.DENY) return
        Incoming.events(intent.action, intent.dataString, intent.getStringExtra(Incoming.EXTRA_REQUEST))
            .forEach(latchkey.app::send)
    }

    override fun onStart() {
        super.onStart()
        latchkey.effects.camera = camera
        latchkey.watch(draw)
        latchkey.app.send(AppEvent.Foregrounded)
        latchkey.app.send(AppEvent.NotificationsAllowed(Notifier.allowed(this)))
    }

    override fun onStop() {
        latchkey.unwatch(draw)
        camera.close()
        latchkey.effects.camera = null
        // Android limits background work: requests then come by push.
        latchkey.app.send(AppEvent.Backgrounded(true))
        super.onStop()
    }

    private fun show(view: AppView) {
        if (view.secure) {
            window.addFlags(WindowManager.LayoutParams.FLAG_SECURE)
        } else {
            window.clearFlags(WindowManager.LayoutParams.FLAG_SECURE)
        }
        render.show(Layouts.of(view))
    }

    /** The camera needs the permission: ask (once per request of the app's). */
    private fun askCamera(granted: Boolean) {
        if (!granted) requestPermissions(arrayOf(Manifest.permission.CAMERA), CAMERA)
    }

    override fun onRequestPermissionsResult(code: Int, permissions: Array<String>, results: IntArray) {
        // No results: the request was cancelled (another one was showing), not refused; the
        // camera asks again the next time the scan screen opens it.
        if (results.isEmpty()) return
        val granted = results.all { it == PackageManager.PERMISSION_GRANTED }
        when (code) {
            CAMERA -> if (granted) camera.open() else latchkey.app.send(AppEvent.CameraUnavailable(true))
            NOTIFICATIONS -> latchkey.app.send(AppEvent.NotificationsAllowed(granted))
        }
    }

    private companion object {
        const val CAMERA = 1
        const val NOTIFICATIONS = 2
    }
}
