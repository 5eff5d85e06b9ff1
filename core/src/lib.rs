//! Latchkey core: everything a device does, once, for every shell.
//!
//! This foundation holds the PIN vault and the device's keys:
//! - [`vault`]: account records with the approval key sealed under the server-hardened PIN
//!   (inner) and a keystore-held wrapping key (outer), two-phase staged slots, atomic files;
//! - [`keystore`]: the [`keystore::KeyStore`] trait, on the `keyring` ecosystem and in memory;
//! - [`signer`]: the [`signer::DeviceSigner`] trait and its sealed software implementation;
//! - [`error`]: the one error type with stable kinds.
//!
//! The HTTPS client, QR scanning and the user-facing flows build on these (later issues).
#![forbid(unsafe_code)]

pub mod error;
pub mod keystore;
pub mod signer;
pub mod vault;

mod aead;
mod fsio;

#[cfg(feature = "test-support")]
pub use fsio::FaultPlan;

pub use error::{Error, ErrorKind, Result};
