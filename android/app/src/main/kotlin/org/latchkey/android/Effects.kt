// What only the platform can do, when the app model asks: notifications, the camera and its
// light, vibration, opening a URL. Each effect is carried out as given.
package org.latchkey.android

import android.content.Context
import android.content.Intent
import android.net.Uri
import android.os.Build
import android.os.VibrationEffect
import android.os.Vibrator
import android.os.VibratorManager
import uniffi.latchkey.AppEffect
import uniffi.latchkey.Haptic

class Effects(private val context: Context) {
    /** The activity's camera, while it shows the scan screen. */
    @Volatile var camera: CameraScanner? = null

    fun perform(effect: AppEffect) {
        when (effect) {
            is AppEffect.Notify -> Notifier.show(context, effect)
            is AppEffect.CancelNotification -> Notifier.cancel(context, effect.request)
            is AppEffect.OpenCamera -> camera?.open()
            is AppEffect.CloseCamera -> camera?.close()
            is AppEffect.SetTorch -> camera?.torch(effect.on)
            is AppEffect.Vibrate -> vibrate(effect.pattern)
            is AppEffect.OpenUrl -> context.startActivity(
                Intent(Intent.ACTION_VIEW, Uri.parse(effect.url)).addFlags(Intent.FLAG_ACTIVITY_NEW_TASK),
            )
            // iOS registers its notification category with these; Android builds each
            // notification with its actions itself (Notifier).
            is AppEffect.NotificationActions -> Unit
            // Desktops only: a phone scans with its camera.
            is AppEffect.PickImage, is AppEffect.CaptureScreens, is AppEffect.ReadClipboardImage -> Unit
        }
    }

    private fun vibrate(pattern: Haptic) {
        val vibrator = if (Build.VERSION.SDK_INT >= 31) {
            context.getSystemService(VibratorManager::class.java).defaultVibrator
        } else {
            @Suppress("DEPRECATION")
            context.getSystemService(Vibrator::class.java)
        }
        val effect = when (pattern) {
            Haptic.SUCCESS -> VibrationEffect.createOneShot(40, VibrationEffect.DEFAULT_AMPLITUDE)
            Haptic.FAILURE -> VibrationEffect.createWaveform(longArrayOf(0, 60, 80, 60), -1)
            Haptic.ATTENTION -> VibrationEffect.createWaveform(longArrayOf(0, 200, 100, 200), -1)
        }
        vibrator.vibrate(effect)
    }
}
