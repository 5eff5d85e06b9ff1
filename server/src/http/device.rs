//! What every device endpoint shares: loading a device, checking a signed envelope (version,
//! clock skew, signature, replay), the counted OPRF evaluation (P2), throttling, the audit
//! trail and account notices.

use latchkey_protocol::oprf;
use latchkey_protocol::secret::OprfKey;
use latchkey_protocol::types::{AccountId, DeviceId, Element, PublicKey};
use latchkey_protocol::wire::{
    DeviceRequest, ErrorCode, PinSource, RequestBody, MAX_CLOCK_SKEW_SECS,
};
use latchkey_protocol::{b64, PROTOCOL_VERSION};
use rand_core::{OsRng, RngCore as _};
use sqlx::Row as _;

use super::error::ApiError;
use crate::events::Event;
use crate::AppState;

/// Device states.
pub(crate) mod states {
    /// Created on the web page; the enrolment code is unused.
    pub const PENDING: &str = "pending";
    /// The code was redeemed; waiting for `enrol/finish`.
    pub const ENROLLING: &str = "enrolling";
    /// Enrolled.
    pub const ACTIVE: &str = "active";
    /// Removed (kept for the audit trail; keys wiped).
    pub const REMOVED: &str = "removed";
}

/// A device row.
pub(crate) struct Device {
    pub id: DeviceId,
    pub account: AccountId,
    pub name: String,
    pub state: String,
    pub pin_source: PinSource,
    pub device_key: Option<PublicKey>,
    pub oprf_key: String,
    pub approval_key: Option<PublicKey>,
    pub epoch: u32,
    pub code_expires_at: i64,
    pub pin_check: Option<String>,
    /// Added on the password alone, as the account's first device (P7).
    pub bootstrap: bool,
}

const DEVICE_COLUMNS: &str = "id, account_id, name, state, pin_source, device_key, oprf_key, \
    approval_key, epoch, code_expires_at, pin_check, bootstrap";

fn parse_key(text: Option<String>) -> Option<PublicKey> {
    text.and_then(|t| b64::decode(&t))
        .and_then(|b| PublicKey::from_sec1(&b))
}

pub(crate) fn key_text(key: &PublicKey) -> String {
    b64::encode(&key.to_sec1())
}

fn device_from_row(row: &sqlx::any::AnyRow) -> Result<Device, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let account: String = row.try_get("account_id")?;
    let bad = |what: &str| sqlx::Error::Decode(format!("bad {what} in devices").into());
    Ok(Device {
        id: DeviceId::parse(&id).ok_or_else(|| bad("id"))?,
        account: AccountId::parse(&account).ok_or_else(|| bad("account_id"))?,
        name: row.try_get("name")?,
        state: row.try_get("state")?,
        pin_source: if row.try_get::<String, _>("pin_source")? == "app" {
            PinSource::App
        } else {
            PinSource::Web
        },
        device_key: parse_key(row.try_get("device_key")?),
        oprf_key: row.try_get("oprf_key")?,
        approval_key: parse_key(row.try_get("approval_key")?),
        epoch: u32::try_from(row.try_get::<i64, _>("epoch")?).map_err(|_| bad("epoch"))?,
        code_expires_at: row.try_get("code_expires_at")?,
        pin_check: row.try_get("pin_check")?,
        bootstrap: row.try_get::<i64, _>("bootstrap")? != 0,
    })
}

/// Loads a device by id.
pub(crate) async fn load(state: &AppState, id: &DeviceId) -> Result<Option<Device>, ApiError> {
    let row = sqlx::query(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(&state.db)
    .await?;
    Ok(row.as_ref().map(device_from_row).transpose()?)
}

/// Loads the device with this enrolment code hash.
pub(crate) async fn load_by_code(
    state: &AppState,
    code_hash: &str,
) -> Result<Option<Device>, ApiError> {
    let row = sqlx::query(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE code_hash = $1"
    ))
    .bind(code_hash)
    .fetch_optional(&state.db)
    .await?;
    Ok(row.as_ref().map(device_from_row).transpose()?)
}

/// Checks a signed envelope: version, clock skew, device state, signature, then replay.
///
/// # Errors
/// `unsupported_version`, `replayed`, `unauthorized`.
pub(crate) async fn authenticate<B: RequestBody>(
    state: &AppState,
    request: &DeviceRequest<B>,
    allowed_states: &[&str],
) -> Result<Device, ApiError> {
    let (device, claim) = verify(state, request, allowed_states).await?;
    claim.record(state, &state.db).await?;
    Ok(device)
}

/// A verified request's id, to be recorded (replay protection) inside the handler's own
/// transaction: one commit per request instead of two.
#[must_use = "a verified request must record its request id"]
pub(crate) struct RequestClaim {
    device: String,
    request_id: String,
}

impl RequestClaim {
    /// Records the request id; run it first in the handler's transaction, so a replay is
    /// refused as `replayed` before anything else is read or written.
    ///
    /// # Errors
    /// `replayed` when the id was seen before.
    pub(crate) async fn record<'c, E>(self, state: &AppState, db: E) -> Result<(), ApiError>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        let inserted = sqlx::query(
            "INSERT INTO request_ids (device_id, request_id, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (device_id, request_id) DO NOTHING",
        )
        .bind(self.device)
        .bind(self.request_id)
        .bind(state.clock.now_i64())
        .execute(db)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(ApiError::new(
                ErrorCode::Replayed,
                "this request was already received",
            ));
        }
        Ok(())
    }
}

/// [`authenticate`] without recording the request id: the caller records the returned claim
/// in its transaction.
///
/// # Errors
/// `unsupported_version`, `replayed` (clock), `unauthorized`.
pub(crate) async fn verify<B: RequestBody>(
    state: &AppState,
    request: &DeviceRequest<B>,
    allowed_states: &[&str],
) -> Result<(Device, RequestClaim), ApiError> {
    let header = &request.header;
    if header.v != PROTOCOL_VERSION {
        return Err(ApiError::new(
            ErrorCode::UnsupportedVersion,
            "this app speaks a protocol version the server does not; update the app",
        ));
    }
    let now = state.clock.now();
    if header.issued_at.abs_diff(now) > MAX_CLOCK_SKEW_SECS {
        return Err(ApiError::new(
            ErrorCode::Replayed,
            "the device's clock is more than 5 minutes off; set the date and time automatically",
        ));
    }
    let device = load(state, &header.device)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if device.account != header.account || !allowed_states.contains(&device.state.as_str()) {
        return Err(ApiError::unauthorized());
    }
    let key = device.device_key.ok_or_else(ApiError::unauthorized)?;
    if !request.verify(&key) {
        return Err(ApiError::unauthorized());
    }
    sweep_request_ids(state).await?;
    let claim = RequestClaim {
        device: device.id.to_string(),
        request_id: header.request_id.to_string(),
    };
    Ok((device, claim))
}

/// Forgets request ids older than the skew window, at most once a minute (not per request).
async fn sweep_request_ids(state: &AppState) -> Result<(), ApiError> {
    let now_secs = state.clock.now();
    let last = state
        .request_id_sweep
        .load(std::sync::atomic::Ordering::Relaxed);
    if now_secs >= last + 60
        && state
            .request_id_sweep
            .compare_exchange(
                last,
                now_secs,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            )
            .is_ok()
    {
        let window = i64::try_from(2 * MAX_CLOCK_SKEW_SECS).unwrap_or(600);
        sqlx::query("DELETE FROM request_ids WHERE seen_at < $1")
            .bind(state.clock.now_i64() - window)
            .execute(&state.db)
            .await?;
    }
    Ok(())
}

/// Opens the device's OPRF key.
pub(crate) fn oprf_key(
    state: &AppState,
    device: &Device,
    sealed: &str,
) -> Result<OprfKey, ApiError> {
    let bytes = state
        .keys
        .open("oprf", &device.id.to_string(), sealed)
        .ok_or_else(|| ApiError::internal("OPRF key does not open", device.id))?;
    OprfKey::from_bytes(&bytes).ok_or_else(|| ApiError::internal("OPRF key invalid", device.id))
}

/// The counted evaluation (P2): one conditional UPDATE increments the failure counter unless
/// the device is locked, **before** anything is evaluated, so parallel requests can never
/// exceed the limit. Only a later valid approval-key signature resets it.
///
/// # Errors
/// `locked` when the limit is reached.
///
/// `challenge` binds the evaluation to a sign-in request: its evaluation count is raised in the
/// same transaction (one commit), so an approval can require an evaluation for its request;
/// `claim`, when given, records the request id in that transaction too.
pub(crate) async fn counted_evaluate(
    state: &AppState,
    device: &Device,
    blinded: &Element,
    challenge: Option<&latchkey_protocol::types::ChallengeId>,
    claim: Option<RequestClaim>,
) -> Result<(Element, u8), ApiError> {
    let mut tx = state.db.begin().await?;
    if let Some(claim) = claim {
        claim.record(state, &mut *tx).await?;
    }
    let mut login = None;
    if let Some(challenge) = challenge {
        login = sqlx::query(
            "UPDATE challenges SET evaluated_at = $1, evaluations = evaluations + 1 \
             WHERE id = $2 RETURNING login_id",
        )
        .bind(state.clock.now_i64())
        .bind(challenge.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .and_then(|r| r.try_get::<String, _>("login_id").ok());
    }
    let Some(attempts) = crate::attempts::raise(&mut tx, &device.id, &state.config.policy).await?
    else {
        return Err(ApiError::locked());
    };
    // Committed before anything is evaluated (P2).
    tx.commit().await?;
    // The "Approve on your device" page shows wrong PINs and the lock as they happen.
    if let Some(login) = login {
        state.events.publish(Event::SigninChanged { login });
    }
    if attempts.locked() {
        audit(
            state,
            &device.account,
            Some(&device.id),
            "pin_locked",
            "PIN attempts exhausted",
        )
        .await;
        notify_account(
            state,
            &device.account,
            "A device was locked after wrong PINs",
            &format!(
                "Wrong PINs were typed {} times on the device \"{}\" of your {} account, so it \
                 can no longer approve sign-ins. If this was you, choose a new PIN with \"Forgot \
                 PIN\" in the app. If not, someone may have your device: remove it on the \"Manage \
                 my devices\" page.",
                attempts.max, device.name, state.config.policy.service_name
            ),
        )
        .await;
    }
    let key = oprf_key(state, device, &device.oprf_key)?;
    let evaluated = oprf::blind_evaluate(&key, blinded)
        .map_err(|_| ApiError::bad_request("invalid blinded PIN"))?;
    Ok((evaluated, attempts.left()))
}

/// Fixed-window throttle: at most `limit` events per `window` seconds for `key`.
///
/// # Errors
/// `rate_limited` with the seconds to wait.
pub(crate) async fn throttle(
    state: &AppState,
    key: &str,
    limit: i64,
    window: i64,
) -> Result<(), ApiError> {
    let now = state.clock.now_i64();
    let row = sqlx::query(
        "INSERT INTO throttle (key, count, window_start) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN throttle.window_start <= $3 THEN 1 ELSE throttle.count + 1 END, \
           window_start = CASE WHEN throttle.window_start <= $3 THEN $2 ELSE throttle.window_start END \
         RETURNING count, window_start",
    )
    .bind(key)
    .bind(now)
    .bind(now - window)
    .fetch_one(&state.db)
    .await?;
    let count: i64 = row.try_get("count")?;
    let start: i64 = row.try_get("window_start")?;
    if count > limit {
        let wait = u64::try_from((start + window - now).max(1)).unwrap_or(60);
        return Err(ApiError::rate_limited(wait));
    }
    Ok(())
}

/// Gives back one event counted by [`throttle`] under `key` at `counted_at` (unix seconds), if
/// the window that counted it is still the current one. Sign-ins use it once they complete
/// (approved on a device, a mailed code, or a brand-new account's password): a person who
/// signs in often is not throttled, while attempts that never complete — wrong passwords, and
/// a password holder who only starts sign-ins — keep counting.
pub(crate) async fn throttle_refund(
    state: &AppState,
    key: &str,
    counted_at: i64,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE throttle SET count = count - 1 WHERE key = $1 AND count > 0 AND window_start <= $2",
    )
    .bind(key)
    .bind(counted_at)
    .execute(&state.db)
    .await?;
    Ok(())
}

/// Records a security event (shown on the devices page). Never holds secrets.
pub(crate) async fn audit(
    state: &AppState,
    account: &AccountId,
    device: Option<&DeviceId>,
    event: &str,
    detail: &str,
) {
    if let Err(e) = audit_in(&state.db, state, account, device, event, detail).await {
        tracing::error!(error = ?e, event, "audit write failed");
    }
}

/// [`audit`] inside the caller's transaction: the event commits with what it records.
///
/// # Errors
/// The database error (the transaction then rolls back).
pub(crate) async fn audit_in<'c, E>(
    db: E,
    state: &AppState,
    account: &AccountId,
    device: Option<&DeviceId>,
    event: &str,
    detail: &str,
) -> Result<(), ApiError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    sqlx::query(
        "INSERT INTO audit (id, account_id, device_id, event, detail, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(b64::encode(&id))
    .bind(account.to_string())
    .bind(device.map(ToString::to_string))
    .bind(event)
    .bind(detail)
    .bind(state.clock.now_i64())
    .execute(db)
    .await?;
    tracing::info!(account = %account, device = ?device.map(ToString::to_string), event, "security event");
    Ok(())
}

/// Sends a notice to every address on the account (P7). Failures are logged, not fatal.
pub(crate) async fn notify_account(
    state: &AppState,
    account: &AccountId,
    subject: &str,
    body: &str,
) {
    let addresses = match addresses(state, account).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = ?e, "cannot list addresses");
            return;
        }
    };
    for address in addresses {
        if let Err(e) = state.mailer.send(&address, subject, body).await {
            tracing::error!(error = %e, "notice not delivered");
        }
    }
}

/// The account's addresses.
pub(crate) async fn addresses(
    state: &AppState,
    account: &AccountId,
) -> Result<Vec<String>, ApiError> {
    let rows = sqlx::query("SELECT address FROM addresses WHERE account_id = $1 ORDER BY address")
        .bind(account.to_string())
        .fetch_all(&state.db)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get("address").ok())
        .collect())
}

/// "a•••@example.org".
pub(crate) fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".into(),
    }
}
