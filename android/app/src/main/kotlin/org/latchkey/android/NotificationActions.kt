// A notification's Deny, without opening the app: the app model denies the request (after
// fetching it, if it has not yet) and withdraws the notification.
package org.latchkey.android

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import org.latchkey.android.core.Incoming

class NotificationActions : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        val app = (context.applicationContext as LatchkeyApplication).app
        val done = goAsync()
        Incoming.events(intent.action, null, intent.getStringExtra(Incoming.EXTRA_REQUEST)).forEach(app::send)
        // The answer goes out on the app's own thread; wait for it (at most the receiver's
        // ten seconds) so the process is not frozen mid-request.
        Thread {
            app.idle()
            done.finish()
        }.start()
    }
}
