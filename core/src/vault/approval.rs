//! The approval key and its inner seal under the server-hardened PIN (DESIGN "construction").
//!
//! `K = HKDF-SHA256(salt = "latchkey/v1/approval-key", ikm = OPRF_output(PIN) || PIN,
//! info = canonical("approval-key", account, device, epoch, key id))`, then AES-256-GCM with
//! AAD `canonical("approval-key-inner", account, device, epoch, key id)`. Without the
//! server's OPRF key nobody can compute `OPRF_output(PIN)`, so the sealed key, the approval
//! public key and any number of signatures give no way to test a PIN guess offline (P1).

use std::fmt;

use hkdf::Hkdf;
use latchkey_protocol::secret::{OprfOutput, Pin, SigningSecret};
use latchkey_protocol::signed::Canonical;
use latchkey_protocol::types::{AccountId, DeviceId, PublicKey, Signature};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::aead::{self, Sealed};
use crate::keystore::KeyId;

/// The approval private key `d`: exists in memory only between PIN entry and signing.
///
/// Boxed so moves do not leave copies; the key wipes itself on drop. Opening it for one
/// approval does not compute the public key (only enrolment, change and reset need it).
pub struct ApprovalKey(Box<SigningSecret>);

impl ApprovalKey {
    /// A fresh random key (PIN change and reset always make a new one, never re-seal).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(Box::new(SigningSecret::generate(rng)))
    }

    /// The public half (sent to the server; never stored on the device).
    pub fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    /// The private scalar, for the P9 test's scan of everything written (test builds only).
    #[cfg(feature = "test-support")]
    pub fn scalar_for_tests(&self) -> zeroize::Zeroizing<Vec<u8>> {
        // EXPOSE: test builds only, for the P9 scan of everything written.
        zeroize::Zeroizing::new(self.0.expose_secret().to_vec())
    }

    /// Signs canonical bytes (ECDSA P-256/SHA-256, low S).
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message)
    }
}

impl fmt::Debug for ApprovalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApprovalKey(..)")
    }
}

/// What the inner seal binds: account, device, epoch and the slot's random key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealContext {
    /// The account.
    pub account: AccountId,
    /// The device.
    pub device: DeviceId,
    /// The approval key epoch (1 at enrolment, +1 per change or reset).
    pub epoch: u32,
    /// The slot's random id.
    pub key_id: KeyId,
}

impl SealContext {
    fn fields(&self, purpose: &str) -> Vec<u8> {
        Canonical::new(purpose)
            .bytes(self.account.as_bytes())
            .bytes(self.device.as_bytes())
            .u64(u64::from(self.epoch))
            .str(self.key_id.as_str())
            .finish()
    }

    /// AAD for the outer (keystore-key) layer.
    pub(crate) fn outer_aad(&self) -> Vec<u8> {
        self.fields("approval-key-outer")
    }
}

/// The approval key sealed under the PIN key (the inner layer).
#[derive(Clone, PartialEq, Eq)]
pub struct InnerSealed(pub(crate) Sealed);

impl fmt::Debug for InnerSealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InnerSealed(..)")
    }
}

impl InnerSealed {
    /// Nonce (12 bytes) followed by ciphertext and tag: the bytes the outer layer encrypts.
    /// Not secret (it is ciphertext); the P1 test hands it to the attacker.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(12 + self.0.ciphertext.len()));
        out.extend_from_slice(&self.0.nonce);
        out.extend_from_slice(&self.0.ciphertext);
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() > 12).then(|| {
            Self(Sealed {
                nonce: bytes[..12].to_vec(),
                ciphertext: bytes[12..].to_vec(),
            })
        })
    }
}

/// Seals `key` under the PIN key derived from `output` and `pin`.
pub fn seal(
    key: &ApprovalKey,
    output: &OprfOutput,
    pin: &Pin,
    context: &SealContext,
    rng: &mut impl CryptoRngCore,
) -> InnerSealed {
    let pin_key = derive_pin_key(output, pin, context);
    // EXPOSE: the scalar is what the inner layer seals.
    let scalar = key.0.expose_secret();
    InnerSealed(aead::seal(
        &pin_key,
        &context.fields("approval-key-inner"),
        scalar.as_slice(),
        rng,
    ))
}

/// Opens the approval key; `None` means the PIN (or the evaluation) was wrong.
pub fn open(
    sealed: &InnerSealed,
    output: &OprfOutput,
    pin: &Pin,
    context: &SealContext,
) -> Option<ApprovalKey> {
    let pin_key = derive_pin_key(output, pin, context);
    let scalar = aead::open(&pin_key, &context.fields("approval-key-inner"), &sealed.0)?;
    SigningSecret::from_bytes(&scalar).map(|k| ApprovalKey(Box::new(k)))
}

fn derive_pin_key(output: &OprfOutput, pin: &Pin, context: &SealContext) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 + 8));
    // EXPOSE: the OPRF output and the PIN are the HKDF input key material (DESIGN).
    ikm.extend_from_slice(output.expose_secret());
    // EXPOSE: the PIN is HKDF input key material too (DESIGN: K = HKDF(OPRF output, PIN)).
    ikm.extend_from_slice(pin.expose_secret().as_bytes());
    let hkdf = Hkdf::<Sha256>::new(Some(b"latchkey/v1/approval-key"), &ikm);
    let mut key = Zeroizing::new([0u8; 32]);
    if hkdf
        .expand(&context.fields("approval-key"), key.as_mut())
        .is_err()
    {
        unreachable!("HKDF-SHA256 expand of 32 bytes");
    }
    key
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

    use latchkey_protocol::oprf;
    use latchkey_protocol::secret::OprfKey;
    use rand_core::OsRng;

    use super::*;

    fn context() -> SealContext {
        SealContext {
            account: AccountId::random(&mut OsRng),
            device: DeviceId::random(&mut OsRng),
            epoch: 1,
            key_id: KeyId::random(&mut OsRng),
        }
    }

    /// Every field of the context binds the inner seal: the same PIN and evaluation open the
    /// key only under the context it was sealed with (DESIGN: AAD binds purpose, account,
    /// device and key epoch), and the outer layer's AAD differs per context too.
    #[test]
    fn seals_are_bound_to_account_device_epoch_and_key_id() {
        let pin = Pin::new("4831");
        let output = oprf::evaluate(&OprfKey::generate(&mut OsRng), &pin).expect("evaluate");
        let key = ApprovalKey::generate(&mut OsRng);
        let sealed_with = context();
        let sealed = seal(&key, &output, &pin, &sealed_with, &mut OsRng);
        let opened = open(&sealed, &output, &pin, &sealed_with).expect("its own context");
        assert_eq!(opened.public_key(), key.public_key());
        let others = [
            SealContext {
                account: AccountId::random(&mut OsRng),
                ..sealed_with.clone()
            },
            SealContext {
                device: DeviceId::random(&mut OsRng),
                ..sealed_with.clone()
            },
            SealContext {
                epoch: 2,
                ..sealed_with.clone()
            },
            SealContext {
                key_id: KeyId::random(&mut OsRng),
                ..sealed_with.clone()
            },
        ];
        for other in &others {
            assert!(open(&sealed, &output, &pin, other).is_none(), "{other:?}");
            assert_ne!(other.outer_aad(), sealed_with.outer_aad(), "{other:?}");
        }
        assert!(open(&sealed, &output, &Pin::new("4832"), &sealed_with).is_none());
        assert_ne!(
            sealed_with.outer_aad(),
            sealed_with.fields("approval-key-inner"),
            "outer and inner layers use different AAD"
        );
    }

    /// A stored inner layer needs a nonce and at least one byte after it; anything shorter is
    /// damage, reported before any decryption.
    #[test]
    fn an_inner_layer_shorter_than_its_nonce_is_refused() {
        assert!(InnerSealed::from_bytes(&[0; 12]).is_none());
        assert!(InnerSealed::from_bytes(&[0; 11]).is_none());
        assert!(InnerSealed::from_bytes(&[0; 13]).is_some());
    }

    #[test]
    fn debug_output_names_the_type_and_nothing_else() {
        let key = ApprovalKey::generate(&mut OsRng);
        assert_eq!(format!("{key:?}"), "ApprovalKey(..)");
        let pin = Pin::new("4831");
        let output = oprf::evaluate(&OprfKey::generate(&mut OsRng), &pin).expect("evaluate");
        let sealed = seal(&key, &output, &pin, &context(), &mut OsRng);
        assert_eq!(format!("{sealed:?}"), "InnerSealed(..)");
    }
}
