//! Enrolment (`/api/v1/enrol/*`) and the counted OPRF evaluation (`/api/v1/evaluate`).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use latchkey_protocol::secret::PinCheck;
use latchkey_protocol::signed;
use latchkey_protocol::wire::{
    DeviceRequest, EnrolBeginRequest, EnrolBeginResponse, EnrolFinish, EnrolFinishResponse,
    ErrorCode, Evaluate, EvaluatePurpose, EvaluateResponse, RequestBody as _, ENROL_BEGIN_PATH,
};
use latchkey_protocol::PROTOCOL_VERSION;
use sqlx::Row as _;

use crate::devices::{self, states, Device};
use crate::{accounts, audit, requests, throttle};
use super::error::ApiResult;
use crate::error::ServerError;
use crate::events::Event;
use crate::AppState;

/// Enrolment and evaluation routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(ENROL_BEGIN_PATH, post(begin))
        .route(EnrolFinish::PATH, post(finish))
        .route(Evaluate::PATH, post(evaluate))
}

fn code_invalid() -> ServerError {
    ServerError::new(
        ErrorCode::EnrolmentCodeInvalid,
        "this enrolment code is unknown, already used or expired; reload the \"Add a device\" \
         page and scan the new code",
    )
}

async fn begin(
    State(state): State<Arc<AppState>>,
    Json(request): Json<EnrolBeginRequest>,
) -> ApiResult<EnrolBeginResponse> {
    if request.v != PROTOCOL_VERSION {
        return Err(ServerError::new(
            ErrorCode::UnsupportedVersion,
            "update the app",
        ));
    }
    if !request.verify() {
        return Err(ServerError::unauthorized());
    }
    if request.device_model.chars().count() > 64 {
        return Err(ServerError::bad_request("device model too long"));
    }
    // EXPOSE: the code is hashed to find the pending device; it is never stored.
    let hash = crate::codes::code_hash(request.code.expose_secret());
    let now = state.clock.now_i64();
    let device = devices::load_by_code(&state, &hash)
        .await?
        .ok_or_else(code_invalid)?;
    // Redeem the code: single use, one conditional UPDATE.
    let redeemed = sqlx::query(
        "UPDATE devices SET code_hash = NULL, enrol_link = NULL, state = $1, device_key = $2, assurance = $3, \
         model = $4 WHERE id = $5 AND code_hash = $6 AND state = $7 AND code_expires_at > $8",
    )
    .bind(states::ENROLLING)
    .bind(devices::key_text(&request.device_key))
    .bind(request.assurance.as_str())
    .bind(&request.device_model)
    .bind(device.id.to_string())
    .bind(&hash)
    .bind(states::PENDING)
    .bind(now)
    .execute(&state.db)
    .await?;
    if redeemed.rows_affected() != 1 {
        return Err(code_invalid());
    }
    let (evaluated, attempts_left) =
        devices::counted_evaluate(&state, &device, &request.blinded_pin, None, None).await?;
    let email: String = sqlx::query("SELECT email FROM accounts WHERE id = $1")
        .bind(device.account.to_string())
        .fetch_one(&state.db)
        .await?
        .try_get("email")?;
    audit::record(
        &state,
        &device.account,
        Some(&device.id),
        "enrolment_started",
        &request.device_model,
    )
    .await;
    let policy = &state.config.policy;
    Ok(Json(EnrolBeginResponse {
        account: device.account,
        device: device.id,
        account_label: account_label(&policy.service_name, &email),
        pin_source: device.pin_source,
        pin_policy: latchkey_protocol::pin::PinPolicy {
            digits: policy.pin_digits,
        },
        evaluated_pin: evaluated,
        attempts_left,
        expires_at: u64::try_from(device.code_expires_at).unwrap_or(0),
    }))
}

/// "Service — address", cut to the label limit.
pub(crate) fn account_label(service: &str, email: &str) -> String {
    let label = format!("{service} — {email}");
    label
        .chars()
        .take(latchkey_protocol::link::MAX_LABEL_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

async fn finish(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<EnrolFinish>>,
) -> ApiResult<EnrolFinishResponse> {
    let device = requests::authenticate(&state, &request, &[states::ENROLLING]).await?;
    let now = state.clock.now_i64();
    if now >= device.code_expires_at {
        return Err(ServerError::new(
            ErrorCode::Expired,
            "the enrolment took longer than 10 minutes; start again from the \"Add a device\" page",
        ));
    }
    let body = &request.body;
    let device_key = device.device_key.ok_or_else(ServerError::unauthorized)?;
    let proof = signed::enrol_proof(&device.account, &device.id, &body.approval_key, &device_key);
    if !body.approval_key.verify(&proof, &body.approval_proof) {
        return Err(ServerError::bad_request(
            "the approval key's proof of possession is invalid",
        ));
    }
    if let Some(stored) = &device.pin_check {
        check_pin(&state, &device, stored, body.pin_check.as_ref()).await?;
    }
    let mut tx = state.db.begin().await?;
    // The account row first: it serialises the finishes of one account's enrolments.
    let first = sqlx::query("UPDATE accounts SET had_device = 1 WHERE id = $1 AND had_device = 0")
        .bind(device.account.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if device.bootstrap && !first {
        // P7: added on the password alone as the first device, but another device finished
        // first; a second device needs that device's approval or a mailed code.
        // Rolled back now, not when dropped: the removal below writes from another connection.
        tx.rollback().await?;
        crate::devices::remove_device(
            &state,
            &device.account,
            &device.id.to_string(),
            "enrolment refused: another device was added first",
        )
        .await?;
        return Err(ServerError::new(
            ErrorCode::EnrolmentCodeInvalid,
            "another device was added to this account first; add this device again on the \
             \"Manage my devices\" page (it asks for approval on your other device or a code \
             sent by e-mail)",
        ));
    }
    let done = sqlx::query(
        "UPDATE devices SET state = $1, approval_key = $2, epoch = 1, \
         pin_check = NULL, last_used_at = $3 WHERE id = $4 AND state = $5",
    )
    .bind(states::ACTIVE)
    .bind(devices::key_text(&body.approval_key))
    .bind(now)
    .bind(device.id.to_string())
    .bind(states::ENROLLING)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(ServerError::unauthorized());
    }
    // The new approval key was just made behind the PIN the person typed (checked against the
    // web PIN, or chosen in the app): the counter starts from zero (P2).
    crate::attempts::reset(&mut tx, &device.id).await?;
    tx.commit().await?;
    audit::record(
        &state,
        &device.account,
        Some(&device.id),
        "device_added",
        &device.name,
    )
    .await;
    accounts::notify(
        &state,
        &device.account,
        "A device was added to your account",
        &format!(
            "The device \"{}\" was added to your {} account. If this was not you, remove it on \
             the \"Manage my devices\" page and change your password.",
            device.name, state.config.policy.service_name
        ),
    )
    .await;
    state
        .events
        .publish(Event::EnrolmentChanged { device: device.id });
    Ok(Json(EnrolFinishResponse {
        epoch: 1,
        enrolled_at: u64::try_from(now).unwrap_or(0),
    }))
}

/// Compares the device's PIN check with the one kept from the web page, in constant time. A
/// mismatch is a wrong PIN (already counted at evaluation); at the limit the pending
/// enrolment is cancelled.
async fn check_pin(
    state: &AppState,
    device: &Device,
    stored: &str,
    presented: Option<&PinCheck>,
) -> Result<(), ServerError> {
    let expected = state
        .keys
        .open("pin-check", &device.id.to_string(), stored)
        .and_then(|b| PinCheck::from_bytes(b.to_vec()))
        .ok_or_else(|| ServerError::internal("PIN check does not open", device.id))?;
    let matches = presented.is_some_and(|p| p.ct_eq(&expected));
    if matches {
        return Ok(());
    }
    let attempts = crate::attempts::current(&state.db, &device.id, &state.config.policy).await?;
    if attempts.locked() {
        sqlx::query("UPDATE devices SET state = $1, pin_check = NULL WHERE id = $2")
            .bind(states::REMOVED)
            .bind(device.id.to_string())
            .execute(&state.db)
            .await?;
        audit::record(
            state,
            &device.account,
            Some(&device.id),
            "enrolment_cancelled",
            "wrong PIN",
        )
        .await;
        return Err(ServerError::locked());
    }
    Err(ServerError::wrong_pin(attempts.left()))
}

async fn evaluate(
    State(state): State<Arc<AppState>>,
    Json(request): Json<DeviceRequest<Evaluate>>,
) -> ApiResult<EvaluateResponse> {
    let bound = match &request.body.purpose {
        EvaluatePurpose::Approve { challenge } => Some(*challenge),
        EvaluatePurpose::Enrol | EvaluatePurpose::Remove => None,
    };
    // The request id is recorded in the counted evaluation's transaction (one commit).
    let (device, claim) = match request.body.purpose {
        EvaluatePurpose::Enrol => {
            let (device, claim) = requests::verify(&state, &request, &[states::ENROLLING]).await?;
            if state.clock.now_i64() >= device.code_expires_at {
                return Err(ServerError::new(
                    ErrorCode::Expired,
                    "the enrolment expired; start again",
                ));
            }
            (device, claim)
        }
        EvaluatePurpose::Approve { challenge } => {
            let (device, claim) = requests::verify(&state, &request, &[states::ACTIVE]).await?;
            crate::signins::bind_evaluation(&state, &device, &challenge).await?;
            (device, claim)
        }
        // Opens the approval key to sign the removal; counted like every PIN use (P2).
        EvaluatePurpose::Remove => requests::verify(&state, &request, &[states::ACTIVE]).await?,
    };
    let (evaluated_pin, attempts_left) = devices::counted_evaluate(
        &state,
        &device,
        &request.body.blinded_pin,
        bound.as_ref(),
        Some(claim),
    )
    .await?;
    Ok(Json(EvaluateResponse {
        evaluated_pin,
        attempts_left,
    }))
}
