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
    /// Too many wrong PINs: the approval key is locked until a forgotten-PIN reset.
    Locked,
    /// The PIN breaks the policy.
    PinPolicy,
    /// The sign-in or operation expired (server clock).
    Expired,
    /// Another answer already won.
    AlreadyAnswered,
    /// The typed code did not match the login page.
    CodeMismatch,
    /// The scanned code is not a Latchkey enrolment code.
    NotLatchkeyQr,
    /// The server's certificate or signature is not trusted.
    ServerUntrusted,
    /// The server could not be reached.
    Network,
    /// The server refused the request.
    Rejected,
    /// The device has no screen lock.
    ScreenLockMissing,
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
    /// The device's clock is too far from the server's: set the date and time automatically.
    ClockSkew,
}

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PIN did not open the approval key (the server already counted the attempt).
    #[error("{}", wrong_pin_message(*attempts_left))]
    WrongPin {
        /// Attempts left before the device locks, when the server said.
        attempts_left: Option<u8>,
    },
    /// The approval key is locked.
    #[error("too many wrong PINs: this device is locked for this account; use \"Forgot PIN\" to choose a new one")]
    Locked,
    /// The scanned code is not a usable enrolment code.
    #[error("{0}")]
    NotLatchkeyQr(#[from] latchkey_protocol::link::LinkError),
    /// The server refused or failed the request; `code` says why.
    #[error("{message}")]
    Server {
        /// The stable code.
        code: latchkey_protocol::wire::ErrorCode,
        /// The server's sentence (never secret).
        message: String,
        /// For wrong PINs.
        attempts_left: Option<u8>,
    },
    /// TLS failed, or a challenge was not signed by the key pinned at enrolment.
    #[error("the server could not be verified ({0}); do not approve anything and check the network or ask the service")]
    ServerUntrusted(String),
    /// The server could not be reached.
    #[error("could not reach the server ({0}); check the connection and try again")]
    Network(String),
    /// The device has no screen lock.
    #[error("this device has no screen lock; set a PIN, pattern or password for the device first, then enrol")]
    ScreenLockMissing,
    /// An argument was invalid (a frame of the wrong size, an unreadable image).
    #[error("{0}")]
    InvalidInput(String),
    /// No such account on this device.
    #[error("no account {0} on this device; run `latchkey accounts` to list them")]
    UnknownAccount(String),
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
        "a PIN change or reset is already in progress for this account; it is finished when the server can be reached, or by the other Latchkey window or command running it; try again then"
    )]
    AlreadyStaged,
    /// Authenticated decryption failed for something not protected by the PIN.
    #[error("decryption failed")]
    Decryption,
    /// An OPRF step failed.
    #[error("the server's PIN evaluation was invalid")]
    Oprf(#[from] OprfError),
    /// The server refused the request because this device's clock is off (requests carry
    /// the device's time and are accepted within five minutes of the server's).
    #[error("{}", clock_skew_message(*off_by_secs))]
    ClockSkew {
        /// Device time minus server time, in seconds (positive: the device is ahead); `None`
        /// when the server did not say its time.
        off_by_secs: Option<i64>,
    },
}

fn clock_skew_message(off_by_secs: Option<i64>) -> String {
    match off_by_secs {
        Some(off) => {
            let minutes = off.unsigned_abs().div_ceil(60);
            let way = if off > 0 { "ahead" } else { "behind" };
            format!(
                "this device's clock is {minutes} minutes {way}; set the date and time \
                 automatically, then try again"
            )
        }
        None => {
            "this device's clock is off; set the date and time automatically, then try again".into()
        }
    }
}

impl Error {
    /// The stable kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::WrongPin { .. } => ErrorKind::WrongPin,
            Self::Locked => ErrorKind::Locked,
            Self::NotLatchkeyQr(_) => ErrorKind::NotLatchkeyQr,
            Self::Server { code, .. } => server_kind(*code),
            Self::ServerUntrusted(_) => ErrorKind::ServerUntrusted,
            Self::Network(_) => ErrorKind::Network,
            Self::ScreenLockMissing => ErrorKind::ScreenLockMissing,
            Self::UnknownAccount(_) => ErrorKind::NotFound,
            Self::InvalidInput(_) => ErrorKind::Invalid,
            Self::PinPolicy(_) => ErrorKind::PinPolicy,
            Self::Storage { .. } => ErrorKind::Storage,
            Self::Corrupt { .. } | Self::UnsupportedFormat { .. } | Self::Decryption => {
                ErrorKind::Corrupt
            }
            Self::KeyStore(_) | Self::KeyMissing { .. } => ErrorKind::KeyStore,
            Self::Signer(_) => ErrorKind::Signer,
            Self::NotFound(_) | Self::NothingStaged => ErrorKind::NotFound,
            Self::AlreadyStaged | Self::Oprf(_) => ErrorKind::Invalid,
            Self::ClockSkew { .. } => ErrorKind::ClockSkew,
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

fn wrong_pin_message(attempts_left: Option<u8>) -> String {
    match attempts_left {
        Some(0) => {
            "wrong PIN; this was the last attempt: the device is now locked, use \"Forgot PIN\""
                .into()
        }
        Some(1) => "wrong PIN; 1 attempt left before this device is locked".into(),
        Some(n) => format!("wrong PIN; {n} attempts left before this device is locked"),
        None => "wrong PIN".into(),
    }
}

fn server_kind(code: latchkey_protocol::wire::ErrorCode) -> ErrorKind {
    use latchkey_protocol::wire::ErrorCode as C;
    match code {
        C::WrongPin => ErrorKind::WrongPin,
        C::Locked => ErrorKind::Locked,
        C::Expired => ErrorKind::Expired,
        C::AlreadyAnswered => ErrorKind::AlreadyAnswered,
        C::CodeMismatch => ErrorKind::CodeMismatch,
        C::PinPolicy => ErrorKind::PinPolicy,
        C::NotFound => ErrorKind::NotFound,
        _ => ErrorKind::Rejected,
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
