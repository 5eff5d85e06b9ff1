//! A loopback Web Push service (RFC 8030) as strict as a real one for what the server sends:
//! real HTTPS with a test CA; each push must carry `TTL`, `Urgency`, a valid `Topic`, the
//! `aes128gcm` encoding and a VAPID authorization (RFC 8292) whose ES256 JWT verifies with the
//! `k=` key, names this origin, and expires within 24 hours; the body must decrypt (RFC 8291)
//! with the subscription's private key and auth secret to exactly `{"challenge":"<id>"}`.
//! Answers can be scripted.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use rand_core::{OsRng, RngCore as _};
use serde_json::Value;

struct Subscription {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

#[derive(Default)]
struct Inner {
    origin: String,
    subscriptions: Mutex<HashMap<String, Subscription>>,
    accepted: Mutex<Vec<Value>>,
    refusals: Mutex<Vec<String>>,
    script: Mutex<VecDeque<(u16, Option<u64>)>>,
    posts: AtomicUsize,
}

/// The running fake.
pub struct WebPushFake {
    /// `https://localhost:PORT`.
    pub url: String,
    /// The CA its certificate chains to.
    pub ca_pem: Vec<u8>,
    inner: Arc<Inner>,
    handle: axum_server::Handle,
    _net: crate::Loopback,
}

/// A subscription as a device registers it.
pub struct Subscribed {
    /// The endpoint.
    pub endpoint: String,
    /// The public key (65 bytes).
    pub p256dh: Vec<u8>,
    /// The auth secret.
    pub auth: Vec<u8>,
}

impl WebPushFake {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> Self {
        let (net, listener) = crate::Loopback::bind().await;
        let url = net.url.clone();
        let inner = Arc::new(Inner {
            origin: url.clone(),
            ..Inner::default()
        });
        let app = Router::new()
            .route("/push/{id}", post(push))
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

    /// A new subscription (what a browser or a UnifiedPush distributor hands the app).
    pub fn subscribe(&self) -> Subscribed {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let secret = p256::SecretKey::random(&mut OsRng);
        let mut auth = [0u8; 16];
        OsRng.fill_bytes(&mut auth);
        let mut id = [0u8; 12];
        OsRng.fill_bytes(&mut id);
        let id = hex::encode(id);
        let p256dh = secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        self.inner
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), Subscription { secret, auth });
        Subscribed {
            endpoint: format!("{}/push/{id}", self.url),
            p256dh,
            auth: auth.to_vec(),
        }
    }

    /// Queues answers (status, `Retry-After`) for the next pushes.
    pub fn script(&self, answers: impl IntoIterator<Item = (u16, Option<u64>)>) {
        self.inner
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(answers);
    }

    /// Decrypted bodies of the pushes accepted, in order.
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

    /// Why pushes were refused for breaking the RFCs (empty when the server behaved).
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
struct VapidClaims {
    aud: String,
    exp: u64,
    sub: String,
}

/// Checks the VAPID authorization `vapid t=<jwt>, k=<key>`.
fn vapid(inner: &Inner, header: &str) -> Result<(), String> {
    let rest = header
        .strip_prefix("vapid ")
        .ok_or("not a vapid authorization")?;
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("k", v)) => k = Some(v),
            _ => return Err(format!("authorization part {part}")),
        }
    }
    let (t, k) = (t.ok_or("no t=")?, k.ok_or("no k=")?);
    let key = latchkey_protocol::b64::decode(k).ok_or("k is not base64url")?;
    if key.len() != 65 || key[0] != 4 {
        return Err("k is not an uncompressed P-256 point".into());
    }
    let x = latchkey_protocol::b64::encode(&key[1..33]);
    let y = latchkey_protocol::b64::encode(&key[33..]);
    let decoding =
        jsonwebtoken::DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[inner.origin.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<VapidClaims>(t, &decoding, &validation)
        .map_err(|e| format!("VAPID JWT: {e}"))?
        .claims;
    if claims.aud != inner.origin {
        return Err(format!("aud {}", claims.aud));
    }
    if claims.exp > crate::now() + 24 * 3600 {
        return Err("exp more than 24 hours away".into());
    }
    if !(claims.sub.starts_with("mailto:") || claims.sub.starts_with("https://")) {
        return Err(format!("sub {}", claims.sub));
    }
    Ok(())
}

async fn push(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
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
    if header("ttl").parse::<u64>().is_err() {
        return refuse(&inner, format!("TTL {:?}", header("ttl")));
    }
    if header("urgency") != "high" {
        return refuse(&inner, format!("Urgency {:?}", header("urgency")));
    }
    let topic = header("topic");
    if topic.is_empty()
        || topic.len() > 32
        || !topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return refuse(&inner, format!("Topic {topic:?}"));
    }
    if header("content-encoding") != "aes128gcm" {
        return refuse(&inner, "Content-Encoding".into());
    }
    if let Err(why) = vapid(&inner, header("authorization")) {
        return refuse(&inner, why);
    }
    if body.len() > 4096 {
        return refuse(&inner, format!("{} bytes", body.len()));
    }
    if let Some((status, retry_after)) = inner
        .script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front()
    {
        let mut response = StatusCode::from_u16(status)
            .expect("status")
            .into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", seconds.to_string().parse().expect("header"));
        }
        return response;
    }
    let plain = {
        let subscriptions = inner
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(sub) = subscriptions.get(&id) else {
            return StatusCode::GONE.into_response();
        };
        let auth = web_push_native::Auth::from(sub.auth);
        web_push_native::decrypt(body.to_vec(), &sub.secret, &auth)
    };
    let Ok(plain) = plain else {
        return refuse(
            &inner,
            "the body does not decrypt with the subscription's keys".into(),
        );
    };
    let Ok(value) = serde_json::from_slice::<Value>(&plain) else {
        return refuse(&inner, "the decrypted body is not JSON".into());
    };
    let only_the_id = value.as_object().is_some_and(|o| o.len() == 1)
        && value["challenge"]
            .as_str()
            .is_some_and(|c| latchkey_protocol::types::ChallengeId::parse(c).is_some());
    if !only_the_id {
        return refuse(&inner, format!("payload {value}"));
    }
    inner
        .accepted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(value);
    StatusCode::CREATED.into_response()
}
