//! Windows: device keys that never leave the TPM, through CNG's Microsoft Platform Crypto
//! Provider (NCrypt). A key is created non-exportable inside the TPM under the name
//! `latchkey-<alias>`; only its public half and signatures come out, so the server is told
//! `hardware`. Where the provider cannot be opened (no TPM 2.0, or it is disabled) the
//! desktop app uses the core's software signer instead, reported as `software`.
//!
//! Type-checked on Linux with `cargo clippy --target x86_64-pc-windows-gnu` (test.sh); it
//! runs only on Windows.
#![allow(unsafe_code)] // NCrypt is a C API; every call is wrapped below and checked.

use latchkey_core::protocol::types::{Assurance, PublicKey, Signature};
use latchkey_core::signer::{DeviceSigner, KeyAlias, SignerError};
use sha2::Digest as _;
use windows_sys::core::{HRESULT, PCWSTR};
use windows_sys::Win32::Foundation::{NTE_BAD_KEYSET, NTE_NO_KEY};
use windows_sys::Win32::Security::Cryptography::{
    NCryptCreatePersistedKey, NCryptDeleteKey, NCryptExportKey, NCryptFinalizeKey,
    NCryptFreeObject, NCryptOpenKey, NCryptOpenStorageProvider, NCryptSignHash,
    BCRYPT_ECCPUBLIC_BLOB, BCRYPT_ECDSA_P256_ALGORITHM, MS_PLATFORM_CRYPTO_PROVIDER,
    NCRYPT_KEY_HANDLE, NCRYPT_PROV_HANDLE, NCRYPT_SILENT_FLAG,
};

/// An NCrypt handle, freed on drop.
struct Handle(usize);

impl Drop for Handle {
    fn drop(&mut self) {
        if self.0 != 0 {
            // SAFETY: the handle came from NCrypt and is freed once.
            unsafe { NCryptFreeObject(self.0) };
        }
    }
}

// SAFETY: NCrypt handles may be used from any thread (CNG objects are thread-safe for these
// calls; the provider serialises TPM access itself).
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

fn check(what: &str, status: HRESULT) -> Result<(), SignerError> {
    if status == 0 {
        Ok(())
    } else {
        Err(SignerError::Platform(format!(
            "TPM {what} failed (0x{:08X})",
            status as u32
        )))
    }
}

/// A NUL-terminated UTF-16 string for NCrypt.
fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Device keys in the TPM.
pub struct TpmSigner {
    provider: Handle,
}

impl TpmSigner {
    /// Opens the Platform Crypto Provider.
    ///
    /// # Errors
    /// [`SignerError::Platform`] where there is no usable TPM.
    pub fn open() -> Result<Self, SignerError> {
        let mut provider: NCRYPT_PROV_HANDLE = 0;
        // SAFETY: out-pointer to a local; the provider name is a static wide string.
        let status =
            unsafe { NCryptOpenStorageProvider(&mut provider, MS_PLATFORM_CRYPTO_PROVIDER, 0) };
        check("provider", status)?;
        Ok(Self {
            provider: Handle(provider),
        })
    }

    fn name(alias: &KeyAlias) -> Vec<u16> {
        wide(&format!("latchkey-{}", alias.as_str()))
    }

    /// Opens the key `alias`; `Ok(None)` if there is none.
    fn key(&self, alias: &KeyAlias) -> Result<Option<Handle>, SignerError> {
        let name = Self::name(alias);
        let mut key: NCRYPT_KEY_HANDLE = 0;
        // SAFETY: `name` outlives the call; out-pointer to a local.
        let status = unsafe {
            NCryptOpenKey(
                self.provider.0,
                &mut key,
                name.as_ptr(),
                0,
                NCRYPT_SILENT_FLAG,
            )
        };
        if status == NTE_BAD_KEYSET || status == NTE_NO_KEY {
            return Ok(None);
        }
        check("open key", status)?;
        Ok(Some(Handle(key)))
    }

    /// The key's public half, from its `BCRYPT_ECCPUBLIC_BLOB` (a header, then X and Y).
    fn public_key(key: &Handle) -> Result<PublicKey, SignerError> {
        let mut blob = [0u8; 8 + 64];
        let mut len = 0u32;
        // SAFETY: the buffer and its length match; out-pointer to a local.
        let status = unsafe {
            NCryptExportKey(
                key.0,
                0,
                BCRYPT_ECCPUBLIC_BLOB,
                std::ptr::null(),
                blob.as_mut_ptr(),
                blob.len() as u32,
                &mut len,
                0,
            )
        };
        check("export public key", status)?;
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..].copy_from_slice(&blob[8..]);
        if len as usize != blob.len() {
            return Err(SignerError::Platform(
                "TPM public key of an unexpected size".into(),
            ));
        }
        PublicKey::from_sec1(&sec1)
            .ok_or_else(|| SignerError::Platform("TPM public key is not on P-256".into()))
    }
}

impl DeviceSigner for TpmSigner {
    fn assurance(&self) -> Assurance {
        Assurance::Hardware
    }

    fn generate(&self, alias: &KeyAlias) -> Result<PublicKey, SignerError> {
        let name = Self::name(alias);
        let algorithm: PCWSTR = BCRYPT_ECDSA_P256_ALGORITHM;
        let mut key: NCRYPT_KEY_HANDLE = 0;
        // SAFETY: `name` outlives the call; out-pointer to a local. No export policy is set,
        // so the key is not exportable (the provider's default).
        let status = unsafe {
            NCryptCreatePersistedKey(self.provider.0, &mut key, algorithm, name.as_ptr(), 0, 0)
        };
        check("create key", status)?;
        let key = Handle(key);
        // SAFETY: a handle from NCryptCreatePersistedKey, finalised once.
        let finalised = check("finalise key", unsafe {
            NCryptFinalizeKey(key.0, NCRYPT_SILENT_FLAG)
        });
        match finalised.and_then(|()| Self::public_key(&key)) {
            Ok(public) => Ok(public),
            Err(e) => {
                // No key is left behind that no account knows.
                // SAFETY: on success NCryptDeleteKey frees the handle itself.
                if unsafe { NCryptDeleteKey(key.0, 0) } == 0 {
                    std::mem::forget(key);
                }
                Err(e)
            }
        }
    }

    fn sign(&self, alias: &KeyAlias, message: &[u8]) -> Result<Signature, SignerError> {
        let key = self
            .key(alias)?
            .ok_or_else(|| SignerError::Missing(alias.as_str().to_owned()))?;
        let digest = sha2::Sha256::digest(message);
        let mut signature = [0u8; 64];
        let mut len = 0u32;
        // SAFETY: buffers and lengths match; ECDSA takes no padding info.
        let status = unsafe {
            NCryptSignHash(
                key.0,
                std::ptr::null(),
                digest.as_ptr(),
                digest.len() as u32,
                signature.as_mut_ptr(),
                signature.len() as u32,
                &mut len,
                NCRYPT_SILENT_FLAG,
            )
        };
        check("sign", status)?;
        // CNG signs in the IEEE P1363 form, r || s.
        Signature::from_der_or_raw(&signature[..len as usize])
            .ok_or_else(|| SignerError::Platform("TPM signature of an unexpected form".into()))
    }

    fn delete(&self, alias: &KeyAlias) -> Result<(), SignerError> {
        let Some(key) = self.key(alias)? else {
            return Ok(());
        };
        // SAFETY: on success NCryptDeleteKey frees the handle itself, so it is not freed again.
        let status = unsafe { NCryptDeleteKey(key.0, 0) };
        if status == 0 {
            std::mem::forget(key);
        }
        check("delete key", status)
    }
}
