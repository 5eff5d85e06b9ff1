//! The canonical bytes that get signed: one encoding, domain-separated, length-prefixed.
//!
//! A signed message is a sequence of fields. Each field is a 4-byte big-endian length followed
//! by that many bytes. The first field is always the domain-separation tag
//! `latchkey/v1/<purpose>` (ASCII), so a signature made for one purpose or protocol version is
//! never valid for another. Integers are 8-byte big-endian fields; strings are UTF-8 fields;
//! an optional value is a presence field (`00` or `01`) followed, when present, by the value.
//! Nothing is ever signed as JSON text. docs/PROTOCOL.md lists every layout with vectors.

use crate::types::{AccountId, ChallengeId, DeviceId, Digest, OperationId, PublicKey};
use crate::PROTOCOL_VERSION;

/// Builder for one canonical message.
#[derive(Clone)]
#[must_use]
pub struct Canonical {
    buf: Vec<u8>,
}

impl Canonical {
    /// Starts a message whose first field is the tag `latchkey/v<VERSION>/<purpose>`.
    pub fn new(purpose: &str) -> Self {
        let tag = format!("latchkey/v{PROTOCOL_VERSION}/{purpose}");
        Self {
            buf: Vec::with_capacity(256),
        }
        .bytes(tag.as_bytes())
    }

    /// Appends a length-prefixed byte field.
    pub fn bytes(mut self, field: &[u8]) -> Self {
        let len = u32::try_from(field.len()).unwrap_or_else(|_| unreachable!("field over 4 GiB"));
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(field);
        self
    }

    /// Appends a UTF-8 string field.
    pub fn str(self, field: &str) -> Self {
        self.bytes(field.as_bytes())
    }

    /// Appends an 8-byte big-endian integer field.
    pub fn u64(self, value: u64) -> Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Appends an optional field: presence byte, then the value when present.
    pub fn opt(self, value: Option<&[u8]>) -> Self {
        match value {
            None => self.bytes(&[0]),
            Some(v) => self.bytes(&[1]).bytes(v),
        }
    }

    /// The finished bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// The decision carried by an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Approve the sign-in (needs the PIN and the typed code).
    Approve,
    /// Deny the sign-in (no PIN needed).
    Deny,
    /// Deny and report "this wasn't me" (mutes pushes for a while and notifies the account).
    Report,
}

impl Decision {
    /// The stable lowercase name used on the wire and in signed bytes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::Report => "report",
        }
    }
}

/// The bytes the **approval key** signs to answer a challenge (P4): account, device,
/// challenge id, challenge digest, the code the person typed, the decision and the signature
/// counter.
pub fn answer(
    account: &AccountId,
    device: &DeviceId,
    challenge: &ChallengeId,
    challenge_digest: &Digest,
    typed_code: &str,
    decision: Decision,
    counter: u64,
) -> Vec<u8> {
    Canonical::new("answer")
        .bytes(account.as_bytes())
        .bytes(device.as_bytes())
        .bytes(challenge.as_bytes())
        .bytes(challenge_digest.as_bytes())
        .str(typed_code)
        .str(decision.as_str())
        .u64(counter)
        .finish()
}

/// The bytes the **approval key** signs to remove its device from the app (P7: removal from
/// the app needs the PIN): account, device and the signature counter (the same counter as
/// answers, so a removal signature is used once).
pub fn removal(account: &AccountId, device: &DeviceId, counter: u64) -> Vec<u8> {
    Canonical::new("remove")
        .bytes(account.as_bytes())
        .bytes(device.as_bytes())
        .u64(counter)
        .finish()
}

/// The bytes the new approval key signs at enrolment (proof of possession).
pub fn enrol_proof(
    account: &AccountId,
    device: &DeviceId,
    approval_key: &PublicKey,
    device_key: &PublicKey,
) -> Vec<u8> {
    Canonical::new("enrol-proof")
        .bytes(account.as_bytes())
        .bytes(device.as_bytes())
        .bytes(&approval_key.to_sec1())
        .bytes(&device_key.to_sec1())
        .finish()
}

/// The bytes both the old and the new approval keys sign to commit a PIN change.
pub fn pin_change_proof(
    account: &AccountId,
    device: &DeviceId,
    operation: &OperationId,
    new_approval_key: &PublicKey,
    new_epoch: u32,
) -> Vec<u8> {
    rekey_proof(
        "pin-change-proof",
        account,
        device,
        operation,
        new_approval_key,
        new_epoch,
    )
}

/// The bytes the new approval key signs to commit a forgotten-PIN reset.
pub fn pin_reset_proof(
    account: &AccountId,
    device: &DeviceId,
    operation: &OperationId,
    new_approval_key: &PublicKey,
    new_epoch: u32,
) -> Vec<u8> {
    rekey_proof(
        "pin-reset-proof",
        account,
        device,
        operation,
        new_approval_key,
        new_epoch,
    )
}

fn rekey_proof(
    purpose: &str,
    account: &AccountId,
    device: &DeviceId,
    operation: &OperationId,
    new_approval_key: &PublicKey,
    new_epoch: u32,
) -> Vec<u8> {
    Canonical::new(purpose)
        .bytes(account.as_bytes())
        .bytes(device.as_bytes())
        .bytes(operation.as_bytes())
        .bytes(&new_approval_key.to_sec1())
        .u64(u64::from(new_epoch))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed_and_tagged() {
        let bytes = Canonical::new("x").str("ab").u64(1).finish();
        let mut expected = Vec::new();
        expected.extend_from_slice(&13u32.to_be_bytes());
        expected.extend_from_slice(b"latchkey/v1/x");
        expected.extend_from_slice(&2u32.to_be_bytes());
        expected.extend_from_slice(b"ab");
        expected.extend_from_slice(&8u32.to_be_bytes());
        expected.extend_from_slice(&1u64.to_be_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let a = Canonical::new("x").str("ab").str("c").finish();
        let b = Canonical::new("x").str("a").str("bc").finish();
        assert_ne!(a, b);
    }

    #[test]
    fn purposes_are_separated() {
        let (a, d, o) = (
            AccountId::from_bytes([1; 16]),
            DeviceId::from_bytes([2; 16]),
            OperationId::from_bytes([3; 16]),
        );
        let secret = p256::SecretKey::from_slice(&[7; 32]).expect("valid scalar");
        let key = PublicKey::from(secret.public_key());
        assert_ne!(
            pin_change_proof(&a, &d, &o, &key, 2),
            pin_reset_proof(&a, &d, &o, &key, 2)
        );
    }
}
