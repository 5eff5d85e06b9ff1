// Sign-in notifications as the app model words them: the request's title and body, the
// lock-screen version without details, Approve (opens the request: the PIN and the number are
// typed in the app) and Deny (answered without opening the app). The channel's name is the
// app's too.
package org.latchkey.android

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import org.latchkey.android.core.Incoming
import uniffi.latchkey.AppEffect

object Notifier {
    private const val CHANNEL = "signin-requests"
    private const val ID = 1

    fun allowed(context: Context): Boolean =
        context.getSystemService(NotificationManager::class.java).areNotificationsEnabled()

    fun show(context: Context, effect: AppEffect.Notify) {
        val manager = context.getSystemService(NotificationManager::class.java)
        // Created (or renamed, in the app's language) before each use.
        manager.createNotificationChannel(
            NotificationChannel(CHANNEL, effect.channel, NotificationManager.IMPORTANCE_HIGH).apply {
                lockscreenVisibility = Notification.VISIBILITY_PRIVATE
            },
        )
        val open = PendingIntent.getActivity(
            context,
            effect.request.hashCode(),
            Intent(context, MainActivity::class.java)
                .setAction(Incoming.OPEN_REQUEST)
                .putExtra(Incoming.EXTRA_REQUEST, effect.request)
                .addFlags(Intent.FLAG_ACTIVITY_SINGLE_TOP),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )
        val deny = PendingIntent.getBroadcast(
            context,
            effect.request.hashCode(),
            Intent(context, NotificationActions::class.java)
                .setAction(Incoming.DENY)
                .putExtra(Incoming.EXTRA_REQUEST, effect.request),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )
        val icon = android.R.drawable.ic_lock_idle_lock
        val public = Notification.Builder(context, CHANNEL)
            .setSmallIcon(icon)
            .setContentTitle(effect.title)
            .setContentText(effect.publicBody)
            .build()
        val notification = Notification.Builder(context, CHANNEL)
            .setSmallIcon(icon)
            .setContentTitle(effect.title)
            .setContentText(effect.body)
            .setStyle(Notification.BigTextStyle().bigText(effect.body))
            .setPublicVersion(public)
            .setVisibility(Notification.VISIBILITY_PRIVATE)
            .setContentIntent(open)
            .setAutoCancel(true)
            .addAction(Notification.Action.Builder(null, effect.approve, open).build())
            .addAction(Notification.Action.Builder(null, effect.deny, deny).build())
            .build()
        manager.notify(effect.request, ID, notification)
    }

    fun cancel(context: Context, request: String) {
        context.getSystemService(NotificationManager::class.java).cancel(request, ID)
    }
}
