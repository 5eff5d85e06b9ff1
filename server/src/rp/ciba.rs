//! OpenID CIBA through Keycloak: Latchkey is the realm's HTTP *authentication channel*
//! (docs/RP-API.md, docs/keycloak-ciba-notes.md). Keycloak posts each backchannel
//! authentication request here with a bearer token it signed; we check the token against the
//! provider's published keys, push to the user's devices with the binding message as the number
//! to type, answer 201 at once, and post the outcome to Keycloak's callback exactly once (a
//! second callback makes Keycloak drop the request).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use latchkey_protocol::wire::ErrorCode;
use serde::Deserialize;
use sqlx::Row as _;

use super::{Caller, StartAuth};
use crate::error::ServerError;
use crate::AppState;

/// How long a provider's published keys are used before they are fetched again (an unknown
/// key id fetches them at once, at most every [`REFETCH_AFTER`]).
const KEYS_TTL: Duration = Duration::from_secs(300);
const REFETCH_AFTER: Duration = Duration::from_secs(10);

/// The providers' published keys, by issuer.
#[derive(Default)]
pub struct ProviderKeys {
    cache: tokio::sync::Mutex<HashMap<String, (Instant, Arc<JwkSet>)>>,
}

impl ProviderKeys {
    async fn get(
        &self,
        client: &reqwest::Client,
        issuer: &str,
        kid: &str,
    ) -> Result<Arc<JwkSet>, ServerError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, set)) = cache.get(issuer) {
            let fresh = at.elapsed() < KEYS_TTL;
            if fresh && (set.find(kid).is_some() || at.elapsed() < REFETCH_AFTER) {
                return Ok(set.clone());
            }
        }
        let url = format!("{issuer}/protocol/openid-connect/certs");
        let set: JwkSet = client
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| provider_unreachable(&url, &e))?
            .json()
            .await
            .map_err(|e| provider_unreachable(&url, &e))?;
        let set = Arc::new(set);
        cache.insert(issuer.to_owned(), (Instant::now(), set.clone()));
        Ok(set)
    }
}

fn provider_unreachable(url: &str, e: &reqwest::Error) -> ServerError {
    ServerError::of(
        crate::error::ErrorKind::Unavailable,
        format!("cannot read the OpenID provider's keys at {url}: {e}"),
    )
}

fn refused() -> ServerError {
    ServerError::new(
        ErrorCode::Unauthorized,
        "the bearer token is not a valid token of this application's OpenID provider",
    )
}

/// What Keycloak's token says (the rest is not needed).
#[derive(Debug, Deserialize)]
struct Claims {
    /// Unique per request: a request posted twice starts one authentication.
    jti: String,
    /// The issuer, as the client reached it (the callback goes there).
    iss: String,
    /// The client asking (Keycloak's channel tokens always name it).
    azp: String,
    /// The user (Keycloak's id).
    #[allow(dead_code)] // required: a channel token always has it
    sub: String,
    exp: i64,
}

/// Keycloak's request body. Unknown keys are ignored (Keycloak copies some of the client's
/// parameters in, sometimes twice).
#[derive(Debug, Deserialize)]
struct ChannelRequest {
    login_hint: Option<String>,
    binding_message: Option<String>,
}

/// Checks the bearer token against the provider's published keys: signature, issuer,
/// audience, expiry.
async fn verify(state: &AppState, issuer: &str, token: &str) -> Result<Claims, ServerError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| refused())?;
    if !matches!(
        header.alg,
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256
    ) {
        return Err(refused());
    }
    let kid = header.kid.ok_or_else(refused)?;
    let keys = state
        .rp
        .provider_keys
        .get(&state.rp.client, issuer, &kid)
        .await?;
    let jwk = keys.find(&kid).ok_or_else(refused)?;
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return Err(refused());
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| refused())?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.leeway = 30;
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|_| refused())?;
    // A channel token lives as long as the CIBA request (minutes): a long-lived token of the
    // realm that happens to name the issuer as audience is not one.
    if data.claims.exp > state.clock.now_i64() + 3600 {
        return Err(refused());
    }
    Ok(data.claims)
}

/// The application's CIBA issuer, when it takes CIBA requests.
async fn app_for_ciba(state: &AppState, app: &str) -> Result<(Caller, String), ServerError> {
    let row = sqlx::query(
        "SELECT id, name, requests_per_minute, ciba_issuer FROM rp_apps \
         WHERE id = $1 AND revoked_at IS NULL AND ciba_issuer IS NOT NULL",
    )
    .bind(app)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| {
        ServerError::new(
            ErrorCode::NotFound,
            "no application takes CIBA requests here (latchkey-server app ciba APP --issuer …)",
        )
    })?;
    Ok((
        Caller {
            app: row.try_get("id")?,
            name: row.try_get("name")?,
            key: "ciba".into(),
            requests_per_minute: row.try_get("requests_per_minute")?,
        },
        row.try_get("ciba_issuer")?,
    ))
}

/// Takes one authentication request from Keycloak (the caller answers 201 on `Ok`). The
/// application is returned for the call record.
///
/// # Errors
/// `unauthorized` (token), `not_found` (application), `bad_request` (body, binding message),
/// `rate_limited`, `unavailable` (the provider's keys cannot be read).
pub async fn take_request(
    state: &AppState,
    app: &str,
    bearer: &str,
    body: &[u8],
) -> Result<Caller, ServerError> {
    let (caller, issuer) = app_for_ciba(state, app).await?;
    // Counted once the token is the provider's: junk tokens must not spend the application's
    // budget (refusing them costs a header parse, or a signature check at most).
    let claims = verify(state, &issuer, bearer).await?;
    super::count_request(state, &caller).await?;
    let request: ChannelRequest = serde_json::from_slice(body)
        .map_err(|e| ServerError::bad_request(format!("invalid JSON body: {e}")))?;
    let digits = usize::from(state.config.policy.code_digits);
    // Number matching: the binding message the client shows is the number the person types.
    let code = request
        .binding_message
        .filter(|m| m.len() == digits && m.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            ServerError::bad_request(format!(
                "the binding_message must be the {digits}-digit number the client shows (the \
                 person types it on the device)"
            ))
        })?;
    let user = request.login_hint.unwrap_or_default();
    let asking = claims.azp.as_str();
    let browser: String = format!("Sign-in through {asking}")
        .chars()
        .take(120)
        .collect();
    let start = StartAuth {
        user: user.clone(),
        context: super::AuthContext {
            browser: Some(browser),
            ..super::AuthContext::default()
        },
        code: Some(code),
    };
    // A request posted twice (same token id) starts one authentication.
    let transaction = match super::start(
        state,
        &caller,
        &start,
        Some(&format!("ciba:{}", claims.jti)),
    )
    .await
    {
        Ok(started) => started.transaction,
        // An unknown user is refused through the callback, as a user without a device is:
        // the client gets access_denied rather than a server error. Its id comes from the
        // token's, so a request posted twice is still called back once.
        Err(e) if e.code() == ErrorCode::NotFound => {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(format!("{}\n{}", caller.app, claims.jti));
            format!("u{}", latchkey_protocol::b64::encode(&digest[..16]))
        }
        Err(e) => return Err(e),
    };
    let callback = format!(
        "{}/protocol/openid-connect/ext/ciba/auth/callback",
        claims.iss.trim_end_matches('/')
    );
    // The callback must come after our 201 reaches Keycloak.
    let not_before = state.clock.now_millis() + 300;
    sqlx::query(
        "INSERT INTO rp_ciba (transaction_id, app_id, token, callback_url, expires_at, state, \
         next_ms) VALUES ($1, $2, $3, $4, $5, 'pending', $6) \
         ON CONFLICT (transaction_id) DO NOTHING",
    )
    .bind(&transaction)
    .bind(&caller.app)
    .bind(
        state
            .keys
            .seal("ciba-token", &transaction, bearer.as_bytes()),
    )
    .bind(callback)
    .bind(claims.exp)
    .bind(not_before)
    .execute(&state.db)
    .await?;
    state.rp.wake();
    Ok(caller)
}

/// Posts the outcome of every finished CIBA request to its provider, once. An answer of any
/// kind counts as delivered; only a connection that never opened is tried again (Keycloak
/// drops a request called back twice).
///
/// # Errors
/// A storage failure.
pub async fn callback_due(state: &AppState) -> Result<usize, ServerError> {
    let now_ms = state.clock.now_millis();
    let now = state.clock.now_i64();
    let claim = super::random_id();
    // Due: the sign-in was answered or cancelled, there was none (no device, unknown user),
    // or the token expired.
    sqlx::query(
        "UPDATE rp_ciba SET claim = $1, next_ms = $2 WHERE transaction_id IN (\
         SELECT c.transaction_id FROM rp_ciba c \
         LEFT JOIN rp_transactions t ON t.id = c.transaction_id \
         LEFT JOIN logins l ON l.id = t.login_id \
         WHERE c.state = 'pending' AND c.next_ms <= $3 AND (c.expires_at <= $4 \
         OR t.id IS NULL OR t.login_id IS NULL OR l.state <> 'pending' OR l.expires_at <= $4) \
         LIMIT 32)",
    )
    .bind(&claim)
    .bind(now_ms + 60_000)
    .bind(now_ms)
    .bind(now)
    .execute(&state.db)
    .await?;
    let rows = sqlx::query(
        "SELECT c.transaction_id, c.app_id, c.token, c.callback_url, c.expires_at, a.name \
         FROM rp_ciba c JOIN rp_apps a ON a.id = c.app_id WHERE c.claim = $1 AND c.state = 'pending'",
    )
    .bind(&claim)
    .fetch_all(&state.db)
    .await?;
    let claimed = rows.len();
    for row in rows {
        let transaction: String = row.try_get("transaction_id")?;
        let caller = Caller {
            app: row.try_get("app_id")?,
            name: row.try_get("name")?,
            key: "ciba".into(),
            requests_per_minute: 0,
        };
        let expires_at: i64 = row.try_get("expires_at")?;
        let outcome = match super::status(state, &caller, &transaction, Duration::ZERO).await {
            Ok(s) => s.state,
            Err(e) if e.code() == ErrorCode::NotFound => "no_device",
            Err(e) => return Err(e),
        };
        let result = match outcome {
            "approved" => "SUCCEED",
            "cancelled" => "CANCELLED",
            "denied" | "reported" | "locked" | "no_device" => "UNAUTHORIZED",
            // Expired here and there: Keycloak ends it by itself.
            _ if expires_at <= now || outcome == "expired" => {
                finish(
                    state,
                    &transaction,
                    &claim,
                    "expired",
                    0,
                    "expired unanswered",
                )
                .await?;
                continue;
            }
            _ => {
                finish(state, &transaction, &claim, "pending", now_ms + 1000, "").await?;
                continue;
            }
        };
        // At most once: marked as being sent (in its own commit) before the POST; a row left
        // `sending` by a crash or a lost lease is never sent again.
        let marked = sqlx::query(
            "UPDATE rp_ciba SET state = 'sending' WHERE transaction_id = $1 AND claim = $2 \
             AND state = 'pending'",
        )
        .bind(&transaction)
        .bind(&claim)
        .execute(&state.db)
        .await?;
        if marked.rows_affected() != 1 {
            continue;
        }
        let sealed: String = row.try_get("token")?;
        let Some(token) = state.keys.open("ciba-token", &transaction, &sealed) else {
            finish(
                state,
                &transaction,
                &claim,
                "failed",
                0,
                "token does not open",
            )
            .await?;
            continue;
        };
        let token = String::from_utf8_lossy(&token).into_owned();
        let url: String = row.try_get("callback_url")?;
        let sent = state
            .rp
            .client
            .post(&url)
            .bearer_auth(zeroize::Zeroizing::new(token).as_str())
            .json(&serde_json::json!({ "status": result }))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(response) => {
                let note = format!("{result}: HTTP {}", response.status().as_u16());
                finish(state, &transaction, &claim, "sent", 0, &note).await?;
            }
            Err(e) if e.is_connect() && expires_at > now => {
                // Nothing reached the provider: try again.
                let note = format!("not connected: {e}");
                finish(state, &transaction, &claim, "pending", now_ms + 2000, &note).await?;
            }
            Err(e) => {
                tracing::warn!(transaction = %transaction, "CIBA callback may not have arrived; not repeated");
                let note = format!("{result}: {e}");
                finish(state, &transaction, &claim, "failed", 0, &note).await?;
            }
        }
    }
    Ok(claimed)
}

async fn finish(
    state: &AppState,
    transaction: &str,
    claim: &str,
    new_state: &str,
    next_ms: i64,
    outcome: &str,
) -> Result<(), ServerError> {
    let outcome: String = outcome.chars().take(200).collect();
    sqlx::query(
        "UPDATE rp_ciba SET state = $1, next_ms = $2, outcome = $3, claim = '' \
         WHERE transaction_id = $4 AND claim = $5 AND state IN ('pending', 'sending')",
    )
    .bind(new_state)
    .bind(next_ms)
    .bind(outcome)
    .bind(transaction)
    .bind(claim)
    .execute(&state.db)
    .await?;
    Ok(())
}
