//! Browser sessions: a random cookie (`__Host-` prefix, Secure, HttpOnly, SameSite=Strict),
//! stored only as its SHA-256, with a per-session CSRF token every form must echo.

use axum::http::{header, HeaderMap, HeaderValue};
use latchkey_protocol::types::AccountId;

use crate::error::ServerError;
use crate::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "__Host-latchkey";
use crate::sessions::LIFETIME;

pub use crate::sessions::{stages, strengths, Session};

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The request's session, if its cookie names a live one.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, ServerError> {
    let Some(cookie) = cookie_value(headers) else {
        return Ok(None);
    };
    crate::sessions::load(state, &cookie).await
}

/// The request's session if it is in `stage`.
pub async fn current_at(
    state: &AppState,
    headers: &HeaderMap,
    stage: &str,
) -> Result<Option<Session>, ServerError> {
    Ok(current(state, headers).await?.filter(|s| s.stage == stage))
}

/// The request's session, or a new anonymous one with the `Set-Cookie` header to send.
pub async fn ensure(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Session, Option<HeaderValue>), ServerError> {
    if let Some(session) = current(state, headers).await? {
        return Ok((session, None));
    }
    let (session, cookie) = create(state, None, stages::ANONYMOUS, None).await?;
    Ok((session, Some(cookie)))
}

/// Starts a fresh session (a new id on every privilege change, against fixation) that proved
/// only the password, if anything.
pub async fn create(
    state: &AppState,
    account: Option<&AccountId>,
    stage: &str,
    login_id: Option<&str>,
) -> Result<(Session, HeaderValue), ServerError> {
    create_with(state, account, stage, login_id, strengths::PASSWORD).await
}

/// A signed-in session that proved `strength` at `confirmed_at` (unix seconds).
pub async fn create_confirmed(
    state: &AppState,
    account: &AccountId,
    strength: &str,
    confirmed_at: i64,
) -> Result<(Session, HeaderValue), ServerError> {
    with_header(
        crate::sessions::insert(
            state,
            Some(account),
            stages::SIGNED_IN,
            None,
            strength,
            confirmed_at,
        )
        .await?,
    )
}

/// [`create`] for a session that proved `strength` just now.
pub async fn create_with(
    state: &AppState,
    account: Option<&AccountId>,
    stage: &str,
    login_id: Option<&str>,
    strength: &str,
) -> Result<(Session, HeaderValue), ServerError> {
    let confirmed_at = if strength == strengths::PASSWORD {
        0
    } else {
        state.clock.now_i64()
    };
    with_header(
        crate::sessions::insert(state, account, stage, login_id, strength, confirmed_at).await?,
    )
}

fn with_header(stored: (Session, String)) -> Result<(Session, HeaderValue), ServerError> {
    let (session, cookie) = stored;
    let header = HeaderValue::from_str(&format!(
        "{COOKIE}={cookie}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={LIFETIME}"
    ))
    .map_err(|e| ServerError::internal("cookie header", e))?;
    Ok((session, header))
}

/// Ends a session.
pub async fn destroy(state: &AppState, session: &Session) -> Result<HeaderValue, ServerError> {
    crate::sessions::delete(state, session).await?;
    Ok(HeaderValue::from_static(
        "__Host-latchkey=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
    ))
}
