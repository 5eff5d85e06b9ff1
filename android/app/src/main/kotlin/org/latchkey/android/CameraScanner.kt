// The camera while the scan screen asks for it: camera2 (part of the framework; CameraX is not
// served by the registries this project builds from), the back camera's preview on the
// screen's TextureView, and YUV_420_888 frames whose Y plane goes to LatchkeyApp.scanFrame with
// its row stride (Luma.copy: one copy out of the camera's buffer). Frames that arrive while one
// is being read are dropped (acquireLatestImage). The light follows AppEffect.SetTorch.
package org.latchkey.android

import android.Manifest
import android.annotation.SuppressLint
import android.app.Activity
import android.content.pm.PackageManager
import android.graphics.ImageFormat
import android.graphics.SurfaceTexture
import android.hardware.camera2.CameraCaptureSession
import android.hardware.camera2.CameraCharacteristics
import android.hardware.camera2.CameraDevice
import android.hardware.camera2.CameraManager
import android.hardware.camera2.CaptureRequest
import android.media.ImageReader
import android.os.Handler
import android.os.HandlerThread
import android.view.Surface
import android.view.TextureView
import org.latchkey.android.core.Luma
import uniffi.latchkey.AppEvent
import uniffi.latchkey.LatchkeyApp

class CameraScanner(
    private val activity: Activity,
    private val app: LatchkeyApp,
    /** Called with `false` when the permission is missing (the activity asks for it). */
    private val permission: (Boolean) -> Unit,
) {
    private var view: TextureView? = null
    private var thread: HandlerThread? = null
    private var device: CameraDevice? = null
    private var session: CameraCaptureSession? = null
    private var reader: ImageReader? = null
    private var request: CaptureRequest.Builder? = null
    private var wanted = false
    private var reuse: ByteArray? = null

    fun attach(view: TextureView) {
        this.view = view
        view.surfaceTextureListener = object : TextureView.SurfaceTextureListener {
            override fun onSurfaceTextureAvailable(texture: SurfaceTexture, width: Int, height: Int) {
                if (wanted) start()
            }
            override fun onSurfaceTextureSizeChanged(texture: SurfaceTexture, width: Int, height: Int) = Unit
            override fun onSurfaceTextureDestroyed(texture: SurfaceTexture): Boolean {
                stop()
                return true
            }
            override fun onSurfaceTextureUpdated(texture: SurfaceTexture) = Unit
        }
    }

    fun detach() {
        stop()
        view = null
    }

    /** AppEffect.OpenCamera: start once the permission and the preview are there. */
    fun open() {
        wanted = true
        if (activity.checkSelfPermission(Manifest.permission.CAMERA) != PackageManager.PERMISSION_GRANTED) {
            permission(false)
            return
        }
        if (view?.isAvailable == true) start()
    }

    /** AppEffect.CloseCamera. */
    fun close() {
        wanted = false
        stop()
    }

    /** AppEffect.SetTorch. */
    fun torch(on: Boolean) {
        val builder = request ?: return
        builder.set(
            CaptureRequest.FLASH_MODE,
            if (on) CaptureRequest.FLASH_MODE_TORCH else CaptureRequest.FLASH_MODE_OFF,
        )
        session?.setRepeatingRequest(builder.build(), null, null)
    }

    @SuppressLint("MissingPermission") // checked in open()
    private fun start() {
        if (device != null) return
        val manager = activity.getSystemService(CameraManager::class.java)
        val id = manager.cameraIdList.firstOrNull {
            manager.getCameraCharacteristics(it).get(CameraCharacteristics.LENS_FACING) ==
                CameraCharacteristics.LENS_FACING_BACK
        } ?: manager.cameraIdList.firstOrNull()
        if (id == null) {
            app.send(AppEvent.CameraUnavailable(false))
            return
        }
        val hasLight = manager.getCameraCharacteristics(id).get(CameraCharacteristics.FLASH_INFO_AVAILABLE) == true
        val worker = HandlerThread("latchkey-camera").also { it.start() }
        thread = worker
        val handler = Handler(worker.looper)
        val frames = ImageReader.newInstance(WIDTH, HEIGHT, ImageFormat.YUV_420_888, 2)
        reader = frames
        frames.setOnImageAvailableListener({ r ->
            val image = r.acquireLatestImage() ?: return@setOnImageAvailableListener
            try {
                val y = image.planes[0]
                val frame = Luma.copy(y.buffer, image.width, image.height, y.rowStride, y.pixelStride, reuse)
                reuse = frame.bytes
                app.scanFrame(frame.bytes, frame.width.toUInt(), frame.height.toUInt(), frame.rowStride.toUInt())
            } finally {
                image.close()
            }
        }, handler)
        manager.openCamera(id, object : CameraDevice.StateCallback() {
            override fun onOpened(camera: CameraDevice) {
                device = camera
                val texture = view?.surfaceTexture ?: return stop()
                texture.setDefaultBufferSize(WIDTH, HEIGHT)
                val preview = Surface(texture)
                val builder = camera.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW).apply {
                    addTarget(preview)
                    addTarget(frames.surface)
                    set(CaptureRequest.CONTROL_AF_MODE, CaptureRequest.CONTROL_AF_MODE_CONTINUOUS_PICTURE)
                }
                request = builder
                @Suppress("DEPRECATION") // the executor form needs API 28's SessionConfiguration
                camera.createCaptureSession(
                    listOf(preview, frames.surface),
                    object : CameraCaptureSession.StateCallback() {
                        override fun onConfigured(s: CameraCaptureSession) {
                            session = s
                            s.setRepeatingRequest(builder.build(), null, handler)
                            app.send(AppEvent.CameraOpened(hasLight))
                        }
                        override fun onConfigureFailed(s: CameraCaptureSession) {
                            app.send(AppEvent.CameraUnavailable(false))
                            stop()
                        }
                    },
                    handler,
                )
            }
            override fun onDisconnected(camera: CameraDevice) = stop()
            override fun onError(camera: CameraDevice, error: Int) {
                app.send(AppEvent.CameraUnavailable(error == CameraDevice.StateCallback.ERROR_CAMERA_DISABLED))
                stop()
            }
        }, handler)
    }

    private fun stop() {
        session?.close()
        session = null
        device?.close()
        device = null
        reader?.close()
        reader = null
        request = null
        thread?.quitSafely()
        thread = null
    }

    private companion object {
        const val WIDTH = 1280
        const val HEIGHT = 720
    }
}
