//! A loopback APNs as strict as Apple's for what the server sends: HTTP/2 only, real TLS with
//! a test CA; the provider token is an ES256 JWT that must verify with the team's key, name the
//! key id and team, and be younger than an hour; `apns-push-type`, `apns-priority`,
//! `apns-expiration`, `apns-collapse-id` (≤ 64 bytes) and `apns-topic` must be right; the
//! payload must be the alert and the challenge id and nothing else, under 4 KiB. It counts the
//! distinct provider tokens it saw (Apple throttles re-minting), can script errors, and can
//! send a GOAWAY on its open connections in the middle of a run, as APNs does.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The bundle id the fake expects.
pub const TOPIC: &str = "org.latchkey.app";
const KEY_ID: &str = "ABC123DEFG";
const TEAM_ID: &str = "DEF123GHIJ";

#[derive(Default)]
struct Inner {
    public_pem: String,
    tokens: Mutex<HashSet<String>>,
    accepted: Mutex<Vec<(HeaderMap, Value)>>,
    refusals: Mutex<Vec<String>>,
    script: Mutex<VecDeque<(u16, &'static str, Option<i64>)>>,
    now: Mutex<u64>,
}

/// The running fake.
pub struct ApnsFake {
    /// `https://localhost:PORT`.
    pub url: String,
    /// The CA its certificate chains to.
    pub ca_pem: Vec<u8>,
    /// The `.p8` key (PKCS#8 PEM) the server signs provider tokens with.
    pub private_pem: String,
    /// The key id.
    pub key_id: &'static str,
    /// The team id.
    pub team_id: &'static str,
    inner: Arc<Inner>,
    handle: Mutex<axum_server::Handle>,
    net: crate::Loopback,
}

fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/3/device/{token}", post(push))
        .with_state(inner)
}

impl ApnsFake {
    /// Starts the fake with a fresh P-256 key.
    pub async fn start() -> Self {
        use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
        let (net, listener) = crate::Loopback::bind().await;
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let private_pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PEM")
            .to_string();
        let public_pem = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM");
        let inner = Arc::new(Inner {
            public_pem,
            now: Mutex::new(crate::now()),
            ..Inner::default()
        });
        let handle = net.serve(listener, router(inner.clone()));
        Self {
            url: net.url.clone(),
            ca_pem: net.ca_pem.clone(),
            private_pem,
            key_id: KEY_ID,
            team_id: TEAM_ID,
            inner,
            handle: Mutex::new(handle),
            net,
        }
    }

    /// Apple's clock (tokens are judged against it); follows the server's clock in tests.
    pub fn set_now(&self, now: u64) {
        *self.inner.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// Queues answers: status, APNs `reason`, and for 410 the unregistration `timestamp` (ms).
    pub fn script(&self, answers: impl IntoIterator<Item = (u16, &'static str, Option<i64>)>) {
        self.inner
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(answers);
    }

    /// Pushes accepted: their headers and payload.
    pub fn accepted(&self) -> Vec<(HeaderMap, Value)> {
        self.inner
            .accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Distinct provider tokens seen.
    pub fn tokens(&self) -> usize {
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Why pushes were refused for breaking Apple's rules.
    pub fn refusals(&self) -> Vec<String> {
        self.inner
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends GOAWAY on every open connection (HTTP/2 graceful shutdown) and listens again on
    /// the same port: a client must open a new connection and lose nothing.
    pub async fn goaway(&self) {
        let old = self
            .handle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        old.graceful_shutdown(Some(std::time::Duration::from_millis(200)));
        // The port frees once the old server has stopped accepting.
        let listener = loop {
            match std::net::TcpListener::bind(("127.0.0.1", self.net.port)) {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        };
        listener.set_nonblocking(true).expect("nonblocking");
        *self.handle.lock().unwrap_or_else(|e| e.into_inner()) =
            self.net.serve(listener, router(self.inner.clone()));
    }

    /// Stops the fake.
    pub fn stop(&self) {
        self.handle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shutdown();
    }
}

fn apns_error(status: u16, reason: &str, timestamp: Option<i64>) -> Response {
    let mut body = json!({ "reason": reason });
    if let Some(ts) = timestamp {
        body["timestamp"] = json!(ts);
    }
    (StatusCode::from_u16(status).expect("status"), Json(body)).into_response()
}

fn refuse(inner: &Inner, reason: &'static str, why: String) -> Response {
    inner
        .refusals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(why);
    apns_error(400, reason, None)
}

#[derive(serde::Deserialize)]
struct Claims {
    iss: String,
    iat: u64,
}

async fn push(
    State(inner): State<Arc<Inner>>,
    Path(token): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if version != Version::HTTP_2 {
        return refuse(&inner, "BadRequest", format!("HTTP version {version:?}"));
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let Some(jwt) = header("authorization")
        .strip_prefix("bearer ")
        .or_else(|| header("authorization").strip_prefix("Bearer "))
    else {
        return apns_error(403, "MissingProviderToken", None);
    };
    let Ok(jwt_header) = jsonwebtoken::decode_header(jwt) else {
        return apns_error(403, "InvalidProviderToken", None);
    };
    if jwt_header.alg != jsonwebtoken::Algorithm::ES256 || jwt_header.kid.as_deref() != Some(KEY_ID)
    {
        return apns_error(403, "InvalidProviderToken", None);
    }
    let key = jsonwebtoken::DecodingKey::from_ec_pem(inner.public_pem.as_bytes()).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_required_spec_claims(&["iat", "iss"]);
    validation.validate_exp = false;
    let Ok(claims) = jsonwebtoken::decode::<Claims>(jwt, &key, &validation).map(|d| d.claims)
    else {
        return apns_error(403, "InvalidProviderToken", None);
    };
    let now = *inner.now.lock().unwrap_or_else(|e| e.into_inner());
    if claims.iss != TEAM_ID {
        return apns_error(403, "InvalidProviderToken", None);
    }
    if now.saturating_sub(claims.iat) >= 3600 {
        return apns_error(403, "ExpiredProviderToken", None);
    }
    inner
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(jwt.to_owned());
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return apns_error(400, "BadDeviceToken", None);
    }
    if header("apns-topic") != TOPIC {
        return refuse(
            &inner,
            "TopicDisallowed",
            format!("topic {:?}", header("apns-topic")),
        );
    }
    if header("apns-push-type") != "alert" || header("apns-priority") != "10" {
        return refuse(&inner, "BadPriority", "push type / priority".into());
    }
    if header("apns-expiration")
        .parse::<u64>()
        .map_or(true, |e| e < now)
    {
        return refuse(
            &inner,
            "BadExpirationDate",
            format!("expiration {:?}", header("apns-expiration")),
        );
    }
    let collapse = header("apns-collapse-id");
    if collapse.is_empty() || collapse.len() > 64 {
        return refuse(&inner, "BadCollapseId", format!("collapse id {collapse:?}"));
    }
    if body.len() > 4096 {
        return apns_error(413, "PayloadTooLarge", None);
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&inner, "PayloadEmpty", "not JSON".into());
    };
    // The alert and the challenge id, nothing else (P4).
    let mut keys: Vec<&String> = payload
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    keys.sort();
    let only_the_id = keys == ["aps", "challenge"]
        && payload["challenge"]
            .as_str()
            .is_some_and(|c| latchkey_protocol::types::ChallengeId::parse(c).is_some())
        && payload["aps"]
            == json!({
                "alert": "Sign-in request \u{2014} open to review",
                "sound": "default",
                // The iOS app's category (ios/Latchkey/Notifications.swift), for Approve / Deny.
                "category": "org.latchkey.signin",
            });
    if !only_the_id {
        return refuse(&inner, "BadRequest", format!("payload {payload}"));
    }
    if let Some((status, reason, ts)) = inner
        .script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front()
    {
        return apns_error(status, reason, ts);
    }
    inner
        .accepted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((headers, payload));
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(
        "apns-id",
        "8FE8D5D8-3A47-4B5B-A0F5-3C3A8F8A3B0E"
            .parse()
            .expect("header"),
    );
    response
}
