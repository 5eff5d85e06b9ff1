//! Applications and their API keys: what `latchkey-server app …` does. A key and a webhook
//! secret are shown once, when made; the database keeps the key's hash and the secret sealed
//! under the master key (it is needed to sign).

use latchkey_protocol::b64;
use rand_core::{OsRng, RngCore as _};
use serde::Serialize;
use sqlx::{AnyPool, Row as _};

use crate::error::{ErrorKind, ServerError};
use crate::keys::ServerKeys;

/// A new application, with its first key.
#[derive(Serialize)]
pub struct NewApp {
    /// The application's id.
    pub app: String,
    /// Its name.
    pub name: String,
    /// Its first key's id.
    pub key_id: String,
    /// The API key (`lk1.…`): shown once.
    pub key: String,
    /// The webhook secret (`whsec_…`), when a webhook was set: shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for NewApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApp")
            .field("app", &self.app)
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// An application as `app list` shows it (no secrets).
#[derive(Debug, Serialize)]
pub struct AppInfo {
    /// Its id.
    pub app: String,
    /// Its name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, when revoked.
    pub revoked_at: Option<i64>,
    /// Where events are posted.
    pub webhook_url: Option<String>,
    /// Requests per minute.
    pub requests_per_minute: i64,
    /// Live keys' ids.
    pub keys: Vec<String>,
    /// The OpenID provider whose CIBA requests it takes.
    pub ciba_issuer: Option<String>,
}

fn config(message: impl Into<String>) -> ServerError {
    ServerError::of(ErrorKind::Config, message)
}

fn check_name(name: &str) -> Result<(), ServerError> {
    if name.trim().is_empty() || name.chars().count() > 40 || name.chars().any(super::unsafe_char) {
        return Err(config(
            "an application's name has 1 to 40 characters (people see it in the app)",
        ));
    }
    Ok(())
}

/// Checks an address the server calls (a webhook, an OpenID provider): HTTPS, no user name or
/// password in it.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn check_webhook_url(text: &str) -> Result<(), ServerError> {
    let url = url::Url::parse(text).map_err(|e| config(format!("{text} is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(config(format!(
            "{text}: the address must start with https://"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() || url.host_str().is_none() {
        return Err(config(
            "the address needs a host and no user name or password",
        ));
    }
    Ok(())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A new key for `app`: its id and the key text.
async fn insert_key(db: &AnyPool, app: &str, now: i64) -> Result<(String, String), ServerError> {
    let id = random_hex(8);
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let secret = zeroize::Zeroizing::new(b64::encode(&secret));
    sqlx::query("INSERT INTO rp_keys (id, app_id, key_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(app)
        .bind(super::key_hash(&secret))
        .bind(now)
        .execute(db)
        .await?;
    let key = format!("lk1.{id}.{}", secret.as_str());
    Ok((id, key))
}

/// A new webhook secret for `app`, sealed into the database; its text (`whsec_…`).
async fn set_secret(
    db: &AnyPool,
    keys: &ServerKeys,
    app: &str,
    url: Option<&str>,
) -> Result<Option<String>, ServerError> {
    let Some(url) = url else {
        sqlx::query("UPDATE rp_apps SET webhook_url = NULL, webhook_secret = NULL WHERE id = $1")
            .bind(app)
            .execute(db)
            .await?;
        return Ok(None);
    };
    check_webhook_url(url)?;
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(secret.as_mut());
    let updated = sqlx::query(
        "UPDATE rp_apps SET webhook_url = $1, webhook_secret = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(url)
    .bind(keys.seal("webhook-secret", app, secret.as_ref()))
    .bind(app)
    .execute(db)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(config(format!("no live application {app}")));
    }
    Ok(Some(super::webhooks::secret_text(secret.as_ref())))
}

/// Adds an application with one key (and a webhook when `webhook` is given).
///
/// # Errors
/// A bad name or webhook address, or a storage failure.
pub async fn add_app(
    db: &AnyPool,
    keys: &ServerKeys,
    name: &str,
    webhook: Option<&str>,
    requests_per_minute: i64,
    now: i64,
) -> Result<NewApp, ServerError> {
    check_name(name)?;
    if let Some(url) = webhook {
        check_webhook_url(url)?;
    }
    if !(1..=100_000).contains(&requests_per_minute) {
        return Err(config("requests per minute: 1 to 100000"));
    }
    let app = random_hex(8);
    sqlx::query(
        "INSERT INTO rp_apps (id, name, created_at, requests_per_minute) VALUES ($1, $2, $3, $4)",
    )
    .bind(&app)
    .bind(name.trim())
    .bind(now)
    .bind(requests_per_minute)
    .execute(db)
    .await?;
    let (key_id, key) = insert_key(db, &app, now).await?;
    let webhook_secret = set_secret(db, keys, &app, webhook).await?;
    Ok(NewApp {
        app,
        name: name.trim().to_owned(),
        key_id,
        key,
        webhook_secret,
    })
}

async fn live_app(db: &AnyPool, app: &str) -> Result<(), ServerError> {
    let found = sqlx::query("SELECT id FROM rp_apps WHERE id = $1 AND revoked_at IS NULL")
        .bind(app)
        .fetch_optional(db)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| config(format!("no live application {app} (see: app list)")))
}

/// Adds a key to `app` (to rotate: add, deploy, then revoke the old one).
///
/// # Errors
/// No such live application, or a storage failure.
pub async fn add_key(db: &AnyPool, app: &str, now: i64) -> Result<(String, String), ServerError> {
    live_app(db, app).await?;
    insert_key(db, app, now).await
}

/// Revokes one key: refused from the next request on.
///
/// # Errors
/// No such live key, or a storage failure.
pub async fn revoke_key(db: &AnyPool, key_id: &str, now: i64) -> Result<(), ServerError> {
    let done =
        sqlx::query("UPDATE rp_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(key_id)
            .execute(db)
            .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(config(format!("no live key {key_id} (see: app list)")))
    }
}

/// Revokes an application: every key refused, no more webhooks. Its users stay (an
/// operator can look at them); nothing reaches them through it any more.
///
/// # Errors
/// No such live application, or a storage failure.
pub async fn revoke_app(db: &AnyPool, app: &str, now: i64) -> Result<(), ServerError> {
    live_app(db, app).await?;
    sqlx::query(
        "UPDATE rp_apps SET revoked_at = $1, webhook_url = NULL, webhook_secret = NULL, \
         ciba_issuer = NULL WHERE id = $2",
    )
    .bind(now)
    .bind(app)
    .execute(db)
    .await?;
    sqlx::query("UPDATE rp_events SET state = 'failed', outcome = 'application revoked' WHERE app_id = $1 AND state = 'pending'")
        .bind(app)
        .execute(db)
        .await?;
    Ok(())
}

/// Sets (a new secret, shown once) or clears the webhook of `app`.
///
/// # Errors
/// No such live application, a bad address, or a storage failure.
pub async fn set_webhook(
    db: &AnyPool,
    keys: &ServerKeys,
    app: &str,
    url: Option<&str>,
) -> Result<Option<String>, ServerError> {
    live_app(db, app).await?;
    set_secret(db, keys, app, url).await
}

/// Sets (or clears, with `None`) the OpenID provider whose CIBA requests `app` takes: its
/// issuer URL (`https://…/realms/NAME` for Keycloak). The channel to give the provider is
/// `PUBLIC_URL/rp/v1/ciba/keycloak/APP`.
///
/// # Errors
/// No such live application, a bad URL, or a storage failure.
pub async fn set_ciba(db: &AnyPool, app: &str, issuer: Option<&str>) -> Result<(), ServerError> {
    live_app(db, app).await?;
    if let Some(issuer) = issuer {
        check_webhook_url(issuer)?;
    }
    sqlx::query("UPDATE rp_apps SET ciba_issuer = $1 WHERE id = $2")
        .bind(issuer.map(|i| i.trim_end_matches('/')))
        .bind(app)
        .execute(db)
        .await?;
    Ok(())
}

/// Every application, oldest first.
///
/// # Errors
/// A storage failure.
pub async fn list(db: &AnyPool) -> Result<Vec<AppInfo>, ServerError> {
    let rows = sqlx::query(
        "SELECT id, name, created_at, revoked_at, webhook_url, requests_per_minute, ciba_issuer \
         FROM rp_apps \
         ORDER BY created_at, id",
    )
    .fetch_all(db)
    .await?;
    let mut apps = Vec::new();
    for r in &rows {
        let app: String = r.try_get("id")?;
        let keys = sqlx::query_scalar::<_, String>(
            "SELECT id FROM rp_keys WHERE app_id = $1 AND revoked_at IS NULL ORDER BY created_at",
        )
        .bind(&app)
        .fetch_all(db)
        .await?;
        apps.push(AppInfo {
            name: r.try_get("name")?,
            created_at: r.try_get("created_at")?,
            revoked_at: r.try_get("revoked_at")?,
            webhook_url: r.try_get("webhook_url")?,
            requests_per_minute: r.try_get("requests_per_minute")?,
            ciba_issuer: r.try_get("ciba_issuer")?,
            keys,
            app,
        });
    }
    Ok(apps)
}
