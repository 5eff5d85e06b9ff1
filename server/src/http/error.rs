//! How a [`ServerError`] answers a device request: the status for its code, and its body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use latchkey_protocol::wire::ErrorCode;

use crate::error::{ErrorKind, ServerError};

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = match self.code() {
            ErrorCode::BadRequest | ErrorCode::PinPolicy | ErrorCode::ClockSkew => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            ErrorCode::Unauthorized | ErrorCode::BadCredentials => StatusCode::UNAUTHORIZED,
            ErrorCode::Replayed | ErrorCode::CounterReused => StatusCode::CONFLICT,
            ErrorCode::EnrolmentCodeInvalid | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::WrongPin | ErrorCode::CodeMismatch => StatusCode::FORBIDDEN,
            ErrorCode::Locked => StatusCode::LOCKED,
            ErrorCode::Expired => StatusCode::GONE,
            ErrorCode::AlreadyAnswered => StatusCode::CONFLICT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            _ if self.kind() == ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(crate::error::UNAVAILABLE_RETRY_SECS),
            );
        }
        response
    }
}

/// The device API's result type.
pub type ApiResult<T> = Result<Json<T>, ServerError>;
