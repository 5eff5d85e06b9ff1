//! Identifiers, public keys, signatures, digests and OPRF elements as they appear on the wire.
//!
//! Every binary value travels as base64url without padding. Identifiers are 16 random bytes;
//! nothing here is derived from a key. Signatures and OPRF elements are not secret in the
//! cryptographic sense, but P9 keeps them out of logs, so their `Debug` is redacted too.

use std::fmt;

use p256::ecdsa;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand_core::CryptoRngCore;
use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::b64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(#[serde(with = "crate::b64::array")] [u8; 16]);

        impl $name {
            /// Draws a fresh random identifier.
            pub fn random(rng: &mut impl CryptoRngCore) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// Wraps 16 raw bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The 16 raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// Parses the base64url text form.
            pub fn parse(text: &str) -> Option<Self> {
                b64::decode(text)?.try_into().ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&b64::encode(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

id_type!(
    /// An account on a server, as the server names it.
    AccountId
);
id_type!(
    /// One enrolled device of an account.
    DeviceId
);
id_type!(
    /// One sign-in challenge (the only thing a push notification carries).
    ChallengeId
);
id_type!(
    /// One multi-step operation: a PIN change or a forgotten-PIN reset.
    OperationId
);
id_type!(
    /// A per-request nonce; the server refuses a request id it has seen (replay protection).
    RequestId
);

/// A P-256 public key, on the wire as compressed SEC1 (33 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(p256::PublicKey);

impl PublicKey {
    /// Parses compressed or uncompressed SEC1; rejects the identity and off-curve points.
    /// Only the standard tags are accepted: 0x02/0x03 (33 bytes) and 0x04 (65 bytes).
    pub fn from_sec1(bytes: &[u8]) -> Option<Self> {
        let standard = matches!(
            (bytes.len(), bytes.first()),
            (33, Some(2 | 3)) | (65, Some(4))
        );
        if !standard {
            return None;
        }
        p256::PublicKey::from_sec1_bytes(bytes).ok().map(Self)
    }

    /// Parses what platform key stores hand out: SEC1 (compressed or uncompressed) or a DER
    /// `SubjectPublicKeyInfo` (Android Keystore's `getEncoded()`, Java's `PublicKey`).
    pub fn from_sec1_or_spki(bytes: &[u8]) -> Option<Self> {
        use p256::pkcs8::DecodePublicKey as _;
        Self::from_sec1(bytes).or_else(|| {
            // p256's PublicKey is never the identity; the curve check is in the decoding.
            p256::PublicKey::from_public_key_der(bytes).ok().map(Self)
        })
    }

    /// The compressed SEC1 encoding (33 bytes), the only form this protocol writes.
    pub fn to_sec1(&self) -> [u8; 33] {
        let point = self.0.to_encoded_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// The ECDSA verifying key for this public key.
    pub fn verifying_key(&self) -> ecdsa::VerifyingKey {
        ecdsa::VerifyingKey::from(&self.0)
    }

    /// Verifies an ECDSA P-256/SHA-256 signature over `message`.
    ///
    /// High-S signatures are refused so that every signature has one valid form.
    ///
    /// The check itself runs in ring (public data only; 4.5 times faster than p256 here).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        let Ok(sig) = ecdsa::Signature::from_slice(&signature.0) else {
            return false;
        };
        if sig.normalize_s().is_some() {
            return false;
        }
        let point = self.0.to_encoded_point(false);
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            point.as_bytes(),
        )
        .verify(message, &signature.0)
        .is_ok()
    }
}

impl From<p256::PublicKey> for PublicKey {
    fn from(key: p256::PublicKey) -> Self {
        Self(key)
    }
}

impl From<&ecdsa::VerifyingKey> for PublicKey {
    fn from(key: &ecdsa::VerifyingKey) -> Self {
        Self(p256::PublicKey::from(key))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", b64::encode(&self.to_sec1()))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&b64::encode(&self.to_sec1()))
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        b64::decode(&text)
            .filter(|b| b.len() == 33)
            .and_then(|b| Self::from_sec1(&b))
            .ok_or_else(|| D::Error::custom("invalid P-256 public key"))
    }
}

/// An ECDSA P-256/SHA-256 signature, on the wire as the 64-byte `r || s` form (low S).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "crate::b64::array")] [u8; 64]);

impl Signature {
    /// Wraps a signature produced by a signer, normalising S to the low form.
    pub fn from_ecdsa(sig: &ecdsa::Signature) -> Self {
        let sig = sig.normalize_s().unwrap_or(*sig);
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        Self(out)
    }

    /// Parses what platform signers hand out: the 64-byte `r || s` form or ASN.1 DER (Java's
    /// `Signature`, Android Keystore, Secure Enclave), normalising S to the low form (most
    /// platform signers do not; both forms are equally valid ECDSA).
    pub fn from_der_or_raw(bytes: &[u8]) -> Option<Self> {
        let sig = if bytes.len() == 64 {
            ecdsa::Signature::from_slice(bytes).ok()?
        } else {
            ecdsa::Signature::from_der(bytes).ok()?
        };
        Some(Self::from_ecdsa(&sig))
    }

    /// Parses the 64-byte `r || s` form, as produced by hardware signers after DER decoding.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let sig = ecdsa::Signature::from_slice(bytes).ok()?;
        Some(Self::from_ecdsa(&sig))
    }

    /// The 64 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature(..)")
    }
}

/// A SHA-256 digest (for example of a challenge's canonical bytes).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest(#[serde(with = "crate::b64::array")] [u8; 32]);

impl Digest {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", b64::encode(&self.0))
    }
}

/// An OPRF group element (blinded or evaluated), compressed SEC1, 33 bytes.
///
/// Validated as a non-identity curve point when it is deserialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Element(pub(crate) [u8; 33]);

impl Element {
    /// Parses and validates a compressed point.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 33] = bytes.try_into().ok()?;
        PublicKey::from_sec1(&array)?;
        Some(Self(array))
    }

    /// The 33 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 33] {
        &self.0
    }
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Element(..)")
    }
}

impl Serialize for Element {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&b64::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        b64::decode(&text)
            .and_then(|b| Self::from_bytes(&b))
            .ok_or_else(|| D::Error::custom("invalid OPRF element"))
    }
}

/// How a device key is held, as reported to the server at enrolment (P3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Assurance {
    /// Kept by the core in software, encrypted at rest under a keystore-held key.
    Software,
    /// Non-exportable key in a trusted execution environment (Android Keystore TEE, TPM).
    Hardware,
    /// Non-exportable key in a discrete secure element (StrongBox, Secure Enclave).
    SecureElement,
}

impl Assurance {
    /// The stable lowercase name used on the wire and in signed bytes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Software => "software",
            Self::Hardware => "hardware",
            Self::SecureElement => "secure_element",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;

    #[test]
    fn ids_roundtrip_text_form() {
        let id = AccountId::random(&mut rand_core::OsRng);
        assert_eq!(AccountId::parse(&id.to_string()), Some(id));
        assert_eq!(AccountId::parse("short"), None);
    }

    /// Keys and signatures as platform signers return them (SPKI DER, DER with a high S) are
    /// read into the protocol's forms; anything else is refused.
    #[test]
    fn platform_encodings_are_read_and_normalised() {
        use p256::pkcs8::EncodePublicKey as _;
        let key = ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let public = PublicKey::from(key.verifying_key());
        let spki = p256::PublicKey::from(key.verifying_key())
            .to_public_key_der()
            .expect("der");
        assert_eq!(PublicKey::from_sec1_or_spki(spki.as_bytes()), Some(public));
        assert_eq!(
            PublicKey::from_sec1_or_spki(&public.to_sec1()),
            Some(public)
        );
        assert_eq!(PublicKey::from_sec1_or_spki(&spki.as_bytes()[1..]), None);
        assert_eq!(PublicKey::from_sec1_or_spki(b"not a key"), None);

        let message = b"latchkey";
        let signed: ecdsa::Signature = key.sign(message);
        let low = signed.normalize_s().unwrap_or(signed);
        let high = ecdsa::Signature::from_scalars(low.r(), -*low.s()).expect("high s");
        assert!(high.normalize_s().is_some(), "really the high form");
        for bytes in [
            high.to_der().as_bytes().to_vec(),
            high.to_bytes().to_vec(),
            low.to_der().as_bytes().to_vec(),
        ] {
            let sig = Signature::from_der_or_raw(&bytes).expect("parsed");
            assert!(public.verify(message, &sig), "normalised and valid");
        }
        assert!(Signature::from_der_or_raw(&[0x30, 0x02, 0x01]).is_none());
        assert!(Signature::from_der_or_raw(&[0u8; 64]).is_none());
    }

    #[test]
    fn high_s_signature_refused() {
        let key = ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let public = PublicKey::from(key.verifying_key());
        let sig: ecdsa::Signature = key.sign(b"message");
        let low = Signature::from_ecdsa(&sig);
        assert!(public.verify(b"message", &low));
        // Build the high-S twin: s' = n - s.
        let (r, s) = sig.normalize_s().unwrap_or(sig).split_scalars();
        let high = ecdsa::Signature::from_scalars(r, -*s).expect("valid scalars");
        assert!(public.verify(b"message", &low));
        assert!(!public.verify(b"message", &Signature(high.to_bytes().into())));
    }

    #[test]
    fn signing_secret_matches_ecdsa_signing_key_byte_for_byte() {
        use crate::secret::SigningSecret;
        use p256::ecdsa::signature::Signer as _;
        for seed in 1u8..=20 {
            let bytes = [seed; 32];
            let secret = SigningSecret::from_bytes(&bytes).expect("scalar");
            let key = ecdsa::SigningKey::from_slice(&bytes).expect("key");
            let message = [seed; 7];
            let reference: ecdsa::Signature = key.sign(&message);
            let ours = secret.sign(&message);
            assert_eq!(ours, Signature::from_ecdsa(&reference));
            assert_eq!(secret.public_key(), PublicKey::from(key.verifying_key()));
            assert!(secret.public_key().verify(&message, &ours));
            assert!(!secret.public_key().verify(b"other", &ours));
        }
        assert!(SigningSecret::from_bytes(&[0u8; 32]).is_none());
        assert!(SigningSecret::from_bytes(&[0xff; 32]).is_none());
        assert!(SigningSecret::from_bytes(&[7u8; 31]).is_none());
        assert_eq!(
            format!("{:?}", SigningSecret::from_bytes(&[7u8; 32])),
            "Some(SigningSecret(..))"
        );
    }

    #[test]
    fn element_rejects_garbage() {
        assert!(Element::from_bytes(&[0u8; 33]).is_none());
        assert!(Element::from_bytes(&[2u8; 32]).is_none());
    }
}
