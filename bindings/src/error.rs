//! Errors: one enum for the shells, each variant with the sentence to show.

use super::*;

/// Everything a flow can fail with. Each variant carries `reason`, a sentence for the person
/// that says what to do next; it never contains secret material.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum LatchkeyError {
    /// The PIN was wrong; `attempts_left` before the device locks, when the server said.
    #[error("{reason}")]
    WrongPin {
        /// Attempts left (0 means this was the last one).
        attempts_left: Option<u8>,
        /// What to show.
        reason: String,
    },
    /// Too many wrong PINs: locked until "Forgot PIN".
    #[error("{reason}")]
    Locked {
        /// What to show.
        reason: String,
    },
    /// The PIN breaks the policy (too short, a sequence, a repeated digit …).
    #[error("{reason}")]
    PinPolicy {
        /// What to show.
        reason: String,
    },
    /// The sign-in or operation expired.
    #[error("{reason}")]
    Expired {
        /// What to show.
        reason: String,
    },
    /// Another answer already won.
    #[error("{reason}")]
    AlreadyAnswered {
        /// What to show.
        reason: String,
    },
    /// The typed number does not match the login page.
    #[error("{reason}")]
    CodeMismatch {
        /// What to show.
        reason: String,
    },
    /// The scanned or typed code is not a Latchkey enrolment code, and why.
    #[error("{reason}")]
    NotLatchkeyQr {
        /// What to show.
        reason: String,
    },
    /// The server's certificate or signature is not trusted: approve nothing.
    #[error("{reason}")]
    ServerUntrusted {
        /// What to show.
        reason: String,
    },
    /// The server could not be reached.
    #[error("{reason}")]
    Network {
        /// What to show.
        reason: String,
    },
    /// The server refused the request.
    #[error("{reason}")]
    Rejected {
        /// What to show.
        reason: String,
    },
    /// The device has no screen lock.
    #[error("{reason}")]
    ScreenLockMissing {
        /// What to show.
        reason: String,
    },
    /// The data directory could not be read or written.
    #[error("{reason}")]
    Storage {
        /// What to show.
        reason: String,
    },
    /// A stored file is damaged or from a newer version; it was left untouched.
    #[error("{reason}")]
    Corrupt {
        /// What to show.
        reason: String,
    },
    /// The OS keystore is unreachable or lost a key.
    #[error("{reason}")]
    KeyStore {
        /// What to show.
        reason: String,
    },
    /// The device signer failed.
    #[error("{reason}")]
    Signer {
        /// What to show.
        reason: String,
    },
    /// No such account or operation.
    #[error("{reason}")]
    NotFound {
        /// What to show.
        reason: String,
    },
    /// An argument was invalid.
    #[error("{reason}")]
    Invalid {
        /// What to show.
        reason: String,
    },
    /// The device's clock is off: the person should set the date and time automatically.
    #[error("{reason}")]
    ClockSkew {
        /// What to show.
        reason: String,
    },
}

impl From<Error> for LatchkeyError {
    fn from(e: Error) -> Self {
        let attempts_left = match &e {
            Error::WrongPin { attempts_left } | Error::Server { attempts_left, .. } => {
                *attempts_left
            }
            _ => None,
        };
        let reason = e.to_string();
        match e.kind() {
            ErrorKind::WrongPin => Self::WrongPin {
                attempts_left,
                reason,
            },
            ErrorKind::Locked => Self::Locked { reason },
            ErrorKind::PinPolicy => Self::PinPolicy { reason },
            ErrorKind::Expired => Self::Expired { reason },
            ErrorKind::AlreadyAnswered => Self::AlreadyAnswered { reason },
            ErrorKind::CodeMismatch => Self::CodeMismatch { reason },
            ErrorKind::NotLatchkeyQr => Self::NotLatchkeyQr { reason },
            ErrorKind::ServerUntrusted => Self::ServerUntrusted { reason },
            ErrorKind::Network => Self::Network { reason },
            ErrorKind::ScreenLockMissing => Self::ScreenLockMissing { reason },
            ErrorKind::Storage => Self::Storage { reason },
            ErrorKind::Corrupt => Self::Corrupt { reason },
            ErrorKind::KeyStore => Self::KeyStore { reason },
            ErrorKind::Signer => Self::Signer { reason },
            ErrorKind::NotFound => Self::NotFound { reason },
            ErrorKind::Invalid => Self::Invalid { reason },
            ErrorKind::ClockSkew => Self::ClockSkew { reason },
            // `Rejected` and any kind a newer core adds.
            _ => Self::Rejected { reason },
        }
    }
}

/// What a shell's [`KeyStore`] or [`DeviceSigner`] reports when it fails.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ShellError {
    /// The store cannot be used right now (device locked, user not authenticated).
    #[error("{reason}")]
    Unavailable {
        /// What the platform said (no secrets).
        reason: String,
    },
    /// There is no key under this name.
    #[error("{reason}")]
    Missing {
        /// What the platform said.
        reason: String,
    },
    /// Anything else.
    #[error("{reason}")]
    Failed {
        /// What the platform said.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ShellError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { reason: e.reason }
    }
}
