// UnifiedPush (org.unifiedpush.android:connector 3, from Maven Central): the person's chosen
// distributor gives an endpoint and Web Push keys (RFC 8291); messages arrive decrypted by the
// connector and carry {"challenge": id} (decoded by the app: challengeInPush).
package org.latchkey.android

import android.content.Context
import java.util.Base64
import org.latchkey.android.core.Incoming
import org.unifiedpush.android.connector.FailedReason
import org.unifiedpush.android.connector.PushService
import org.unifiedpush.android.connector.UnifiedPush
import org.unifiedpush.android.connector.data.PushEndpoint
import org.unifiedpush.android.connector.data.PushMessage
import uniffi.latchkey.PushRegistration
import uniffi.latchkey.PushService as Service

object UnifiedPushes {
    /** Registers with the current or default distributor; `found(false)` when there is none. */
    fun start(context: Context, found: (Boolean) -> Unit) {
        UnifiedPush.tryUseCurrentOrDefaultDistributor(context) { ok ->
            if (ok) UnifiedPush.register(context, "default", null, null)
            found(ok)
        }
    }
}

/** The connector's service: endpoints and messages. */
class UnifiedPushService : PushService() {
    override fun onNewEndpoint(endpoint: PushEndpoint, instance: String) {
        val keys = endpoint.pubKeySet
        val decode = { text: String -> Base64.getUrlDecoder().decode(text.trimEnd('=')) }
        Push.registered(
            this,
            PushRegistration(
                Service.WEB_PUSH,
                endpoint.url,
                keys?.pubKey?.let(decode),
                keys?.auth?.let(decode),
            ),
        )
    }

    override fun onMessage(message: PushMessage, instance: String) {
        // Undecrypted content is not ours (the server always encrypts).
        if (message.decrypted) Push.received(this, Incoming.push(message.content))
    }

    override fun onRegistrationFailed(reason: FailedReason, instance: String) {
        Push.registered(this, null)
    }

    override fun onUnregistered(instance: String) {
        Push.registered(this, null)
    }
}
