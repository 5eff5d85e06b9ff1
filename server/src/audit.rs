//! The audit trail: security events of an account, shown on its devices page. Never secrets.

use latchkey_protocol::b64;
use latchkey_protocol::types::{AccountId, DeviceId};
use rand_core::{OsRng, RngCore as _};
use sqlx::Row as _;

use crate::error::ServerError;
use crate::AppState;

/// Records a security event (shown on the devices page). Never holds secrets.
pub(crate) async fn record(
    state: &AppState,
    account: &AccountId,
    device: Option<&DeviceId>,
    event: &str,
    detail: &str,
) {
    let result = async {
        let mut tx = state.db.begin().await?;
        record_in(&mut tx, state, account, device, event, detail).await?;
        tx.commit().await?;
        Ok::<_, ServerError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = ?e, event, "audit write failed");
    }
}

/// [`record`] inside the caller's transaction: the event commits with what it records (and,
/// for an application's user, goes to the application's feed and webhook with it).
///
/// # Errors
/// The database error (the transaction then rolls back).
pub(crate) async fn record_in(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    account: &AccountId,
    device: Option<&DeviceId>,
    event: &str,
    detail: &str,
) -> Result<(), ServerError> {
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
    .execute(&mut *conn)
    .await?;
    crate::rp::security_event_in(conn, state, account, device, event, detail).await?;
    tracing::info!(account = %account, device = ?device.map(ToString::to_string), event, "security event");
    Ok(())
}

/// Deletes security events older than the policy's `audit_days` (see [`crate::db::delete_older`]).
///
/// # Errors
/// A storage failure.
pub(crate) async fn sweep(state: &AppState) -> Result<u64, ServerError> {
    let before = state.clock.now_i64() - i64::from(state.config.policy.audit_days) * 86_400;
    crate::db::delete_older(&state.db, "audit", "at", before).await
}

/// A recorded event, as the devices page lists it.
pub(crate) struct Entry {
    pub event: String,
    pub detail: String,
    pub at: i64,
}

/// The account's `limit` latest events, newest first.
pub(crate) async fn recent(
    state: &AppState,
    account: &AccountId,
    limit: i64,
) -> Result<Vec<Entry>, ServerError> {
    let rows = sqlx::query(
        "SELECT event, detail, at FROM audit WHERE account_id = $1 ORDER BY at DESC LIMIT $2",
    )
    .bind(account.to_string())
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            Ok(Entry {
                event: r.try_get("event")?,
                detail: r.try_get("detail")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}
