//! A loopback WNS as strict as Microsoft's for what the server sends: real HTTPS with a test
//! CA; the token endpoint takes only the client-credentials grant with the right id, secret
//! and scope; a channel accepts only a bearer token it issued, `X-WNS-Type: wns/raw`, an
//! octet-stream body of at most 5 KiB that is exactly `{"challenge":"<id>"}`. Answers can be
//! scripted.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use rand_core::{OsRng, RngCore as _};
use serde_json::{json, Value};

/// The client id the fake knows.
pub const CLIENT_ID: &str = "ms-app://s-1-15-2-latchkey-test";
/// Its secret.
pub const CLIENT_SECRET: &str = "wns test secret";
/// The scope it grants.
pub const SCOPE: &str = "notify.windows.com";

#[derive(Default)]
struct Inner {
    issued: Mutex<HashSet<String>>,
    token_requests: AtomicUsize,
    posts: AtomicUsize,
    accepted: Mutex<Vec<Value>>,
    refusals: Mutex<Vec<String>>,
    script: Mutex<VecDeque<u16>>,
}

/// The running fake.
pub struct WnsFake {
    /// `https://localhost:PORT`.
    pub url: String,
    /// The CA its certificate chains to.
    pub ca_pem: Vec<u8>,
    inner: Arc<Inner>,
    handle: axum_server::Handle,
    _net: crate::Loopback,
}

impl WnsFake {
    /// Starts the fake.
    pub async fn start() -> Self {
        let (net, listener) = crate::Loopback::bind().await;
        let url = net.url.clone();
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/accesstoken.srf", post(token))
            .route("/w/{channel}", post(push))
            .with_state(inner.clone());
        let handle = net.serve(listener, app);
        Self {
            url,
            ca_pem: net.ca_pem.clone(),
            inner,
            handle,
            _net: net,
        }
    }

    /// A channel URI, as Windows hands the app.
    pub fn channel(&self) -> String {
        let mut id = [0u8; 12];
        OsRng.fill_bytes(&mut id);
        format!("{}/w/{}", self.url, hex::encode(id))
    }

    /// Queues statuses for the next pushes.
    pub fn script(&self, statuses: impl IntoIterator<Item = u16>) {
        self.inner
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(statuses);
    }

    /// Bodies accepted.
    pub fn accepted(&self) -> Vec<Value> {
        self.inner
            .accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Pushes received, whatever the answer.
    pub fn posts(&self) -> usize {
        self.inner.posts.load(Ordering::SeqCst)
    }

    /// Access tokens issued.
    pub fn token_requests(&self) -> usize {
        self.inner.token_requests.load(Ordering::SeqCst)
    }

    /// Why requests were refused for breaking WNS's rules.
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

fn refuse(inner: &Inner, why: String) -> Response {
    inner
        .refusals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(why.clone());
    (StatusCode::BAD_REQUEST, why).into_response()
}

#[derive(serde::Deserialize)]
struct Grant {
    grant_type: String,
    client_id: String,
    client_secret: String,
    scope: String,
}

async fn token(State(inner): State<Arc<Inner>>, Form(grant): Form<Grant>) -> Response {
    if grant.grant_type != "client_credentials"
        || grant.client_id != CLIENT_ID
        || grant.client_secret != CLIENT_SECRET
        || grant.scope != SCOPE
    {
        return refuse(
            &inner,
            format!("grant {} for {}", grant.grant_type, grant.client_id),
        );
    }
    inner.token_requests.fetch_add(1, Ordering::SeqCst);
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    let access = hex::encode(bytes);
    inner
        .issued
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(access.clone());
    Json(json!({ "access_token": access, "token_type": "bearer", "expires_in": 86400 }))
        .into_response()
}

async fn push(
    State(inner): State<Arc<Inner>>,
    Path(_channel): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    inner.posts.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let bearer = header("authorization")
        .strip_prefix("Bearer ")
        .unwrap_or_default()
        .to_owned();
    if !inner
        .issued
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&bearer)
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if header("x-wns-type") != "wns/raw" || header("content-type") != "application/octet-stream" {
        return refuse(
            &inner,
            format!(
                "type {:?} / {:?}",
                header("x-wns-type"),
                header("content-type")
            ),
        );
    }
    if header("x-wns-ttl").parse::<u64>().is_err() {
        return refuse(&inner, "X-WNS-TTL".into());
    }
    if body.len() > 5120 {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or_default();
    let only_the_id = value.as_object().is_some_and(|o| o.len() == 1)
        && value["challenge"]
            .as_str()
            .is_some_and(|c| latchkey_protocol::types::ChallengeId::parse(c).is_some());
    if !only_the_id {
        return refuse(&inner, format!("payload {value}"));
    }
    if let Some(status) = inner
        .script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front()
    {
        return StatusCode::from_u16(status)
            .expect("status")
            .into_response();
    }
    inner
        .accepted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(value);
    StatusCode::OK.into_response()
}
