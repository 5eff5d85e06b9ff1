//! Browser sessions as stored: a random cookie kept only as its SHA-256, a per-session CSRF
//! token, the stage of the sign-in and how the session proved who it is (P7), and the one-time
//! code mailed for it (rate-limited, counted, single use, compared in constant time).

use latchkey_protocol::b64;
use latchkey_protocol::types::{AccountId, Digest};
use rand_core::{OsRng, RngCore as _};
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::ServerError;
use crate::{accounts, audit, throttle, AppState};

/// How long a session lives, seconds.
pub const LIFETIME: i64 = 12 * 3600;
/// How long a mailed code is valid, seconds.
pub const CODE_TTL: i64 = 600;
/// Attempts per mailed code.
pub const CODE_ATTEMPTS: i64 = 5;

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

/// The live session whose cookie is `cookie`.
pub(crate) async fn load(state: &AppState, cookie: &str) -> Result<Option<Session>, ServerError> {
    let row = sqlx::query(
        "SELECT id_hash, account_id, stage, login_id, csrf, strength, confirmed_at FROM sessions \
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(hash(cookie))
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

/// Stores a fresh session (and forgets expired ones); the session and its cookie value.
pub(crate) async fn insert(
    state: &AppState,
    account: Option<&AccountId>,
    stage: &str,
    login_id: Option<&str>,
    strength: &str,
    confirmed_at: i64,
) -> Result<(Session, String), ServerError> {
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
    Ok((session, cookie))
}

/// Ends a session.
pub(crate) async fn delete(state: &AppState, session: &Session) -> Result<(), ServerError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(&session.id_hash)
        .execute(&state.db)
        .await?;
    Ok(())
}

fn code_hash(session: &Session, code: &str) -> String {
    let digest = Digest::of(
        format!("latchkey-mailed-code/{}/{}", session.id_hash(), code.trim()).as_bytes(),
    );
    b64::encode(digest.as_bytes())
}

/// Mails a fresh code for `session` to every address of `account` (rate-limited per account);
/// returns the masked addresses.
///
/// # Errors
/// `rate_limited` with the seconds to wait; storage and mail failures.
pub(crate) async fn send_code(
    state: &AppState,
    session: &Session,
    account: &AccountId,
    why: &str,
) -> Result<Vec<String>, ServerError> {
    throttle::count(
        state,
        &format!("mailcode:account:{account}"),
        state.config.policy.mailed_codes_per_hour,
        3600,
    )
    .await?;
    let code = Zeroizing::new(crate::codes::random_code(8));
    let now = state.clock.now_i64();
    sqlx::query(
        "UPDATE sessions SET code_hash = $1, code_expires_at = $2, code_attempts = 0 WHERE id_hash = $3",
    )
    .bind(code_hash(session, &code))
    .bind(now + CODE_TTL)
    .bind(session.id_hash())
    .execute(&state.db)
    .await?;
    let addresses = accounts::addresses(state, account).await?;
    let service = &state.config.policy.service_name;
    for address in &addresses {
        let body = Zeroizing::new(format!(
            "Your code to {why} on {service} is:\n\n    {}\n\n\
             It expires in {} minutes. If you did not ask for it, someone has your password: \
             change it now, and do not give this code to anyone.",
            code.as_str(),
            CODE_TTL / 60
        ));
        state
            .mailer
            .send(address, &format!("{service}: your one-time code"), &body)
            .await
            .map_err(|e| ServerError::internal("one-time code not delivered", e))?;
    }
    audit::record(state, account, None, "mailed_code_sent", why).await;
    Ok(addresses
        .iter()
        .map(|a| accounts::mask_address(a))
        .collect())
}

/// What checking a presented code found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CodeCheck {
    /// The code is right (and now used up).
    Right,
    /// Wrong; attempts remain.
    Wrong,
    /// No live code: none sent, expired, or its attempts used up.
    Gone,
}

/// Counts the attempt first, then compares in constant time; a right code is used up.
pub(crate) async fn check_code(
    state: &AppState,
    session: &Session,
    presented: &str,
) -> Result<CodeCheck, ServerError> {
    let counted = sqlx::query(
        "UPDATE sessions SET code_attempts = code_attempts + 1 WHERE id_hash = $1 \
         AND code_hash IS NOT NULL AND code_attempts < $2 AND code_expires_at > $3",
    )
    .bind(session.id_hash())
    .bind(CODE_ATTEMPTS)
    .bind(state.clock.now_i64())
    .execute(&state.db)
    .await?;
    if counted.rows_affected() != 1 {
        return Ok(CodeCheck::Gone);
    }
    let expected: Option<String> = sqlx::query("SELECT code_hash FROM sessions WHERE id_hash = $1")
        .bind(session.id_hash())
        .fetch_one(&state.db)
        .await?
        .try_get("code_hash")?;
    let presented = code_hash(session, presented);
    let right = expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(presented.as_bytes())));
    if !right {
        return Ok(CodeCheck::Wrong);
    }
    let used =
        sqlx::query("UPDATE sessions SET code_hash = NULL WHERE id_hash = $1 AND code_hash = $2")
            .bind(session.id_hash())
            .bind(&presented)
            .execute(&state.db)
            .await?;
    Ok(if used.rows_affected() == 1 {
        CodeCheck::Right
    } else {
        CodeCheck::Gone
    })
}

/// Whether `session` may add or remove devices of `account` now (P7): a brand-new account
/// that never had a device may add its first one on the password alone; otherwise the session
/// must have proved, within `Policy::confirm_ttl`, a sign-in approved on a device or a mailed
/// code.
pub(crate) async fn gate(
    state: &AppState,
    session: &Session,
    account: &AccountId,
) -> Result<Gate, ServerError> {
    if !accounts::had_device(state, account).await? {
        return Ok(Gate::FirstDevice);
    }
    let ttl = i64::try_from(state.config.policy.confirm_ttl).unwrap_or(600);
    if session.confirmed(state.clock.now_i64(), ttl) {
        Ok(Gate::Confirmed)
    } else {
        Ok(Gate::NeedsConfirmation)
    }
}

/// What [`gate`] decided.
pub(crate) enum Gate {
    /// The account never had a device: its first one may be added on the password alone.
    FirstDevice,
    /// The session proved more than the password recently.
    Confirmed,
    /// Confirm first.
    NeedsConfirmation,
}
