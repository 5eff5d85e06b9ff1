//! `latchkey-ffi`: the one API the Android, iOS and Windows shells use, generated for Kotlin,
//! Swift and Python by UniFFI.
//!
//! Conversions only. A shell opens one [`LatchkeyApp`] (the app model, `latchkey-app`): it
//! sends `AppEvent`s, draws the `AppView`s its [`AppListener`] is given, and performs the
//! `AppEffect`s (notifications, camera, vibration). Every flow, timer, retry and long-poll runs
//! in Rust; the shell decides nothing. It implements three foreign traits — [`KeyStore`]
//! (Android Keystore, iOS Keychain, Windows Credential Locker), [`DeviceSigner`] (StrongBox,
//! Secure Enclave, TPM) and [`Platform`]. Opening fails with [`LatchkeyError`]
//! (`LatchkeyException` in Kotlin).
//!
//! Secrets: PIN digits arrive one by one (`AppEvent.Digit`) into zeroizing buffers in Rust; a
//! password or link arrives whole (`AppEvent.Input`) and is moved into a zeroizing buffer at
//! once. The enrolment code never leaves Rust.

use std::path::PathBuf;
use std::sync::Arc;

use latchkey_core::keystore::{self as core_ks, KeyId, KeyStoreError, WrappingKey};
use latchkey_core::protocol::link::LinkPolicy;
use latchkey_core::protocol::types::{self as ptypes};
use latchkey_core::signer::{self as core_signer, KeyAlias, SignerError};
use latchkey_core::{Error, ErrorKind};
use zeroize::Zeroize as _;

uniffi::setup_scaffolding!("latchkey");

mod app;
mod app_types;
mod error;
mod foreign;
mod records;

pub use app::{AppListener, LatchkeyApp};
pub use error::{LatchkeyError, ShellError};
pub use foreign::{AppAttestation, Assurance, DeviceSigner, GeneratedKey, KeyStore, Platform};
pub use records::*;

// Shared between the modules (each does `use super::*`).
use foreign::{ForeignKeyStore, ForeignPlatform, ForeignSigner};

/// The client data hash an iOS signer hands `DCAppAttestService.attestKey` for a new device
/// key: the enrolment's attestation challenge (as `DeviceSigner.generate` received it) and
/// the key's public key (SEC1 or SubjectPublicKeyInfo), bound together as the server checks
/// them. `None` when the challenge is not 32 bytes or the key is not a P-256 public key.
#[uniffi::export]
pub fn app_attest_client_data_hash(
    attestation_challenge: Vec<u8>,
    public_key: Vec<u8>,
) -> Option<Vec<u8>> {
    let challenge: [u8; 32] = attestation_challenge.try_into().ok()?;
    let key = ptypes::PublicKey::from_sec1_or_spki(&public_key)?;
    Some(
        latchkey_core::protocol::wire::EnrolBeginRequest::app_attest_client_data_hash(
            &challenge, &key,
        )
        .to_vec(),
    )
}

/// The request id in a push body (a decrypted UnifiedPush / Web Push message, a WNS raw
/// notification), to send as `AppEvent.PushReceived`; `None` for anything else. FCM and APNs
/// hand the id over as a field of their own (`challenge`).
#[uniffi::export]
pub fn challenge_in_push(body: Vec<u8>) -> Option<String> {
    latchkey_core::challenge_in_push(&body)
}
