//! The relying-party API (`/rp/v1`) against the real server on loopback HTTPS, on SQLite and
//! PostgreSQL: applications, their users, enrolment, authentication with number matching, the
//! P7 proofs, webhooks, isolation between applications.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use latchkey_protocol::wire::SignedChallenge;
use latchkey_server::rp::admin;
use latchkey_server::rp::webhooks::{Receiver, Refused};
use latchkey_test_support::*;
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends! {
    rp_enrol_authenticate_approve_end_to_end => end_to_end;
    rp_app_cannot_reach_other_apps_users => isolation;
    rp_start_is_idempotent => idempotent;
    rp_webhook_signature_and_replay => webhooks;
    p7_rp_adding_or_removing_a_device_needs_a_proof => proofs;
    rp_every_outcome_is_reported => outcomes;
    rp_rate_limited_per_application_and_every_call_audited => limits;
    ciba_channel_checks_the_token_and_calls_back_once => ciba_channel;
}

/// An application's client.
struct Rp {
    http: reqwest::Client,
    base: String,
    key: String,
    app: String,
}

impl Rp {
    async fn add(server: &TestServer, name: &str) -> Self {
        Self::add_with(server, name, None, 600).await.0
    }

    async fn add_with(
        server: &TestServer,
        name: &str,
        webhook: Option<&str>,
        per_minute: i64,
    ) -> (Self, Option<String>) {
        let app = admin::add_app(
            &server.state.durable_db,
            &server.state.keys,
            name,
            webhook,
            per_minute,
            server.state.clock.now_i64(),
        )
        .await
        .expect("app added");
        (
            Self {
                http: server.client(),
                base: server.url.trim_end_matches('/').to_owned(),
                key: app.key.clone(),
                app: app.app.clone(),
            },
            app.webhook_secret,
        )
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put_user(&self, user: &str, address: &str) {
        let (status, body) = self
            .call(
                Method::PUT,
                &format!("/rp/v1/users/{user}"),
                Some(json!({ "display_name": user, "addresses": [address] })),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
    }

    /// Adds a user with a device enrolled (PIN posted by the application's page).
    async fn enrolled(&self, server: &TestServer, user: &str, pin: &str) -> Device {
        self.put_user(user, &format!("{user}@example.org")).await;
        let (status, body) = self
            .post(
                &format!("/rp/v1/users/{user}/enrolments"),
                json!({ "device_name": "Phone", "pin": pin }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body["qr_svg"].as_str().unwrap().starts_with("<svg"));
        Device::enrol(server, body["link"].as_str().unwrap(), pin)
            .await
            .expect("enrolled")
    }

    /// Starts an authentication; its transaction id and number.
    async fn start(&self, user: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/rp/v1/authentications",
                json!({ "user": user, "context": { "service": "Intranet VPN",
                    "browser": "Firefox on Linux", "ip": "192.0.2.7", "place": "Brussels, BE" } }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["state"], "pending", "{body}");
        (
            body["transaction"].as_str().unwrap().to_owned(),
            body["code"].as_str().unwrap().to_owned(),
        )
    }

    async fn start_raw(&self, user: &str) -> (StatusCode, Value) {
        self.post("/rp/v1/authentications", json!({ "user": user }))
            .await
    }

    async fn status(&self, transaction: &str, wait: u64) -> Value {
        let (status, body) = self
            .get(&format!("/rp/v1/authentications/{transaction}?wait={wait}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// The device's newest pending request, signature checked against the pinned key.
async fn newest(device: &Device) -> SignedChallenge {
    let ids = device.pending(0).await;
    let signed = device
        .fetch(*ids.first().expect("a pending request"))
        .await
        .expect("fetch");
    assert!(signed.verify(&device.link.server_key));
    signed
}

/// Approves the device's newest request with the number shown.
async fn approve(device: &mut Device, code: &str, pin: &str) {
    let signed = newest(device).await;
    device.approve(&signed, code, pin).await.expect("approved");
}

async fn end_to_end(backend: Backend) {
    let server = TestServer::start(backend).await;
    let rp = Rp::add(&server, "Intranet").await;
    let (status, body) = rp
        .call(
            Method::PUT,
            "/rp/v1/users/alice",
            Some(json!({ "display_name": "Alice Liddell", "addresses": ["alice@example.org"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["had_device"], false);
    let (status, _) = rp.call(Method::PUT, "/rp/v1/users/alice", None).await;
    assert_eq!(status, StatusCode::OK, "the second PUT finds the user");

    // The PIN chosen in the app: the link says so, and the app finishes without a web check.
    let (status, body) = rp
        .post(
            "/rp/v1/users/alice/enrolments",
            json!({ "device_name": "Alice's phone" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["pin_source"], "app");
    let enrolment = body["enrolment"].as_str().unwrap().to_owned();
    let link_text = body["link"].as_str().unwrap().to_owned();
    let link = latchkey_protocol::link::parse(&link_text).expect("the link parses");
    assert_eq!(
        link.label, "Intranet — Alice Liddell",
        "named by the application"
    );
    let png = rp
        .http
        .get(format!(
            "{}/rp/v1/users/alice/enrolments/{enrolment}/qr.png",
            rp.base
        ))
        .bearer_auth(&rp.key)
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    let decoded = image_text(&png);
    assert_eq!(decoded, link_text, "the PNG is the link's QR code");
    let (_, body) = rp
        .get(&format!("/rp/v1/users/alice/enrolments/{enrolment}"))
        .await;
    assert_eq!(body["state"], "waiting");

    let (link, begun) = Device::begin(&server, &link_text, "7292")
        .await
        .expect("begin");
    let mut device = Device::enrolling(&server, link, &begun);
    let waiter = {
        let (http, base, key) = (rp.http.clone(), rp.base.clone(), rp.key.clone());
        let enrolment = enrolment.clone();
        tokio::spawn(async move {
            http.get(format!(
                "{base}/rp/v1/users/alice/enrolments/{enrolment}?wait=20"
            ))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    device
        .call(device.finish_body(None))
        .await
        .expect("enrolled with the PIN chosen in the app");
    let done = waiter.await.unwrap();
    assert_eq!(
        done["state"], "done",
        "the long-poll sees the enrolment end"
    );
    let (_, body) = rp
        .get(&format!("/rp/v1/users/alice/enrolments/{enrolment}/qr.png"))
        .await;
    assert_eq!(body["error"], "expired", "no QR code once used: {body}");

    let (_, devices) = rp.get("/rp/v1/users/alice/devices").await;
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    assert_eq!(devices[0]["state"], "active");
    assert_eq!(devices[0]["name"], "Alice's phone");

    // Authenticate: the device shows the application's context; the number is never sent to it.
    let (transaction, code) = rp.start("alice").await;
    assert_eq!(code.len(), 2);
    let signed = newest(&device).await;
    let shown = &signed.challenge;
    assert_eq!(shown.service, "Intranet VPN");
    assert_eq!(shown.browser, "Firefox on Linux");
    assert_eq!(shown.ip, "192.0.2.7");
    assert_eq!(shown.location.as_deref(), Some("Brussels, BE"));
    assert!(!serde_json::to_string(&signed)
        .unwrap()
        .contains(&format!("\"{code}\"")));
    let pending = rp.status(&transaction, 0).await;
    assert_eq!(pending["state"], "pending");
    let waiter = {
        let (http, base, key) = (rp.http.clone(), rp.base.clone(), rp.key.clone());
        let transaction = transaction.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let body = http
                .get(format!(
                    "{base}/rp/v1/authentications/{transaction}?wait=20"
                ))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            (body, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    device
        .approve(&signed, &code, "7292")
        .await
        .expect("approved");
    let (approved, waited) = waiter.await.unwrap();
    assert_eq!(approved["state"], "approved", "{approved}");
    assert_eq!(approved["device"], device.device.to_string());
    assert!(
        waited < Duration::from_secs(5),
        "woken, not timed out: {waited:?}"
    );

    let (_, feed) = rp.get("/rp/v1/events?user=alice").await;
    let kinds: Vec<&str> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for wanted in [
        "security.enrolment_created",
        "security.device_added",
        "security.signin_approved",
        "authentication.approved",
    ] {
        assert!(kinds.contains(&wanted), "{wanted} in {kinds:?}");
    }
    let approved_event = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "authentication.approved")
        .unwrap();
    assert_eq!(approved_event["transaction"], transaction.as_str());

    // Web sign-in never finds an application's user.
    let page = server.client();
    let (status, _) = rp.get("/rp/v1/users/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = page
        .post(format!("{}login", server.url))
        .form(&[("email", "rp:alice"), ("password", "")])
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), StatusCode::SEE_OTHER);
    server.stop().await;
}

/// The text of the QR code in a PNG.
fn image_text(png: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut pixels).expect("frame");
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    grids[0].decode().expect("decodes").1
}

async fn isolation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = Rp::add(&server, "App A").await;
    let b = Rp::add(&server, "App B").await;
    let mut device = a.enrolled(&server, "alice", "4831").await;
    let (transaction, code) = a.start("alice").await;
    approve(&mut device, &code, "4831").await;
    let (_, pending) = a
        .post(
            "/rp/v1/users/alice/enrolments",
            json!({ "device_name": "Tablet", "pin": "4831", "proof": { "transaction": transaction } }),
        )
        .await;
    let enrolment = pending["enrolment"]
        .as_str()
        .expect("second enrolment")
        .to_owned();
    let device_id = device.device.to_string();

    // B sees nothing of A's alice: not the user, transaction, enrolment, devices or events.
    let (status, _) = b.get("/rp/v1/users/alice").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for path in [
        format!("/rp/v1/authentications/{transaction}"),
        "/rp/v1/users/alice/devices".to_owned(),
        format!("/rp/v1/users/alice/enrolments/{enrolment}"),
        format!("/rp/v1/users/alice/enrolments/{enrolment}/qr.png"),
    ] {
        let (status, body) = b.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = b
        .post(
            &format!("/rp/v1/authentications/{transaction}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, feed) = b.get("/rp/v1/events").await;
    assert_eq!(feed["events"], json!([]), "B's feed has none of A's events");

    // B's own "alice" is another person: no push reaches A's alice, and A's ids mean nothing.
    b.put_user("alice", "someone-else@example.org").await;
    let (status, started) = b
        .post("/rp/v1/authentications", json!({ "user": "alice" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(started["state"], "no_device", "{started}");
    assert!(
        device.pending(0).await.is_empty(),
        "nothing pushed to A's alice"
    );
    let (status, _) = b.get("/rp/v1/users/alice/devices").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = b
        .post(
            &format!("/rp/v1/users/alice/devices/{device_id}/remove"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = b
        .post(
            "/rp/v1/users/alice/enrolments",
            json!({ "device_name": "Mine", "proof": { "transaction": transaction } }),
        )
        .await;
    // B's alice never had a device: no proof needed, so this is B's own first device — and
    // A's transaction was not spent by it.
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, devices) = a.get("/rp/v1/users/alice/devices").await;
    assert_eq!(
        devices.as_array().unwrap().len(),
        2,
        "A's alice unchanged: {devices}"
    );
    assert!(devices
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["name"] != "Mine"));

    // Keys: unknown, malformed, revoked key, revoked application.
    for bad in [
        "",
        "lk1.0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "nonsense",
    ] {
        let r = server
            .client()
            .get(format!("{}rp/v1/users/alice", server.url))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key("www-authenticate"));
    }
    let wrong_secret = format!("{}B", &a.key[..a.key.len() - 1]);
    let forged = Rp {
        key: if a.key.ends_with('B') {
            format!("{}C", &a.key[..a.key.len() - 1])
        } else {
            wrong_secret
        },
        http: a.http.clone(),
        base: a.base.clone(),
        app: a.app.clone(),
    };
    let (status, _) = forged.get("/rp/v1/users/alice").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a key's id with a wrong secret"
    );
    let key_id = a.key.split('.').nth(1).unwrap().to_owned();
    let now = server.state.clock.now_i64();
    let (new_key_id, new_key) = admin::add_key(&server.state.durable_db, &a.app, now)
        .await
        .unwrap();
    admin::revoke_key(&server.state.durable_db, &key_id, now)
        .await
        .unwrap();
    let (status, _) = a.get("/rp/v1/users/alice").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked key refused");
    let rotated = Rp {
        key: new_key,
        http: a.http.clone(),
        base: a.base.clone(),
        app: a.app.clone(),
    };
    let (status, _) = rotated.get("/rp/v1/users/alice").await;
    assert_eq!(status, StatusCode::OK, "the new key works");
    assert_ne!(new_key_id, key_id);
    admin::revoke_app(&server.state.durable_db, &a.app, now)
        .await
        .unwrap();
    let (status, _) = rotated.get("/rp/v1/users/alice").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "revoked application refused"
    );
    server.stop().await;
}

async fn idempotent(backend: Backend) {
    let server = TestServer::start(backend).await;
    let rp = Rp::add(&server, "Intranet").await;
    let device = rp.enrolled(&server, "alice", "4831").await;
    let body = json!({ "user": "alice", "context": { "browser": "Edge on Windows" } });
    let key = [("idempotency-key", "login-7f3a")];
    // Concurrent retries of one start: one transaction, one push, one number.
    let calls = (0..4).map(|_| {
        rp.call_with(
            Method::POST,
            "/rp/v1/authentications",
            Some(body.clone()),
            &key,
        )
    });
    let answers = futures_util::future::join_all(calls).await;
    let first = &answers[0].1;
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["transaction"], first["transaction"]);
        assert_eq!(answer["code"], first["code"]);
    }
    assert_eq!(device.pending(0).await.len(), 1, "pushed once");
    let (status, again) = rp
        .call_with(
            Method::POST,
            "/rp/v1/authentications",
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        again["transaction"], first["transaction"],
        "a later retry too"
    );
    // The same key with another request is refused; another key is another transaction.
    let other = json!({ "user": "alice", "context": { "browser": "Safari on macOS" } });
    let (status, refused) = rp
        .call_with(Method::POST, "/rp/v1/authentications", Some(other), &key)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let (status, fresh) = rp
        .call_with(
            Method::POST,
            "/rp/v1/authentications",
            Some(body.clone()),
            &[("idempotency-key", "login-80b1")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(fresh["transaction"], first["transaction"]);
    assert_eq!(device.pending(0).await.len(), 2);
    // Keys belong to their application: another one using the same key starts its own.
    let other_app = Rp::add(&server, "Wiki").await;
    other_app.put_user("alice", "alice@example.org").await;
    let (status, theirs) = other_app
        .call_with(Method::POST, "/rp/v1/authentications", Some(body), &key)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert_ne!(theirs["transaction"], first["transaction"]);
    // A start refused (too many pending) gives its key back.
    let (status, _) = rp
        .call_with(
            Method::POST,
            "/rp/v1/authentications",
            Some(json!({ "user": "alice" })),
            &[("idempotency-key", "third")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "the third pending sign-in");
    let (status, _) = rp
        .call_with(
            Method::POST,
            "/rp/v1/authentications",
            Some(json!({ "user": "alice" })),
            &[("idempotency-key", "fourth")],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let waiting = rp
        .get(&format!(
            "/rp/v1/authentications/{}",
            first["transaction"].as_str().unwrap()
        ))
        .await;
    let (status, _) = rp
        .post(
            &format!(
                "/rp/v1/authentications/{}/cancel",
                first["transaction"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{}", waiting.1);
    let (status, body) = rp
        .call_with(
            Method::POST,
            "/rp/v1/authentications",
            Some(json!({ "user": "alice" })),
            &[("idempotency-key", "fourth")],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the refused key may be used again: {body}"
    );
    server.stop().await;
}

/// What a webhook receiver got: headers and body of each delivery.
type Deliveries = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

async fn webhooks(backend: Backend) {
    let (receiver_at, listener) = Loopback::bind().await;
    let deliveries: Deliveries = Arc::default();
    let app = {
        let deliveries = deliveries.clone();
        axum::Router::new().route(
            "/hooks/latchkey",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let deliveries = deliveries.clone();
                async move {
                    let mut list = deliveries.lock().unwrap();
                    list.push((headers, body.to_vec()));
                    // The first delivery fails: the retry must keep its id.
                    if list.len() == 1 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        )
    };
    let _handle = receiver_at.serve(listener, app);
    let ca = receiver_at.ca_pem.clone();
    let server = TestServer::start_config(backend, |config| {
        config.rp_ca_pem = Some(ca);
    })
    .await;
    let hook = format!("{}/hooks/latchkey", receiver_at.url);
    let (rp, secret) = Rp::add_with(&server, "Intranet", Some(&hook), 600).await;
    let secret = secret.expect("a webhook secret, shown once");
    assert!(secret.starts_with("whsec_"));
    let listed = admin::list(&server.state.durable_db).await.unwrap();
    assert!(
        !format!("{listed:?}").contains(&secret[6..]),
        "never listed"
    );

    let mut device = rp.enrolled(&server, "alice", "4831").await;
    let (transaction, code) = rp.start("alice").await;
    approve(&mut device, &code, "4831").await;
    let id_of = |headers: &HeaderMap| headers["webhook-id"].to_str().unwrap().to_owned();
    // The first delivery fails and is retried 5 s later (the clock is moved on here); the
    // others go through at once.
    let mut waited = 0;
    let list = loop {
        let list = deliveries.lock().unwrap().clone();
        let approved = list.iter().any(|(_, body)| {
            serde_json::from_slice::<Value>(body).unwrap()["type"] == "authentication.approved"
        });
        let retried = list
            .first()
            .is_some_and(|(h, _)| list.iter().filter(|(o, _)| id_of(o) == id_of(h)).count() == 2);
        let added = list.iter().any(|(_, body)| {
            serde_json::from_slice::<Value>(body).unwrap()["type"] == "security.device_added"
        });
        if approved && retried && added {
            break list;
        }
        waited += 1;
        assert!(waited < 100, "webhooks not delivered: {}", list.len());
        if !list.is_empty() {
            server.state.clock.advance(6);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (first_headers, first_body) = &list[0];
    let (retry_headers, retry_body) = list
        .iter()
        .skip(1)
        .find(|(h, _)| id_of(h) == id_of(first_headers))
        .unwrap();
    assert_ne!(
        first_headers["webhook-timestamp"], retry_headers["webhook-timestamp"],
        "a retry is signed afresh"
    );
    assert_eq!(
        first_body, retry_body,
        "a retry keeps its id and body (receivers drop duplicates)"
    );
    let check = |receiver: &Receiver, headers: &HeaderMap, body: &[u8], now: i64| {
        receiver.verify(
            headers["webhook-id"].to_str().unwrap(),
            headers["webhook-timestamp"].to_str().unwrap(),
            headers["webhook-signature"].to_str().unwrap(),
            body,
            now,
        )
    };
    let receiver = Receiver::new(&secret).expect("secret");
    let now = server.state.clock.now_i64();
    assert_eq!(check(&receiver, retry_headers, retry_body, now), Ok(()));
    assert_eq!(
        check(&receiver, retry_headers, retry_body, now),
        Err(Refused::Replayed),
        "a delivery replayed is refused"
    );
    assert_eq!(
        check(&receiver, first_headers, first_body, now),
        Err(Refused::Replayed),
        "the failed try's id too"
    );
    let mut tampered = retry_body.clone();
    let at = tampered.iter().position(|b| *b == b'a').unwrap();
    tampered[at] = b'b';
    assert_eq!(
        check(
            &Receiver::new(&secret).unwrap(),
            retry_headers,
            &tampered,
            now
        ),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check(
            &Receiver::new(&secret).unwrap(),
            retry_headers,
            retry_body,
            now + 301
        ),
        Err(Refused::Stale),
        "an old delivery replayed later is refused by its timestamp"
    );
    let other_secret = latchkey_server::rp::webhooks::secret_text(&[9u8; 32]);
    assert_eq!(
        check(
            &Receiver::new(&other_secret).unwrap(),
            retry_headers,
            retry_body,
            now
        ),
        Err(Refused::BadSignature)
    );
    // Every delivery verifies, and the approval's carries the transaction.
    let fresh = Receiver::new(&secret).unwrap();
    let mut types = Vec::new();
    for (headers, body) in list.iter().skip(1) {
        let ts: i64 = headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(check(&fresh, headers, body, ts), Ok(()));
        let event: Value = serde_json::from_slice(body).unwrap();
        if event["type"] == "authentication.approved" {
            assert_eq!(event["transaction"], transaction.as_str());
            assert_eq!(event["user"], "alice");
        }
        types.push(event["type"].as_str().unwrap().to_owned());
    }
    assert!(
        types.iter().any(|t| t == "security.device_added"),
        "{types:?}"
    );

    // Revoked: nothing more is posted to it.
    admin::revoke_app(&server.state.durable_db, &rp.app, now)
        .await
        .unwrap();
    let before = deliveries.lock().unwrap().len();
    let (status, _) = rp.start_raw("alice").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let account = account_of(&server, "alice").await;
    latchkey_server::devices::remove_device(
        &server.state,
        &account,
        &device.device.to_string(),
        "test",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        deliveries.lock().unwrap().len(),
        before,
        "no webhook after revocation"
    );
    server.stop().await;
}

/// The account behind an application's user (for steps taken outside the API).
async fn account_of(server: &TestServer, user: &str) -> latchkey_protocol::types::AccountId {
    let id: String = sqlx::query_scalar("SELECT account_id FROM rp_users WHERE user_id = $1")
        .bind(user)
        .fetch_one(&server.state.db)
        .await
        .unwrap();
    latchkey_protocol::types::AccountId::parse(&id).unwrap()
}

async fn proofs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let rp = Rp::add(&server, "Intranet").await;
    let mut phone = rp.enrolled(&server, "alice", "4831").await;
    let (_, user) = rp.get("/rp/v1/users/alice").await;
    assert_eq!(user["had_device"], true);
    let add = |proof: Value| {
        let rp = &rp;
        async move {
            rp.post(
                "/rp/v1/users/alice/enrolments",
                json!({ "device_name": "Tablet", "pin": "4831", "proof": proof }),
            )
            .await
        }
    };
    // No proof, or proofs that prove nothing: refused, and nothing added.
    let (status, body) = rp
        .post(
            "/rp/v1/users/alice/enrolments",
            json!({ "device_name": "Tablet", "pin": "4831" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (pending, _) = rp.start("alice").await;
    let (status, _) = add(json!({ "transaction": pending })).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an unanswered authentication"
    );
    let signed = newest(&phone).await;
    phone.deny(&signed, false).await.expect("denied");
    let (status, _) = add(json!({ "transaction": pending })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a denied authentication");
    let (status, _) = add(json!({ "code": "12345678" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no code was mailed");
    // Another user's approval proves nothing for alice.
    let mut bobs = rp.enrolled(&server, "bob", "7392").await;
    let (bob_tx, bob_code) = rp.start("bob").await;
    approve(&mut bobs, &bob_code, "7392").await;
    let (status, _) = add(json!({ "transaction": bob_tx })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "bob's approval");
    let (_, devices) = rp.get("/rp/v1/users/alice/devices").await;
    assert_eq!(
        devices.as_array().unwrap().len(),
        1,
        "nothing added: {devices}"
    );

    // An approval on alice's phone proves it once, for 10 minutes.
    let (approved, code) = rp.start("alice").await;
    approve(&mut phone, &code, "4831").await;
    let (status, body) = add(json!({ "transaction": approved })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = add(json!({ "transaction": approved })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "spent");
    let (late, code) = rp.start("alice").await;
    approve(&mut phone, &code, "4831").await;

    // The mailed code: three tries per code; the right one once.
    let (status, sent) = rp.post("/rp/v1/users/alice/codes", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["sent_to"], json!(["a•••@example.org"]));
    let mailed = latest_code(&server);
    let wrong = if mailed == "12345678" {
        "87654321"
    } else {
        "12345678"
    };
    for _ in 0..3 {
        let (status, _) = add(json!({ "code": wrong })).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = add(json!({ "code": mailed })).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "three wrong tries end the code"
    );
    rp.post("/rp/v1/users/alice/codes", json!({})).await;
    let mailed = latest_code(&server);
    // Sent three times at once (within its three tries): one is spent, the others refused.
    let tries =
        futures_util::future::join_all((0..3).map(|_| add(json!({ "code": mailed })))).await;
    let created = tries
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{tries:?}");
    let (status, _) = add(json!({ "code": mailed })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a code works once");

    // Removing needs a proof too; the removal is mailed and in the feed.
    let phone_id = phone.device.to_string();
    let remove = format!("/rp/v1/users/alice/devices/{phone_id}/remove");
    let (status, _) = rp.post(&remove, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = rp.call(Method::POST, &remove, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no body, no proof");
    let (approved, code) = rp.start("alice").await;
    approve(&mut phone, &code, "4831").await;
    let mails_before = server.mails().len();
    let (status, body) = rp
        .post(&remove, json!({ "proof": { "transaction": approved } }))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(
        server.mails().len() > mails_before
            && server.mails()[0].to == "alice@example.org"
            && server.mails()[0].body.contains("Phone"),
        "the removal is mailed"
    );
    let (_, devices) = rp.get("/rp/v1/users/alice/devices").await;
    assert!(
        devices
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["device"] != phone_id.as_str()),
        "{devices}"
    );
    let (_, feed) = rp.get("/rp/v1/events?user=alice").await;
    assert!(
        feed["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "security.device_removed" && e["device"] == phone_id.as_str()),
        "{feed}"
    );
    // An approval older than 10 minutes proves nothing (devices are done: the clock moves).
    server.state.clock.advance(601);
    let (status, _) = add(json!({ "transaction": late })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "too old");

    // An address added now (say, with a phished password on the application's profile page)
    // receives no code for a week; the known one is told of the change and still gets codes.
    let mails = server.mails().len();
    let (status, _) = rp
        .call(
            Method::PUT,
            "/rp/v1/users/alice",
            Some(json!({ "addresses": ["alice@example.org", "thief@example.net"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let told: Vec<_> = server
        .mails()
        .into_iter()
        .take(server.mails().len() - mails)
        .collect();
    assert!(
        told.iter()
            .any(|m| m.to == "alice@example.org" && m.subject.contains("address changed")),
        "the known address hears of the addition"
    );
    let (_, sent) = rp.post("/rp/v1/users/alice/codes", json!({})).await;
    assert_eq!(
        sent["sent_to"],
        json!(["a•••@example.org"]),
        "only to the known address"
    );
    assert!(!server
        .mails()
        .iter()
        .any(|m| m.to == "thief@example.net" && m.subject.contains("code")));
    let (status, _) = rp
        .call(
            Method::PUT,
            "/rp/v1/users/alice",
            Some(json!({ "addresses": ["thief@example.net"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = rp.post("/rp/v1/users/alice/codes", json!({})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no trusted address: {body}"
    );
    server.state.clock.advance(7 * 86_400 + 1);
    let (status, sent) = rp.post("/rp/v1/users/alice/codes", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(
        sent["sent_to"],
        json!(["t•••@example.net"]),
        "a week later it is trusted"
    );
    server.stop().await;
}

/// The code in the newest mail.
fn latest_code(server: &TestServer) -> String {
    let mail = &server.mails()[0];
    mail.body
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 8)
        .expect("an 8-digit code")
        .to_owned()
}

async fn outcomes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let rp = Rp::add(&server, "Intranet").await;
    // No device yet.
    rp.put_user("carol", "carol@example.org").await;
    let (status, body) = rp
        .post("/rp/v1/authentications", json!({ "user": "carol" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["state"], "no_device");
    assert!(body.get("code").is_none());
    let t = body["transaction"].as_str().unwrap();
    assert_eq!(rp.status(t, 0).await["state"], "no_device");

    let mut device = rp.enrolled(&server, "alice", "4831").await;
    // Denied.
    let (t, _) = rp.start("alice").await;
    let signed = newest(&device).await;
    device.deny(&signed, false).await.unwrap();
    assert_eq!(rp.status(&t, 5).await["state"], "denied");
    // The wrong number.
    let (t, code) = rp.start("alice").await;
    let wrong = if code == "42" { "43" } else { "42" };
    let signed = newest(&device).await;
    assert!(device.approve(&signed, wrong, "4831").await.is_err());
    let status = rp.status(&t, 5).await;
    assert_eq!(
        (status["state"].as_str(), status["reason"].as_str()),
        (Some("denied"), Some("wrong_number"))
    );
    // Cancelled by the application: the device is refused.
    let (t, code) = rp.start("alice").await;
    let signed = newest(&device).await;
    let (_, cancelled) = rp
        .post(&format!("/rp/v1/authentications/{t}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled["state"], "cancelled");
    assert!(device.approve(&signed, &code, "4831").await.is_err());
    // Expired, by the server's clock.
    let (t, _) = rp.start("alice").await;
    server.state.clock.advance(121);
    assert_eq!(rp.status(&t, 5).await["state"], "expired");
    // Locked: five wrong PINs on the only device.
    let (t, _) = rp.start("alice").await;
    let signed = newest(&device).await;
    for _ in 0..5 {
        let _ = device.evaluate(signed.challenge.id, "0000").await;
    }
    assert_eq!(rp.status(&t, 0).await["state"], "locked");
    let (_, devices) = rp.get("/rp/v1/users/alice/devices").await;
    assert_eq!(devices[0]["state"], "locked");
    // "This wasn't me" on another user's device: reported, then pushes pause (429).
    let mut dave = rp.enrolled(&server, "dave", "7392").await;
    let (t, _) = rp.start("dave").await;
    let signed = newest(&dave).await;
    dave.deny(&signed, true).await.unwrap();
    assert_eq!(rp.status(&t, 5).await["state"], "reported");
    let (status, body) = rp
        .post("/rp/v1/authentications", json!({ "user": "dave" }))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let _ = &mut dave;
    // Bad requests are typed and change nothing.
    for (body, what) in [
        (json!({ "user": "alice", "code": "1" }), "code digits"),
        (json!({ "user": "" }), "empty user"),
        (
            json!({ "user": "alice", "context": { "browser": "x\u{7}" } }),
            "control character",
        ),
        (
            json!({ "user": "alice", "context": { "service": "moc.\u{202e}live" } }),
            "bidi override",
        ),
        (
            json!({ "user": "alice", "context": { "place": "Brus\u{200b}sels" } }),
            "zero width",
        ),
        (json!({ "user": "alice", "extra": 1 }), "unknown field"),
        (json!({ "nobody": 1 }), "no user"),
    ] {
        let (status, answer) = rp.post("/rp/v1/authentications", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
        assert_eq!(answer["error"], "bad_request", "{what}: {answer}");
    }
    let (status, _) = rp
        .post("/rp/v1/authentications", json!({ "user": "zed" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

async fn limits(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (tight, _) = Rp::add_with(&server, "Tight", None, 5).await;
    let other = Rp::add(&server, "Other").await;
    for _ in 0..5 {
        let (status, _) = tight.get("/rp/v1/users/nobody").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let response = tight
        .http
        .get(format!("{}/rp/v1/users/nobody", tight.base))
        .bearer_auth(&tight.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let (status, _) = other.get("/rp/v1/users/nobody").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another application has its own budget"
    );
    // Junk CIBA tokens are refused before they count: they cannot spend an application's budget.
    admin::set_ciba(
        &server.state.durable_db,
        &other.app,
        Some("https://localhost:9/realms/r"),
    )
    .await
    .unwrap();
    for _ in 0..700 {
        let r = other
            .http
            .post(format!("{}/rp/v1/ciba/keycloak/{}", other.base, other.app))
            .bearer_auth("junk.junk.junk")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let (status, _) = other.get("/rp/v1/users/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the budget is intact");
    // Every call is recorded: route, status; never the key.
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT route, key_id, status FROM rp_audit WHERE app_id = $1 ORDER BY at_ms",
    )
    .bind(&tight.app)
    .fetch_all(&server.state.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(rows
        .iter()
        .all(|(route, _, _)| route == "/rp/v1/users/{user}"));
    assert_eq!(rows.iter().filter(|r| r.2 == 404).count(), 5);
    assert_eq!(rows.iter().filter(|r| r.2 == 429).count(), 1);
    let secret = tight.key.rsplit('.').next().unwrap();
    assert!(rows.iter().all(|(_, key, _)| !key.contains(secret)));
    server.stop().await;
}

/// docs/rp-api.openapi.json lists exactly the routes the server answers (every other method
/// on those paths is 405), and real answers conform to its schemas (required fields, no
/// undocumented ones, values in their enums).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rp_openapi_matches_the_routes_and_answers() {
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/rp-api.openapi.json"
        ))
        .expect("the OpenAPI file"),
    )
    .expect("JSON");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.push((method.to_owned(), path.clone()));
            }
        }
    }
    let mut served: Vec<(String, String)> = latchkey_server::http::rp::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(
        documented, served,
        "the OpenAPI file and the router list the same routes"
    );

    let server = TestServer::start(Backend::Sqlite).await;
    let rp = Rp::add(&server, "Intranet").await;
    for (path, item) in spec["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{user}", "alice")
            .replace("{enrolment}", "e1")
            .replace("{device}", "d1")
            .replace("{transaction}", "t1");
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            let method_ = Method::from_bytes(method.as_bytes()).unwrap();
            let url = format!("{}{}", rp.base, concrete);
            let anonymous = rp.http.request(method_.clone(), &url).send().await.unwrap();
            let keyed = rp
                .http
                .request(method_, &url)
                .bearer_auth(&rp.key)
                .send()
                .await
                .unwrap();
            if item.get(method.to_lowercase()).is_some() {
                assert_eq!(
                    anonymous.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path}"
                );
                assert!(
                    ![StatusCode::METHOD_NOT_ALLOWED, StatusCode::UNAUTHORIZED]
                        .contains(&keyed.status()),
                    "{method} {path}: {}",
                    keyed.status()
                );
            } else {
                assert_eq!(
                    keyed.status(),
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}"
                );
            }
        }
    }

    // Real answers against the schemas.
    let conforms = |schema: &str, value: &Value| {
        conforms(&spec, &spec["components"]["schemas"][schema], value, schema)
    };
    let (_, user) = rp
        .call(
            Method::PUT,
            "/rp/v1/users/alice",
            Some(json!({ "addresses": ["alice@example.org"] })),
        )
        .await;
    conforms("User", &user);
    let (_, enrolment) = rp
        .post(
            "/rp/v1/users/alice/enrolments",
            json!({ "device_name": "Phone", "pin": "4831" }),
        )
        .await;
    conforms("Enrolment", &enrolment);
    let (_, status) = rp
        .get(&format!(
            "/rp/v1/users/alice/enrolments/{}",
            enrolment["enrolment"].as_str().unwrap()
        ))
        .await;
    conforms("EnrolmentStatus", &status);
    let mut device = Device::enrol(&server, enrolment["link"].as_str().unwrap(), "4831")
        .await
        .unwrap();
    let (_, devices) = rp.get("/rp/v1/users/alice/devices").await;
    conforms("Device", &devices[0]);
    let (_, started) = rp
        .post("/rp/v1/authentications", json!({ "user": "alice" }))
        .await;
    conforms("Started", &started);
    approve(&mut device, started["code"].as_str().unwrap(), "4831").await;
    let status = rp.status(started["transaction"].as_str().unwrap(), 5).await;
    conforms("Status", &status);
    let (_, sent) = rp.post("/rp/v1/users/alice/codes", json!({})).await;
    conforms("CodeSent", &sent);
    let (_, page) = rp.get("/rp/v1/events").await;
    conforms("EventPage", &page);
    for event in page["events"].as_array().unwrap() {
        conforms("Event", event);
    }
    let (_, error) = rp.get("/rp/v1/users/nobody").await;
    conforms("Error", &error);
    server.stop().await;
}

/// A small schema check: `$ref`, object (required, no undocumented property), array items,
/// string enums, basic types.
fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return conforms(spec, &spec["components"]["schemas"][name], value, at);
    }
    match schema["type"].as_str() {
        Some("object") => {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: not an object: {value}"));
            for required in schema["required"].as_array().into_iter().flatten() {
                assert!(
                    object.contains_key(required.as_str().unwrap()),
                    "{at}: {required} missing in {value}"
                );
            }
            let properties = schema["properties"].as_object().unwrap();
            for (key, v) in object {
                let sub = properties
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}: {key} is not documented"));
                conforms(spec, sub, v, &format!("{at}.{key}"));
            }
        }
        Some("array") => {
            for item in value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: not an array"))
            {
                conforms(spec, &schema["items"], item, at);
            }
        }
        Some("string") => {
            let text = value
                .as_str()
                .unwrap_or_else(|| panic!("{at}: not a string: {value}"));
            if let Some(allowed) = schema["enum"].as_array() {
                assert!(
                    allowed.iter().any(|a| a == text),
                    "{at}: {text} is not in {allowed:?}"
                );
            }
        }
        Some("integer") => assert!(value.is_i64(), "{at}: not an integer: {value}"),
        Some("boolean") => assert!(value.is_boolean(), "{at}: not a boolean: {value}"),
        _ => {}
    }
}

/// A provider-shaped fake of Keycloak's side of the CIBA channel: its published keys, and its
/// callback endpoint, as strict as Keycloak (200 once per token, 403 after; 400 for a body
/// that is not `{"status": SUCCEED|UNAUTHORIZED|CANCELLED}`).
struct FakeProvider {
    issuer: String,
    key: p256::ecdsa::SigningKey,
    callbacks: Arc<Mutex<Vec<(std::time::Instant, String, String)>>>,
    ca_pem: Vec<u8>,
    _handle: axum_server::Handle,
}

impl FakeProvider {
    async fn start() -> Self {
        let (at, listener) = Loopback::bind().await;
        let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let b64 = |b: &[u8]| latchkey_protocol::b64::encode(b);
        let jwks = json!({ "keys": [
            { "kid": "enc1", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc", "n": "sXch", "e": "AQAB" },
            { "kid": "k1", "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
              "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()) }
        ]});
        let callbacks: Arc<Mutex<Vec<(std::time::Instant, String, String)>>> = Arc::default();
        let seen = callbacks.clone();
        let app = axum::Router::new()
            .route(
                "/realms/r/protocol/openid-connect/certs",
                axum::routing::get(move || {
                    let jwks = jwks.clone();
                    async move { axum::Json(jwks) }
                }),
            )
            .route(
                "/realms/r/protocol/openid-connect/ext/ciba/auth/callback",
                axum::routing::post(move |headers: HeaderMap, body: String| {
                    let seen = seen.clone();
                    async move {
                        let token = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.strip_prefix("Bearer "))
                            .unwrap_or_default()
                            .to_owned();
                        let status = serde_json::from_str::<Value>(&body)
                            .ok()
                            .and_then(|v| v["status"].as_str().map(str::to_owned));
                        let Some(status) = status.filter(|s| {
                            ["SUCCEED", "UNAUTHORIZED", "CANCELLED"].contains(&s.as_str())
                        }) else {
                            return StatusCode::BAD_REQUEST;
                        };
                        let mut list = seen.lock().unwrap();
                        let again = list.iter().any(|(_, t, _)| *t == token);
                        list.push((std::time::Instant::now(), token, status));
                        if again {
                            StatusCode::FORBIDDEN
                        } else {
                            StatusCode::OK
                        }
                    }
                }),
            );
        let handle = at.serve(listener, app);
        Self {
            issuer: format!("{}/realms/r", at.url),
            key,
            callbacks,
            ca_pem: at.ca_pem.clone(),
            _handle: handle,
        }
    }

    /// A token as Keycloak signs it for the channel.
    fn token(&self, jti: &str, issuer: &str, exp: i64, key: &p256::ecdsa::SigningKey) -> String {
        use p256::pkcs8::EncodePrivateKey as _;
        let pem = key.to_pkcs8_pem(Default::default()).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        let claims = json!({ "jti": jti, "iss": issuer, "aud": issuer, "sub": "f3a1", "azp": "portal",
            "typ": "Bearer", "iat": exp - 120, "exp": exp });
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn calls(&self) -> Vec<(std::time::Instant, String, String)> {
        self.callbacks.lock().unwrap().clone()
    }
}

async fn ciba_channel(backend: Backend) {
    let provider = FakeProvider::start().await;
    let ca = provider.ca_pem.clone();
    let server = TestServer::start_config(backend, |config| config.rp_ca_pem = Some(ca)).await;
    let rp = Rp::add(&server, "Staff portal").await;
    admin::set_ciba(&server.state.durable_db, &rp.app, Some(&provider.issuer))
        .await
        .unwrap();
    let mut device = rp.enrolled(&server, "alice", "4831").await;
    let channel = format!("{}rp/v1/ciba/keycloak/{}", server.url, rp.app);
    let http = server.client();
    let now = server.state.clock.now_i64();
    let request = |token: Option<String>, body: Value| {
        let http = http.clone();
        let channel = channel.clone();
        async move {
            let mut r = http
                .post(&channel)
                .header("content-type", "application/json");
            if let Some(token) = token {
                r = r.bearer_auth(token);
            }
            // Keycloak's body, with a duplicated key as it sometimes sends.
            let text = body
                .to_string()
                .replacen('{', "{\"is_consent_required\":false,", 1);
            let response = r.body(text).send().await.unwrap();
            (response.status(), std::time::Instant::now())
        }
    };
    let ask = |hint: &str, message: &str| {
        json!({ "login_hint": hint, "binding_message": message, "is_consent_required": false,
                "scope": "openid profile", "acr_values": null })
    };

    // Tokens that are not the provider's: refused, nothing pushed.
    let other_key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    for (token, what) in [
        (None, "no token"),
        (
            Some(provider.token("x1", &provider.issuer, now + 120, &other_key)),
            "another key",
        ),
        (
            Some(provider.token("x2", &provider.issuer, now - 60, &provider.key)),
            "expired",
        ),
        (
            Some(provider.token(
                "x3",
                "https://evil.example/realms/r",
                now + 120,
                &provider.key,
            )),
            "issuer",
        ),
        (Some("not.a.token".into()), "garbage"),
        (
            Some(provider.token("x5", &provider.issuer, now + 7200, &provider.key)),
            "long-lived",
        ),
    ] {
        let (status, _) = request(token, ask("alice", "42")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    }
    assert!(device.pending(0).await.is_empty(), "nothing pushed");
    let (status, _) = request(
        Some(provider.token("x4", &provider.issuer, now + 120, &provider.key)),
        ask("alice", "hello"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a binding message that is not the number"
    );

    // Approved: the device shows the application and client, the person types the binding
    // message; Keycloak is called back once, after its request was answered.
    let token = provider.token("j1", &provider.issuer, now + 120, &provider.key);
    let (status, answered_at) = request(Some(token.clone()), ask("alice", "42")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = request(Some(token.clone()), ask("alice", "42")).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a request posted twice is taken once"
    );
    assert_eq!(device.pending(0).await.len(), 1, "one push");
    let signed = newest(&device).await;
    assert_eq!(signed.challenge.service, "Staff portal");
    assert_eq!(signed.challenge.browser, "Sign-in through portal");
    assert!(
        !serde_json::to_string(&signed).unwrap().contains("\"42\""),
        "the number is typed, never sent"
    );
    device
        .approve(&signed, "42", "4831")
        .await
        .expect("approved");
    let calls = wait_for_calls(&provider, 1).await;
    assert_eq!(
        calls[0].1, token,
        "called back with the provider's own token"
    );
    assert_eq!(calls[0].2, "SUCCEED");
    assert!(calls[0].0 > answered_at, "after the 201");

    // Denied, and an unknown user: UNAUTHORIZED (the client gets access_denied).
    let token = provider.token("j2", &provider.issuer, now + 120, &provider.key);
    assert_eq!(
        request(Some(token.clone()), ask("alice", "17")).await.0,
        StatusCode::CREATED
    );
    let signed = newest(&device).await;
    device.deny(&signed, false).await.unwrap();
    let unknown = provider.token("j3", &provider.issuer, now + 120, &provider.key);
    assert_eq!(
        request(Some(unknown.clone()), ask("zed", "55")).await.0,
        StatusCode::CREATED
    );
    let calls = wait_for_calls(&provider, 3).await;
    let of = |t: &str| {
        calls
            .iter()
            .filter(|c| c.1 == t)
            .map(|c| c.2.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(of(&token), ["UNAUTHORIZED"]);
    assert_eq!(of(&unknown), ["UNAUTHORIZED"]);
    // Exactly once each, even after more rounds of the sender.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(provider.calls().len(), 3, "{:?}", provider.calls());
    let (_, audit) = rp.get("/rp/v1/events?user=alice").await;
    assert!(audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "authentication.approved"));
    server.stop().await;
}

async fn wait_for_calls(
    provider: &FakeProvider,
    n: usize,
) -> Vec<(std::time::Instant, String, String)> {
    for _ in 0..100 {
        let calls = provider.calls();
        if calls.len() >= n {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("callbacks: {:?}", provider.calls());
}

/// The operator's commands, as the binary runs them: add (key shown once, JSON for scripts),
/// list (never a key), key-add / key-revoke, webhook, ciba, revoke; then a server on the same
/// data directory takes exactly the live keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rp_admin_commands_manage_applications() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey-server"))
            .arg("--data-dir")
            .arg(dir.path())
            .arg("app")
            .args(args)
            .env("RUST_LOG", "error")
            .output()
            .expect("latchkey-server runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["add", "Intranet", "--json"]);
    assert!(ok, "{err}");
    let added: Value = serde_json::from_str(&out).unwrap();
    let (app, key) = (
        added["app"].as_str().unwrap(),
        added["key"].as_str().unwrap(),
    );
    assert!(key.starts_with("lk1."));
    let (ok, human, _) = run(&["add", "Wiki", "--webhook", "https://wiki.example.org/hook"]);
    assert!(ok);
    assert!(
        human.contains("shown once") && human.contains("whsec_"),
        "{human}"
    );
    let (ok, _, err) = run(&["add", "Bad", "--webhook", "http://wiki.example.org/hook"]);
    assert!(!ok && err.contains("https://"), "{err}");
    let (ok, out, _) = run(&["key-add", app, "--json"]);
    assert!(ok);
    let second: Value = serde_json::from_str(&out).unwrap();
    let first_id = key.split('.').nth(1).unwrap();
    let (ok, _, _) = run(&["key-revoke", first_id]);
    assert!(ok);
    let (ok, _, err) = run(&["key-revoke", first_id]);
    assert!(!ok && err.contains("no live key"), "{err}");
    let (ok, out, _) = run(&["ciba", app, "https://sso.example.org/realms/staff"]);
    assert!(ok && out.contains("/rp/v1/ciba/keycloak/"), "{out}");
    let (ok, list, _) = run(&["list"]);
    assert!(ok);
    assert!(list.contains("Intranet") && list.contains("Wiki") && list.contains("sso.example.org"));
    assert!(
        !list.contains(key.rsplit('.').next().unwrap()),
        "no key in the list"
    );
    assert!(
        !list.contains(first_id),
        "a revoked key is not listed as live: {list}"
    );

    let running = latchkey_server::start(latchkey_server::config::Config::dev(dir.path()))
        .await
        .expect("server on the same data");
    let ca = std::fs::read(running.ca_cert.as_ref().unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let get = |key: String| {
        let (http, url) = (http.clone(), format!("{}rp/v1/users/nobody", running.url));
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        get(key.to_owned()).await,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
    let live = second["key"].as_str().unwrap().to_owned();
    assert_eq!(
        get(live.clone()).await,
        StatusCode::NOT_FOUND,
        "the live key works"
    );
    running.shutdown().await;
    let (ok, _, _) = run(&["revoke", app]);
    assert!(ok);
    let running = latchkey_server::start(latchkey_server::config::Config::dev(dir.path()))
        .await
        .unwrap();
    let url = format!("{}rp/v1/users/nobody", running.url);
    let status = http
        .get(url)
        .bearer_auth(live)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked application");
    running.shutdown().await;
}
