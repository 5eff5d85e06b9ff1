// The device key in Android Keystore: P-256, made inside StrongBox when the phone has one (else
// the TEE), never exportable, for signing only, and attested: Keystore's certificate chain for
// the enrolment's challenge goes to the server, which verifies it (server/src/attestation.rs).
package org.latchkey.android

import android.content.Context
import android.content.pm.PackageManager
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.ProviderException
import java.security.Signature
import java.security.spec.ECGenParameterSpec
import uniffi.latchkey.Assurance
import uniffi.latchkey.DeviceSigner
import uniffi.latchkey.GeneratedKey
import uniffi.latchkey.ShellException

class KeystoreSigner(context: Context) : DeviceSigner {
    private val strongBox = context.packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE)

    /** What the last key was made in (reported after generate, as the core asks). */
    @Volatile private var made = if (strongBox) Assurance.SECURE_ELEMENT else Assurance.HARDWARE

    private fun store(): KeyStore = KeyStore.getInstance(KEYSTORE).apply { load(null) }

    override fun assurance(): Assurance = made

    override fun generate(alias: String, attestationChallenge: ByteArray): GeneratedKey {
        fun spec(inStrongBox: Boolean, attest: Boolean) =
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
                .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
                .setDigests(KeyProperties.DIGEST_SHA256)
                .setIsStrongBoxBacked(inStrongBox)
                .apply { if (attest && attestationChallenge.isNotEmpty()) setAttestationChallenge(attestationChallenge) }
                .build()
        fun make(inStrongBox: Boolean, attest: Boolean) = KeyPairGenerator
            .getInstance(KeyProperties.KEY_ALGORITHM_EC, KEYSTORE)
            .apply { initialize(spec(inStrongBox, attest)) }
            .generateKeyPair()
        val attempts = listOfNotNull(
            if (strongBox) Pair(true, true) else null,
            Pair(false, true),
            // Phones without attestation (rare, old) still get a hardware key, shown as claimed.
            Pair(false, false),
        )
        var failure: Exception? = null
        for ((inStrongBox, attest) in attempts) {
            try {
                val pair = make(inStrongBox, attest)
                made = if (inStrongBox) Assurance.SECURE_ELEMENT else Assurance.HARDWARE
                val chain = if (attest) store().getCertificateChain(alias)?.map { it.encoded } else null
                return GeneratedKey(pair.public.encoded, chain ?: emptyList())
            } catch (e: StrongBoxUnavailableException) {
                failure = e
            } catch (e: ProviderException) {
                failure = e
            }
        }
        throw ShellException.Failed("Keystore could not make a key: ${failure?.javaClass?.simpleName}")
    }

    override fun sign(alias: String, message: ByteArray): ByteArray {
        val key = store().getKey(alias, null) as? PrivateKey
            ?: throw ShellException.Missing("no key $alias")
        return Signature.getInstance("SHA256withECDSA").run {
            initSign(key)
            update(message)
            sign()
        }
    }

    override fun delete(alias: String) {
        store().deleteEntry(alias)
    }

    private companion object {
        const val KEYSTORE = "AndroidKeyStore"
    }
}
