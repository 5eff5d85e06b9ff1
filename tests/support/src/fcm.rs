//! A loopback FCM (HTTP v1) as strict as Google's for what the server sends: real HTTPS with a
//! test CA; the OAuth token endpoint verifies the service account's RS256 JWT (signature with
//! the account's public key, `kid`, issuer, scope, audience, lifetime) and the grant type;
//! `messages:send` checks the bearer token, the project, and that the message is exactly a
//! data-only, high-priority Android message whose only datum is the challenge id, under
//! FCM's 4 KiB limit. Answers can be scripted (errors, `Retry-After`, a revoked token, a slow
//! answer).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use rand_core::{OsRng, RngCore as _};
use serde_json::{json, Value};

/// The project the fake serves.
pub const PROJECT: &str = "latchkey-test";
const KEY_ID: &str = "test-key-1";
const CLIENT_EMAIL: &str = "push@latchkey-test.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// A scripted answer for the next `messages:send`.
#[derive(Clone, Debug)]
pub enum Scripted {
    /// An HTTP error with FCM's `errorCode` and an optional `Retry-After` (seconds).
    Error(u16, &'static str, Option<u64>),
    /// Revoke the access tokens issued so far, then answer as FCM does (401).
    RevokeTokens,
    /// Answer 200 after a delay.
    Slow(Duration),
}

#[derive(Default)]
struct Inner {
    public_pem: String,
    token_uri: String,
    issued: Mutex<HashSet<String>>,
    token_requests: AtomicUsize,
    sends: AtomicUsize,
    accepted: Mutex<Vec<Value>>,
    accepted_at: Mutex<Vec<(std::time::Instant, String)>>,
    /// Per mille of sends answered 503 at random (the benchmark's flaky provider).
    failure_per_mille: std::sync::atomic::AtomicU32,
    script: Mutex<VecDeque<Scripted>>,
    refusals: Mutex<Vec<String>>,
}

/// The running fake.
pub struct FcmFake {
    /// Its base URL (`https://localhost:PORT`).
    pub url: String,
    /// The CA its certificate chains to (the server's `PushConfig::extra_ca_pem`).
    pub ca_pem: Vec<u8>,
    /// The service-account JSON the server is configured with.
    pub service_account: Value,
    inner: Arc<Inner>,
    handle: axum_server::Handle,
    _net: crate::Loopback,
}

impl FcmFake {
    /// Starts the fake on a free loopback port with a fresh RSA service-account key.
    pub async fn start() -> Self {
        use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
        let (net, listener) = crate::Loopback::bind().await;
        let private = rsa::RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key");
        let private_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PEM")
            .to_string();
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM");
        let inner = Arc::new(Inner {
            public_pem,
            token_uri: format!("{}/token", net.url),
            ..Inner::default()
        });
        let app = Router::new()
            .route("/token", post(token))
            .route("/v1/projects/{project}/messages:send", post(send))
            .with_state(inner.clone());
        let handle = net.serve(listener, app);
        Self {
            service_account: json!({
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": KEY_ID,
                "private_key": private_pem,
                "client_email": CLIENT_EMAIL,
                "token_uri": inner.token_uri,
            }),
            ca_pem: net.ca_pem.clone(),
            url: net.url.clone(),
            inner,
            handle,
            _net: net,
        }
    }

    /// A server push configuration that sends through this fake.
    pub fn push_config(&self) -> latchkey_server::config::PushConfig {
        latchkey_server::config::PushConfig {
            fcm: Some(latchkey_server::config::FcmConfig {
                account: serde_json::from_value(self.service_account.clone())
                    .expect("service account"),
                endpoint: self.url.clone(),
            }),
            extra_ca_pem: Some(self.ca_pem.clone()),
            ..latchkey_server::config::PushConfig::default()
        }
    }

    /// Queues answers for the next sends.
    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.inner
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(answers);
    }

    /// When each message was accepted, with its challenge id.
    pub fn accepted_at(&self) -> Vec<(std::time::Instant, String)> {
        self.inner
            .accepted_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Answers this share of sends (0.0–1.0) with 503 at random.
    pub fn fail_at_random(&self, share: f64) {
        let per_mille = (share.clamp(0.0, 1.0) * 1000.0).round() as u32;
        self.inner
            .failure_per_mille
            .store(per_mille, Ordering::SeqCst);
    }

    /// Messages accepted (200), in order.
    pub fn accepted(&self) -> Vec<Value> {
        self.inner
            .accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets the messages kept so far (a long run counts sends without keeping them all).
    pub fn forget_accepted(&self) {
        self.inner
            .accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.inner
            .accepted_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// `messages:send` calls, whatever the answer.
    pub fn sends(&self) -> usize {
        self.inner.sends.load(Ordering::SeqCst)
    }

    /// Access tokens issued.
    pub fn token_requests(&self) -> usize {
        self.inner.token_requests.load(Ordering::SeqCst)
    }

    /// Why requests were refused for breaking FCM's rules (empty when the server behaved).
    pub fn refusals(&self) -> Vec<String> {
        self.inner
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops the fake.
    pub fn stop(&self) {
        self.handle.shutdown();
    }
}

fn refuse(inner: &Inner, status: StatusCode, why: String) -> Response {
    inner
        .refusals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(why.clone());
    (status, Json(json!({ "error": { "code": status.as_u16(), "message": why, "status": "INVALID_ARGUMENT" } }))).into_response()
}

#[derive(serde::Deserialize)]
struct Grant {
    grant_type: String,
    assertion: String,
}

#[derive(serde::Deserialize)]
struct Claims {
    iss: String,
    scope: String,
    aud: String,
    iat: u64,
    exp: u64,
}

async fn token(State(inner): State<Arc<Inner>>, Form(grant): Form<Grant>) -> Response {
    if grant.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("grant_type {}", grant.grant_type),
        );
    }
    let Ok(header) = jsonwebtoken::decode_header(&grant.assertion) else {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            "the assertion is not a JWT".into(),
        );
    };
    if header.alg != jsonwebtoken::Algorithm::RS256 || header.kid.as_deref() != Some(KEY_ID) {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("JWT header {header:?}"),
        );
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(inner.public_pem.as_bytes()).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[inner.token_uri.as_str()]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let claims = match jsonwebtoken::decode::<Claims>(&grant.assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => return refuse(&inner, StatusCode::BAD_REQUEST, format!("JWT: {e}")),
    };
    let now = crate::now();
    if claims.scope != SCOPE
        || claims.iss != CLIENT_EMAIL
        || claims.aud != inner.token_uri
        || claims.exp.saturating_sub(claims.iat) > 3600
        || claims.iat > now + 60
    {
        return refuse(&inner, StatusCode::BAD_REQUEST, "JWT claims".into());
    }
    inner.token_requests.fetch_add(1, Ordering::SeqCst);
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    let access = format!("ya29.{}", hex::encode(bytes));
    inner
        .issued
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(access.clone());
    Json(json!({ "access_token": access, "expires_in": 3599, "token_type": "Bearer" }))
        .into_response()
}

/// Keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

async fn send(
    State(inner): State<Arc<Inner>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    inner.sends.fetch_add(1, Ordering::SeqCst);
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let scripted = inner
        .script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front();
    if matches!(scripted, Some(Scripted::RevokeTokens)) {
        inner
            .issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
    if !inner
        .issued
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&bearer)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": 401, "status": "UNAUTHENTICATED" } })),
        )
            .into_response();
    }
    if project != PROJECT {
        return refuse(&inner, StatusCode::NOT_FOUND, format!("project {project}"));
    }
    if body.len() > 4096 {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("{} bytes", body.len()),
        );
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return refuse(&inner, StatusCode::BAD_REQUEST, "content type".into());
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&inner, StatusCode::BAD_REQUEST, "not JSON".into());
    };
    let message = &v["message"];
    let shape_ok = keys(&v) == ["message"]
        && keys(message) == ["android", "data", "token"]
        && message["token"].as_str().is_some_and(|t| !t.is_empty())
        // The push payload is the challenge id only (P4): one datum, an opaque 16-byte id.
        && keys(&message["data"]) == ["challenge"]
        && message["data"]["challenge"]
            .as_str()
            .is_some_and(|c| latchkey_protocol::types::ChallengeId::parse(c).is_some())
        && keys(&message["android"]) == ["collapse_key", "priority", "ttl"]
        && message["android"]["priority"] == "HIGH"
        && message["android"]["ttl"]
            .as_str()
            .and_then(|t| t.strip_suffix('s'))
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|t| t <= 2_419_200);
    if !shape_ok {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("message shape {v}"),
        );
    }
    let flaky = inner.failure_per_mille.load(Ordering::SeqCst);
    let scripted = match scripted {
        None if flaky > 0 && OsRng.next_u32() % 1000 < flaky => {
            Some(Scripted::Error(503, "UNAVAILABLE", None))
        }
        other => other,
    };
    match scripted {
        Some(Scripted::Error(status, code, retry_after)) => {
            let mut response = (
                StatusCode::from_u16(status).expect("status"),
                Json(json!({ "error": {
                    "code": status,
                    "status": code,
                    "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code }],
                } })),
            )
                .into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().expect("header"));
            }
            return response;
        }
        Some(Scripted::Slow(delay)) => tokio::time::sleep(delay).await,
        _ => {}
    }
    inner
        .accepted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(message.clone());
    inner
        .accepted_at
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((
            std::time::Instant::now(),
            message["data"]["challenge"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ));
    Json(json!({ "name": format!("projects/{PROJECT}/messages/{}", OsRng.next_u32()) }))
        .into_response()
}
