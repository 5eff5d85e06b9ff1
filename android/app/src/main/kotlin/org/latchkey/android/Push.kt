// Where pushes come from: UnifiedPush when the person has a distributor (phones without Google
// services, or their own server), else Firebase Cloud Messaging when this build has a Firebase
// project. The registration goes to the app model, which tells every account's server; a
// push's only datum, the request id, goes to the app as PushReceived. Without either, the app
// still hears of requests by long-poll while it is open (and home says notifications are off
// only when the system refuses them).
package org.latchkey.android

import android.content.Context
import uniffi.latchkey.AppEvent
import uniffi.latchkey.PushRegistration

object Push {
    fun start(context: Context) {
        UnifiedPushes.start(context) { found -> if (!found) FcmPush.start(context) }
    }

    /** A provider's registration (or its loss). */
    fun registered(context: Context, registration: PushRegistration?) {
        app(context).send(AppEvent.PushTokenChanged(registration))
    }

    /** A push arrived (`null`: not one of ours). */
    fun received(context: Context, event: AppEvent?) {
        event?.let(app(context)::send)
    }

    private fun app(context: Context) = (context.applicationContext as LatchkeyApplication).app
}
