// Firebase Cloud Messaging (com.google.firebase:firebase-messaging, from Maven Central), for a
// build that names its Firebase project (BuildConfig-free: resources `latchkey_fcm_*`, set per
// deployment in app/build.gradle.kts). Data-only, high-priority messages whose only datum is
// the request id.
package org.latchkey.android

import android.content.Context
import com.google.firebase.FirebaseApp
import com.google.firebase.FirebaseOptions
import com.google.firebase.messaging.FirebaseMessaging
import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import org.latchkey.android.core.Incoming
import uniffi.latchkey.PushRegistration
import uniffi.latchkey.PushService

object FcmPush {
    fun start(context: Context) {
        val res = context.resources
        val id = { name: String ->
            res.getIdentifier("latchkey_fcm_$name", "string", context.packageName)
                .takeIf { it != 0 }
                ?.let(res::getString)
                ?.takeIf { it.isNotEmpty() }
        }
        val options = FirebaseOptions.Builder()
            .setApplicationId(id("application_id") ?: return)
            .setProjectId(id("project_id") ?: return)
            .setApiKey(id("api_key") ?: return)
            .setGcmSenderId(id("sender_id") ?: return)
            .build()
        if (FirebaseApp.getApps(context).isEmpty()) FirebaseApp.initializeApp(context, options)
        // The token arrives in FcmService.onRegistered (firebase-messaging 26's API).
        FirebaseMessaging.getInstance().register()
    }

    fun registered(context: Context, token: String) {
        Push.registered(context, PushRegistration(PushService.FCM, token, null, null))
    }
}

class FcmService : FirebaseMessagingService() {
    override fun onRegistered(token: String) = FcmPush.registered(this, token)

    override fun onUnregistered(token: String) = Push.registered(this, null)

    override fun onMessageReceived(message: RemoteMessage) {
        Push.received(this, Incoming.push(message.data))
    }
}
