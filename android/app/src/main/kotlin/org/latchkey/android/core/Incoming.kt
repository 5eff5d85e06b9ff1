// What reaches the app from outside (an App Link, a notification's tap or action, a push),
// turned into the app model's events. No decisions: each maps one to one. Plain Kotlin (no
// android.*): compiled and tested on the JVM (tests/kotlin/ShellCoreTest.kt).
package org.latchkey.android.core

import uniffi.latchkey.AppEvent
import uniffi.latchkey.NotificationAction
import uniffi.latchkey.challengeInPush

object Incoming {
    /** The intent action of a notification tap (opens the request). */
    const val OPEN_REQUEST = "org.latchkey.android.action.OPEN_REQUEST"

    /** The intent action of a notification's Deny button. */
    const val DENY = "org.latchkey.android.action.DENY"

    /** The extra naming the request (the app model's request key). */
    const val EXTRA_REQUEST = "org.latchkey.android.extra.REQUEST"

    /** Android's `Intent.ACTION_VIEW` (an App Link, or a link shared to the app). */
    const val VIEW = "android.intent.action.VIEW"

    /** The events an intent carries: `action`, its data URI and the request extra. */
    fun events(action: String?, data: String?, request: String?): List<AppEvent> = when {
        action == OPEN_REQUEST && request != null -> listOf(AppEvent.NotificationPressed(request, null))
        action == DENY && request != null ->
            listOf(AppEvent.NotificationPressed(request, NotificationAction.DENY))
        action == VIEW && data != null -> listOf(AppEvent.LinkOpened(data))
        else -> emptyList()
    }

    /** An FCM data message (`RemoteMessage.data`) or an APNs payload's fields. */
    fun push(data: Map<String, String>): AppEvent? =
        data["challenge"]?.let { AppEvent.PushReceived(null, it) }

    /** A UnifiedPush / Web Push message, decrypted by the connector. */
    fun push(body: ByteArray): AppEvent? = challengeInPush(body)?.let { AppEvent.PushReceived(null, it) }
}
