//! Signed webhooks, in the Standard Webhooks form (<https://www.standardwebhooks.com>): each
//! event is POSTed as JSON with `webhook-id`, `webhook-timestamp` (unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`. A receiver
//! refuses a bad signature, a timestamp more than [`TOLERANCE_SECS`] away from its clock, and an
//! id it has seen ([`Receiver`] does all three). Retries keep the id and re-sign with a fresh
//! timestamp.
//!
//! Delivery: events are rows of `rp_events` written in the transaction that made them; this
//! sender claims due rows (a lease, so several nodes never post one event twice at once),
//! posts them, and retries with backoff for about a day.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use ring::hmac;
use sqlx::Row as _;

use crate::error::ServerError;
use crate::AppState;

/// How far a webhook's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// Retries after the first try, in seconds: about 26 hours in all.
const BACKOFF: [i64; 9] = [5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 15 * 3600];

/// The secret as shown to the application: `whsec_` and standard base64.
pub fn secret_text(secret: &[u8]) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(secret)
    )
}

fn secret_bytes(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.strip_prefix("whsec_")?)
        .ok()
        .filter(|b| b.len() >= 24)
}

/// The `webhook-signature` value for one delivery.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(context.sign().as_ref())
    )
}

/// Why a receiver refused a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The signature is not the secret's over this id, timestamp and body.
    #[error("the webhook signature does not match")]
    BadSignature,
    /// The timestamp is too far from the receiver's clock (a replay of an old delivery, or a
    /// clock off by more than five minutes).
    #[error("the webhook timestamp is outside the five-minute tolerance")]
    Stale,
    /// This id was received already.
    #[error("this webhook id was received already")]
    Replayed,
}

/// A webhook receiver's checks: signature (constant-time), timestamp tolerance, and ids seen
/// within the tolerance (older ones are refused as stale anyway).
pub struct Receiver {
    key: hmac::Key,
    seen: std::sync::Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Receiver(…)")
    }
}

impl Receiver {
    /// A receiver for the secret `whsec_…` shown when the webhook was set.
    pub fn new(secret: &str) -> Option<Self> {
        let bytes = zeroize::Zeroizing::new(secret_bytes(secret)?);
        Some(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            seen: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Checks one delivery at `now` (unix seconds) and remembers its id.
    ///
    /// # Errors
    /// Why it is refused.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), Refused> {
        let ts: i64 = timestamp.parse().map_err(|_| Refused::Stale)?;
        let mut signed = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
        signed.extend_from_slice(id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(timestamp.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(body);
        // Several signatures may be sent (space-separated) while a secret rotates.
        let valid = signature.split(' ').any(|one| {
            one.strip_prefix("v1,")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .is_some_and(|tag| hmac::verify(&self.key, &signed, &tag).is_ok())
        });
        if !valid {
            return Err(Refused::BadSignature);
        }
        if (now - ts).abs() > TOLERANCE_SECS {
            return Err(Refused::Stale);
        }
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, at| now - *at <= 2 * TOLERANCE_SECS);
        if seen.insert(id.to_owned(), now).is_some() {
            return Err(Refused::Replayed);
        }
        Ok(())
    }
}

const BATCH: usize = 32;

/// Claims up to [`BATCH`] due events and posts them; how many were claimed.
///
/// # Errors
/// A storage failure.
pub async fn deliver_due(state: &AppState, client: &reqwest::Client) -> Result<usize, ServerError> {
    let now_ms = state.clock.now_millis();
    let claim = super::random_id();
    // The lease: another node (or this one, next round) leaves these alone for 60 s.
    sqlx::query(
        "UPDATE rp_events SET claim = $1, next_ms = $2 WHERE id IN (SELECT id FROM rp_events \
         WHERE state = 'pending' AND next_ms <= $3 ORDER BY next_ms LIMIT $4)",
    )
    .bind(&claim)
    .bind(now_ms + 60_000)
    .bind(now_ms)
    .bind(i64::try_from(BATCH).unwrap_or(32))
    .execute(&state.db)
    .await?;
    let rows = sqlx::query(&format!(
        "SELECT e.{}, e.attempts, e.app_id, a.webhook_url, a.webhook_secret FROM rp_events e \
         JOIN rp_apps a ON a.id = e.app_id WHERE e.claim = $1 AND e.state = 'pending' \
         AND a.revoked_at IS NULL \
         ORDER BY e.created_ms",
        super::EVENT_COLUMNS.replace(", ", ", e.")
    ))
    .bind(&claim)
    .fetch_all(&state.db)
    .await?;
    let claimed = rows.len();
    // Posted side by side: one receiver that never answers costs the round its timeout, not
    // the timeout times the batch (and never delays the CIBA callbacks, which have their own
    // task).
    let deliveries = rows
        .iter()
        .map(|row| deliver_one(state, client, row, &claim));
    for result in futures_util::future::join_all(deliveries).await {
        result?;
    }
    Ok(claimed)
}

/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

async fn deliver_one(
    state: &AppState,
    client: &reqwest::Client,
    row: &sqlx::any::AnyRow,
    claim: &str,
) -> Result<(), ServerError> {
    let event = super::event_from_row(row)?;
    let app: String = row.try_get("app_id")?;
    let attempts: i64 = row.try_get("attempts")?;
    let url: Option<String> = row.try_get("webhook_url")?;
    let sealed: Option<String> = row.try_get("webhook_secret")?;
    let secret = sealed.and_then(|s| state.keys.open("webhook-secret", &app, &s));
    let (Some(url), Some(secret)) = (url, secret) else {
        return record(state, &event.id, claim, "failed", attempts, 0, "no webhook").await;
    };
    let body = serde_json::to_vec(&event).map_err(|e| ServerError::internal("event", e))?;
    let timestamp = state.clock.now_i64();
    let signature = sign(&secret, &event.id, timestamp, &body);
    let sent = client
        .post(&url)
        .header("content-type", "application/json")
        .header("user-agent", "Latchkey-Webhook/1")
        .header("webhook-id", &event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .timeout(DELIVERY_TIMEOUT)
        .send()
        .await;
    let why = match &sent {
        Ok(r) if r.status().is_success() => {
            return record(
                state,
                &event.id,
                claim,
                "sent",
                attempts + 1,
                0,
                "delivered",
            )
            .await;
        }
        Ok(r) => format!("HTTP {}", r.status().as_u16()),
        // The error's text names the host, never the secret.
        Err(e) => format!("not delivered: {e}"),
    };
    let next = usize::try_from(attempts)
        .ok()
        .and_then(|a| BACKOFF.get(a))
        .copied();
    match next {
        Some(wait) => {
            let at = state.clock.now_millis() + wait * 1000;
            record(state, &event.id, claim, "pending", attempts + 1, at, &why).await
        }
        None => {
            tracing::warn!(app = %app, event = %event.id, "webhook given up after retries");
            record(state, &event.id, claim, "failed", attempts + 1, 0, &why).await
        }
    }
}

/// Records a delivery's outcome, only under the claim that made it.
async fn record(
    state: &AppState,
    id: &str,
    claim: &str,
    new_state: &str,
    attempts: i64,
    next_ms: i64,
    outcome: &str,
) -> Result<(), ServerError> {
    let outcome: String = outcome.chars().take(200).collect();
    sqlx::query(
        "UPDATE rp_events SET state = $1, attempts = $2, next_ms = $3, outcome = $4, claim = '' \
         WHERE id = $5 AND claim = $6",
    )
    .bind(new_state)
    .bind(attempts)
    .bind(next_ms)
    .bind(outcome)
    .bind(id)
    .bind(claim)
    .execute(&state.db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's own example: this secret, id, timestamp and body
    /// sign to this value (a receiver using any of its libraries accepts our deliveries).
    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        let secret = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn receiver_refuses_tampering_staleness_and_replays() {
        let text = secret_text(&[7u8; 32]);
        let receiver = Receiver::new(&text).expect("secret");
        let body = br#"{"type":"authentication.approved"}"#;
        let sig = sign(&[7u8; 32], "ev1", 1000, body);
        assert_eq!(
            receiver.verify("ev1", "1000", &sig, b"{}", 1000),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            receiver.verify("ev2", "1000", &sig, body, 1000),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            receiver.verify("ev1", "1000", &sig, body, 1000 + TOLERANCE_SECS + 1),
            Err(Refused::Stale)
        );
        assert_eq!(receiver.verify("ev1", "1000", &sig, body, 1001), Ok(()));
        assert_eq!(
            receiver.verify("ev1", "1000", &sig, body, 1002),
            Err(Refused::Replayed)
        );
        assert!(Receiver::new("whsec_short").is_none());
    }
}
