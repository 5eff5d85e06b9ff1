//! Signed device requests: version, clock skew, device state, signature, then the request id
//! (replay protection), recorded in the handler's transaction.

use latchkey_protocol::wire::{DeviceRequest, ErrorCode, RequestBody, MAX_CLOCK_SKEW_SECS};
use latchkey_protocol::PROTOCOL_VERSION;

use crate::devices::{self, Device};
use crate::error::ServerError;
use crate::AppState;

/// Checks a signed envelope: version, clock skew, device state, signature, then replay.
///
/// # Errors
/// `unsupported_version`, `replayed`, `unauthorized`.
pub(crate) async fn authenticate<B: RequestBody>(
    state: &AppState,
    request: &DeviceRequest<B>,
    allowed_states: &[&str],
) -> Result<Device, ServerError> {
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
    pub(crate) async fn record<'c, E>(self, state: &AppState, db: E) -> Result<(), ServerError>
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
            return Err(ServerError::new(
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
) -> Result<(Device, RequestClaim), ServerError> {
    let header = &request.header;
    if header.v != PROTOCOL_VERSION {
        return Err(ServerError::new(
            ErrorCode::UnsupportedVersion,
            "this app speaks a protocol version the server does not; update the app",
        ));
    }
    let now = state.clock.now();
    if header.issued_at.abs_diff(now) > MAX_CLOCK_SKEW_SECS {
        return Err(ServerError::clock_skew(now));
    }
    let device = devices::load(state, &header.device)
        .await?
        .ok_or_else(ServerError::unauthorized)?;
    if device.account != header.account || !allowed_states.contains(&device.state.as_str()) {
        return Err(ServerError::unauthorized());
    }
    let key = device.device_key.ok_or_else(ServerError::unauthorized)?;
    if !request.verify(&key) {
        return Err(ServerError::unauthorized());
    }
    sweep_request_ids(state).await?;
    let claim = RequestClaim {
        device: device.id.to_string(),
        request_id: header.request_id.to_string(),
    };
    Ok((device, claim))
}

/// Forgets request ids older than the skew window, at most once a minute (not per request).
async fn sweep_request_ids(state: &AppState) -> Result<(), ServerError> {
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
