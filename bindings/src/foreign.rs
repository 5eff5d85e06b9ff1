//! The foreign traits the shells implement (keystore, device signer, platform) and their adapters to the core's traits; keys and signatures are read by the protocol crate.

use super::*;

/// Stores 32-byte wrapping keys by id (Android Keystore-wrapped preferences, iOS Keychain with
/// `ThisDeviceOnly`, Windows Credential Locker with local persistence).
#[uniffi::export(with_foreign)]
pub trait KeyStore: Send + Sync {
    /// Stores (or replaces) `key` under `id`.
    fn put(&self, id: String, key: Vec<u8>) -> Result<(), ShellError>;
    /// The key under `id`, or `None`.
    fn get(&self, id: String) -> Result<Option<Vec<u8>>, ShellError>;
    /// Deletes the key; deleting a missing key succeeds.
    fn delete(&self, id: String) -> Result<(), ShellError>;
}

/// Non-exportable P-256 device keys (StrongBox, Secure Enclave, TPM).
#[uniffi::export(with_foreign)]
pub trait DeviceSigner: Send + Sync {
    /// How this signer holds keys (reported to the server at enrolment).
    fn assurance(&self) -> Assurance;
    /// Creates a key under `alias`, attested with `attestation_challenge` where the platform
    /// can (Android: `KeyGenParameterSpec.Builder.setAttestationChallenge`, then
    /// `KeyStore.getCertificateChain(alias)`); returns its public key and that chain.
    fn generate(
        &self,
        alias: String,
        attestation_challenge: Vec<u8>,
    ) -> Result<GeneratedKey, ShellError>;
    /// ECDSA P-256 with SHA-256 over `message` (Java's `SHA256withECDSA`); DER or raw r‖s.
    fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, ShellError>;
    /// Deletes the key; deleting a missing key succeeds.
    fn delete(&self, alias: String) -> Result<(), ShellError>;
}

/// A key a [`DeviceSigner`] made.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct GeneratedKey {
    /// The public key as SEC1 (33 or 65 bytes) or X.509 SubjectPublicKeyInfo DER (Java's
    /// `PublicKey.getEncoded()`).
    pub public_key: Vec<u8>,
    /// The platform's attestation of the key: certificates, DER, leaf first (Android's
    /// `getCertificateChain` → `getEncoded()` each); empty where there is none.
    pub attestation: Vec<Vec<u8>>,
    /// iOS App Attest: the attestation of the app's App Attest key
    /// (`DCAppAttestService.attestKey`) over [`app_attest_client_data_hash`](crate::app_attest_client_data_hash)
    /// of the challenge and this key; `None` where there is none.
    #[uniffi(default = None)]
    pub app_attest: Option<AppAttestation>,
}

/// An App Attest key's attestation, as `DCAppAttestService` gave it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct AppAttestation {
    /// The App Attest key's id (`generateKey`'s string, base64-decoded: 32 bytes).
    pub key_id: Vec<u8>,
    /// The attestation object `attestKey` returned.
    pub object: Vec<u8>,
}

/// What the shell knows about the device.
#[uniffi::export(with_foreign)]
pub trait Platform: Send + Sync {
    /// Whether a screen lock (PIN, pattern, password, biometrics) is set.
    fn has_screen_lock(&self) -> bool;
    /// The model, shown on the account's devices page ("Pixel 8").
    fn device_model(&self) -> String;
}

/// How a device key is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Assurance {
    /// In software, sealed at rest under a keystore-held key.
    Software,
    /// Non-exportable, in a trusted execution environment (Android Keystore TEE, TPM).
    Hardware,
    /// Non-exportable, in a discrete secure element (StrongBox, Secure Enclave).
    SecureElement,
}

impl From<ptypes::Assurance> for Assurance {
    fn from(a: ptypes::Assurance) -> Self {
        match a {
            ptypes::Assurance::Hardware => Self::Hardware,
            ptypes::Assurance::SecureElement => Self::SecureElement,
            // Software, and anything newer: claim no more than software.
            _ => Self::Software,
        }
    }
}

impl From<Assurance> for ptypes::Assurance {
    fn from(a: Assurance) -> Self {
        match a {
            Assurance::Software => Self::Software,
            Assurance::Hardware => Self::Hardware,
            Assurance::SecureElement => Self::SecureElement,
        }
    }
}

pub(crate) struct ForeignKeyStore(pub(crate) Arc<dyn KeyStore>);

pub(crate) fn keystore_error(e: ShellError) -> KeyStoreError {
    match e {
        ShellError::Unavailable { reason } => KeyStoreError::Unavailable {
            detail: reason,
            advice: "unlock the device and try again".into(),
        },
        ShellError::Missing { reason } | ShellError::Failed { reason } => {
            KeyStoreError::Failure(reason)
        }
    }
}

impl core_ks::KeyStore for ForeignKeyStore {
    fn put(&self, id: &KeyId, key: &WrappingKey) -> Result<(), KeyStoreError> {
        self.0
            // EXPOSE: the shell's keystore (Android Keystore, Keychain) stores the wrapping key.
            .put(id.as_str().to_owned(), key.expose_secret().to_vec())
            .map_err(keystore_error)
    }

    fn get(&self, id: &KeyId) -> Result<Option<WrappingKey>, KeyStoreError> {
        match self.0.get(id.as_str().to_owned()) {
            Ok(Some(mut bytes)) => {
                let key = WrappingKey::from_bytes(&bytes);
                bytes.zeroize();
                key.map(Some).ok_or_else(|| {
                    KeyStoreError::Failure("the keystore returned a key of the wrong length".into())
                })
            }
            Ok(None) | Err(ShellError::Missing { .. }) => Ok(None),
            Err(e) => Err(keystore_error(e)),
        }
    }

    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
        match self.0.delete(id.as_str().to_owned()) {
            Ok(()) | Err(ShellError::Missing { .. }) => Ok(()),
            Err(e) => Err(keystore_error(e)),
        }
    }
}

pub(crate) struct ForeignSigner(pub(crate) Arc<dyn DeviceSigner>);

pub(crate) fn signer_error(alias: &KeyAlias, e: ShellError) -> SignerError {
    match e {
        ShellError::Missing { .. } => SignerError::Missing(alias.as_str().to_owned()),
        ShellError::Unavailable { reason } | ShellError::Failed { reason } => {
            SignerError::Platform(reason)
        }
    }
}

fn public_key(bytes: &[u8]) -> Result<ptypes::PublicKey, SignerError> {
    ptypes::PublicKey::from_sec1_or_spki(bytes).ok_or_else(|| {
        SignerError::Platform("the device signer returned an invalid P-256 public key".into())
    })
}

impl core_signer::DeviceSigner for ForeignSigner {
    fn assurance(&self) -> ptypes::Assurance {
        self.0.assurance().into()
    }

    fn generate(&self, alias: &KeyAlias) -> Result<ptypes::PublicKey, SignerError> {
        // No challenge: the platform attests nothing (only enrolment asks for attestation).
        let made = self
            .0
            .generate(alias.as_str().to_owned(), Vec::new())
            .map_err(|e| signer_error(alias, e))?;
        public_key(&made.public_key)
    }

    fn generate_attested(
        &self,
        alias: &KeyAlias,
        challenge: &[u8; 32],
    ) -> Result<(ptypes::PublicKey, core_signer::KeyAttestation), SignerError> {
        let made = self
            .0
            .generate(alias.as_str().to_owned(), challenge.to_vec())
            .map_err(|e| signer_error(alias, e))?;
        let key = public_key(&made.public_key)?;
        let app_attest = match made.app_attest {
            None => None,
            Some(a) => Some(latchkey_core::protocol::wire::AppAttestation {
                key_id: a.key_id.try_into().map_err(|_| {
                    SignerError::Platform(
                        "the device signer returned an App Attest key id that is not 32 bytes"
                            .into(),
                    )
                })?,
                object: a.object,
            }),
        };
        let attestation = core_signer::KeyAttestation {
            chain: made.attestation,
            app_attest,
        };
        Ok((key, attestation))
    }

    fn sign(&self, alias: &KeyAlias, message: &[u8]) -> Result<ptypes::Signature, SignerError> {
        let bytes = self
            .0
            .sign(alias.as_str().to_owned(), message.to_vec())
            .map_err(|e| signer_error(alias, e))?;
        ptypes::Signature::from_der_or_raw(&bytes).ok_or_else(|| {
            SignerError::Platform("the device signer returned an invalid ECDSA signature".into())
        })
    }

    fn delete(&self, alias: &KeyAlias) -> Result<(), SignerError> {
        match self.0.delete(alias.as_str().to_owned()) {
            Ok(()) | Err(ShellError::Missing { .. }) => Ok(()),
            Err(e) => Err(signer_error(alias, e)),
        }
    }
}

pub(crate) struct ForeignPlatform(pub(crate) Arc<dyn Platform>);

impl latchkey_core::Platform for ForeignPlatform {
    fn has_screen_lock(&self) -> bool {
        self.0.has_screen_lock()
    }
    fn device_model(&self) -> String {
        self.0.device_model()
    }
}
