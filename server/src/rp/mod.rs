//! Relying parties (issue 20, docs/RP-API.md): other login systems use Latchkey through
//! `/rp/v1` with an API key per application. An application reaches only its own users: every
//! query here is keyed by the calling application's id.
//!
//! - [`admin`]: applications and their keys (the `latchkey-server app …` commands);
//! - [`webhooks`]: signed deliveries of the events this module records;
//! - here: callers, users, enrolments, authentications, devices, the events feed, and the
//!   proofs (P7) that adding or removing a device needs once a user had one.

pub mod admin;
pub mod ciba;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use latchkey_protocol::b64;
use latchkey_protocol::pin::PinPolicy;
use latchkey_protocol::secret::Pin;
use latchkey_protocol::types::{AccountId, ChallengeId, DeviceId};
use latchkey_protocol::wire::ErrorCode;
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::devices::states;
use crate::error::ServerError;
use crate::signins::{self, login_states, Progress, SigninBlocked};
use crate::{accounts, audit, devices, enrolments, AppState};

/// What the relying-party side keeps in memory: the client for calls to relying parties
/// (webhooks, OpenID providers), the senders' wake-up, the providers' published keys.
pub struct Runtime {
    /// Trusts the web's roots plus `Config::rp_ca_pem`; never follows redirects.
    pub client: reqwest::Client,
    /// Wake the webhook sender and the CIBA callback sender ([`Runtime::wake`]).
    wake_webhooks: Arc<tokio::sync::Notify>,
    wake_callbacks: Arc<tokio::sync::Notify>,
    /// OpenID providers' keys, by issuer.
    pub provider_keys: ciba::ProviderKeys,
}

impl Runtime {
    /// The runtime with an extra trusted CA.
    ///
    /// # Errors
    /// A CA that does not parse.
    pub fn new(extra_ca_pem: Option<&[u8]>) -> Result<Self, ServerError> {
        Ok(Self {
            client: crate::push::http_client(extra_ca_pem).map_err(|e| {
                ServerError::of(
                    crate::error::ErrorKind::Config,
                    format!("the relying-party CA: {e}"),
                )
            })?,
            wake_webhooks: Arc::default(),
            wake_callbacks: Arc::default(),
            provider_keys: ciba::ProviderKeys::default(),
        })
    }
}

impl Runtime {
    /// Something may be due: an answer, a cancellation, a CIBA request.
    pub fn wake(&self) {
        self.wake_webhooks.notify_one();
        self.wake_callbacks.notify_one();
    }
}

/// Starts the senders, each every second or when woken: webhooks, and CIBA callbacks in a
/// task of their own (a slow webhook receiver must not make Keycloak's requests expire).
pub fn spawn_senders(state: &Arc<AppState>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        spawn_loop(
            Arc::downgrade(state),
            state.rp.wake_webhooks.clone(),
            "webhook",
            |s| Box::pin(async move { webhooks::deliver_due(&s, &s.rp.client).await }),
        ),
        spawn_loop(
            Arc::downgrade(state),
            state.rp.wake_callbacks.clone(),
            "CIBA callback",
            |s| Box::pin(async move { ciba::callback_due(&s).await }),
        ),
    ]
}

type Round =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, ServerError>> + Send>>;

fn spawn_loop(
    state: std::sync::Weak<AppState>,
    wake: Arc<tokio::sync::Notify>,
    what: &'static str,
    round: fn(Arc<AppState>) -> Round,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Some(strong) = state.upgrade() else {
                return;
            };
            let full = match round(strong.clone()).await {
                Ok(n) => n >= 32,
                Err(e) => {
                    tracing::warn!(error = %e, "{what} round failed");
                    false
                }
            };
            if full {
                continue;
            }
            drop(strong);
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
        }
    })
}

/// The application behind an API key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The application's id.
    pub app: String,
    /// Its name, shown in the app.
    pub name: String,
    /// The key's id (never the key).
    pub key: String,
    /// Its request budget per minute.
    pub requests_per_minute: i64,
}

/// An API key as given to the application: `lk1.<key id>.<secret>`.
pub struct KeyParts<'a> {
    /// The key's id (not secret).
    pub id: &'a str,
    /// The secret.
    pub secret: &'a str,
}

/// The parts of an API key, if it has the key format.
pub fn parse_key(text: &str) -> Option<KeyParts<'_>> {
    let rest = text.strip_prefix("lk1.")?;
    let (id, secret) = rest.split_once('.')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 43)
        .then_some(KeyParts { id, secret })
}

/// SHA-256 of a key's secret, as stored (the secret has 256 bits: no stretching needed).
pub(crate) fn key_hash(secret: &str) -> String {
    b64::encode(&Sha256::digest(secret.as_bytes()))
}

fn unauthorized() -> ServerError {
    ServerError::new(
        ErrorCode::Unauthorized,
        "this API key is unknown or revoked; ask the Latchkey operator for a key \
         (latchkey-server app add)",
    )
}

/// The application whose live key `bearer` is. Unknown and revoked keys cost the same hash and
/// comparison; the comparison is constant-time.
///
/// # Errors
/// `unauthorized`, or a storage failure.
pub async fn authenticate(state: &AppState, bearer: &str) -> Result<Caller, ServerError> {
    let parts = parse_key(bearer).ok_or_else(unauthorized)?;
    let row = sqlx::query(
        "SELECT k.key_hash, a.id, a.name, a.requests_per_minute FROM rp_keys k \
         JOIN rp_apps a ON a.id = k.app_id \
         WHERE k.id = $1 AND k.revoked_at IS NULL AND a.revoked_at IS NULL",
    )
    .bind(parts.id)
    .fetch_optional(&state.db)
    .await?;
    let presented = key_hash(parts.secret);
    let stored: String = match &row {
        Some(r) => r.try_get("key_hash")?,
        None => key_hash(""),
    };
    let matches: bool = presented.as_bytes().ct_eq(stored.as_bytes()).into();
    match row {
        Some(r) if matches => Ok(Caller {
            app: r.try_get("id")?,
            name: r.try_get("name")?,
            key: parts.id.to_owned(),
            requests_per_minute: r.try_get("requests_per_minute")?,
        }),
        _ => Err(unauthorized()),
    }
}

/// Counts a request against the application's budget (every node counts the same).
///
/// # Errors
/// `rate_limited` with the wait.
pub async fn count_request(state: &AppState, caller: &Caller) -> Result<(), ServerError> {
    crate::throttle::count(
        state,
        &format!("rp:{}", caller.app),
        caller.requests_per_minute,
        60,
    )
    .await
}

/// Records one call (never a secret: method, route, status, address).
pub async fn audit_call(
    state: &AppState,
    caller: &Caller,
    method: &str,
    route: &str,
    status: u16,
    ip: &str,
) {
    let result = sqlx::query(
        "INSERT INTO rp_audit (id, app_id, key_id, method, route, status, ip, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(random_id())
    .bind(&caller.app)
    .bind(&caller.key)
    .bind(method)
    .bind(route)
    .bind(i64::from(status))
    .bind(ip)
    .bind(state.clock.now_millis())
    .execute(&state.db)
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, app = %caller.app, route, "RP audit write failed");
    }
}

pub(crate) fn random_id() -> String {
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    b64::encode(&id)
}

fn not_found_user() -> ServerError {
    ServerError::new(
        ErrorCode::NotFound,
        "no such user for this application; create it first with PUT /rp/v1/users/{user}",
    )
}

/// A character that must not reach a device's screen or a mail: control characters, and the
/// zero-width and bidi-override characters that make "evil.com" display as "moc.live" (the
/// enrolment link's label rules).
pub(crate) fn unsafe_char(c: char) -> bool {
    c.is_control()
        || ('\u{200B}'..='\u{200F}').contains(&c)
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || c == '\u{FEFF}'
}

/// Checks an application's user id: 1 to 128 characters, none unsafe.
fn check_user_id(user: &str) -> Result<(), ServerError> {
    if user.is_empty() || user.chars().count() > 128 || user.chars().any(unsafe_char) {
        return Err(ServerError::bad_request(
            "a user id has 1 to 128 characters and no control, zero-width or bidi characters",
        ));
    }
    Ok(())
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), ServerError> {
    if text.chars().count() > max || text.chars().any(unsafe_char) {
        return Err(ServerError::bad_request(format!(
            "{what} has at most {max} characters and no control, zero-width or bidi characters"
        )));
    }
    Ok(())
}

fn check_address(address: &str) -> Result<(), ServerError> {
    let ok = address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && address
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if ok {
        Ok(())
    } else {
        Err(ServerError::bad_request(format!(
            "\"{}\" is not an e-mail address",
            address.chars().take(64).collect::<String>()
        )))
    }
}

/// An application's user.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// The application's id for the user.
    pub user: String,
    /// Shown in the app under the application's name.
    pub display_name: String,
    /// Where security notices and proof codes are mailed.
    pub addresses: Vec<String>,
    /// Devices that can approve now.
    pub usable_devices: usize,
    /// Whether the user ever finished adding a device (from then on adding or removing one
    /// needs a proof).
    pub had_device: bool,
    /// Unix seconds.
    pub created_at: i64,
    #[serde(skip)]
    pub(crate) account: AccountId,
}

/// The user `user` of the calling application.
///
/// # Errors
/// `not_found`, or a storage failure.
pub async fn user(state: &AppState, caller: &Caller, user: &str) -> Result<User, ServerError> {
    let row = sqlx::query(
        "SELECT account_id, display_name, created_at FROM rp_users \
         WHERE app_id = $1 AND user_id = $2",
    )
    .bind(&caller.app)
    .bind(user)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(not_found_user)?;
    let account_text: String = row.try_get("account_id")?;
    let account = AccountId::parse(&account_text)
        .ok_or_else(|| ServerError::internal("bad account id", &account_text))?;
    let usable_devices = devices::summaries(state, &account, &[states::ACTIVE])
        .await?
        .iter()
        .filter(|d| d.usable())
        .count();
    Ok(User {
        user: user.to_owned(),
        display_name: row.try_get("display_name")?,
        addresses: accounts::addresses(state, &account).await?,
        usable_devices,
        had_device: accounts::had_device(state, &account).await?,
        created_at: row.try_get("created_at")?,
        account,
    })
}

/// Creates the user `user` of the calling application, or updates its display name and
/// addresses. `true` when it was created. Changing the addresses of a user who had a device
/// is told to the old addresses (they are where proof codes go).
///
/// # Errors
/// `bad_request` for a bad id, name or address, or a storage failure.
pub async fn put_user(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    display_name: Option<&str>,
    addresses: Option<&[String]>,
) -> Result<(User, bool), ServerError> {
    check_user_id(user_id)?;
    if let Some(name) = display_name {
        check_text("a display name", name, 64)?;
        if name.trim().is_empty() {
            return Err(ServerError::bad_request("a display name cannot be empty"));
        }
    }
    if let Some(list) = addresses {
        if list.len() > 5 {
            return Err(ServerError::bad_request("at most 5 addresses per user"));
        }
        for a in list {
            check_address(a)?;
        }
    }
    let now = state.clock.now_i64();
    let created = match user(state, caller, user_id).await {
        Ok(_) => false,
        Err(e) if e.code() == ErrorCode::NotFound => {
            let account = AccountId::random(&mut OsRng);
            let mut tx = state.durable_db.begin().await?;
            // No password (the application signs its people in) and no address of its own:
            // web sign-in never finds this account.
            sqlx::query(
                "INSERT INTO accounts (id, email, password_hash, created_at, app_id) \
                 VALUES ($1, $2, '', $3, $4)",
            )
            .bind(account.to_string())
            .bind(format!("rp:{account}"))
            .bind(now)
            .bind(&caller.app)
            .execute(&mut *tx)
            .await?;
            let inserted = sqlx::query(
                "INSERT INTO rp_users (app_id, user_id, account_id, display_name, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id, user_id) DO NOTHING",
            )
            .bind(&caller.app)
            .bind(user_id)
            .bind(account.to_string())
            .bind(display_name.unwrap_or(user_id))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                tx.commit().await?;
                true
            } else {
                // Created by a concurrent call meanwhile: update that one.
                tx.rollback().await?;
                false
            }
        }
        Err(e) => return Err(e),
    };
    let mut current = user(state, caller, user_id).await?;
    if !created {
        if let Some(name) = display_name {
            sqlx::query("UPDATE rp_users SET display_name = $1 WHERE app_id = $2 AND user_id = $3")
                .bind(name)
                .bind(&caller.app)
                .bind(user_id)
                .execute(&state.db)
                .await?;
        }
    }
    if let Some(list) = addresses {
        let mut wanted: Vec<String> = list.iter().map(|a| a.trim().to_owned()).collect();
        wanted.sort();
        wanted.dedup();
        if wanted != current.addresses {
            let old = current.addresses.clone();
            // Once the user had a device, a new address receives no proof code for
            // ADDRESS_QUARANTINE_SECS (P7: an address changed with a phished password must not
            // become the way to a new device at once); addresses known before are trusted.
            let added_at = if current.had_device { now } else { 0 };
            let mut tx = state.db.begin().await?;
            for a in old.iter().filter(|a| !wanted.contains(a)) {
                sqlx::query("DELETE FROM addresses WHERE account_id = $1 AND address = $2")
                    .bind(current.account.to_string())
                    .bind(a)
                    .execute(&mut *tx)
                    .await?;
            }
            for a in wanted.iter().filter(|a| !old.contains(a)) {
                sqlx::query(
                    "INSERT INTO addresses (account_id, address, added_at) VALUES ($1, $2, $3)",
                )
                .bind(current.account.to_string())
                .bind(a)
                .bind(added_at)
                .execute(&mut *tx)
                .await?;
            }
            if !created {
                audit::record_in(
                    &mut tx,
                    state,
                    &current.account,
                    None,
                    "addresses_changed",
                    &format!("{} address(es)", wanted.len()),
                )
                .await?;
            }
            tx.commit().await?;
            if current.had_device {
                // Every address known before hears of any change, additions included.
                let body = format!(
                    "The addresses where {} sends your Latchkey security notices and codes \
                     changed. If you did not change them, contact {} now: a new address \
                     receives no codes for 7 days.",
                    caller.name, caller.name
                );
                for address in &old {
                    if let Err(e) = state
                        .mailer
                        .send(address, "Your security notices address changed", &body)
                        .await
                    {
                        tracing::error!(error = %e, "notice not delivered");
                    }
                }
            }
        }
    }
    current = user(state, caller, user_id).await?;
    Ok((current, created))
}

/// What proves, once a user had a device, that adding or removing one is wanted by the
/// person (P7): an approval on one of their devices, or a code mailed to them.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Proof {
    /// An authentication of this user approved on a device in the last `confirm_ttl`
    /// seconds, not yet spent as a proof.
    Transaction(String),
    /// The code mailed by `POST /rp/v1/users/{user}/codes`.
    Code(Zeroizing<String>),
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transaction(id) => f.debug_tuple("Transaction").field(id).finish(),
            Self::Code(_) => f.write_str("Code(…)"),
        }
    }
}

fn proof_needed() -> ServerError {
    ServerError::new(
        ErrorCode::BadCredentials,
        "this user already had a device: adding or removing one needs a proof — an \
         authentication approved on one of their devices (proof.transaction) or the code \
         mailed to them (POST /rp/v1/users/{user}/codes, then proof.code)",
    )
}

fn proof_refused() -> ServerError {
    ServerError::new(
        ErrorCode::BadCredentials,
        "the proof was refused: the transaction is not an approved authentication of this user \
         from the last 10 minutes (or was spent already), or the code is wrong or expired",
    )
}

/// Spends a proof for `user` (single use).
async fn spend_proof(
    state: &AppState,
    caller: &Caller,
    user: &User,
    proof: Option<&Proof>,
) -> Result<(), ServerError> {
    if !user.had_device {
        return Ok(());
    }
    let now = state.clock.now_i64();
    match proof {
        None => Err(proof_needed()),
        Some(Proof::Transaction(id)) => {
            let ttl = i64::try_from(state.config.policy.confirm_ttl).unwrap_or(600);
            let spent = sqlx::query(
                "UPDATE rp_transactions SET proof_used = 1 \
                 WHERE id = $1 AND app_id = $2 AND user_id = $3 AND proof_used = 0 \
                 AND login_id IN (SELECT id FROM logins WHERE state = $4 AND answered_at > $5)",
            )
            .bind(id)
            .bind(&caller.app)
            .bind(&user.user)
            .bind(login_states::APPROVED)
            .bind(now - ttl)
            .execute(&state.durable_db)
            .await?;
            if spent.rows_affected() == 1 {
                Ok(())
            } else {
                Err(proof_refused())
            }
        }
        Some(Proof::Code(code)) => {
            // Counted before it is compared: at most 3 tries per mailed code.
            let row = sqlx::query(
                "UPDATE rp_codes SET attempts = attempts + 1 \
                 WHERE app_id = $1 AND user_id = $2 AND expires_at > $3 AND attempts < 3 \
                 RETURNING code_hash",
            )
            .bind(&caller.app)
            .bind(&user.user)
            .bind(now)
            .fetch_optional(&state.durable_db)
            .await?;
            let Some(row) = row else {
                return Err(proof_refused());
            };
            let stored: String = row.try_get("code_hash")?;
            let presented = crate::codes::code_hash(code.trim().as_bytes());
            if !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
                return Err(proof_refused());
            }
            // Spent once: of parallel requests with the right code, one deletes it.
            let spent = sqlx::query(
                "DELETE FROM rp_codes WHERE app_id = $1 AND user_id = $2 AND code_hash = $3",
            )
            .bind(&caller.app)
            .bind(&user.user)
            .bind(&stored)
            .execute(&state.durable_db)
            .await?;
            if spent.rows_affected() == 1 {
                Ok(())
            } else {
                Err(proof_refused())
            }
        }
    }
}

/// Where a proof code went.
#[derive(Debug, Serialize)]
pub struct CodeSent {
    /// The addresses, masked ("a•••@example.org").
    pub sent_to: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// How long an address added after the user's first device receives no proof code.
pub const ADDRESS_QUARANTINE_SECS: i64 = 7 * 86_400;

/// Mails a one-time proof code to every trusted address of `user` (rate-limited per user):
/// addresses known before the first device, or for [`ADDRESS_QUARANTINE_SECS`].
///
/// # Errors
/// `not_found` (user), `bad_request` when the user has no address, `rate_limited`.
pub async fn send_code(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
) -> Result<CodeSent, ServerError> {
    let user = user(state, caller, user_id).await?;
    if user.addresses.is_empty() {
        return Err(ServerError::bad_request(
            "this user has no address to mail a code to; add one with PUT /rp/v1/users/{user}",
        ));
    }
    let trusted: Vec<String> = sqlx::query_scalar(
        "SELECT address FROM addresses WHERE account_id = $1 AND added_at <= $2 ORDER BY address",
    )
    .bind(user.account.to_string())
    .bind(state.clock.now_i64() - ADDRESS_QUARANTINE_SECS)
    .fetch_all(&state.db)
    .await?;
    if trusted.is_empty() {
        return Err(ServerError::bad_request(
            "this user's addresses were all added in the last 7 days: they receive no codes yet; \
             prove it with an approval on one of the user's devices instead",
        ));
    }
    crate::throttle::count(
        state,
        &format!("rp-code:{}", user.account),
        state.config.policy.mailed_codes_per_hour,
        3600,
    )
    .await?;
    let code = Zeroizing::new(crate::codes::random_code(8));
    let expires_at = state.clock.now_i64() + 600;
    sqlx::query(
        "INSERT INTO rp_codes (app_id, user_id, code_hash, expires_at, attempts) \
         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (app_id, user_id) DO UPDATE SET \
         code_hash = $3, expires_at = $4, attempts = 0",
    )
    .bind(&caller.app)
    .bind(user_id)
    .bind(crate::codes::code_hash(code.as_bytes()))
    .bind(expires_at)
    .execute(&state.durable_db)
    .await?;
    let body = Zeroizing::new(format!(
        "Your code to change the Latchkey devices of your {} account: {}\n\nIt is valid for 10 \
         minutes. If you did not ask for it, do not give it to anyone.",
        caller.name,
        code.as_str()
    ));
    for address in &trusted {
        if let Err(e) = state
            .mailer
            .send(address, &format!("Your {} code", caller.name), &body)
            .await
        {
            tracing::error!(error = %e, "code not delivered");
        }
    }
    audit::record(state, &user.account, None, "code_mailed", "").await;
    Ok(CodeSent {
        sent_to: trusted.iter().map(|a| accounts::mask_address(a)).collect(),
        expires_at,
    })
}

/// An enrolment started for a user.
#[derive(Debug, Serialize)]
pub struct Enrolment {
    /// The enrolment's id (the device's id).
    pub enrolment: String,
    /// The enrolment link (the QR code's text; opens the app). Single use, secret until used.
    pub link: String,
    /// The QR code as SVG.
    pub qr_svg: String,
    /// `web` when the PIN was posted here, `app` when the person chooses it in the app.
    pub pin_source: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Starts adding a device for `user_id`: the link and QR code the application shows. With
/// `pin`, the PIN was chosen on the application's page (kept only as its check value).
///
/// # Errors
/// `not_found`, `bad_request` (name, PIN policy), `unauthorized` (proof needed or refused).
pub async fn start_enrolment(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    device_name: &str,
    pin: Option<&Pin>,
    proof: Option<&Proof>,
) -> Result<Enrolment, ServerError> {
    let user = user(state, caller, user_id).await?;
    let name = device_name.trim();
    if name.is_empty() || name.chars().count() > 40 || name.chars().any(unsafe_char) {
        return Err(ServerError::bad_request(
            "give the device a name of 1 to 40 characters",
        ));
    }
    if let Some(pin) = pin {
        PinPolicy {
            digits: state.config.policy.pin_digits,
        }
        .check(pin)
        .map_err(|refusal| ServerError::new(ErrorCode::PinPolicy, refusal.to_string()))?;
    }
    spend_proof(state, caller, &user, proof).await?;
    let device = enrolments::create(state, &user.account, name, pin, !user.had_device).await?;
    let summary = devices::summary(state, &user.account, &device.to_string())
        .await?
        .ok_or_else(|| ServerError::internal("enrolment vanished", device))?;
    let link = enrolment_link(state, &device.to_string(), summary.sealed_link.as_deref())?;
    audit::record(
        state,
        &user.account,
        Some(&device),
        "enrolment_created",
        name,
    )
    .await;
    Ok(Enrolment {
        enrolment: device.to_string(),
        qr_svg: crate::http::web::devices::qr_svg(&link)
            .map_err(|_| ServerError::internal("QR code", "svg"))?,
        link: link.to_string(),
        pin_source: summary.pin_source,
        expires_at: summary.code_expires_at,
    })
}

fn enrolment_link(
    state: &AppState,
    device: &str,
    sealed: Option<&str>,
) -> Result<Zeroizing<String>, ServerError> {
    let sealed = sealed.ok_or_else(|| {
        ServerError::new(
            ErrorCode::Expired,
            "this enrolment's code was used or expired; start a new enrolment",
        )
    })?;
    let bytes = state
        .keys
        .open("enrol-link", device, sealed)
        .ok_or_else(|| ServerError::internal("enrolment link does not open", device))?;
    String::from_utf8(bytes.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| ServerError::internal("enrolment link", device))
}

/// An enrolment's progress.
#[derive(Debug, Serialize)]
pub struct EnrolmentStatus {
    /// The enrolment's id.
    pub enrolment: String,
    /// `waiting` (not scanned), `scanned` (the app is finishing), `done`, `expired` or
    /// `cancelled`.
    pub state: &'static str,
    /// Unix seconds (the code's expiry).
    pub expires_at: i64,
}

fn enrolment_state(summary: &devices::Summary, now: i64) -> &'static str {
    match summary.state.as_str() {
        states::ACTIVE => "done",
        states::PENDING if now < summary.code_expires_at => "waiting",
        states::ENROLLING if now < summary.code_expires_at => "scanned",
        states::PENDING | states::ENROLLING | "expired" => "expired",
        _ => "cancelled",
    }
}

/// The enrolment `id` of `user_id`, waiting up to `wait` for it to change from `since`.
///
/// # Errors
/// `not_found`, or a storage failure.
pub async fn enrolment_status(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    id: &str,
    wait: Duration,
) -> Result<EnrolmentStatus, ServerError> {
    let user = user(state, caller, user_id).await?;
    let read = || async {
        let summary = devices::summary(state, &user.account, id)
            .await?
            .ok_or_else(|| ServerError::new(ErrorCode::NotFound, "no such enrolment"))?;
        Ok::<_, ServerError>(EnrolmentStatus {
            enrolment: id.to_owned(),
            state: enrolment_state(&summary, state.clock.now_i64()),
            expires_at: summary.code_expires_at,
        })
    };
    let first = read().await?;
    if wait.is_zero() || matches!(first.state, "done" | "expired" | "cancelled") {
        return Ok(first);
    }
    let initial = first.state;
    // Until just after the code expires (expiry has no event).
    let until = Duration::from_secs(
        u64::try_from(first.expires_at - state.clock.now_i64() + 1).unwrap_or(1),
    );
    let outcome = state
        .signals
        .wait_for(
            &crate::events::enrolment_key(id),
            wait.min(until),
            || async {
                match read().await {
                    Ok(s) if s.state == initial => None,
                    other => Some(other),
                }
            },
        )
        .await;
    match outcome {
        Some(result) => result,
        None => read().await,
    }
}

/// The QR code of a waiting enrolment, as PNG.
///
/// # Errors
/// `not_found`, `expired` once scanned or expired.
pub async fn enrolment_png(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    id: &str,
) -> Result<Vec<u8>, ServerError> {
    let user = user(state, caller, user_id).await?;
    let summary = devices::summary(state, &user.account, id)
        .await?
        .ok_or_else(|| ServerError::new(ErrorCode::NotFound, "no such enrolment"))?;
    if enrolment_state(&summary, state.clock.now_i64()) != "waiting" {
        return Err(ServerError::new(
            ErrorCode::Expired,
            "this enrolment's code was used or expired; start a new enrolment",
        ));
    }
    let link = enrolment_link(state, id, summary.sealed_link.as_deref())?;
    qr_png(&link)
}

/// A QR code as a greyscale PNG: 8 pixels per module and a 4-module quiet zone.
fn qr_png(text: &str) -> Result<Vec<u8>, ServerError> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ServerError::internal("QR code", e))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let side = u32::try_from(side).map_err(|e| ServerError::internal("QR size", e))?;
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| ServerError::internal("PNG", e))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| ServerError::internal("PNG", e))?;
    }
    Ok(out)
}

/// What a relying party asks to show with an authentication.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthContext {
    /// The service signed in to (default: the application's name).
    #[serde(default)]
    pub service: Option<String>,
    /// The browser and OS asking.
    #[serde(default)]
    pub browser: Option<String>,
    /// The address asking.
    #[serde(default)]
    pub ip: Option<String>,
    /// A coarse place ("Brussels, BE").
    #[serde(default)]
    pub place: Option<String>,
}

/// An authentication request.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartAuth {
    /// The application's user id.
    pub user: String,
    /// What the device shows.
    #[serde(default)]
    pub context: AuthContext,
    /// The number the person types, chosen by the application (it must have the server's
    /// number of digits); default: chosen by the server.
    #[serde(default)]
    pub code: Option<String>,
}

/// A started authentication.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    /// The transaction's id.
    pub transaction: String,
    /// `pending`, or `no_device` when the user has no device that can approve.
    pub state: &'static str,
    /// The number to display for the person to type on the device (absent with `no_device`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

fn idempotency_conflict() -> ServerError {
    ServerError::new(
        ErrorCode::AlreadyAnswered,
        "this Idempotency-Key was used with a different request; use a new key for a new \
         authentication",
    )
}

/// Starts an authentication: a push to every device of the user that can approve. The same
/// `Idempotency-Key` with the same request gives the same transaction (and pushes once).
///
/// # Errors
/// `not_found` (user), `bad_request`, `rate_limited` (muted after "this wasn't me", too many
/// pending), `already_answered` (key reused with another request).
pub async fn start(
    state: &AppState,
    caller: &Caller,
    request: &StartAuth,
    idempotency_key: Option<&str>,
) -> Result<Started, ServerError> {
    let context = &request.context;
    check_user_id(&request.user)?;
    for (what, value, max) in [
        ("service", &context.service, 64),
        ("browser", &context.browser, 120),
        ("ip", &context.ip, 64),
        ("place", &context.place, 64),
    ] {
        if let Some(v) = value {
            check_text(what, v, max)?;
        }
    }
    let digits = usize::from(state.config.policy.code_digits);
    if let Some(code) = &request.code {
        if code.len() != digits || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ServerError::bad_request(format!(
                "the code must have exactly {digits} digits (this server's number length)"
            )));
        }
    }
    if let Some(key) = idempotency_key {
        if key.is_empty() || key.len() > 255 || key.chars().any(char::is_control) {
            return Err(ServerError::bad_request(
                "an Idempotency-Key has 1 to 255 characters",
            ));
        }
    }
    let user = user(state, caller, &request.user).await?;
    let request_hash = b64::encode(&Sha256::digest(
        serde_json::to_vec(request).map_err(|e| ServerError::internal("request", e))?,
    ));
    let now = state.clock.now_i64();
    let ttl = i64::try_from(state.config.policy.challenge_ttl).unwrap_or(120);
    let id = ChallengeId::random(&mut OsRng).to_string();
    // Reserve the key first: of two concurrent starts with one key, one pushes.
    let reserved = sqlx::query(
        "INSERT INTO rp_transactions (id, app_id, user_id, login_id, idempotency_key, \
         request_hash, created_at, expires_at) VALUES ($1, $2, $3, '', $4, $5, $6, $7) \
         ON CONFLICT (app_id, idempotency_key) DO NOTHING",
    )
    .bind(&id)
    .bind(&caller.app)
    .bind(&request.user)
    .bind(idempotency_key)
    .bind(&request_hash)
    .bind(now)
    .bind(now + ttl)
    .execute(&state.db)
    .await?;
    if reserved.rows_affected() != 1 {
        let key = idempotency_key.unwrap_or_default();
        return replay_start(state, caller, key, &request_hash).await;
    }
    let service = context
        .service
        .clone()
        .unwrap_or_else(|| caller.name.clone());
    let created = signins::create_signin_with(
        state,
        &user.account,
        &signins::Context {
            browser: context.browser.as_deref().unwrap_or(""),
            ip: context.ip.as_deref().unwrap_or(""),
            service: Some(&service),
            location: context.place.as_deref(),
            code: request.code.as_deref(),
        },
    )
    .await;
    let login = match created {
        Ok(signin) => Some(signin.login_id),
        Err(SigninBlocked::NoDevice) => None,
        Err(blocked) => {
            // Nothing was pushed: the key may be used again.
            sqlx::query("DELETE FROM rp_transactions WHERE id = $1")
                .bind(&id)
                .execute(&state.db)
                .await?;
            return Err(blocked.into_error());
        }
    };
    let mut expires_at = now + ttl;
    if let Some(login) = &login {
        expires_at = sqlx::query_scalar::<_, i64>("SELECT expires_at FROM logins WHERE id = $1")
            .bind(login)
            .fetch_one(&state.db)
            .await?;
    }
    sqlx::query("UPDATE rp_transactions SET login_id = $1, expires_at = $2 WHERE id = $3")
        .bind(login.as_deref())
        .bind(expires_at)
        .bind(&id)
        .execute(&state.db)
        .await?;
    let code = match &login {
        Some(login) => Some(signins::code(state, login).await?),
        None => None,
    };
    Ok(Started {
        transaction: id,
        state: if login.is_some() {
            "pending"
        } else {
            "no_device"
        },
        code,
        expires_at,
    })
}

/// The transaction an earlier start with this key made (waiting briefly while it is still
/// being made).
async fn replay_start(
    state: &AppState,
    caller: &Caller,
    key: &str,
    request_hash: &str,
) -> Result<Started, ServerError> {
    for _ in 0..50 {
        let row = sqlx::query(
            "SELECT t.id, t.request_hash, t.login_id, t.expires_at, l.code FROM rp_transactions t \
             LEFT JOIN logins l ON l.id = t.login_id \
             WHERE t.app_id = $1 AND t.idempotency_key = $2",
        )
        .bind(&caller.app)
        .bind(key)
        .fetch_optional(&state.db)
        .await?;
        let Some(row) = row else {
            // The first start failed and gave the key back: this one may try.
            return Err(ServerError::new(
                ErrorCode::Replayed,
                "an earlier start with this Idempotency-Key failed; send it again",
            ));
        };
        let stored: String = row.try_get("request_hash")?;
        if !bool::from(stored.as_bytes().ct_eq(request_hash.as_bytes())) {
            return Err(idempotency_conflict());
        }
        let login: Option<String> = row.try_get("login_id")?;
        if login.as_deref() == Some("") {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        return Ok(Started {
            transaction: row.try_get("id")?,
            state: if login.is_some() {
                "pending"
            } else {
                "no_device"
            },
            code: row.try_get("code")?,
            expires_at: row.try_get("expires_at")?,
        });
    }
    Err(ServerError::of(
        crate::error::ErrorKind::Unavailable,
        "the first start with this Idempotency-Key is still under way; try again in a moment",
    ))
}

/// An authentication's state.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The transaction's id.
    pub transaction: String,
    /// The user.
    pub user: String,
    /// `pending`, `approved`, `denied`, `reported`, `expired`, `locked`, `no_device` or
    /// `cancelled`.
    pub state: &'static str,
    /// Why it was denied: `wrong_number` when the number typed was not the one shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The device that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Unix seconds, when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
    /// Unix seconds.
    pub expires_at: i64,
}

struct Transaction {
    user: String,
    login: Option<String>,
    expires_at: i64,
}

async fn transaction(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Transaction, ServerError> {
    let row = sqlx::query(
        "SELECT user_id, login_id, expires_at FROM rp_transactions WHERE id = $1 AND app_id = $2",
    )
    .bind(id)
    .bind(&caller.app)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| ServerError::new(ErrorCode::NotFound, "no such transaction"))?;
    Ok(Transaction {
        user: row.try_get("user_id")?,
        login: row.try_get("login_id")?,
        expires_at: row.try_get("expires_at")?,
    })
}

async fn read_status(state: &AppState, caller: &Caller, id: &str) -> Result<Status, ServerError> {
    let t = transaction(state, caller, id).await?;
    let mut status = Status {
        transaction: id.to_owned(),
        user: t.user.clone(),
        state: "no_device",
        reason: None,
        device: None,
        answered_at: None,
        expires_at: t.expires_at,
    };
    let login = match t.login.as_deref() {
        None => return Ok(status),
        Some("") => {
            status.state = "pending";
            return Ok(status);
        }
        Some(login) => login,
    };
    let row = sqlx::query(
        "SELECT account_id, state, answered_by, answered_at, expires_at FROM logins WHERE id = $1",
    )
    .bind(login)
    .fetch_one(&state.db)
    .await?;
    let login_state: String = row.try_get("state")?;
    status.expires_at = row.try_get("expires_at")?;
    status.device = row.try_get("answered_by")?;
    let answered_at: i64 = row.try_get("answered_at")?;
    status.answered_at = (answered_at > 0).then_some(answered_at);
    status.state = match login_state.as_str() {
        login_states::APPROVED | login_states::USED => "approved",
        login_states::DENIED => "denied",
        login_states::MISMATCH => {
            status.reason = Some("wrong_number");
            "denied"
        }
        login_states::REPORTED => "reported",
        login_states::CANCELLED => "cancelled",
        _ if state.clock.now_i64() >= status.expires_at => "expired",
        _ => {
            let account: String = row.try_get("account_id")?;
            let account = AccountId::parse(&account)
                .ok_or_else(|| ServerError::internal("bad account id", &account))?;
            match signins::login_view(state, &account, login)
                .await?
                .map(|v| v.progress)
            {
                Some(Progress::Locked) => "locked",
                Some(Progress::Removed) => "no_device",
                _ => "pending",
            }
        }
    };
    Ok(status)
}

/// The state of transaction `id`; while it is `pending`, waits up to `wait` for it to change.
///
/// # Errors
/// `not_found`, or a storage failure.
pub async fn status(
    state: &AppState,
    caller: &Caller,
    id: &str,
    wait: Duration,
) -> Result<Status, ServerError> {
    let first = read_status(state, caller, id).await?;
    if wait.is_zero() || first.state != "pending" {
        return Ok(first);
    }
    let Some(login) = transaction(state, caller, id).await?.login else {
        return Ok(first);
    };
    // Until just after it expires (expiry has no event).
    let until = Duration::from_secs(
        u64::try_from(first.expires_at - state.clock.now_i64() + 1).unwrap_or(1),
    );
    let outcome = state
        .signals
        .wait_for(
            &crate::events::signin_key(&login),
            wait.min(until),
            || async {
                match read_status(state, caller, id).await {
                    Ok(s) if s.state == "pending" => None,
                    other => Some(other),
                }
            },
        )
        .await;
    match outcome {
        Some(result) => result,
        None => read_status(state, caller, id).await,
    }
}

/// Cancels a pending authentication: its requests are refused on every device.
///
/// # Errors
/// `not_found`, or a storage failure.
pub async fn cancel(state: &AppState, caller: &Caller, id: &str) -> Result<Status, ServerError> {
    let t = transaction(state, caller, id).await?;
    if let Some(login) = t.login.as_deref().filter(|l| !l.is_empty()) {
        let user = user(state, caller, &t.user).await?;
        signins::cancel_login(state, &user.account, login).await?;
        state.rp.wake();
    }
    read_status(state, caller, id).await
}

/// A device as an application sees it.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    /// Its id.
    pub device: String,
    /// The name given when it was added.
    pub name: String,
    /// What the app reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `active`, `locked` (too many wrong PINs), or `enrolling`.
    pub state: &'static str,
    /// `software`, `hardware` or `secure_element` key storage: as the app reported it, or
    /// as verified (`attestation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assurance: Option<String>,
    /// What verified the assurance (`android:tee`, `android:strongbox`, `ios:app-attest`); absent when it is
    /// only what the app reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
}

/// The devices of `user_id` (enrolled and being enrolled).
///
/// # Errors
/// `not_found`, or a storage failure.
pub async fn list_devices(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
) -> Result<Vec<DeviceView>, ServerError> {
    let user = user(state, caller, user_id).await?;
    let now = state.clock.now_i64();
    Ok(devices::summaries(
        state,
        &user.account,
        &[states::ACTIVE, states::ENROLLING, states::PENDING],
    )
    .await?
    .into_iter()
    .filter(|d| d.state == states::ACTIVE || now < d.code_expires_at)
    .map(|d| DeviceView {
        state: if d.state != states::ACTIVE {
            "enrolling"
        } else if d.attempts.locked() {
            "locked"
        } else {
            "active"
        },
        device: d.id,
        name: d.name,
        model: d.model,
        assurance: d.assurance,
        attestation: d.attestation,
        created_at: d.created_at,
        last_used_at: d.last_used_at,
    })
    .collect())
}

/// Removes a device of `user_id` (P7: with a proof once the user had a device; every address
/// is told).
///
/// # Errors
/// `not_found` (user or device), `unauthorized` (proof).
pub async fn remove_device(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    device: &str,
    proof: Option<&Proof>,
) -> Result<(), ServerError> {
    let user = user(state, caller, user_id).await?;
    if devices::summary(state, &user.account, device)
        .await?
        .is_none_or(|d| d.state == states::REMOVED)
    {
        return Err(ServerError::new(ErrorCode::NotFound, "no such device"));
    }
    spend_proof(state, caller, &user, proof).await?;
    let how = format!("removed through {}", caller.name);
    if devices::remove_device(state, &user.account, device, &how).await? {
        Ok(())
    } else {
        Err(ServerError::new(ErrorCode::NotFound, "no such device"))
    }
}

/// An event of an application's user (the feed, and a webhook's body).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventView {
    /// Unique; a webhook retried keeps it.
    pub id: String,
    /// `authentication.approved`, `authentication.denied`, `authentication.reported`,
    /// `security.<event>` (device_added, device_enrolled, device_removed, device_locked, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The application's user.
    pub user: String,
    /// The transaction, for `authentication.*`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transaction: Option<String>,
    /// The device concerned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device: Option<String>,
    /// A short description (never a secret).
    pub detail: String,
    /// Unix milliseconds.
    pub created_ms: i64,
}

fn event_from_row(r: &sqlx::any::AnyRow) -> Result<EventView, sqlx::Error> {
    Ok(EventView {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        user: r.try_get("user_id")?,
        transaction: r.try_get("transaction_id")?,
        device: r.try_get("device_id")?,
        detail: r.try_get("detail")?,
        created_ms: r.try_get("created_ms")?,
    })
}

pub(crate) const EVENT_COLUMNS: &str =
    "id, kind, user_id, transaction_id, device_id, detail, created_ms";

/// The application's events from `since_ms` on (inclusive: a client keeps the ids it saw at
/// the boundary), oldest first, at most `limit`; only `user`'s when given.
///
/// # Errors
/// A storage failure.
pub async fn events(
    state: &AppState,
    caller: &Caller,
    since_ms: i64,
    user: Option<&str>,
    limit: i64,
) -> Result<Vec<EventView>, ServerError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM rp_events WHERE app_id = $1 AND created_ms >= $2 \
         AND ($3 = '' OR user_id = $3) ORDER BY created_ms, id LIMIT $4"
    ))
    .bind(&caller.app)
    .bind(since_ms)
    .bind(user.unwrap_or(""))
    .bind(limit.clamp(1, 500))
    .fetch_all(&state.db)
    .await?;
    Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
}

/// Records a security event of an application's user for its feed and webhook, in the
/// caller's transaction (nothing for other accounts).
pub(crate) async fn security_event_in(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    account: &AccountId,
    device: Option<&DeviceId>,
    event: &str,
    detail: &str,
) -> Result<(), ServerError> {
    let now = state.clock.now_millis();
    sqlx::query(
        "INSERT INTO rp_events (id, app_id, user_id, kind, transaction_id, device_id, detail, \
         created_ms, state, next_ms) \
         SELECT $1, u.app_id, u.user_id, $2, NULL, $3, $4, $5, \
         CASE WHEN a.webhook_url IS NULL THEN 'none' ELSE 'pending' END, $5 \
         FROM rp_users u JOIN rp_apps a ON a.id = u.app_id WHERE u.account_id = $6",
    )
    .bind(random_id())
    .bind(format!("security.{event}"))
    .bind(device.map(ToString::to_string))
    .bind(detail)
    .bind(now)
    .bind(account.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the outcome of a relying party's authentication (nothing for other sign-ins), in
/// the transaction that answers it.
pub(crate) async fn outcome_in(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    login: &str,
    login_state: &str,
) -> Result<(), ServerError> {
    let (kind, detail) = match login_state {
        login_states::APPROVED => ("authentication.approved", ""),
        login_states::MISMATCH => ("authentication.denied", "wrong_number"),
        login_states::REPORTED => ("authentication.reported", ""),
        _ => ("authentication.denied", ""),
    };
    let now = state.clock.now_millis();
    sqlx::query(
        "INSERT INTO rp_events (id, app_id, user_id, kind, transaction_id, device_id, detail, \
         created_ms, state, next_ms) \
         SELECT $1, t.app_id, t.user_id, $2, t.id, l.answered_by, $3, $4, \
         CASE WHEN a.webhook_url IS NULL THEN 'none' ELSE 'pending' END, $4 \
         FROM rp_transactions t JOIN rp_apps a ON a.id = t.app_id \
         JOIN logins l ON l.id = t.login_id WHERE t.login_id = $5",
    )
    .bind(random_id())
    .bind(kind)
    .bind(detail)
    .bind(now)
    .bind(login)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes what has served its time: transactions and idempotency keys after a day, events
/// and call records after 30 days, expired proof codes.
///
/// # Errors
/// A storage failure.
pub async fn sweep(state: &AppState) -> Result<(), ServerError> {
    let now = state.clock.now_i64();
    sqlx::query("DELETE FROM rp_transactions WHERE created_at < $1")
        .bind(now - 86_400)
        .execute(&state.db)
        .await?;
    let month_ms = (now - 30 * 86_400) * 1000;
    sqlx::query("DELETE FROM rp_events WHERE created_ms < $1 AND state <> 'pending'")
        .bind(month_ms)
        .execute(&state.db)
        .await?;
    crate::db::delete_older(&state.db, "rp_audit", "at_ms", month_ms).await?;
    sqlx::query("DELETE FROM rp_codes WHERE expires_at <= $1")
        .bind(now)
        .execute(&state.db)
        .await?;
    sqlx::query("DELETE FROM rp_ciba WHERE expires_at < $1 AND state <> 'pending'")
        .bind(now - 86_400)
        .execute(&state.db)
        .await?;
    // A start that crashed between its push and its record: the key may be used again.
    sqlx::query("DELETE FROM rp_transactions WHERE login_id = '' AND created_at < $1")
        .bind(now - 300)
        .execute(&state.db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_only_in_their_format() {
        let secret = "a".repeat(43);
        let key = format!("lk1.0123456789abcdef.{secret}");
        let parts = parse_key(&key).expect("parses");
        assert_eq!(parts.id, "0123456789abcdef");
        assert_eq!(parts.secret, secret);
        for bad in [
            String::new(),
            format!("lk2.0123456789abcdef.{secret}"),
            format!("lk1.0123456789abcdeg.{secret}"),
            format!("lk1.0123456789abcde.{secret}"),
            format!("lk1.0123456789abcdef.{secret}a"),
            "lk1.0123456789abcdef".into(),
        ] {
            assert!(parse_key(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn proof_debug_hides_the_code() {
        let proof = Proof::Code(Zeroizing::new("73914420".into()));
        assert!(!format!("{proof:?}").contains("7391"));
    }

    #[test]
    fn qr_png_is_a_png_that_decodes_to_the_text() {
        let text = "https://login.example.org/enrol#c=abc";
        let png = qr_png(text).expect("png");
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .expect("PNG header");
        let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut pixels).expect("PNG data");
        let (w, h) = (info.width as usize, info.height as usize);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().expect("decodes").1, text);
    }
}
