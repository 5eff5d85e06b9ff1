// What the app model asks of the phone: is a screen lock set (a PIN is no use on a phone anyone
// can open), and what to call it on the account's devices page.
package org.latchkey.android

import android.app.KeyguardManager
import android.content.Context
import android.os.Build
import uniffi.latchkey.Platform

class AndroidPlatform(private val context: Context) : Platform {
    override fun hasScreenLock(): Boolean = context.getSystemService(KeyguardManager::class.java).isDeviceSecure

    override fun deviceModel(): String =
        if (Build.MODEL.startsWith(Build.MANUFACTURER, ignoreCase = true)) Build.MODEL else "${Build.MANUFACTURER} ${Build.MODEL}"
}
