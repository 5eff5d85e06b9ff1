//! Push notifications through an outbox. A push carries only the opaque challenge id (P4); the
//! device fetches the challenge over an authenticated request. Long-poll
//! (`/api/v1/challenges`) always works, whatever a provider does.
//!
//! - [`targets`]: where each device is woken (registered, rotated, dropped by the device; dropped
//!   when a provider says the token is gone).
//! - [`outbox`]: a job per (challenge, pushed device) written in the transaction that creates the
//!   challenge; claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several server
//!   processes never send one job twice), finished with its outcome.
//! - [`sender`]: delivers due jobs through the configured [`Provider`]s with retries,
//!   exponential backoff with jitter, `Retry-After`, and gives up when the challenge expires.
//! - [`fcm`]: Firebase Cloud Messaging HTTP v1.
//! - [`apns`]: Apple Push Notification service (HTTP/2, token auth).
//! - [`wns`]: Windows Push Notification Services (raw notifications).
//! - [`webpush`]: Web Push / UnifiedPush (RFC 8030, 8291, 8292).

pub mod apns;
pub mod fcm;
pub mod outbox;
pub mod sender;
pub mod targets;
pub mod webpush;
pub mod wns;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use latchkey_protocol::types::{ChallengeId, DeviceId};
use latchkey_protocol::wire::{PushKind, PushTarget};

/// Delivers "you have a challenge" to a device; must not block. The outbox is the real
/// channel: this only wakes the sender.
pub trait Pusher: Send + Sync {
    /// A challenge was created for `device`.
    fn push(&self, device: &DeviceId, challenge: &ChallengeId);
}

/// Logs the push (ids only) and relies on the long-poll path.
pub struct LogPusher;

impl Pusher for LogPusher {
    fn push(&self, device: &DeviceId, challenge: &ChallengeId) {
        tracing::info!(%device, %challenge, "push: challenge available (long-poll delivers it)");
    }
}

/// Wakes the outbox sender at once (instead of at its next scheduled look).
pub struct WakeSender(pub std::sync::Arc<tokio::sync::Notify>);

impl Pusher for WakeSender {
    fn push(&self, device: &DeviceId, challenge: &ChallengeId) {
        tracing::debug!(%device, %challenge, "push: job queued");
        self.0.notify_one();
    }
}

/// One push to send.
pub struct Delivery<'a> {
    /// Where.
    pub target: &'a PushTarget,
    /// The only thing the push carries.
    pub challenge: &'a ChallengeId,
    /// Seconds the challenge has left (the push's time to live).
    pub ttl_secs: u64,
    /// The server clock (unix seconds).
    pub now: u64,
    /// When the device registered this target (unix seconds).
    pub registered_at: i64,
}

/// What a provider said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted for delivery.
    Sent,
    /// The token is gone (app uninstalled, token rotated): drop the target.
    Gone(String),
    /// Try again later (429, 5xx, network); `after` is the provider's `Retry-After`.
    Retry {
        /// The provider's wish.
        after: Option<Duration>,
        /// For operators.
        reason: String,
    },
    /// Refused for good (bad request, wrong sender id): record it, do not retry.
    Refused(String),
    /// The provider refused our access token (FCM/WNS 401, APNs expired provider token): the
    /// provider gets a new one and tries once more; the sender treats it as a retry.
    AuthRefused(String),
}

/// A future a provider returns.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// A push service's sender.
pub trait Provider: Send + Sync {
    /// Which targets it serves.
    fn kind(&self) -> PushKind;
    /// The VAPID public key devices subscribe with (Web Push only).
    fn vapid_public_key(&self) -> Option<String> {
        None
    }
    /// Whether a device may register `token` with this provider (WNS: only channel URIs on
    /// its hosts).
    fn accepts(&self, _token: &str) -> bool {
        true
    }
    /// Sends one push.
    fn send<'a>(&'a self, delivery: Delivery<'a>) -> Sending<'a>;
}

/// The configured providers, by kind.
#[derive(Default)]
pub struct Providers(Vec<Box<dyn Provider>>);

impl Providers {
    /// Providers from a list.
    pub fn new(providers: Vec<Box<dyn Provider>>) -> Self {
        Self(providers)
    }

    /// The provider for `kind`.
    pub fn get(&self, kind: PushKind) -> Option<&dyn Provider> {
        self.0.iter().find(|p| p.kind() == kind).map(|p| &**p)
    }

    /// What devices are told at `GET /api/v1/push/config`.
    pub fn describe(&self) -> latchkey_protocol::wire::PushConfigResponse {
        latchkey_protocol::wire::PushConfigResponse {
            services: self.0.iter().map(|p| p.kind()).collect(),
            webpush_vapid_key: self.0.iter().find_map(|p| p.vapid_public_key()),
        }
    }

    /// Whether this server pushes through `kind`.
    pub fn serves(&self, kind: PushKind) -> bool {
        self.get(kind).is_some()
    }
}

/// An OAuth access token a provider caches (FCM, WNS): used until a minute before it
/// expires, replaced when the provider refused it — unless another send replaced it already.
#[derive(Default)]
pub(crate) struct TokenCache(tokio::sync::Mutex<Option<(String, u64)>>);

impl TokenCache {
    /// The cached token, or a new one from `fetch` (a token and its lifetime in seconds) when
    /// there is none, it expired, or it is the one the provider `refused`. Concurrent sends
    /// wait for one fetch.
    pub(crate) async fn get<F>(
        &self,
        now: u64,
        refused: Option<&str>,
        fetch: F,
    ) -> Result<String, Outcome>
    where
        F: Future<Output = Result<(String, u64), Outcome>>,
    {
        let mut cached = self.0.lock().await;
        if let Some((token, until)) = &*cached {
            if now < *until && refused != Some(token.as_str()) {
                return Ok(token.clone());
            }
        }
        let (token, expires_in) = fetch.await?;
        *cached = Some((token.clone(), now + expires_in.saturating_sub(60)));
        Ok(token)
    }
}

/// Trades `form` for an OAuth access token at `uri`: the token and its lifetime in seconds.
/// 429 and 5xx are retried; other refusals (a revoked or wrong credential) are not, since
/// retrying changes nothing.
pub(crate) async fn oauth_token(
    http: &reqwest::Client,
    uri: &str,
    form: &[(&str, &str)],
    service: &str,
) -> Result<(String, u64), Outcome> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        access_token: String,
        expires_in: u64,
    }
    let retry = |e: reqwest::Error| Outcome::Retry {
        after: None,
        reason: format!("{service} token endpoint: {}", e.without_url()),
    };
    let answer = http.post(uri).form(form).send().await.map_err(retry)?;
    let status = answer.status();
    if !status.is_success() {
        let reason = format!("{service} token endpoint answered {status}");
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            Outcome::Retry {
                after: None,
                reason,
            }
        } else {
            Outcome::Refused(reason)
        });
    }
    let token: TokenResponse = answer.json().await.map_err(retry)?;
    Ok((token.access_token, token.expires_in))
}

/// An HTTP client for providers: webpki roots plus `extra_ca_pem` (a deployment's proxy, or
/// the test CA of the loopback fakes).
///
/// # Errors
/// The CA does not parse, or the client cannot be built.
pub fn http_client(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
    http_client_builder(extra_ca_pem)?
        .build()
        .map_err(|e| e.to_string())
}

/// [`http_client`] before it is built (Web Push adds its own resolver).
///
/// # Errors
/// The CA does not parse.
pub fn http_client_builder(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::ClientBuilder, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = extra_ca_pem {
        let cert = reqwest::Certificate::from_pem(pem).map_err(|e| e.to_string())?;
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder)
}

/// A provider's `Retry-After` header (seconds or an HTTP date), capped at an hour.
pub(crate) fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: std::time::SystemTime,
) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let after = match value.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or_default(),
    };
    Some(after.min(Duration::from_secs(3600)))
}
