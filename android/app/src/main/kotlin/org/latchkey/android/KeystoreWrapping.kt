// The core's wrapping keys (32 bytes each, by id), sealed with AES-256-GCM under one key that
// never leaves Android Keystore, in files of the app's no-backup directory written atomically
// (AtomicFile). A key restored to another phone would be useless without this phone's
// Keystore, so nothing here is backed up.
package org.latchkey.android

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.AtomicFile
import java.io.File
import java.io.FileNotFoundException
import java.security.KeyStore as JavaKeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import uniffi.latchkey.KeyStore
import uniffi.latchkey.ShellException

class KeystoreWrapping(context: Context) : KeyStore {
    private val dir = File(context.noBackupFilesDir, "wrapped").apply { mkdirs() }

    private fun sealing(): SecretKey {
        val store = JavaKeyStore.getInstance("AndroidKeyStore").apply { load(null) }
        (store.getKey(ALIAS, null) as? SecretKey)?.let { return it }
        return KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore").run {
            init(
                KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                    .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                    .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                    .setKeySize(256)
                    .build(),
            )
            generateKey()
        }
    }

    /** Ids are the core's (hex); anything else is refused rather than used as a path. */
    private fun file(id: String): AtomicFile {
        if (!id.matches(Regex("[0-9a-zA-Z_-]{1,64}"))) throw ShellException.Failed("bad key id")
        return AtomicFile(File(dir, id))
    }

    override fun put(id: String, key: ByteArray) {
        val cipher = Cipher.getInstance(TRANSFORMATION).apply { init(Cipher.ENCRYPT_MODE, sealing()) }
        val sealed = cipher.iv + cipher.doFinal(key)
        val file = file(id)
        val out = file.startWrite()
        try {
            out.write(sealed)
            file.finishWrite(out)
        } catch (e: Exception) {
            file.failWrite(out)
            throw ShellException.Failed("cannot store the key: ${e.javaClass.simpleName}")
        }
    }

    override fun get(id: String): ByteArray? {
        val sealed = try {
            file(id).readFully()
        } catch (e: FileNotFoundException) {
            return null
        }
        if (sealed.size < IV + 16) throw ShellException.Failed("a stored key is damaged")
        val cipher = Cipher.getInstance(TRANSFORMATION).apply {
            init(Cipher.DECRYPT_MODE, sealing(), GCMParameterSpec(128, sealed, 0, IV))
        }
        return cipher.doFinal(sealed, IV, sealed.size - IV)
    }

    override fun delete(id: String) {
        file(id).delete()
    }

    private companion object {
        const val ALIAS = "latchkey-wrapping"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV = 12
    }
}
