//! Enrolment: redeeming the code a web page showed, the counted first evaluation, and the
//! finish (proof of the approval key, the web PIN's check, the P7 first-device rule).

use latchkey_protocol::link::EnrolmentLink;
use latchkey_protocol::oprf;
use latchkey_protocol::secret::{EnrolmentCode, OprfKey, Pin, PinCheck};
use latchkey_protocol::signed;
use latchkey_protocol::types::{AccountId, DeviceId};
use latchkey_protocol::wire::{
    DeviceRequest, EnrolBeginRequest, EnrolBeginResponse, EnrolFinish, EnrolFinishResponse,
    ErrorCode, PinSource,
};
use latchkey_protocol::PROTOCOL_VERSION;
use rand_core::OsRng;

use crate::devices::{self, states, Device};
use crate::error::ServerError;
use crate::events::Event;
use crate::{accounts, audit, requests, AppState};

fn code_invalid() -> ServerError {
    ServerError::new(
        ErrorCode::EnrolmentCodeInvalid,
        "this enrolment code is unknown, already used or expired; reload the \"Add a device\" \
         page and scan the new code",
    )
}

/// Redeems an enrolment code (single use) for the device key the app made, and makes the
/// first counted evaluation of the PIN (P2).
pub(crate) async fn begin(
    state: &AppState,
    request: &EnrolBeginRequest,
) -> Result<EnrolBeginResponse, ServerError> {
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
    let device = devices::load_by_code(state, &hash)
        .await?
        .ok_or_else(code_invalid)?;
    // The platform's attestation, when sent (checked only for a live code, off the async
    // threads: up to eight signatures): verified hardware replaces the claim; a chain that
    // fails leaves the claim, recorded as such with the reason.
    let challenge = EnrolBeginRequest::attestation_challenge(&request.code);
    let check: Option<Box<dyn FnOnce() -> _ + Send>> =
        match (request.attestation.is_empty(), &request.app_attest) {
            (true, None) => None,
            (false, None) => {
                let chain = request.attestation.clone();
                let key = request.device_key;
                let roots = state.attestation.roots();
                Some(Box::new(move || {
                    crate::attestation::verify(&chain, &key, &challenge, &roots, now)
                }))
            }
            (true, Some(app_attest)) => {
                let app_attest = app_attest.clone();
                let client_data =
                    EnrolBeginRequest::app_attest_client_data_hash(&challenge, &request.device_key);
                let policy = state.app_attest.clone();
                let claimed = request.assurance;
                Some(Box::new(move || {
                    let verified =
                        crate::attestation::apple::verify(&app_attest, &client_data, &policy, now)?;
                    // Apple vouches for the app, not the key: it backs the genuine app's own
                    // claim (the Secure Enclave) and never upgrades another one.
                    if claimed == latchkey_protocol::types::Assurance::SecureElement {
                        Ok(verified)
                    } else {
                        Err(crate::attestation::Refused::NotHardware(
                            "the app does not claim the Secure Enclave",
                        ))
                    }
                }))
            }
            (false, Some(_)) => {
                return Err(ServerError::bad_request(
                    "an Android chain and an App Attest object together",
                ))
            }
        };
    let attested = match check {
        None => None,
        Some(check) => Some(
            tokio::task::spawn_blocking(check)
                .await
                .map_err(|e| ServerError::internal("attestation check", e))?,
        ),
    };
    let (assurance, attestation, serials) = match &attested {
        Some(Ok(verified)) => (
            verified.assurance,
            Some(verified.label()),
            Some(format!(" {} ", verified.serials.join(" "))),
        ),
        _ => (request.assurance, None, None),
    };
    // Redeem the code: single use, one conditional UPDATE.
    let redeemed = sqlx::query(
        "UPDATE devices SET code_hash = NULL, enrol_link = NULL, state = $1, device_key = $2, assurance = $3, \
         model = $4, attestation = $5, attestation_serials = $6 WHERE id = $7 AND code_hash = $8 AND state = $9 \
         AND code_expires_at > $10",
    )
    .bind(states::ENROLLING)
    .bind(devices::key_text(&request.device_key))
    .bind(assurance.as_str())
    .bind(&request.device_model)
    .bind(attestation)
    .bind(serials)
    .bind(device.id.to_string())
    .bind(&hash)
    .bind(states::PENDING)
    .bind(now)
    .execute(&state.db)
    .await?;
    if redeemed.rows_affected() != 1 {
        return Err(code_invalid());
    }
    match &attested {
        Some(Ok(verified)) => {
            audit::record(
                state,
                &device.account,
                Some(&device.id),
                if verified.label == crate::attestation::apple::LABEL {
                    "app_attest_verified"
                } else {
                    "attestation_verified"
                },
                verified.label(),
            )
            .await;
        }
        Some(Err(refused)) => {
            tracing::warn!(device = %device.id, reason = %refused, "key attestation refused");
            audit::record(
                state,
                &device.account,
                Some(&device.id),
                "attestation_refused",
                &refused.to_string(),
            )
            .await;
        }
        None => {}
    }
    let (evaluated, attempts_left) =
        devices::counted_evaluate(state, &device, &request.blinded_pin, None, None).await?;
    let (service, who) = accounts::label(state, &device.account).await?;
    audit::record(
        state,
        &device.account,
        Some(&device.id),
        "enrolment_started",
        &request.device_model,
    )
    .await;
    let policy = &state.config.policy;
    Ok(EnrolBeginResponse {
        account: device.account,
        device: device.id,
        account_label: account_label(&service, &who),
        pin_source: device.pin_source,
        pin_policy: latchkey_protocol::pin::PinPolicy {
            digits: policy.pin_digits,
        },
        evaluated_pin: evaluated,
        attempts_left,
        expires_at: u64::try_from(device.code_expires_at).unwrap_or(0),
    })
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

/// Finishes an enrolment: the approval key's proof, the web PIN's check, the P7 first-device
/// rule, then the device is active.
pub(crate) async fn finish(
    state: &AppState,
    request: &DeviceRequest<EnrolFinish>,
) -> Result<EnrolFinishResponse, ServerError> {
    let device = requests::authenticate(state, request, &[states::ENROLLING]).await?;
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
        check_pin(state, &device, stored, body.pin_check.as_ref()).await?;
    }
    let mut tx = state.durable_db.begin().await?;
    // The account row first: it serialises the finishes of one account's enrolments.
    let first = accounts::mark_first_device(&mut tx, &device.account).await?;
    if device.bootstrap && !first {
        // P7: added on the password alone as the first device, but another device finished
        // first; a second device needs that device's approval or a mailed code.
        // Rolled back now, not when dropped: the removal below writes from another connection.
        tx.rollback().await?;
        crate::devices::remove_device(
            state,
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
        state,
        &device.account,
        Some(&device.id),
        "device_added",
        &device.name,
    )
    .await;
    accounts::notify(
        state,
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
    Ok(EnrolFinishResponse {
        epoch: 1,
        enrolled_at: u64::try_from(now).unwrap_or(0),
    })
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

/// "Add a device" on the web page: a pending device with a fresh OPRF key, a single-use
/// enrolment code (stored only as its hash) and the sealed enrolment link for the owner's QR
/// page; with a web PIN, only its sealed check is kept (P1). `first_device`: added on the
/// password alone (P7).
pub(crate) async fn create(
    state: &AppState,
    account: &AccountId,
    name: &str,
    web_pin: Option<&Pin>,
    first_device: bool,
) -> Result<DeviceId, ServerError> {
    let policy = &state.config.policy;
    let device = DeviceId::random(&mut OsRng);
    let oprf_key = OprfKey::generate(&mut OsRng);
    let device_text = device.to_string();
    let pin_check = match web_pin {
        Some(pin) => {
            // The PIN is evaluated once under the new device's key; only the check is kept (P1).
            let output = oprf::evaluate(&oprf_key, pin)
                .map_err(|_| ServerError::bad_request("invalid PIN"))?;
            let check = oprf::pin_check(&output, account, &device);
            // EXPOSE: the check is sealed under the master key until the device presents its own.
            Some(
                state
                    .keys
                    .seal("pin-check", &device_text, check.expose_secret()),
            )
        }
        None => None,
    };
    let code = EnrolmentCode::generate(&mut OsRng);
    let (service, who) = accounts::label(state, account).await?;
    // The PIN is chosen on the web (or posted by an application) when one is given here.
    let pin_source = if web_pin.is_some() {
        PinSource::Web
    } else {
        PinSource::App
    };
    let link = EnrolmentLink::new(
        &state.public_url,
        code.clone(),
        state.keys.challenge_public(),
        pin_source,
        policy.pin_digits,
        account_label(&service, &who),
    )
    .map_err(|e| ServerError::internal("enrolment link", e))?;
    let now = state.clock.now_i64();
    // EXPOSE: the code is stored only as its hash; the link (with the code) is sealed for
    // the owner's QR page and deleted once the device enrols.
    let code_hash = crate::codes::code_hash(code.expose_secret());
    sqlx::query(
        "INSERT INTO devices (id, account_id, name, state, pin_source, oprf_key, created_at, code_hash, \
         code_expires_at, pin_check, enrol_link, bootstrap) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&device_text)
    .bind(account.to_string())
    .bind(name)
    .bind(states::PENDING)
    .bind(pin_source.as_str())
    // EXPOSE: the OPRF key is stored only sealed under the master key.
    .bind(state.keys.seal("oprf", &device_text, oprf_key.expose_secret()))
    .bind(now)
    .bind(code_hash)
    .bind(now + i64::try_from(policy.enrol_ttl).unwrap_or(600))
    .bind(pin_check)
    .bind(state.keys.seal("enrol-link", &device_text, link.render().as_bytes()))
    .bind(i64::from(first_device))
    .execute(&state.db)
    .await?;
    Ok(device)
}
