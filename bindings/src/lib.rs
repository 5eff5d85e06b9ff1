//! `latchkey-ffi`: the one API the Android, iOS and Windows shells use, generated for Kotlin,
//! Swift and Python by UniFFI.
//!
//! Conversions only: every flow is a call into [`latchkey_core::Latchkey`]. The shells
//! implement three foreign traits — [`KeyStore`] (Android Keystore, iOS Keychain, Windows
//! Credential Locker), [`DeviceSigner`] (StrongBox, Secure Enclave, TPM) and [`Platform`] —
//! and get back records, enums and one error type, [`LatchkeyError`] (`LatchkeyException` in
//! Kotlin), whose variants carry the sentence to show.
//!
//! Secrets: PINs, passwords and codes arrive as foreign strings (which the foreign runtime
//! cannot wipe); they are moved into zeroizing core types at once. The enrolment code never
//! leaves Rust: a scanned link is an opaque [`EnrolmentOffer`].

use std::path::PathBuf;
use std::sync::Arc;

use latchkey_core::keystore::{self as core_ks, KeyId, KeyStoreError, WrappingKey};
use latchkey_core::protocol::link::{EnrolmentLink, LinkPolicy};
use latchkey_core::protocol::secret::{OneTimeCode, Password, Pin};
use latchkey_core::protocol::types::{self as ptypes, ChallengeId, OperationId};
use latchkey_core::protocol::wire::{self, PinSource};
use latchkey_core::signer::{self as core_signer, KeyAlias, SignerError};
use latchkey_core::vault::{RecordId, RecordState};
use latchkey_core::{Error, ErrorKind};
use zeroize::Zeroize as _;

uniffi::setup_scaffolding!("latchkey");

mod app;
mod app_types;
mod error;
mod foreign;
mod handle;
mod records;

pub use app::{AppListener, LatchkeyApp};
pub use error::{LatchkeyError, ShellError};
pub use foreign::{Assurance, DeviceSigner, KeyStore, Platform};
pub use handle::Latchkey;
pub use records::*;

// Shared between the modules (each does `use super::*`).
use error::invalid;
use foreign::{ForeignKeyStore, ForeignPlatform, ForeignSigner};
