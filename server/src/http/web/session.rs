//! Browser sessions: a random cookie (`__Host-` prefix, Secure, HttpOnly, SameSite=Strict),
//! stored only as its SHA-256, with a per-session CSRF token every form must echo.

use axum::http::{header, HeaderMap, HeaderValue};
use latchkey_protocol::b64;
use latchkey_protocol::types::{AccountId, Digest};
use rand_core::{OsRng, RngCore as _};
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;

use crate::error::ServerError;
use crate::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "__Host-latchkey";
const LIFETIME: i64 = 12 * 3600;

/// Session stages.
pub mod stages {
    /// No one signed in.
    pub const ANONYMOUS: &str = "anonymous";
    /// Password accepted; waiting for a device's approval.
    pub const APPROVING: &str = "approving";
    /// Signed in.
    pub const SIGNED_IN: &str = "signed_in";
    /// Password accepted, no usable device: waiting for the code mailed to the account (P7).
    pub const CODE: &str = "code";
}

/// How a session proved who it is (P7).
pub mod strengths {
    /// The password alone: only a brand-new account that never had a device signs in so.
    pub const PASSWORD: &str = "password";
    /// A sign-in approved on a device with its PIN.
    pub const DEVICE: &str = "device";
    /// The password plus a one-time code mailed to the account.
    pub const MAILED: &str = "mailed";
}

/// A browser session.
#[derive(Clone, Debug)]
pub struct Session {
    id_hash: String,
    /// The account, once the password was accepted.
    pub account: Option<AccountId>,
    /// One of [`stages`].
    pub stage: String,
    /// The sign-in waiting for approval.
    pub login_id: Option<String>,
    /// The CSRF token.
    pub csrf: String,
    /// One of [`strengths`].
    pub strength: String,
    /// When the session last proved more than the password (unix seconds; 0: never).
    pub confirmed_at: i64,
}

impl Session {
    /// The signed-in account.
    pub fn signed_in(&self) -> Option<AccountId> {
        (self.stage == stages::SIGNED_IN)
            .then_some(self.account)
            .flatten()
    }

    /// Whether the session proved, within `ttl` seconds of `now`, more than the password: a
    /// sign-in approved on a device, or a mailed code (P7).
    pub fn confirmed(&self, now: i64, ttl: i64) -> bool {
        self.strength != strengths::PASSWORD
            && self.confirmed_at > 0
            && now.saturating_sub(self.confirmed_at) <= ttl
    }

    /// The session's id hash (the key its mailed code is bound to).
    pub fn id_hash(&self) -> &str {
        &self.id_hash
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, token: &str) -> bool {
        self.csrf.as_bytes().ct_eq(token.as_bytes()).into()
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    b64::encode(&bytes)
}

fn hash(cookie: &str) -> String {
    b64::encode(Digest::of(cookie.as_bytes()).as_bytes())
}

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
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ServerError> {
    let Some(cookie) = cookie_value(headers) else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT id_hash, account_id, stage, login_id, csrf, strength, confirmed_at FROM sessions \
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(hash(&cookie))
    .bind(state.clock.now_i64())
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let account: Option<String> = row.try_get("account_id")?;
    Ok(Some(Session {
        id_hash: row.try_get("id_hash")?,
        account: account.and_then(|a| AccountId::parse(&a)),
        stage: row.try_get("stage")?,
        login_id: row.try_get("login_id")?,
        csrf: row.try_get("csrf")?,
        strength: row.try_get("strength")?,
        confirmed_at: row.try_get("confirmed_at")?,
    }))
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
    insert(
        state,
        Some(account),
        stages::SIGNED_IN,
        None,
        strength,
        confirmed_at,
    )
    .await
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
    insert(state, account, stage, login_id, strength, confirmed_at).await
}

async fn insert(
    state: &AppState,
    account: Option<&AccountId>,
    stage: &str,
    login_id: Option<&str>,
    strength: &str,
    confirmed_at: i64,
) -> Result<(Session, HeaderValue), ServerError> {
    let cookie = random_token();
    let now = state.clock.now_i64();
    let session = Session {
        id_hash: hash(&cookie),
        account: account.copied(),
        stage: stage.to_owned(),
        login_id: login_id.map(str::to_owned),
        csrf: random_token(),
        strength: strength.to_owned(),
        confirmed_at,
    };
    sqlx::query(
        "INSERT INTO sessions (id_hash, account_id, stage, login_id, csrf, created_at, expires_at, \
         strength, confirmed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&session.id_hash)
    .bind(account.map(ToString::to_string))
    .bind(stage)
    .bind(login_id)
    .bind(&session.csrf)
    .bind(now)
    .bind(now + LIFETIME)
    .bind(strength)
    .bind(session.confirmed_at)
    .execute(&state.db)
    .await?;
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(now)
        .execute(&state.db)
        .await?;
    let header = HeaderValue::from_str(&format!(
        "{COOKIE}={cookie}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={LIFETIME}"
    ))
    .map_err(|e| ServerError::internal("cookie header", e))?;
    Ok((session, header))
}

/// Ends a session.
pub async fn destroy(state: &AppState, session: &Session) -> Result<HeaderValue, ServerError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(&session.id_hash)
        .execute(&state.db)
        .await?;
    Ok(HeaderValue::from_static(
        "__Host-latchkey=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
    ))
}
