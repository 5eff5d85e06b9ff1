//! OpenID CIBA against a real Keycloak (Maven Central's keycloak-quarkus-dist, started by
//! scripts/keycloak.sh on loopback HTTPS): Latchkey is the realm's HTTP authentication channel,
//! the device approves through latchkey-core, and Keycloak issues tokens. test.sh fetches
//! Keycloak and sets LATCHKEY_REQUIRE_KEYCLOAK=1; elsewhere the test says it skipped.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use latchkey_e2e::*;
use latchkey_protocol::secret::Pin;
use latchkey_server::rp::admin;
use serde_json::{json, Value};

/// A Keycloak started by the script; stopped when dropped.
struct Keycloak {
    script: PathBuf,
    dir: tempfile::TempDir,
    base: String,
}

impl Keycloak {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/keycloak.sh")
    }

    /// Whether Keycloak and a Java for it are here (test.sh fetches them).
    fn available() -> bool {
        let ok = Command::new("bash")
            .arg(Self::script())
            .arg("check")
            .status()
            .is_ok_and(|s| s.success());
        if !ok && std::env::var_os("LATCHKEY_REQUIRE_KEYCLOAK").is_some() {
            panic!("LATCHKEY_REQUIRE_KEYCLOAK is set but Keycloak or Java 21+ is missing (scripts/keycloak.sh fetch)");
        }
        if !ok {
            eprintln!("Keycloak CIBA test skipped: run scripts/keycloak.sh fetch (test.sh does)");
        }
        ok
    }

    fn start(port: u16, channel: &str, ca: &Path, cert: &Path, key: &Path) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let keycloak = Self {
            script: Self::script(),
            base: format!("https://localhost:{port}"),
            dir,
        };
        let status = keycloak
            .command()
            .args(["start", &port.to_string(), channel])
            .arg(ca)
            .env("KEYCLOAK_TLS_CERT", cert)
            .env("KEYCLOAK_TLS_KEY", key)
            .status()
            .expect("keycloak.sh runs");
        assert!(status.success(), "Keycloak started");
        keycloak
    }

    fn command(&self) -> Command {
        let mut command = Command::new("bash");
        command
            .arg(&self.script)
            .env("KEYCLOAK_DIR", self.dir.path());
        command
    }

    /// Creates realm `latchkey`, user `alice`, CIBA clients `rp` (poll) and `rp-ping` (ping,
    /// notified at `ping_endpoint`); their secrets.
    fn configure(&self, port: u16, ping_endpoint: &str) -> (String, String) {
        let out = self
            .command()
            .args(["configure", &port.to_string()])
            .env("KEYCLOAK_PING_ENDPOINT", ping_endpoint)
            .output()
            .expect("keycloak.sh configure");
        assert!(
            out.status.success(),
            "configure: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines().map(str::to_owned);
        (
            lines.next().expect("the poll client's secret"),
            lines.next().expect("the ping client's secret"),
        )
    }
}

impl Drop for Keycloak {
    fn drop(&mut self) {
        let _ = self.command().arg("stop").status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The RP's CIBA request; Keycloak's `auth_req_id`.
async fn backchannel(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    binding_message: &str,
) -> String {
    backchannel_as(http, base, ("rp", secret), binding_message, &[]).await
}

async fn backchannel_as(
    http: &reqwest::Client,
    base: &str,
    (client, secret): (&str, &str),
    binding_message: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut form = vec![
        ("client_id", client),
        ("client_secret", secret),
        ("scope", "openid"),
        ("login_hint", "alice"),
        ("binding_message", binding_message),
    ];
    form.extend_from_slice(extra);
    let response = http
        .post(format!(
            "{base}/realms/latchkey/protocol/openid-connect/ext/ciba/auth"
        ))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body["auth_req_id"].as_str().unwrap().to_owned()
}

/// Polls the token endpoint as a CIBA client does, until it answers something other than
/// `authorization_pending` / `slow_down`.
async fn poll_token(http: &reqwest::Client, base: &str, secret: &str, auth_req_id: &str) -> Value {
    poll_token_as(http, base, ("rp", secret), auth_req_id).await
}

async fn poll_token_as(
    http: &reqwest::Client,
    base: &str,
    (client, secret): (&str, &str),
    auth_req_id: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: Value = http
            .post(format!(
                "{base}/realms/latchkey/protocol/openid-connect/token"
            ))
            .form(&[
                ("grant_type", "urn:openid:params:grant-type:ciba"),
                ("auth_req_id", auth_req_id),
                ("client_id", client),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pending = matches!(
            body["error"].as_str(),
            Some("authorization_pending" | "slow_down")
        );
        if !pending {
            return body;
        }
        assert!(Instant::now() < deadline, "no answer from Keycloak: {body}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}

/// The claims of a JWT (its signature is Keycloak's business here).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&latchkey_protocol::b64::decode(payload).expect("base64url")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ciba_keycloak_issues_tokens_after_the_device_approves() {
    if !Keycloak::available() {
        return;
    }
    // One dev CA for both: Latchkey's certificate serves Keycloak too (both on localhost),
    // and each trusts the CA for its calls to the other.
    let mut tls = None;
    let server = TestServer::start_config(Backend::Sqlite, |config| {
        let ca = latchkey_server::tls::ensure_dev_ca(&config.data_dir).expect("dev CA");
        config.rp_ca_pem = Some(std::fs::read(&ca.ca_cert).expect("CA"));
        tls = Some(ca);
    })
    .await;
    let tls = tls.unwrap();
    let app = admin::add_app(
        &server.state.durable_db,
        &server.state.keys,
        "Staff portal",
        None,
        600,
        server.state.clock.now_i64(),
    )
    .await
    .unwrap();
    let port = free_port();
    let base = format!("https://localhost:{port}");
    admin::set_ciba(
        &server.state.durable_db,
        &app.app,
        Some(&format!("{base}/realms/latchkey")),
    )
    .await
    .unwrap();
    let channel = format!("{}rp/v1/ciba/keycloak/{}", server.url, app.app);
    let started = Instant::now();
    let keycloak = tokio::task::spawn_blocking({
        let (channel, ca, cert, key) = (
            channel.clone(),
            tls.ca_cert.clone(),
            tls.cert.clone(),
            tls.key.clone(),
        );
        move || Keycloak::start(port, &channel, &ca, &cert, &key)
    })
    .await
    .unwrap();
    // The ping client's notification endpoint: HTTPS on loopback with the same certificate.
    type Pings = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;
    let pings: Pings = Pings::default();
    let ping_port = free_port();
    let notify_tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind(("127.0.0.1", ping_port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let notify_handle = axum_server::Handle::new();
    {
        let pings = pings.clone();
        let app = axum::Router::new().route(
            "/ciba/notify",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let pings = pings.clone();
                async move {
                    let bearer = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    pings
                        .lock()
                        .unwrap()
                        .push((bearer, serde_json::from_str(&body).unwrap_or(Value::Null)));
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(
            axum_server::from_tcp_rustls(listener, notify_tls)
                .handle(notify_handle.clone())
                .serve(app.into_make_service()),
        );
    }
    let ping_endpoint = format!("https://localhost:{ping_port}/ciba/notify");
    let (secret, ping_secret) = keycloak.configure(port, &ping_endpoint);
    eprintln!("Keycloak started and configured in {:?}", started.elapsed());
    assert_eq!(keycloak.base, base);

    // The application enrols alice's phone (PIN posted by its page); the phone scans the link.
    let rp = server.client();
    let call = |method: reqwest::Method, path: &str, body: Value| {
        rp.request(method, format!("{}{}", server.url, &path[1..]))
            .bearer_auth(&app.key)
            .json(&body)
            .send()
    };
    let r = call(
        reqwest::Method::PUT,
        "/rp/v1/users/alice",
        json!({ "display_name": "Alice" }),
    )
    .await
    .unwrap();
    assert!(r.status().is_success());
    let enrolment: Value = call(
        reqwest::Method::POST,
        "/rp/v1/users/alice/enrolments",
        json!({ "device_name": "Alice's phone", "pin": "4831" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let link = latchkey_protocol::link::parse(enrolment["link"].as_str().unwrap()).unwrap();
    let phone = Phone::new(&server);
    let core = phone.open();
    let account = core
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("enrolled");
    assert_eq!(account.label, "Staff portal — Alice");

    // CIBA: the client asks Keycloak; Keycloak asks Latchkey; the phone shows the request and
    // the person types the binding message and the PIN; Keycloak issues tokens.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&server.ca_pem).unwrap())
        .build()
        .unwrap();
    let asked = Instant::now();
    let auth_req_id = backchannel(&client, &base, &secret, "42").await;
    let view = core
        .wait_for_challenge(&account.id, 10)
        .await
        .expect("wait")
        .expect("the request reached the phone");
    assert_eq!(view.challenge.service, "Staff portal");
    assert_eq!(view.challenge.browser, "Sign-in through rp");
    core.approve(&view, "42", &Pin::new("4831"))
        .await
        .expect("approved on the phone");
    let tokens = poll_token(&client, &base, &secret, &auth_req_id).await;
    eprintln!("CIBA request to tokens: {:?}", asked.elapsed());
    assert!(tokens["access_token"].is_string(), "{tokens}");
    let id_token = claims(tokens["id_token"].as_str().expect("an ID token"));
    assert_eq!(id_token["preferred_username"], "alice");
    assert_eq!(id_token["iss"], format!("{base}/realms/latchkey"));

    // Denied on the phone: the client gets access_denied, no token.
    let auth_req_id = backchannel(&client, &base, &secret, "57").await;
    let view = core
        .wait_for_challenge(&account.id, 10)
        .await
        .expect("wait")
        .expect("the second request reached the phone");
    core.deny(&view, false).await.expect("denied");
    let refused = poll_token(&client, &base, &secret, &auth_req_id).await;
    assert_eq!(refused["error"], "access_denied", "{refused}");
    assert!(refused.get("access_token").is_none());

    // The wrong number typed: refused too.
    let auth_req_id = backchannel(&client, &base, &secret, "64").await;
    let view = core
        .wait_for_challenge(&account.id, 10)
        .await
        .expect("wait")
        .expect("the third request reached the phone");
    assert!(core.approve(&view, "46", &Pin::new("4831")).await.is_err());
    let refused = poll_token(&client, &base, &secret, &auth_req_id).await;
    assert_eq!(refused["error"], "access_denied", "{refused}");

    // Ping mode: the same channel; Keycloak pings the client once the phone approved, and the
    // client fetches its tokens once.
    let notification_token = "ping-7c1f0e5b9d2a4e68";
    let auth_req_id = backchannel_as(
        &client,
        &base,
        ("rp-ping", &ping_secret),
        "81",
        &[("client_notification_token", notification_token)],
    )
    .await;
    let view = core
        .wait_for_challenge(&account.id, 10)
        .await
        .expect("wait")
        .expect("the ping client's request reached the phone");
    core.approve(&view, "81", &Pin::new("4831"))
        .await
        .expect("approved on the phone");
    let deadline = Instant::now() + Duration::from_secs(20);
    let ping = loop {
        if let Some(ping) = pings.lock().unwrap().first().cloned() {
            break ping;
        }
        assert!(
            Instant::now() < deadline,
            "Keycloak never pinged the client"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ping.0, format!("Bearer {notification_token}"));
    assert_eq!(ping.1["auth_req_id"], auth_req_id.as_str());
    let tokens = poll_token_as(&client, &base, ("rp-ping", &ping_secret), &auth_req_id).await;
    assert!(tokens["access_token"].is_string(), "ping mode: {tokens}");
    notify_handle.shutdown();
    drop(keycloak);
    server.stop().await;
}
