//! Accounts: their addresses and notices (P7), the password hash, whether they ever had a
//! device, "this wasn't me" muting, and creating one from a confirmed registration.

use latchkey_protocol::types::AccountId;
use sqlx::Row as _;

use crate::error::ServerError;
use crate::AppState;

/// Sends a notice to every address on the account (P7). Failures are logged, not fatal.
pub(crate) async fn notify(
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
) -> Result<Vec<String>, ServerError> {
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

/// The account with this e-mail address.
pub(crate) async fn id_by_email(
    state: &AppState,
    email: &str,
) -> Result<Option<AccountId>, ServerError> {
    let row = sqlx::query("SELECT id FROM accounts WHERE email = $1")
        .bind(email)
        .fetch_optional(&state.db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("id")?;
    AccountId::parse(&id)
        .map(Some)
        .ok_or_else(|| ServerError::internal("bad account id", id))
}
