//! Accounts: their addresses and notices (P7), the password hash, whether they ever had a
//! device, "this wasn't me" muting, and creating one from a confirmed registration.

use latchkey_protocol::types::AccountId;
use sqlx::Row as _;

use crate::error::ServerError;
use crate::AppState;

/// Sends a notice to every address on the account (P7). Failures are logged, not fatal.
pub(crate) async fn notify(state: &AppState, account: &AccountId, subject: &str, body: &str) {
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
    // An application's user has no address of its own and never signs in on the web.
    let row = sqlx::query("SELECT id FROM accounts WHERE email = $1 AND app_id IS NULL")
        .bind(email)
        .fetch_optional(&state.db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("id")?;
    AccountId::parse(&id)
        .map(Some)
        .ok_or_else(|| ServerError::internal("bad account id", id))
}

/// The account's sign-in address.
pub(crate) async fn email(state: &AppState, account: &AccountId) -> Result<String, ServerError> {
    Ok(sqlx::query("SELECT email FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_one(&state.db)
        .await?
        .try_get("email")?)
}

/// How the app names the account: the service and who ("Latchkey demo", "alice@example.org";
/// for an application's user, the application's name and the user's display name).
pub(crate) async fn label(
    state: &AppState,
    account: &AccountId,
) -> Result<(String, String), ServerError> {
    let row = sqlx::query(
        "SELECT a.email, p.name AS app_name, u.display_name FROM accounts a \
         LEFT JOIN rp_users u ON u.account_id = a.id LEFT JOIN rp_apps p ON p.id = u.app_id \
         WHERE a.id = $1",
    )
    .bind(account.to_string())
    .fetch_one(&state.db)
    .await?;
    match (
        row.try_get::<Option<String>, _>("app_name")?,
        row.try_get::<Option<String>, _>("display_name")?,
    ) {
        (Some(app), Some(who)) => Ok((app, who)),
        _ => Ok((
            state.config.policy.service_name.clone(),
            row.try_get("email")?,
        )),
    }
}

/// Deletes expired registration links.
pub(crate) async fn sweep_registrations(state: &AppState) -> Result<(), ServerError> {
    sqlx::query("DELETE FROM registrations WHERE expires_at <= $1")
        .bind(state.clock.now_i64())
        .execute(&state.db)
        .await?;
    Ok(())
}

/// The account whose address is `email` and whose password is `password`; `None` for a wrong
/// password or an unknown address — which costs the same argon2 work, so timing does not tell
/// them apart.
pub(crate) async fn check_password(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<Option<AccountId>, ServerError> {
    let row =
        sqlx::query("SELECT id, password_hash FROM accounts WHERE email = $1 AND app_id IS NULL")
            .bind(email)
            .fetch_optional(&state.db)
            .await?;
    let (account, hash) = match &row {
        Some(r) => (
            r.try_get::<String, _>("id")
                .ok()
                .and_then(|a| AccountId::parse(&a)),
            r.try_get::<String, _>("password_hash")?,
        ),
        None => (None, crate::passwords::dummy_hash().await),
    };
    let ok = crate::passwords::verify_password(password, &hash).await;
    Ok(account.filter(|_| ok))
}

/// Whether `password` is the password of `account`.
pub(crate) async fn password_matches(
    state: &AppState,
    account: &AccountId,
    password: &str,
) -> Result<bool, ServerError> {
    let hash: String = sqlx::query("SELECT password_hash FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_one(&state.db)
        .await?
        .try_get("password_hash")?;
    Ok(crate::passwords::verify_password(password, &hash).await)
}

/// Whether the account ever finished enrolling a device (from then on the password alone is
/// never enough, P7).
pub(crate) async fn had_device(state: &AppState, account: &AccountId) -> Result<bool, ServerError> {
    let had: i64 = sqlx::query("SELECT had_device FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_one(&state.db)
        .await?
        .try_get("had_device")?;
    Ok(had != 0)
}

/// Marks the account as having had a device, inside the enrolment's transaction; `true` when
/// this is its first. The account row is written first: it serialises the finishes of one
/// account's enrolments.
pub(crate) async fn mark_first_device(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &AccountId,
) -> Result<bool, ServerError> {
    Ok(
        sqlx::query("UPDATE accounts SET had_device = 1 WHERE id = $1 AND had_device = 0")
            .bind(account.to_string())
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1,
    )
}

/// "This wasn't me": no pushes for the account until `until` (unix seconds).
pub(crate) async fn mute(
    state: &AppState,
    account: &AccountId,
    until: i64,
) -> Result<(), ServerError> {
    sqlx::query("UPDATE accounts SET muted_until = $1 WHERE id = $2")
        .bind(until)
        .bind(account.to_string())
        .execute(&state.db)
        .await?;
    Ok(())
}

/// Until when pushes are muted (unix seconds; in the past when not muted).
pub(crate) async fn muted_until(state: &AppState, account: &AccountId) -> Result<i64, ServerError> {
    Ok(
        sqlx::query("SELECT muted_until FROM accounts WHERE id = $1")
            .bind(account.to_string())
            .fetch_one(&state.db)
            .await?
            .try_get("muted_until")?,
    )
}

/// How long the link that finishes a registration works, seconds.
pub(crate) const REGISTRATION_TTL: i64 = 3600;

fn registration_hash(token: &str) -> String {
    let digest =
        latchkey_protocol::types::Digest::of(format!("latchkey-register/{token}").as_bytes());
    latchkey_protocol::b64::encode(digest.as_bytes())
}

/// Keeps a registration (address and password hash) under a fresh 128-bit token (like an
/// enrolment code, P6), stored only as its hash; the token, for the mailed link.
pub(crate) async fn add_registration(
    state: &AppState,
    email: &str,
    password_hash: &str,
) -> Result<zeroize::Zeroizing<String>, ServerError> {
    let mut raw = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
    let token = zeroize::Zeroizing::new(latchkey_protocol::b64::encode(&raw));
    let now = state.clock.now_i64();
    sqlx::query(
        "INSERT INTO registrations (token_hash, email, password_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(registration_hash(&token))
    .bind(email)
    .bind(password_hash)
    .bind(now)
    .bind(now + REGISTRATION_TTL)
    .execute(&state.db)
    .await?;
    Ok(token)
}

/// The address of the live registration with this token.
pub(crate) async fn registration_email(
    state: &AppState,
    token: &str,
) -> Result<Option<String>, ServerError> {
    Ok(
        sqlx::query("SELECT email FROM registrations WHERE token_hash = $1 AND expires_at > $2")
            .bind(registration_hash(token))
            .bind(state.clock.now_i64())
            .fetch_optional(&state.db)
            .await?
            .map(|r| r.try_get("email"))
            .transpose()?,
    )
}

/// What finishing a registration did.
pub(crate) enum Registered {
    /// The account was created.
    Created(AccountId),
    /// The link is unknown, used or expired.
    Gone,
    /// An account with this address was created meanwhile.
    Exists,
}

/// Finishes a registration (the token is used once): creates the account with its address.
pub(crate) async fn finish_registration(
    state: &AppState,
    token: &str,
) -> Result<Registered, ServerError> {
    let row = sqlx::query(
        "DELETE FROM registrations WHERE token_hash = $1 AND expires_at > $2 \
         RETURNING email, password_hash",
    )
    .bind(registration_hash(token))
    .bind(state.clock.now_i64())
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else {
        return Ok(Registered::Gone);
    };
    let email: String = row.try_get("email")?;
    let hash: String = row.try_get("password_hash")?;
    let account = AccountId::random(&mut rand_core::OsRng);
    let mut tx = state.durable_db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO accounts (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING",
    )
    .bind(account.to_string())
    .bind(&email)
    .bind(&hash)
    .bind(state.clock.now_i64())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(Registered::Exists);
    }
    sqlx::query("INSERT INTO addresses (account_id, address) VALUES ($1, $2)")
        .bind(account.to_string())
        .bind(&email)
        .execute(&mut *tx)
        .await?;
    crate::audit::record_in(&mut tx, state, &account, None, "account_created", "").await?;
    tx.commit().await?;
    Ok(Registered::Created(account))
}
