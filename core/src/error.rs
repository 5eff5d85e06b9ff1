//! The core's one error type, with a small stable [`ErrorKind`] that apps branch on.
//!
//! Messages are lowercase, say what to do next where there is something to do, and never
//! contain secret material. Crypto failures stay vague.

use std::path::PathBuf;

use latchkey_protocol::oprf::OprfError;
use latchkey_protocol::pin::PinRefusal;

use crate::keystore::KeyStoreError;
use crate::signer::SignerError;

/// A stable classification of [`Error`] for programs (the FFI error mirrors it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The PIN did not open the approval key.
    WrongPin,
    /// The PIN breaks the policy.
    PinPolicy,
    /// Reading or writing the data directory failed.
    Storage,
    /// A stored file is damaged or from an unknown format version; it was left untouched.
    Corrupt,
    /// The OS keystore is unreachable or lost a key.
    KeyStore,
    /// The device signer failed.
    Signer,
    /// No such account record or staged operation.
    NotFound,
    /// A value was invalid.
    Invalid,
}

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PIN did not open the approval key (the server already counted the attempt).
    #[error("wrong PIN")]
    WrongPin,
    /// The PIN breaks the policy.
    #[error("{0}")]
    PinPolicy(#[from] PinRefusal),
    /// An I/O failure in the data directory.
    #[error("could not {op} {}: {source}; check that the data directory is writable and the disk is not full", path.display())]
    Storage {
        /// What was being done.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A stored file could not be decoded; it was not modified.
    #[error("{} is damaged ({reason}); it was left untouched; restore it from a backup or remove the account and enrol again", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (never file content).
        reason: String,
    },
    /// A stored file has a format version this build does not know; it was not modified.
    #[error("{} was written by a newer version of Latchkey (format {found}); update the app", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// The OS keystore failed.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// The wrapping key for a stored item is gone from the keystore.
    #[error("the key protecting {what} is missing from the system keystore; if the keystore was reset, remove the account and enrol again")]
    KeyMissing {
        /// What the key protects.
        what: String,
    },
    /// The device signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// No record with this id.
    #[error("no account record {0}")]
    NotFound(String),
    /// No staged key for this account.
    #[error("no PIN change or reset is in progress for this account")]
    NothingStaged,
    /// A staged key already exists (another change or reset is in progress).
    #[error(
        "a PIN change or reset is already in progress for this account; finish or cancel it first"
    )]
    AlreadyStaged,
    /// Authenticated decryption failed for something not protected by the PIN.
    #[error("decryption failed")]
    Decryption,
    /// An OPRF step failed.
    #[error("the server's PIN evaluation was invalid")]
    Oprf(#[from] OprfError),
}

impl Error {
    /// The stable kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::WrongPin => ErrorKind::WrongPin,
            Self::PinPolicy(_) => ErrorKind::PinPolicy,
            Self::Storage { .. } => ErrorKind::Storage,
            Self::Corrupt { .. } | Self::UnsupportedFormat { .. } | Self::Decryption => {
                ErrorKind::Corrupt
            }
            Self::KeyStore(_) | Self::KeyMissing { .. } => ErrorKind::KeyStore,
            Self::Signer(_) => ErrorKind::Signer,
            Self::NotFound(_) | Self::NothingStaged => ErrorKind::NotFound,
            Self::AlreadyStaged | Self::Oprf(_) => ErrorKind::Invalid,
        }
    }

    pub(crate) fn storage(
        op: &'static str,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> Self {
        Self::Storage {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
