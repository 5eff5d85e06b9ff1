//! The device key (P3): a P-256 key that proves "this request comes from this device".
//!
//! Where the platform has non-exportable keys (Android Keystore/StrongBox, Secure Enclave,
//! TPM) the shell implements [`DeviceSigner`] and the key never enters the core. Elsewhere
//! [`SoftwareSigner`] keeps it in software, sealed at rest (AES-256-GCM under a wrapping key
//! in the OS keystore), and the server is told `assurance = software`.
//!
//! The device key is not protected by the PIN: denying a sign-in and polling for challenges
//! need no PIN. The PIN protects the separate approval key (see [`crate::vault`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use latchkey_protocol::b64;
use latchkey_protocol::secret::SigningSecret;
use latchkey_protocol::signed::Canonical;
use latchkey_protocol::types::{Assurance, PublicKey, Signature};
use rand_core::{CryptoRngCore, OsRng};
use serde::{Deserialize, Serialize};

use crate::aead::{self, Sealed};
#[cfg(feature = "test-support")]
use crate::fsio::FaultPlan;
use crate::fsio::Fs;
use crate::keystore::{KeyId, KeyStore, KeyStoreError, WrappingKey};

/// The name of a device key inside a signer (random; never derived from a key).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyAlias(String);

impl KeyAlias {
    /// A fresh random alias (`dk-` and 16 random bytes in base64url).
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(format!("dk-{}", b64::encode(&bytes)))
    }

    /// The alias text (safe as a file name and a keystore entry name).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Restores an alias read from storage or a shell; `None` if malformed.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("dk-")?;
        (b64::decode(rest)?.len() == 16).then(|| Self(text.to_owned()))
    }
}

impl fmt::Debug for KeyAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyAlias({})", self.0)
    }
}

/// Why a device-key operation failed. Never carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// No key under this alias.
    #[error("the device key {0} is missing; remove the account and enrol this device again")]
    Missing(String),
    /// The keystore holding the key's wrapping key failed.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// Reading or writing the key file failed.
    #[error("could not {op} the device key file {}: {source}", path.display())]
    Storage {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The key file is damaged or of an unknown format; it was left untouched.
    #[error("the device key file {} is damaged ({reason}); it was left untouched", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A hardware signer (shell) failed.
    #[error("the device's key store failed: {0}")]
    Platform(String),
}

/// What the platform says of a new device key; empty where it says nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyAttestation {
    /// Android key attestation: the certificate chain, DER, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// iOS App Attest, made with
    /// [`EnrolBeginRequest::app_attest_client_data_hash`](latchkey_protocol::wire::EnrolBeginRequest::app_attest_client_data_hash).
    pub app_attest: Option<latchkey_protocol::wire::AppAttestation>,
}

/// Creates, uses and deletes device keys. Shells implement this for hardware keys.
pub trait DeviceSigner: Send + Sync {
    /// How keys of this signer are held (reported to the server at enrolment).
    fn assurance(&self) -> Assurance;

    /// Creates a new key under `alias` and returns its public key.
    ///
    /// # Errors
    /// [`SignerError`] if the key cannot be created or stored.
    fn generate(&self, alias: &KeyAlias) -> Result<PublicKey, SignerError>;

    /// Creates a new key like [`DeviceSigner::generate`], attested by the platform with
    /// `challenge` where it can (Android key attestation, iOS App Attest): the public key and
    /// what the platform says of it (nothing, as here by default).
    ///
    /// # Errors
    /// [`SignerError`] if the key cannot be created or stored.
    fn generate_attested(
        &self,
        alias: &KeyAlias,
        challenge: &[u8; 32],
    ) -> Result<(PublicKey, KeyAttestation), SignerError> {
        let _ = challenge;
        Ok((self.generate(alias)?, KeyAttestation::default()))
    }

    /// Signs `message` (ECDSA P-256 over SHA-256 of the message).
    ///
    /// # Errors
    /// [`SignerError::Missing`] if there is no such key; others if the store fails.
    fn sign(&self, alias: &KeyAlias, message: &[u8]) -> Result<Signature, SignerError>;

    /// Deletes the key; deleting a missing key succeeds.
    ///
    /// # Errors
    /// [`SignerError`] if the store fails.
    fn delete(&self, alias: &KeyAlias) -> Result<(), SignerError>;
}

/// Current format of a software device-key file.
const KEY_FILE_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    alias: KeyAlias,
    public_key: PublicKey,
    wrap_key: KeyId,
    sealed: Sealed,
}

/// Device keys in software: one file per key in `dir`, each sealed under its own wrapping key
/// from the [`KeyStore`].
pub struct SoftwareSigner {
    dir: PathBuf,
    keystore: Arc<dyn KeyStore>,
    fs: Fs,
}

impl SoftwareSigner {
    /// Keeps key files in `dir` (created 0700 on first use).
    pub fn new(dir: impl Into<PathBuf>, keystore: Arc<dyn KeyStore>) -> Self {
        Self {
            dir: dir.into(),
            keystore,
            fs: Fs::default(),
        }
    }

    /// The same, failing at a planned step (crash simulation).
    #[cfg(feature = "test-support")]
    pub fn with_faults(
        dir: impl Into<PathBuf>,
        keystore: Arc<dyn KeyStore>,
        faults: Arc<FaultPlan>,
    ) -> Self {
        Self {
            dir: dir.into(),
            keystore,
            fs: Fs::with_faults(Some(faults)),
        }
    }

    /// The private scalar of a device key, for the P9 test's scan (test builds only).
    ///
    /// # Errors
    /// As [`DeviceSigner::sign`].
    #[cfg(feature = "test-support")]
    pub fn scalar_for_tests(
        &self,
        alias: &KeyAlias,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, SignerError> {
        let file = self.read(alias)?;
        let wrap = self
            .keystore
            .get(&file.wrap_key)?
            .ok_or_else(|| SignerError::Missing(alias.as_str().to_owned()))?;
        aead::open(
            // EXPOSE: the wrapping key opens the sealed device key.
            wrap.expose_secret(),
            &aad(alias, &file.public_key),
            &file.sealed,
        )
        .ok_or_else(|| SignerError::Corrupt {
            path: self.path(alias),
            reason: "decryption failed".into(),
        })
    }

    fn path(&self, alias: &KeyAlias) -> PathBuf {
        self.dir.join(format!("{}.json", alias.as_str()))
    }

    fn read(&self, alias: &KeyAlias) -> Result<KeyFile, SignerError> {
        let path = self.path(alias);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SignerError::Missing(alias.as_str().to_owned()))
            }
            Err(source) => {
                return Err(SignerError::Storage {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        let corrupt = |reason: String| SignerError::Corrupt {
            path: path.clone(),
            reason,
        };
        let format = crate::stored::peek_format(&bytes).map_err(corrupt)?;
        if format != KEY_FILE_FORMAT {
            return Err(corrupt(format!("unknown format {format}")));
        }
        let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| {
            corrupt(format!(
                "invalid at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        if &file.alias != alias {
            return Err(corrupt("alias does not match file name".into()));
        }
        Ok(file)
    }
}

fn aad(alias: &KeyAlias, public_key: &PublicKey) -> Vec<u8> {
    Canonical::new("device-key")
        .str(alias.as_str())
        .bytes(&public_key.to_sec1())
        .finish()
}

fn storage<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SignerError + 'a {
    move |source| SignerError::Storage {
        op,
        path: path.to_owned(),
        source,
    }
}

impl DeviceSigner for SoftwareSigner {
    fn assurance(&self) -> Assurance {
        Assurance::Software
    }

    fn generate(&self, alias: &KeyAlias) -> Result<PublicKey, SignerError> {
        let key = SigningSecret::generate(&mut OsRng);
        let public_key = key.public_key();
        let wrap_id = KeyId::random(&mut OsRng);
        let wrap = WrappingKey::generate(&mut OsRng);
        // EXPOSE: the scalar is sealed under the wrapping key.
        let scalar = key.expose_secret();
        let sealed = aead::seal(
            // EXPOSE: the wrapping key seals the device key.
            wrap.expose_secret(),
            &aad(alias, &public_key),
            scalar.as_slice(),
            &mut OsRng,
        );
        let file = KeyFile {
            format: KEY_FILE_FORMAT,
            alias: alias.clone(),
            public_key,
            wrap_key: wrap_id.clone(),
            sealed,
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .unwrap_or_else(|_| unreachable!("key file serialises"));
        self.fs
            .create_dir(&self.dir)
            .map_err(storage("create", &self.dir))?;
        // Keystore first: a crash after it leaves an unused keystore entry, never a file
        // whose key is missing.
        self.keystore.put(&wrap_id, &wrap)?;
        let path = self.path(alias);
        self.fs
            .write_atomic(&path, &bytes)
            .map_err(storage("write", &path))?;
        Ok(public_key)
    }

    fn sign(&self, alias: &KeyAlias, message: &[u8]) -> Result<Signature, SignerError> {
        let file = self.read(alias)?;
        let path = self.path(alias);
        let wrap = self
            .keystore
            .get(&file.wrap_key)?
            .ok_or_else(|| SignerError::Missing(alias.as_str().to_owned()))?;
        let scalar = aead::open(
            // EXPOSE: the wrapping key opens the sealed device key for removal.
            wrap.expose_secret(),
            &aad(alias, &file.public_key),
            &file.sealed,
        )
        .ok_or_else(|| SignerError::Corrupt {
            path: path.clone(),
            reason: "decryption failed".into(),
        })?;
        // The public key is the AEAD's associated data, so an opened scalar is the one sealed
        // with this public key: no need to recompute it (a scalar multiplication) per request.
        let key = SigningSecret::from_bytes(&scalar).ok_or_else(|| SignerError::Corrupt {
            path,
            reason: "invalid key".into(),
        })?;
        Ok(key.sign(message))
    }

    fn delete(&self, alias: &KeyAlias) -> Result<(), SignerError> {
        let path = self.path(alias);
        let file = match self.read(alias) {
            Ok(file) => Some(file),
            Err(SignerError::Missing(_)) => None,
            Err(e) => return Err(e),
        };
        self.fs.remove(&path).map_err(storage("remove", &path))?;
        if let Some(file) = file {
            self.keystore.delete(&file.wrap_key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::MemoryKeyStore;

    #[test]
    fn software_signer_signs_and_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signer = SoftwareSigner::new(dir.path().join("keys"), MemoryKeyStore::new());
        let alias = KeyAlias::random(&mut OsRng);
        let public = signer.generate(&alias).expect("generate");
        let sig = signer.sign(&alias, b"hello").expect("sign");
        assert!(public.verify(b"hello", &sig));
        assert!(!public.verify(b"hellO", &sig));
        assert_eq!(signer.assurance(), Assurance::Software);
        signer.delete(&alias).expect("delete");
        assert!(matches!(
            signer.sign(&alias, b"x"),
            Err(SignerError::Missing(_))
        ));
    }

    #[test]
    fn software_signer_needs_its_keystore() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signer = SoftwareSigner::new(dir.path(), MemoryKeyStore::new());
        let alias = KeyAlias::random(&mut OsRng);
        signer.generate(&alias).expect("generate");
        // The same files with an empty keystore (the keystore was wiped): no key.
        let other = SoftwareSigner::new(dir.path(), MemoryKeyStore::new());
        assert!(matches!(
            other.sign(&alias, b"x"),
            Err(SignerError::Missing(_))
        ));
    }
}
