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
    /// The database cannot be reached right now (down, restarting, refusing connections,
    /// locked): nothing was changed, and the same request may simply be sent again.
    Unavailable,
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
    server_time: Option<u64>,
}

/// What a request that failed inside answers: never the detail, which goes to the log.
const INTERNAL_MESSAGE: &str = "the server failed; nothing was changed; try again later";

/// What a request answers while the database cannot be reached.
const UNAVAILABLE_MESSAGE: &str =
    "the server cannot reach its database right now; nothing was changed; try again in a moment";

/// Seconds a client is asked to wait while the database cannot be reached.
pub const UNAVAILABLE_RETRY_SECS: u64 = 5;

impl ServerError {
    /// A failure of `kind` with a sentence for the operator (start-up) or the log.
    pub fn of(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            attempts_left: None,
            retry_after: None,
            server_time: None,
        }
    }

    /// The device's clock is off by more than the skew window: the server's time goes with
    /// the refusal, so the app can say by how much.
    pub fn clock_skew(server_time: u64) -> Self {
        let mut e = Self::new(
            ErrorCode::ClockSkew,
            "the device's clock is more than 5 minutes off; set the date and time automatically",
        );
        e.server_time = Some(server_time);
        e
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
                server_time: self.server_time,
            },
            ErrorKind::Unavailable => ErrorBody {
                error: ErrorCode::Internal,
                message: UNAVAILABLE_MESSAGE.into(),
                attempts_left: None,
                retry_after: Some(UNAVAILABLE_RETRY_SECS),
                server_time: None,
            },
            _ => ErrorBody {
                error: ErrorCode::Internal,
                message: INTERNAL_MESSAGE.into(),
                attempts_left: None,
                retry_after: None,
                server_time: None,
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
        if unreachable_database(&e) {
            return Self::of(ErrorKind::Unavailable, UNAVAILABLE_MESSAGE);
        }
        Self::of(ErrorKind::Storage, INTERNAL_MESSAGE)
    }
}

/// Whether `e` says the database cannot be reached now (as opposed to a statement failing).
fn unreachable_database(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08…), shutting down or not yet accepting
            // (57P01–57P03), a statement cancelled by `statement_timeout` (57014), too many
            // connections (53300), a database refusing connections or a lock not available
            // (55000, 55P03). SQLite: busy or locked after the busy timeout (5, 6 and their
            // extended codes).
            code.starts_with("08")
                || code.starts_with("57P0")
                || code == "57014"
                || code == "55P03"
                || code == "53300"
                || code == "55000"
                || (code.len() < 5 && code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)))
        }),
        _ => false,
    }
}

/// The server's result type.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;
