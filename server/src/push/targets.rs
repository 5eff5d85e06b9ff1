//! Where each device is woken: one target per device.

use latchkey_protocol::b64;
use latchkey_protocol::types::{AccountId, DeviceId};
use latchkey_protocol::wire::{PushKind, PushTarget};
use sqlx::Row as _;

use crate::error::ServerError;
use crate::AppState;

fn kind_from(text: &str) -> Option<PushKind> {
    [
        PushKind::Fcm,
        PushKind::Apns,
        PushKind::Wns,
        PushKind::Webpush,
    ]
    .into_iter()
    .find(|k| k.as_str() == text)
}

/// Registers, replaces (a rotated token) or drops (`None`) the target of `device`. The caller
/// has checked the target's shape and that this server pushes through its kind.
///
/// # Errors
/// Storage.
pub async fn set(
    state: &AppState,
    account: &AccountId,
    device: &DeviceId,
    target: Option<&PushTarget>,
) -> Result<(), ServerError> {
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM push_targets WHERE device_id = $1")
        .bind(device.to_string())
        .execute(&mut *tx)
        .await?;
    let event = if let Some(t) = target {
        sqlx::query(
            "INSERT INTO push_targets (device_id, kind, token, p256dh, auth, registered_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(device.to_string())
        .bind(t.kind.as_str())
        .bind(&t.token)
        .bind(t.p256dh.as_deref().map(b64::encode))
        .bind(t.auth.as_deref().map(b64::encode))
        .bind(state.clock.now_i64())
        .execute(&mut *tx)
        .await?;
        "push_target_set"
    } else {
        "push_target_dropped"
    };
    // The kind only: tokens are capabilities to wake the device and stay out of the audit.
    let detail = target.map_or("", |t| t.kind.as_str());
    crate::audit::record_in(&mut tx, state, account, Some(device), event, detail).await?;
    tx.commit().await?;
    Ok(())
}

/// The target of `device` and when it was registered, if any.
///
/// # Errors
/// Storage.
pub async fn get(state: &AppState, device: &str) -> Result<Option<(PushTarget, i64)>, ServerError> {
    let row = sqlx::query(
        "SELECT t.kind, t.token, t.p256dh, t.auth, t.registered_at FROM push_targets t \
         JOIN devices d ON d.id = t.device_id WHERE t.device_id = $1 AND d.state = $2",
    )
    .bind(device)
    .bind(crate::devices::states::ACTIVE)
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let kind: String = row.try_get("kind")?;
    let p256dh: Option<String> = row.try_get("p256dh")?;
    let auth: Option<String> = row.try_get("auth")?;
    let registered_at: i64 = row.try_get("registered_at")?;
    Ok(kind_from(&kind).map(|kind| {
        let target = PushTarget {
            kind,
            token: row.try_get("token").unwrap_or_default(),
            p256dh: p256dh.as_deref().and_then(b64::decode),
            auth: auth.as_deref().and_then(b64::decode),
        };
        (target, registered_at)
    }))
}

/// The account `device` belongs to.
///
/// # Errors
/// Storage.
pub async fn account_of(state: &AppState, device: &str) -> Result<Option<AccountId>, ServerError> {
    let row = sqlx::query("SELECT account_id FROM devices WHERE id = $1")
        .bind(device)
        .fetch_optional(&state.db)
        .await?;
    Ok(row
        .and_then(|r| r.try_get::<String, _>("account_id").ok())
        .and_then(|a| AccountId::parse(&a)))
}

/// Drops the target of `device` if it still is `token` (a provider said it is gone; a target
/// registered meanwhile stays). Runs on the caller's transaction, so the job's outcome and the
/// drop are seen together.
///
/// # Errors
/// Storage.
pub async fn drop_gone<'c, E>(db: E, device: &str, token: &str) -> Result<bool, ServerError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let done = sqlx::query("DELETE FROM push_targets WHERE device_id = $1 AND token = $2")
        .bind(device)
        .bind(token)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}
