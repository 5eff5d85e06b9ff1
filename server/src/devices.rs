//! Devices of an account: removing one (from the app with its PIN, from the web page after the
//! P7 confirmation, or an enrolment refused at its finish) — mark it removed, wipe its keys,
//! record the event and tell every address.

use sqlx::Row as _;

use crate::http::device::{self, states};
use crate::http::error::ApiError;
use crate::AppState;

/// Marks a device removed and wipes its keys (from the app or the web page), records the
/// event and mails every address (P7).
pub async fn remove_device(
    state: &AppState,
    account: &latchkey_protocol::types::AccountId,
    device_id: &str,
    how: &str,
) -> Result<bool, ApiError> {
    let mut tx = state.db.begin().await?;
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
) -> Result<Option<String>, ApiError> {
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
    let id = latchkey_protocol::types::DeviceId::parse(device_id);
    device::audit_in(
        &mut **tx,
        state,
        account,
        id.as_ref(),
        "device_removed",
        how,
    )
    .await?;
    Ok(Some(row.try_get("name")?))
}

pub(crate) async fn notify_removed(
    state: &AppState,
    account: &latchkey_protocol::types::AccountId,
    name: &str,
    how: &str,
) {
    device::notify_account(
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
