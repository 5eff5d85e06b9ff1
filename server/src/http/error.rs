//! The device API's one error type: a stable code, a sentence for people, and the status.
//! Internal details are logged (never secrets) and never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use latchkey_protocol::wire::{ErrorBody, ErrorCode};

/// A failed device request.
#[derive(Debug)]
pub struct ApiError(pub ErrorBody);

impl ApiError {
    /// An error with a message.
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self(ErrorBody {
            error,
            message: message.into(),
            attempts_left: None,
            retry_after: None,
        })
    }

    /// A wrong PIN, with attempts left.
    pub fn wrong_pin(attempts_left: u8) -> Self {
        let mut e = Self::new(
            ErrorCode::WrongPin,
            format!("wrong PIN; {attempts_left} attempts left before this device is locked"),
        );
        e.0.attempts_left = Some(attempts_left);
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
        e.0.retry_after = Some(retry_after);
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
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "{context}");
        Self::new(
            ErrorCode::Internal,
            "the server failed; nothing was changed; try again later",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal("database error", e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0.error {
            ErrorCode::BadRequest | ErrorCode::PinPolicy => StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            ErrorCode::Unauthorized | ErrorCode::BadCredentials => StatusCode::UNAUTHORIZED,
            ErrorCode::Replayed | ErrorCode::CounterReused => StatusCode::CONFLICT,
            ErrorCode::EnrolmentCodeInvalid | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::WrongPin | ErrorCode::CodeMismatch => StatusCode::FORBIDDEN,
            ErrorCode::Locked => StatusCode::LOCKED,
            ErrorCode::Expired => StatusCode::GONE,
            ErrorCode::AlreadyAnswered => StatusCode::CONFLICT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(self.0)).into_response()
    }
}

/// The device API's result type.
pub type ApiResult<T> = Result<Json<T>, ApiError>;
