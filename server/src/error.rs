//! The server's one error type: a stable [`ErrorKind`], a sentence for people, and (for a
//! refused device request) the attempts left or the wait. Internal details are logged, never
//! sent and never secrets.

use std::fmt;

use latchkey_protocol::wire::{ErrorBody, ErrorCode};

/// What failed, stable across releases (tests and operators match on it, not on text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A request refused with this protocol code; its sentence is sent to the client.
    Refused(ErrorCode),
    /// The configuration is invalid (at start).
    Config,
    /// The database failed or cannot be opened.
    Storage,
    /// The server's key file or a sealed key cannot be read or written.
    Keys,
    /// TLS material cannot be made or loaded, or the address cannot be bound.
    Network,
    /// A mail could not be built or delivered.
    Mail,
    /// Something else failed inside (password hashing, a task).
    Internal,
}

/// A failed server operation.
#[derive(Debug)]
pub struct ServerError {
    kind: ErrorKind,
    message: String,
    attempts_left: Option<u8>,
    retry_after: Option<u64>,
}

/// What a request that failed inside answers: never the detail, which goes to the log.
const INTERNAL_MESSAGE: &str = "the server failed; nothing was changed; try again later";

impl ServerError {
    /// A failure of `kind` with a sentence for the operator (start-up) or the log.
    pub fn of(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            attempts_left: None,
            retry_after: None,
        }
    }

    /// A refused request with a sentence for the person.
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self::of(ErrorKind::Refused(error), message)
    }

    /// A wrong PIN, with attempts left.
    pub fn wrong_pin(attempts_left: u8) -> Self {
        let mut e = Self::new(
            ErrorCode::WrongPin,
            format!("wrong PIN; {attempts_left} attempts left before this device is locked"),
        );
        e.attempts_left = Some(attempts_left);
        e
    }

    /// The approval key is locked.
    pub fn locked() -> Self {
        Self::new(
            ErrorCode::Locked,
            "too many wrong PINs: this device is locked; use \"Forgot PIN\" to choose a new one",
        )
    }

    /// Too many attempts.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            ErrorCode::RateLimited,
            format!(
                "too many attempts; try again in {} minutes",
                retry_after.div_ceil(60)
            ),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// A malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// Unknown, removed or unauthenticated device.
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "this device is not enrolled with the account (it may have been removed); enrol it again",
        )
    }

    /// Something failed inside; details go to the log only.
    pub fn internal(context: &str, detail: impl fmt::Display) -> Self {
        tracing::error!(%detail, "{context}");
        Self::of(ErrorKind::Internal, INTERNAL_MESSAGE)
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The protocol code a client is told.
    pub fn code(&self) -> ErrorCode {
        match self.kind {
            ErrorKind::Refused(code) => code,
            _ => ErrorCode::Internal,
        }
    }

    /// The sentence for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Seconds to wait, for a throttled request.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The body a client receives: refusals as they are, anything else as the one internal
    /// sentence (the detail was logged).
    pub fn body(&self) -> ErrorBody {
        match self.kind {
            ErrorKind::Refused(error) => ErrorBody {
                error,
                message: self.message.clone(),
                attempts_left: self.attempts_left,
                retry_after: self.retry_after,
            },
            _ => ErrorBody {
                error: ErrorCode::Internal,
                message: INTERNAL_MESSAGE.into(),
                attempts_left: None,
                retry_after: None,
            },
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServerError {}

impl From<sqlx::Error> for ServerError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(detail = %e, "database error");
        Self::of(ErrorKind::Storage, INTERNAL_MESSAGE)
    }
}

/// The server's result type.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;
