// A camera frame's luma (Y) plane, as LatchkeyApp.scanFrame takes it. Plain Kotlin (no
// android.*): compiled and tested on the JVM (tests/kotlin/ShellCoreTest.kt).
package org.latchkey.android.core

import java.nio.ByteBuffer

/** The luma plane of one frame: `height` rows `rowStride` bytes apart, `width` bytes used. */
class LumaFrame(val bytes: ByteArray, val width: Int, val height: Int, val rowStride: Int)

object Luma {
    /**
     * Copies the Y plane of a YUV_420_888 image (camera2's `ImageReader`: `image.planes[0]`
     * with its `rowStride` and `pixelStride`) out of the camera's buffer, which is recycled
     * when the image closes. One copy: with `pixelStride` 1, as cameras give Y, the rows go
     * as they are, padding and all (scanFrame takes the stride), and the last row as far as
     * the buffer goes (many cameras stop it at the width). Otherwise the pixels are gathered
     * into a tight plane. `reuse` is filled instead of a new array when it has the size.
     *
     * @throws IllegalArgumentException for sizes the buffer does not hold.
     */
    fun copy(
        plane: ByteBuffer,
        width: Int,
        height: Int,
        rowStride: Int,
        pixelStride: Int,
        reuse: ByteArray? = null,
    ): LumaFrame {
        require(width > 0 && height > 0) { "empty frame ${width}x$height" }
        require(pixelStride >= 1) { "pixel stride $pixelStride" }
        require(rowStride >= (width - 1) * pixelStride + 1) { "row stride $rowStride < width $width" }
        val buffer = plane.duplicate()
        buffer.rewind()
        val needed = rowStride.toLong() * (height - 1) + (width - 1).toLong() * pixelStride + 1
        require(buffer.remaining() >= needed) {
            "the plane holds ${buffer.remaining()} bytes, ${width}x$height with stride $rowStride needs $needed"
        }
        if (pixelStride == 1) {
            val size = minOf(buffer.remaining().toLong(), rowStride.toLong() * height).toInt()
            val bytes = if (reuse != null && reuse.size == size) reuse else ByteArray(size)
            buffer.get(bytes, 0, size)
            return LumaFrame(bytes, width, height, rowStride)
        }
        val size = width * height
        val bytes = if (reuse != null && reuse.size == size) reuse else ByteArray(size)
        for (y in 0 until height) {
            val row = y * rowStride
            for (x in 0 until width) {
                bytes[y * width + x] = buffer.get(row + x * pixelStride)
            }
        }
        return LumaFrame(bytes, width, height, width)
    }
}
