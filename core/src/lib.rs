//! Latchkey core: everything a device does, once, for every shell.
//!
//! This foundation holds the PIN vault and the device's keys:
//! - [`vault`]: account records with the approval key sealed under the server-hardened PIN
//!   (inner) and a keystore-held wrapping key (outer), two-phase staged slots, atomic files;
//! - [`keystore`]: the [`keystore::KeyStore`] trait, on the `keyring` ecosystem and in memory;
//! - [`signer`]: the [`signer::DeviceSigner`] trait and its sealed software implementation;
//! - [`error`]: the one error type with stable kinds.
//!
//! - [`latchkey`]: the [`Latchkey`] handle with every flow (enrol, approve, deny, PIN change,
//!   forgotten PIN, remove, settle) over HTTPS;
//! - [`scan`]: the enrolment QR from camera frames and image files.
#![forbid(unsafe_code)]

pub mod error;
pub mod keystore;
pub mod latchkey;
pub mod os_keystore;
pub mod platform;
pub mod qr;
pub mod scan;
pub mod signer;
pub mod vault;

mod aead;
mod client;
mod fsio;

/// The protocol crate, re-exported so the bindings (and shells' Rust code) depend on the core
/// alone.
pub use latchkey_protocol as protocol;
mod stored;

#[cfg(feature = "test-support")]
pub use fsio::FaultPlan;

pub use error::{Error, ErrorKind, Result};
pub use latchkey::{
    challenge_in_push, Account, ChallengeView, Latchkey, Options, ResetTicket, Settled,
};
pub use platform::{Platform, StaticPlatform};
#[cfg(feature = "image-files")]
pub use scan::scan_image;
pub use scan::{read_codes, scan_frame, FrameScanner, ScanResult};
