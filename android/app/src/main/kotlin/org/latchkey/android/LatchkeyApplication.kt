// The process: one LatchkeyApp (the app model in Rust), its listener, and where views and
// effects go. Views arrive on the app's thread and are handed to the UI thread; the newest
// view wins. Nothing here decides anything.
package org.latchkey.android

import android.app.Application
import android.os.Handler
import android.os.Looper
import android.os.LocaleList
import java.io.File
import java.util.TimeZone
import java.util.concurrent.CopyOnWriteArrayList
import uniffi.latchkey.AppEffect
import uniffi.latchkey.AppEvent
import uniffi.latchkey.AppListener
import uniffi.latchkey.AppView
import uniffi.latchkey.Config
import uniffi.latchkey.LatchkeyApp

class LatchkeyApplication : Application(), AppListener {
    lateinit var app: LatchkeyApp
        private set
    lateinit var effects: Effects
        private set
    private val main = Handler(Looper.getMainLooper())
    private val screens = CopyOnWriteArrayList<(AppView) -> Unit>()

    /** The newest view (read on the UI thread). */
    var view: AppView? = null
        private set

    override fun onCreate() {
        super.onCreate()
        effects = Effects(this)
        System.setProperty("jna.nosys", "true")
        app = LatchkeyApp(
            Config(File(noBackupFilesDir, "latchkey").path, null, null),
            KeystoreWrapping(this),
            KeystoreSigner(this),
            AndroidPlatform(this),
            LocaleList.getDefault().toLanguageTags().split(','),
            TimeZone.getDefault().getOffset(System.currentTimeMillis()) / 60_000,
            this,
        )
        app.send(AppEvent.Started)
        app.send(AppEvent.NotificationsAllowed(Notifier.allowed(this)))
        Push.start(this)
    }

    /** Draw every new view with `screen` (the activity, while it is shown). */
    fun watch(screen: (AppView) -> Unit) {
        screens.add(screen)
        view?.let(screen)
    }

    fun unwatch(screen: (AppView) -> Unit) {
        screens.remove(screen)
    }

    override fun viewChanged(view: AppView) {
        main.post {
            val shown = this.view
            if (shown == null || view.revision > shown.revision) {
                this.view = view
                screens.forEach { it(view) }
            }
        }
    }

    override fun perform(effect: AppEffect) {
        main.post { effects.perform(effect) }
    }
}
