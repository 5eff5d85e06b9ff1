//! Zeroizing newtypes for every secret the protocol handles (P9).
//!
//! Each secret wipes itself on drop, prints as `Name(..)` in `Debug`, has no `Display`, and is
//! read only through `expose_secret()`; every call site says why with an `// EXPOSE:` comment.
//! Comparisons are constant-time. The wire secrets (enrolment code, PIN check, one-time code,
//! password) implement serde because they must travel; the PIN and the OPRF output never do.

use std::fmt;

use rand_core::CryptoRngCore;
use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::b64;

/// A PIN as typed by the person: digits only once the policy has accepted it.
///
/// The host-side copy (a Kotlin/Swift string) cannot be wiped; this copy is, on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Pin(String);

impl Pin {
    /// Wraps a PIN as it enters the core. Policy is checked separately ([`crate::pin`]).
    pub fn new(pin: impl Into<String>) -> Self {
        Self(pin.into())
    }

    /// The PIN's characters.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Constant-time equality (for "type it twice" checks).
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(..)")
    }
}

/// The 32-byte output of the OPRF on the PIN: the server-hardened PIN. Device-side only.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct OprfOutput(pub(crate) [u8; 32]);

impl OprfOutput {
    /// The 32 bytes, for key derivation.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for OprfOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OprfOutput(..)")
    }
}

/// A server's per-device OPRF private key `k` (a P-256 scalar, 32 bytes big-endian).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct OprfKey(pub(crate) [u8; 32]);

impl OprfKey {
    /// Draws a fresh random, valid key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        use p256::elliptic_curve::{Field as _, PrimeField as _};
        let scalar = Zeroizing::new(p256::Scalar::random(&mut *rng));
        Self(scalar.to_repr().into())
    }

    /// Restores a key from its 32 stored bytes; `None` if they are not a valid non-zero scalar.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        voprf::OprfServer::<p256::NistP256>::new_with_key(&array).ok()?;
        Some(Self(array))
    }

    /// The 32 bytes, for the server's storage.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for OprfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OprfKey(..)")
    }
}

/// An ECDSA P-256 private key that only signs (device keys in software, approval keys).
///
/// Unlike `ecdsa::SigningKey` it does not compute its public key when loaded: opening a key
/// to sign once costs one scalar multiplication, not two. Wiped on drop.
#[derive(Clone, ZeroizeOnDrop)]
pub struct SigningSecret(p256::SecretKey);

impl SigningSecret {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(p256::SecretKey::random(rng))
    }

    /// Restores a key from its 32-byte big-endian scalar; `None` if it is zero or too large.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() == 32)
            .then(|| p256::SecretKey::from_slice(bytes).ok())
            .flatten()
            .map(Self)
    }

    /// The 32-byte scalar, for sealing.
    pub fn expose_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes().into())
    }

    /// The public key (one scalar multiplication).
    pub fn public_key(&self) -> crate::types::PublicKey {
        crate::types::PublicKey::from(self.0.public_key())
    }

    /// Signs `message`: ECDSA P-256 with SHA-256, deterministic nonce (RFC 6979), low S —
    /// byte for byte what `ecdsa::SigningKey` produces.
    pub fn sign(&self, message: &[u8]) -> crate::types::Signature {
        use ecdsa::hazmat::SignPrimitive as _;
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(message);
        let scalar = Zeroizing::new(*self.0.to_nonzero_scalar());
        // A 32-byte digest always reduces to a field element; a zero r or s needs a nonce
        // that hits one of 2^-256 values, which the RFC 6979 loop would retry anyway.
        let z = ecdsa::hazmat::bits2field::<p256::NistP256>(&digest)
            .unwrap_or_else(|_| unreachable!("SHA-256 digest is 32 bytes"));
        let (signature, _) = scalar
            .try_sign_prehashed_rfc6979::<sha2::Sha256>(&z, &[])
            .unwrap_or_else(|_| unreachable!("RFC 6979 nonce gave a zero signature"));
        crate::types::Signature::from_ecdsa(&signature)
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

macro_rules! wire_secret_bytes {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// Wraps raw bytes; `None` if the length is outside the allowed range.
            pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
                let secret = Self(bytes);
                (($min..=$max).contains(&secret.0.len())).then_some(secret)
            }

            /// The raw bytes.
            pub fn expose_secret(&self) -> &[u8] {
                &self.0
            }

            /// Constant-time equality.
            pub fn ct_eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // EXPOSE: the secret must travel to the server inside the TLS channel.
                serializer.serialize_str(&b64::encode(self.expose_secret()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = Zeroizing::new(String::deserialize(deserializer)?);
                b64::decode(&text)
                    .and_then(Self::from_bytes)
                    .ok_or_else(|| D::Error::custom(concat!("invalid ", stringify!($name))))
            }
        }
    };
}

/// The shortest enrolment code accepted: 14 bytes = 112 bits (P6).
pub const MIN_CODE_BYTES: usize = 14;
/// The longest enrolment code accepted.
pub const MAX_CODE_BYTES: usize = 32;

wire_secret_bytes!(
    /// The single-use enrolment code from the QR link: 14 to 32 random bytes (≥112 bits, P6).
    EnrolmentCode,
    MIN_CODE_BYTES,
    MAX_CODE_BYTES
);

impl EnrolmentCode {
    /// Draws a fresh 16-byte (128-bit) code.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = vec![0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }
}

wire_secret_bytes!(
    /// The proof that the PIN typed on the device equals the PIN set on the web page:
    /// `HKDF(OPRF output)`, 32 bytes. The server keeps it only while the enrolment is pending.
    PinCheck,
    32,
    32
);

macro_rules! wire_secret_text {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name(String);

        impl $name {
            /// Wraps the text as it enters the core.
            pub fn new(text: impl Into<String>) -> Self {
                Self(text.into())
            }

            /// The text.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// Constant-time equality.
            pub fn ct_eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // EXPOSE: the secret must travel to the server inside the TLS channel.
                serializer.serialize_str(self.expose_secret())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                if text.len() > $max {
                    let mut text = text;
                    text.zeroize();
                    return Err(D::Error::custom(concat!(stringify!($name), " too long")));
                }
                Ok(Self(text))
            }
        }
    };
}

wire_secret_text!(
    /// An account password, sent only to start a forgotten-PIN reset.
    Password,
    1024
);
wire_secret_text!(
    /// A one-time code sent out of band (e-mail) for a forgotten-PIN reset (P7).
    OneTimeCode,
    64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let pin = Pin::new("4831");
        let code = EnrolmentCode::from_bytes(vec![0xAB; 16]).expect("valid length");
        let pw = Password::new("hunter2-canary");
        assert_eq!(format!("{pin:?}"), "Pin(..)");
        assert_eq!(format!("{code:?}"), "EnrolmentCode(..)");
        assert!(!format!("{pw:?}").contains("hunter2"));
    }

    #[test]
    fn enrolment_code_length_bounds() {
        assert!(EnrolmentCode::from_bytes(vec![0; 13]).is_none());
        assert!(EnrolmentCode::from_bytes(vec![0; 14]).is_some());
        assert!(EnrolmentCode::from_bytes(vec![0; 33]).is_none());
    }

    #[test]
    fn oprf_key_roundtrip() {
        let key = OprfKey::generate(&mut rand_core::OsRng);
        let again = OprfKey::from_bytes(key.expose_secret()).expect("valid scalar");
        assert_eq!(key.expose_secret(), again.expose_secret());
        assert!(OprfKey::from_bytes(&[0u8; 32]).is_none());
    }
}
