//! Devices of an account: their rows and states, the counted OPRF evaluation (P2, through
//! [`crate::attempts`]), the signature counter, adding and listing them for the web pages,
//! sweeping expired enrolments, and removing one (from the app with its PIN, from the web page
//! after the P7 confirmation, or an enrolment refused at its finish) — mark it removed, wipe
//! its keys, record the event and tell every address.

use latchkey_protocol::b64;
use latchkey_protocol::oprf;
use latchkey_protocol::secret::OprfKey;
use latchkey_protocol::signed;
use latchkey_protocol::types::{AccountId, DeviceId, Element, PublicKey};
use latchkey_protocol::wire::{
    DeviceRequest, ErrorCode, Evaluate, EvaluatePurpose, EvaluateResponse, PinSource, RemoveDevice,
    RemoveDeviceResponse,
};
use sqlx::Row as _;

use crate::attempts::Attempts;
use crate::error::ServerError;
use crate::events::Event;
use crate::requests::{self, RequestClaim};
use crate::{accounts, audit, AppState};

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
pub(crate) async fn load(state: &AppState, id: &DeviceId) -> Result<Option<Device>, ServerError> {
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
) -> Result<Option<Device>, ServerError> {
    let row = sqlx::query(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE code_hash = $1"
    ))
    .bind(code_hash)
    .fetch_optional(&state.db)
    .await?;
    Ok(row.as_ref().map(device_from_row).transpose()?)
}

/// Opens the device's OPRF key.
pub(crate) fn oprf_key(
    state: &AppState,
    device: &Device,
    sealed: &str,
) -> Result<OprfKey, ServerError> {
    let bytes = state
        .keys
        .open("oprf", &device.id.to_string(), sealed)
        .ok_or_else(|| ServerError::internal("OPRF key does not open", device.id))?;
    OprfKey::from_bytes(&bytes).ok_or_else(|| ServerError::internal("OPRF key invalid", device.id))
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
) -> Result<(Element, u8), ServerError> {
    let mut tx = state.durable_db.begin().await?;
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
        return Err(ServerError::locked());
    };
    // Committed before anything is evaluated (P2).
    tx.commit().await?;
    // The "Approve on your device" page shows wrong PINs and the lock as they happen.
    if let Some(login) = login {
        state.events.publish(Event::SigninChanged { login });
    }
    if attempts.locked() {
        audit::record(
            state,
            &device.account,
            Some(&device.id),
            "pin_locked",
            "PIN attempts exhausted",
        )
        .await;
        accounts::notify(
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
        .map_err(|_| ServerError::bad_request("invalid blinded PIN"))?;
    Ok((evaluated, attempts.left()))
}

/// Marks a device removed and wipes its keys (from the app or the web page), records the
/// event and mails every address (P7).
pub async fn remove_device(
    state: &AppState,
    account: &latchkey_protocol::types::AccountId,
    device_id: &str,
    how: &str,
) -> Result<bool, ServerError> {
    let mut tx = state.durable_db.begin().await?;
    let name = remove_device_in(&mut tx, state, account, device_id, how).await?;
    tx.commit().await?;
    if let Some(name) = &name {
        notify_removed(state, account, name, how).await;
    }
    Ok(name.is_some())
}

/// The removal itself, inside the caller's transaction (only the account's own device); the
/// removed device's name, or `None` when there was nothing to remove. Writes first, reads
/// nothing before: on SQLite a transaction that read before writing can fail with
/// `SQLITE_BUSY_SNAPSHOT` instead of waiting.
pub(crate) async fn remove_device_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    state: &AppState,
    account: &latchkey_protocol::types::AccountId,
    device_id: &str,
    how: &str,
) -> Result<Option<String>, ServerError> {
    let removed = sqlx::query(
        "UPDATE devices SET state = $1, approval_key = NULL, device_key = NULL, oprf_key = '', \
         pin_check = NULL, code_hash = NULL, enrol_link = NULL \
         WHERE id = $2 AND account_id = $3 AND state <> $1 RETURNING name",
    )
    .bind(states::REMOVED)
    .bind(device_id)
    .bind(account.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = removed else {
        return Ok(None);
    };
    // A removed device is never woken again: its push address goes with its keys.
    sqlx::query("DELETE FROM push_targets WHERE device_id = $1")
        .bind(device_id)
        .execute(&mut **tx)
        .await?;
    let id = latchkey_protocol::types::DeviceId::parse(device_id);
    audit::record_in(tx, state, account, id.as_ref(), "device_removed", how).await?;
    Ok(Some(row.try_get("name")?))
}

pub(crate) async fn notify_removed(
    state: &AppState,
    account: &latchkey_protocol::types::AccountId,
    name: &str,
    how: &str,
) {
    accounts::notify(
        state,
        account,
        "A device was removed from your account",
        &format!(
            "The device \"{name}\" was removed from your {} account ({how}). If this was not \
             you, sign in and check the \"Manage my devices\" page, and change your password.",
            state.config.policy.service_name
        ),
    )
    .await;
}

/// Advances the signature counter and, the PIN being proven, resets the failure counter (P2),
/// in one UPDATE inside the answer's transaction.
pub(crate) async fn advance_counter(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    state: &AppState,
    device: &Device,
    counter: u64,
) -> Result<(), ServerError> {
    let counter =
        i64::try_from(counter).map_err(|_| ServerError::bad_request("counter too large"))?;
    // Placeholders in order of first appearance: SQLite numbers them that way.
    let advanced = sqlx::query(
        "UPDATE devices SET last_counter = $1, last_used_at = $2 WHERE id = $3 AND last_counter < $1",
    )
    .bind(counter)
    .bind(state.clock.now_i64())
    .bind(device.id.to_string())
    .execute(&mut **tx)
    .await?;
    if advanced.rows_affected() != 1 {
        return Err(ServerError::new(
            ErrorCode::CounterReused,
            "this approval was already used (signature counter did not increase)",
        ));
    }
    // A valid approval-key signature with a fresh counter proves the PIN (P2).
    crate::attempts::reset(tx, &device.id).await
}

/// Removes a device from the app: an enrolled one proves its PIN first (P7), an enrolment in
/// progress is simply cancelled.
pub(crate) async fn remove_from_app(
    state: &AppState,
    request: &DeviceRequest<RemoveDevice>,
) -> Result<RemoveDeviceResponse, ServerError> {
    let (device, claim) =
        requests::verify(state, request, &[states::ACTIVE, states::ENROLLING]).await?;
    let body = &request.body;
    let mut tx = state.durable_db.begin().await?;
    claim.record(state, &mut *tx).await?;
    if device.state == states::ACTIVE {
        // P7: an enrolled device proves the PIN to remove itself, so a thief holding the
        // phone cannot wipe it to clear the way for a password-only sign-in.
        let signature = body.approval_signature.as_ref().ok_or_else(|| {
            ServerError::new(
                ErrorCode::BadRequest,
                "removing this device needs its PIN; if you forgot it, use \"Forgot PIN\" or \
                 remove the device on the \"Manage my devices\" page",
            )
        })?;
        let key = device.approval_key.ok_or_else(ServerError::unauthorized)?;
        let bytes = signed::removal(&device.account, &device.id, body.counter);
        if !key.verify(&bytes, signature) {
            return Err(ServerError::bad_request("the removal signature is invalid"));
        }
        advance_counter(&mut tx, state, &device, body.counter).await?;
    }
    let how = if device.state == states::ACTIVE {
        "removed from the device with its PIN"
    } else {
        "enrolment cancelled on the device"
    };
    let removed =
        remove_device_in(&mut tx, state, &device.account, &device.id.to_string(), how).await?;
    tx.commit().await?;
    if removed.is_some() {
        notify_removed(state, &device.account, &device.name, how).await;
    }
    Ok(RemoveDeviceResponse {
        removed_at: state.clock.now(),
    })
}

/// A counted PIN evaluation asked for by the app (enrolment, approval, removal), bound to its
/// sign-in request for approvals; the request id commits with the count.
pub(crate) async fn evaluate(
    state: &AppState,
    request: &DeviceRequest<Evaluate>,
) -> Result<EvaluateResponse, ServerError> {
    let bound = match &request.body.purpose {
        EvaluatePurpose::Approve { challenge } => Some(*challenge),
        EvaluatePurpose::Enrol | EvaluatePurpose::Remove => None,
    };
    // The request id is recorded in the counted evaluation's transaction (one commit).
    let (device, claim) = match request.body.purpose {
        EvaluatePurpose::Enrol => {
            let (device, claim) = requests::verify(state, request, &[states::ENROLLING]).await?;
            if state.clock.now_i64() >= device.code_expires_at {
                return Err(ServerError::new(
                    ErrorCode::Expired,
                    "the enrolment expired; start again",
                ));
            }
            (device, claim)
        }
        EvaluatePurpose::Approve { challenge } => {
            let (device, claim) = requests::verify(state, request, &[states::ACTIVE]).await?;
            crate::signins::bind_evaluation(state, &device, &challenge).await?;
            (device, claim)
        }
        // Opens the approval key to sign the removal; counted like every PIN use (P2).
        EvaluatePurpose::Remove => requests::verify(state, request, &[states::ACTIVE]).await?,
    };
    let (evaluated_pin, attempts_left) = counted_evaluate(
        state,
        &device,
        &request.body.blinded_pin,
        bound.as_ref(),
        Some(claim),
    )
    .await?;
    Ok(EvaluateResponse {
        evaluated_pin,
        attempts_left,
    })
}

/// A device as the web pages show it.
pub(crate) struct Summary {
    pub id: String,
    pub name: String,
    pub model: Option<String>,
    pub state: String,
    pub assurance: Option<String>,
    /// What verified the assurance (`android:tee`, `android:strongbox`, `ios:app-attest`), if anything did.
    pub attestation: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub attempts: Attempts,
    pub pin_source: String,
    pub code_expires_at: i64,
    /// The enrolment link sealed for the owner's QR page (pending devices only).
    pub sealed_link: Option<String>,
}

impl Summary {
    /// Can approve sign-ins now: enrolled and not locked.
    pub fn usable(&self) -> bool {
        self.state == states::ACTIVE && !self.attempts.locked()
    }
}

const SUMMARY_COLUMNS: &str = "id, name, model, state, assurance, attestation, created_at, \
    last_used_at, failures, pin_source, code_expires_at, enrol_link";

fn summary_from_row(state: &AppState, r: &sqlx::any::AnyRow) -> Result<Summary, sqlx::Error> {
    Ok(Summary {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        model: r.try_get("model")?,
        state: r.try_get("state")?,
        assurance: r.try_get("assurance")?,
        attestation: r.try_get("attestation")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        attempts: Attempts::new(r.try_get("failures")?, &state.config.policy),
        pin_source: r.try_get("pin_source")?,
        code_expires_at: r.try_get("code_expires_at")?,
        sealed_link: r.try_get("enrol_link")?,
    })
}

/// The account's devices in one of `in_states`, oldest first.
pub(crate) async fn summaries(
    state: &AppState,
    account: &AccountId,
    in_states: &[&str],
) -> Result<Vec<Summary>, ServerError> {
    let placeholders: Vec<String> = (0..in_states.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM devices WHERE account_id = $1 AND state IN ({}) \
         ORDER BY created_at",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(account.to_string());
    for s in in_states {
        query = query.bind(*s);
    }
    let rows = query.fetch_all(&state.db).await?;
    Ok(rows
        .iter()
        .map(|r| summary_from_row(state, r))
        .collect::<Result<_, _>>()?)
}

/// One device of the account, in any state.
pub(crate) async fn summary(
    state: &AppState,
    account: &AccountId,
    id: &str,
) -> Result<Option<Summary>, ServerError> {
    let row = sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM devices WHERE id = $1 AND account_id = $2"
    ))
    .bind(id)
    .bind(account.to_string())
    .fetch_optional(&state.db)
    .await?;
    Ok(row
        .as_ref()
        .map(|r| summary_from_row(state, r))
        .transpose()?)
}

/// Ends every enrolment whose code expired: the row is marked `expired` and its sealed web
/// PIN check value, enrolment link and code hash are deleted. Together with the key file, a
/// kept check value would allow a 10⁴ search of the PIN set on the web page.
///
/// # Errors
/// The database error.
pub async fn sweep_expired(state: &AppState) -> Result<u64, ServerError> {
    let swept = sqlx::query(
        "UPDATE devices SET state = 'expired', pin_check = NULL, enrol_link = NULL, code_hash = NULL \
         WHERE state IN ('pending', 'enrolling') AND code_expires_at <= $1",
    )
    .bind(state.clock.now_i64())
    .execute(&state.db)
    .await?
    .rows_affected();
    if swept > 0 {
        tracing::info!(swept, "expired enrolments ended");
    }
    Ok(swept)
}

/// Reads the attestation status file again when it changed (the minute's sweep), and
/// withdraws the "verified" of every device whose attestation chain holds a certificate it
/// newly revokes: the device stays, shown with the assurance its app claimed, and the account's
/// activity says why. An unreadable file keeps the previous list (and is logged).
///
/// # Errors
/// A storage failure.
pub(crate) async fn withdraw_revoked_attestations(state: &AppState) -> Result<u64, ServerError> {
    let revoked = match state.attestation.refresh() {
        Ok(revoked) => revoked,
        Err(e) => {
            tracing::warn!(error = %e, "attestation status file not read; the previous list stays");
            return Ok(0);
        }
    };
    let mut withdrawn = 0;
    for serial in revoked {
        let rows = sqlx::query(
            "UPDATE devices SET attestation = NULL WHERE attestation IS NOT NULL \
             AND attestation_serials LIKE $1 RETURNING id, account_id",
        )
        .bind(format!("% {serial} %"))
        .fetch_all(&state.durable_db)
        .await?;
        for row in rows {
            let (device, account): (String, String) =
                (row.try_get("id")?, row.try_get("account_id")?);
            if let (Some(device), Some(account)) =
                (DeviceId::parse(&device), AccountId::parse(&account))
            {
                audit::record(
                    state,
                    &account,
                    Some(&device),
                    "attestation_revoked",
                    &serial,
                )
                .await;
            }
            withdrawn += 1;
        }
    }
    Ok(withdrawn)
}
