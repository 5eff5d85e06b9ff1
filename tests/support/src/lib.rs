//! Test harness: the real server on loopback HTTPS with its dev CA, a browser (reqwest with a
//! cookie jar) for the web pages, and a small device built from the protocol crate only.
//! Every suite runs on SQLite and on PostgreSQL (`LATCHKEY_TEST_POSTGRES_URL`, set by
//! `test.sh`; `LATCHKEY_REQUIRE_POSTGRES=1` makes its absence a failure).
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use latchkey_protocol::link::{self, EnrolmentLink};
use latchkey_protocol::oprf;
use latchkey_protocol::secret::{OneTimeCode, Password, Pin, PinCheck};
use latchkey_protocol::signed::{self, Decision};
use latchkey_protocol::types::*;
use latchkey_protocol::wire::*;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use latchkey_server::config::{Config, Policy};

/// Which database a suite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `sqlite::NAME` and `postgres::NAME` tests from one async body.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:ident;)*) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$body($crate::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if $crate::postgres_url().is_none() { return; }
                super::$body($crate::Backend::Postgres).await
            }
            )*
        }
    };
}

/// The PostgreSQL cluster URL, or `None` (which fails if `LATCHKEY_REQUIRE_POSTGRES` is set).
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("LATCHKEY_TEST_POSTGRES_URL").ok();
    if url.is_none() && std::env::var_os("LATCHKEY_REQUIRE_POSTGRES").is_some() {
        panic!("LATCHKEY_REQUIRE_POSTGRES is set but LATCHKEY_TEST_POSTGRES_URL is not");
    }
    if url.is_none() {
        eprintln!("PostgreSQL suite skipped: LATCHKEY_TEST_POSTGRES_URL not set (test.sh sets it)");
    }
    url
}

pub mod apns;
pub mod app_attest;
pub mod attest;

/// Where a provider fake listens: `https://localhost:PORT` on a free loopback port, with a
/// certificate from a throwaway CA (the server under test trusts `ca_pem`).
pub struct Loopback {
    /// `https://localhost:PORT`.
    pub url: String,
    /// The port.
    pub port: u16,
    /// The CA the certificate chains to.
    pub ca_pem: Vec<u8>,
    /// The TLS configuration (to listen again on the same port).
    pub tls: axum_server::tls_rustls::RustlsConfig,
    _dir: tempfile::TempDir,
}

impl Loopback {
    /// A free port and its certificate; the listener to serve on.
    pub async fn bind() -> (Self, std::net::TcpListener) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = latchkey_server::tls::ensure_dev_ca(dir.path()).expect("test CA");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&ca.cert, &ca.key)
            .await
            .expect("TLS");
        let loopback = Self {
            url: format!("https://localhost:{port}"),
            port,
            ca_pem: std::fs::read(&ca.ca_cert).expect("CA"),
            tls,
            _dir: dir,
        };
        (loopback, listener)
    }

    /// Serves `app` over HTTPS (HTTP/1.1 and HTTP/2) on `listener`.
    pub fn serve(&self, listener: std::net::TcpListener, app: axum::Router) -> axum_server::Handle {
        let handle = axum_server::Handle::new();
        tokio::spawn(
            axum_server::from_tcp_rustls(listener, self.tls.clone())
                .handle(handle.clone())
                .serve(app.into_make_service()),
        );
        handle
    }
}
pub mod fcm;
pub mod webpush;
pub mod wns;

pub struct TestServer {
    pub running: Option<latchkey_server::Running>,
    pub url: String,
    pub ca_pem: Vec<u8>,
    pub dir: tempfile::TempDir,
    pub state: Arc<latchkey_server::AppState>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, Policy::default()).await
    }

    pub async fn start_with(backend: Backend, policy: Policy) -> Self {
        Self::start_config(backend, |config| config.policy = policy).await
    }

    /// A server whose dev configuration `configure` adjusts (push senders, policy).
    pub async fn start_config(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::dev(dir.path());
        configure(&mut config);
        if backend == Backend::Postgres {
            config.database_url = Some(fresh_postgres_database().await);
        }
        let running = latchkey_server::start(config).await.expect("server starts");
        let ca_pem = std::fs::read(running.ca_cert.as_ref().expect("dev CA")).expect("CA file");
        Self {
            url: running.url.clone(),
            state: running.state.clone(),
            running: Some(running),
            ca_pem,
            dir,
        }
    }

    /// A client trusting only the dev CA, never following redirects, with a cookie jar.
    pub fn client(&self) -> reqwest::Client {
        dev_client(&self.ca_pem)
    }

    /// The mails in the dev outbox, newest first, with subject and body decoded.
    pub fn mails(&self) -> Vec<latchkey_server::mail::OutboxMail> {
        latchkey_server::mail::read_outbox(self.dir.path())
            .into_iter()
            .map(|(file, raw)| latchkey_server::mail::OutboxMail::parse(file, &raw))
            .collect()
    }

    /// The raw mails in the dev outbox, newest first.
    pub fn outbox(&self) -> Vec<String> {
        latchkey_server::mail::read_outbox(self.dir.path())
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// A running server as tests reach it: its URL, a client trusting it, its mails.
pub trait Served {
    /// The public base URL, ending in `/`.
    fn url(&self) -> &str;
    /// A client trusting only the dev CA, never following redirects, with a cookie jar.
    fn client(&self) -> reqwest::Client;
    /// The mails in the dev outbox, newest first, decoded.
    fn mails(&self) -> Vec<latchkey_server::mail::OutboxMail>;
}

impl Served for TestServer {
    fn url(&self) -> &str {
        &self.url
    }
    fn client(&self) -> reqwest::Client {
        TestServer::client(self)
    }
    fn mails(&self) -> Vec<latchkey_server::mail::OutboxMail> {
        TestServer::mails(self)
    }
}

impl<T: Served + ?Sized> Served for Arc<T> {
    fn url(&self) -> &str {
        (**self).url()
    }
    fn client(&self) -> reqwest::Client {
        (**self).client()
    }
    fn mails(&self) -> Vec<latchkey_server::mail::OutboxMail> {
        (**self).mails()
    }
}

fn dev_client(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).expect("CA"))
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
        .build()
        .expect("client")
}

/// A `latchkey-server` process in dev mode: one node of several on one PostgreSQL. Nodes
/// given the same data directory share the dev CA and the outbox; the keys come from the file
/// named. Killed (SIGKILL) when dropped.
pub struct Node {
    pub child: std::process::Child,
    pub url: String,
    pub ca_pem: Vec<u8>,
    pub data_dir: std::path::PathBuf,
}

impl Node {
    /// Starts `binary` and waits until it listens.
    pub async fn start(
        binary: &std::path::Path,
        data_dir: &std::path::Path,
        database_url: &str,
        keys: &std::path::Path,
    ) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(binary)
            .args(["--dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--database-url")
            .arg(database_url)
            .arg("--server-keys")
            .arg(keys)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("latchkey-server starts");
        let stdout = child.stdout.take().expect("stdout");
        let url = tokio::task::spawn_blocking(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let url = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|l| {
                    l.strip_prefix("Latchkey server listening on ")
                        .map(str::to_owned)
                })
                .expect("the server says where it listens");
            // Keep reading so the server never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            url
        });
        let url = tokio::time::timeout(std::time::Duration::from_secs(30), url)
            .await
            .expect("listening within 30 s")
            .expect("reader");
        let ca_pem = std::fs::read(data_dir.join("tls").join("dev-ca.pem")).expect("dev CA");
        Self {
            child,
            url,
            ca_pem,
            data_dir: data_dir.to_owned(),
        }
    }

    /// Kills the process at once (no graceful shutdown), as a crash or power cut would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Node {
    /// A cloneable handle to this node (for tasks).
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.url.clone(),
            ca_pem: self.ca_pem.clone(),
            data_dir: self.data_dir.clone(),
        }
    }
}

/// Where a [`Node`] is, without owning its process.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    pub ca_pem: Vec<u8>,
    pub data_dir: std::path::PathBuf,
}

impl Served for Endpoint {
    fn url(&self) -> &str {
        &self.url
    }
    fn client(&self) -> reqwest::Client {
        dev_client(&self.ca_pem)
    }
    fn mails(&self) -> Vec<latchkey_server::mail::OutboxMail> {
        latchkey_server::mail::read_outbox(&self.data_dir)
            .into_iter()
            .map(|(file, raw)| latchkey_server::mail::OutboxMail::parse(file, &raw))
            .collect()
    }
}

impl Served for Node {
    fn url(&self) -> &str {
        &self.url
    }
    fn client(&self) -> reqwest::Client {
        dev_client(&self.ca_pem)
    }
    fn mails(&self) -> Vec<latchkey_server::mail::OutboxMail> {
        self.endpoint().mails()
    }
}

/// A fresh database on the test cluster (`LATCHKEY_TEST_POSTGRES_URL`), as a URL.
pub async fn fresh_postgres() -> String {
    fresh_postgres_database().await
}

async fn fresh_postgres_database() -> String {
    use sqlx::Connection as _;
    let base = postgres_url().expect("postgres url");
    let mut name = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut name);
    let db = format!("lk_{}", hex::encode(name));
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to the test cluster");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let (prefix, _) = base.rsplit_once('/').expect("url with a database");
    format!("{prefix}/{db}")
}

/// The value of `name="csrf"` in a page.
pub fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    html[at..].split('"').next().expect("csrf value").to_owned()
}

/// Text between `start` and the next `end`.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in page"))
        + start.len();
    let rest = &html[at..];
    &rest[..rest.find(end).expect("end marker")]
}

pub fn unescape(html: &str) -> String {
    html.replace("&amp;", "&")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
}

/// A person in a browser.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub email: String,
    pub password: String,
}

impl Browser {
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(format!("{}{}", self.base, path.trim_start_matches('/')))
            .send()
            .await
            .expect("GET");
        (r.status(), r.text().await.expect("body"))
    }

    pub async fn get_raw(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.base, path.trim_start_matches('/')))
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{}", self.base, path.trim_start_matches('/')))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// Registers a new account (and is signed in).
    pub async fn register(server: &impl Served, email: &str, password: &str) -> Self {
        let b = Self {
            client: server.client(),
            base: server.url().to_owned(),
            email: email.into(),
            password: password.into(),
        };
        let (_, page) = b.get("/register").await;
        let token = csrf(&page);
        let r = b
            .post(
                "/register",
                &[
                    ("csrf", &token),
                    ("email", email),
                    ("password", password),
                    ("password2", password),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "register");
        let page = r.text().await.expect("page");
        assert!(page.contains("Check your e-mail"), "{page}");
        let path = registration_link(server, email).expect("a link to finish");
        let (status, page) = b.get(&path).await;
        assert_eq!(status, StatusCode::OK, "finish page");
        let token = between(&page, "name=\"t\" value=\"", "\"").to_owned();
        let r = b
            .post("/register/finish", &[("csrf", &csrf(&page)), ("t", &token)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "registered");
        b
    }

    /// Adds a device on the web page; returns the QR page HTML and the link it shows.
    pub async fn add_device(&self, name: &str, pin: &str) -> (String, String) {
        let (html, link, _) = self.add_device_at(name, pin).await;
        (html, link)
    }

    /// As [`Browser::add_device`], also returning the QR page's path.
    pub async fn add_device_at(&self, name: &str, pin: &str) -> (String, String, String) {
        let (_, page) = self.get("/devices/add").await;
        let token = csrf(&page);
        let r = self
            .post(
                "/devices/add",
                &[
                    ("csrf", &token),
                    ("name", name),
                    ("pin", pin),
                    ("pin2", pin),
                ],
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "add device: {}",
            r.text().await.unwrap_or_default()
        );
        let location = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let (status, html) = self.get(&location).await;
        assert_eq!(status, StatusCode::OK);
        let link = unescape(between(&html, "<p class=\"link\"><code>", "</code>"));
        (html, link, location)
    }

    /// Signs in again from this same browser (its session and cookies), with its address and
    /// password; the response to the sign-in form.
    pub async fn sign_in_again(&self) -> reqwest::Response {
        let (_, page) = self.get("/login").await;
        self.post(
            "/login",
            &[
                ("csrf", &csrf(&page)),
                ("email", &self.email),
                ("password", &self.password),
            ],
        )
        .await
    }

    /// A fresh browser that signs in with the password; returns it and the number shown.
    pub async fn sign_in(
        server: &impl Served,
        email: &str,
        password: &str,
    ) -> (Self, StatusCode, String) {
        let b = Self {
            client: server.client(),
            base: server.url().to_owned(),
            email: email.into(),
            password: password.into(),
        };
        let (_, page) = b.get("/login").await;
        let token = csrf(&page);
        let r = b
            .post(
                "/login",
                &[("csrf", &token), ("email", email), ("password", password)],
            )
            .await;
        let status = r.status();
        if status != StatusCode::SEE_OTHER {
            let body = r.text().await.unwrap_or_default();
            return (b, status, body);
        }
        let location = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        if location != "/login/approve" {
            return (b, status, location);
        }
        let (_, html) = b.get("/login/approve").await;
        let code = between(
            &html,
            "<p class=\"code\" aria-describedby=\"code-label\">",
            "</p>",
        )
        .to_owned();
        (b, status, code)
    }
}

/// A device made of the protocol crate: device key, approval key, OPRF.
pub struct Device {
    pub http: reqwest::Client,
    pub base: String,
    pub link: EnrolmentLink,
    pub device_key: SigningKey,
    pub approval: SigningKey,
    pub account: AccountId,
    pub device: DeviceId,
    pub counter: u64,
    pub epoch: u32,
}

pub struct Failure {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.status, self.body)
    }
}

pub type Reply<T> = Result<T, Failure>;

pub async fn post_json<T: Serialize, R: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    body: &T,
) -> Reply<R> {
    let r = http.post(url).json(body).send().await.expect("request");
    let status = r.status();
    let text = r.text().await.expect("body");
    if status.is_success() {
        Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad response {text}: {e}")))
    } else {
        Err(Failure {
            status,
            body: serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("bad error {status} {text}: {e}")),
        })
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

/// `key`'s signature over `bytes`.
pub fn sign(key: &SigningKey, bytes: &[u8]) -> Signature {
    let sig: p256::ecdsa::Signature = key.sign(bytes);
    Signature::from_ecdsa(&sig)
}

/// What the device did at enrolment step 1.
pub struct Begun {
    pub device_key: SigningKey,
    pub response: EnrolBeginResponse,
    pub output: latchkey_protocol::secret::OprfOutput,
}

/// What a device sends about its key at enrolment.
pub enum Attest {
    /// Nothing (the claim alone).
    Nothing,
    /// An Android key attestation chain, leaf first.
    Chain(Vec<Vec<u8>>),
    /// An iOS App Attest object.
    App(latchkey_protocol::wire::AppAttestation),
    /// An iOS App Attest object with another claim than the Secure Enclave.
    AppClaiming(Assurance, latchkey_protocol::wire::AppAttestation),
    /// Both (a malformed request).
    Both(Vec<Vec<u8>>, latchkey_protocol::wire::AppAttestation),
}

impl From<Vec<Vec<u8>>> for Attest {
    fn from(chain: Vec<Vec<u8>>) -> Self {
        Self::Chain(chain)
    }
}

impl From<latchkey_protocol::wire::AppAttestation> for Attest {
    fn from(object: latchkey_protocol::wire::AppAttestation) -> Self {
        Self::App(object)
    }
}

impl Device {
    /// Enrolment step 1 only.
    pub async fn begin(
        server: &impl Served,
        link_text: &str,
        pin: &str,
    ) -> Reply<(EnrolmentLink, Begun)> {
        Self::begin_attested(server, link_text, pin, |_, _| Attest::Nothing).await
    }

    /// Enrolment step 1, sending the attestation `attest` makes for the device key and the
    /// enrolment's attestation challenge (an Android chain, or an App Attest object).
    pub async fn begin_attested<A: Into<Attest>>(
        server: &impl Served,
        link_text: &str,
        pin: &str,
        attest: impl FnOnce(&SigningKey, &[u8; 32]) -> A,
    ) -> Reply<(EnrolmentLink, Begun)> {
        let link = link::parse(link_text).expect("link parses");
        let http = server.client();
        let device_key = SigningKey::random(&mut OsRng);
        let mut claim = None;
        let (attestation, app_attest) = match attest(
            &device_key,
            &EnrolBeginRequest::attestation_challenge(&link.code),
        )
        .into()
        {
            Attest::Nothing => (Vec::new(), None),
            Attest::Chain(chain) => (chain, None),
            Attest::App(object) => (Vec::new(), Some(object)),
            Attest::AppClaiming(assurance, object) => {
                claim = Some(assurance);
                (Vec::new(), Some(object))
            }
            Attest::Both(chain, object) => (chain, Some(object)),
        };
        let public = PublicKey::from(device_key.verifying_key());
        // An iOS app claims the Secure Enclave (App Attest backs only that claim).
        let assurance = claim.unwrap_or(match &app_attest {
            Some(_) => Assurance::SecureElement,
            None => Assurance::Software,
        });
        let pin = Pin::new(pin);
        let (state, blinded) = oprf::blind(&pin, &mut OsRng).expect("blind");
        let bytes = EnrolBeginRequest::signed_bytes(
            &link.code,
            &public,
            assurance,
            "Test device",
            &blinded,
        );
        let request = EnrolBeginRequest {
            v: 1,
            code: link.code.clone(),
            device_key: public,
            assurance,
            device_model: "Test device".into(),
            blinded_pin: blinded,
            signature: sign(&device_key, &bytes),
            attestation,
            app_attest,
        };
        let response: EnrolBeginResponse = post_json(
            &http,
            &format!(
                "{}{}",
                link.api_base(),
                ENROL_BEGIN_PATH.trim_start_matches('/')
            ),
            &request,
        )
        .await?;
        let output = state
            .finalize(&pin, &response.evaluated_pin)
            .expect("finalize");
        Ok((
            link,
            Begun {
                device_key,
                response,
                output,
            },
        ))
    }

    /// The device of an enrolment that went through step 1 only (its approval key is new).
    pub fn enrolling(server: &impl Served, link: EnrolmentLink, begun: &Begun) -> Self {
        Self {
            http: server.client(),
            base: link.api_base(),
            link,
            device_key: begun.device_key.clone(),
            approval: SigningKey::random(&mut OsRng),
            account: begun.response.account,
            device: begun.response.device,
            counter: 0,
            epoch: 0,
        }
    }

    /// Full enrolment with the PIN set on the web page.
    pub async fn enrol(server: &impl Served, link_text: &str, pin: &str) -> Reply<Self> {
        Self::enrol_attested(server, link_text, pin, |_, _| Attest::Nothing).await
    }

    /// [`Device::enrol`], sending the attestation chain `attest` makes (see
    /// [`Device::begin_attested`]).
    pub async fn enrol_attested<A: Into<Attest>>(
        server: &impl Served,
        link_text: &str,
        pin: &str,
        attest: impl FnOnce(&SigningKey, &[u8; 32]) -> A,
    ) -> Reply<Self> {
        let (link, begun) = Self::begin_attested(server, link_text, pin, attest).await?;
        assert_eq!(
            begun.response.pin_source,
            PinSource::Web,
            "PIN set on the web"
        );
        let check = oprf::pin_check(
            &begun.output,
            &begun.response.account,
            &begun.response.device,
        );
        let mut device = Self {
            http: server.client(),
            base: link.api_base(),
            link,
            device_key: begun.device_key,
            approval: SigningKey::random(&mut OsRng),
            account: begun.response.account,
            device: begun.response.device,
            counter: 0,
            epoch: 0,
        };
        let finish = device.finish_body(Some(check));
        let r: EnrolFinishResponse = device.call(finish).await?;
        device.epoch = r.epoch;
        Ok(device)
    }

    pub fn finish_body(&self, check: Option<PinCheck>) -> EnrolFinish {
        let approval = PublicKey::from(self.approval.verifying_key());
        let device_public = PublicKey::from(self.device_key.verifying_key());
        let proof = signed::enrol_proof(&self.account, &self.device, &approval, &device_public);
        EnrolFinish {
            pin_check: check,
            approval_key: approval,
            approval_proof: sign(&self.approval, &proof),
        }
    }

    /// The same device talking to another node of the deployment (same keys, same counter).
    pub fn via(&self, node: &impl Served) -> Self {
        Self {
            http: node.client(),
            base: node.url().to_owned(),
            link: self.link.clone(),
            device_key: self.device_key.clone(),
            approval: self.approval.clone(),
            account: self.account,
            device: self.device,
            counter: self.counter,
            epoch: self.epoch,
        }
    }

    pub fn envelope<B: RequestBody>(&self, body: B) -> DeviceRequest<B> {
        self.envelope_with(self.account, now(), body)
    }

    /// An envelope signed by this device's key naming `account` and stamped `issued_at`
    /// (tests of the account binding and the clock check).
    pub fn envelope_with<B: RequestBody>(
        &self,
        account: AccountId,
        issued_at: u64,
        body: B,
    ) -> DeviceRequest<B> {
        let header = RequestHeader::new(
            account,
            self.device,
            RequestId::random(&mut OsRng),
            issued_at,
        );
        let signature = sign(
            &self.device_key,
            &DeviceRequest::signed_bytes(&header, &body),
        );
        DeviceRequest {
            header,
            body,
            signature,
        }
    }

    pub async fn call<B: RequestBody>(&self, body: B) -> Reply<B::Response> {
        let request = self.envelope(body);
        self.send(&request).await
    }

    pub async fn send<B: RequestBody>(&self, request: &DeviceRequest<B>) -> Reply<B::Response> {
        post_json(
            &self.http,
            &format!("{}{}", self.base, B::PATH.trim_start_matches('/')),
            request,
        )
        .await
    }

    pub async fn pending(&self, wait: u16) -> Vec<ChallengeId> {
        self.call(ListChallenges { wait_seconds: wait })
            .await
            .expect("list")
            .challenges
    }

    pub async fn fetch(&self, id: ChallengeId) -> Reply<SignedChallenge> {
        self.call(FetchChallenge { challenge: id }).await
    }

    /// The approval key opened with `pin`: evaluates under the server key and checks that the
    /// device's "sealed" key would open (here: the PIN matches the one we enrolled with).
    pub async fn evaluate(
        &self,
        challenge: ChallengeId,
        pin: &str,
    ) -> Reply<(latchkey_protocol::secret::OprfOutput, u8)> {
        let pin = Pin::new(pin);
        let (state, blinded) = oprf::blind(&pin, &mut OsRng).expect("blind");
        let r = self
            .call(Evaluate {
                purpose: EvaluatePurpose::Approve { challenge },
                blinded_pin: blinded,
            })
            .await?;
        Ok((
            state.finalize(&pin, &r.evaluated_pin).expect("finalize"),
            r.attempts_left,
        ))
    }

    /// Approves with the typed code (after a counted evaluation).
    pub async fn approve(
        &mut self,
        signed_challenge: &SignedChallenge,
        typed: &str,
        pin: &str,
    ) -> Reply<AnswerResponse> {
        let id = signed_challenge.challenge.id;
        self.evaluate(id, pin).await?;
        self.counter += 1;
        let answer = self.answer_body(signed_challenge, typed, Decision::Approve, self.counter);
        self.call(answer).await
    }

    pub fn answer_body(
        &self,
        signed_challenge: &SignedChallenge,
        typed: &str,
        decision: Decision,
        counter: u64,
    ) -> Answer {
        let c = &signed_challenge.challenge;
        let bytes = signed::answer(
            &self.account,
            &self.device,
            &c.id,
            &c.digest(),
            typed,
            decision,
            counter,
        );
        Answer {
            challenge: c.id,
            challenge_digest: c.digest(),
            decision,
            typed_code: typed.into(),
            counter,
            approval_signature: (decision == Decision::Approve)
                .then(|| sign(&self.approval, &bytes)),
        }
    }

    pub async fn deny(
        &self,
        signed_challenge: &SignedChallenge,
        report: bool,
    ) -> Reply<AnswerResponse> {
        let decision = if report {
            Decision::Report
        } else {
            Decision::Deny
        };
        self.call(self.answer_body(signed_challenge, "", decision, 0))
            .await
    }

    /// Changes the PIN (both phases): fresh approval key.
    pub async fn change_pin(&mut self, old: &str, new: &str) -> Reply<CommitResponse> {
        let (fresh, commit) = self.stage_change(old, new).await?;
        let r = self.call(commit).await?;
        self.approval = fresh;
        self.epoch = r.epoch;
        Ok(r)
    }

    /// Starts a PIN change on the server (old and new PIN evaluated) and builds its commit with
    /// a fresh approval key, proven by the current key and the fresh one: (fresh key, commit),
    /// not yet sent.
    pub async fn stage_change(&self, old: &str, new: &str) -> Reply<(SigningKey, PinChangeCommit)> {
        let operation = OperationId::random(&mut OsRng);
        let (old_pin, new_pin) = (Pin::new(old), Pin::new(new));
        let (_s1, b1) = oprf::blind(&old_pin, &mut OsRng).expect("blind");
        let (_s2, b2) = oprf::blind(&new_pin, &mut OsRng).expect("blind");
        let started = self
            .call(PinChangeStart {
                operation,
                old_blinded_pin: b1,
                new_blinded_pin: b2,
            })
            .await?;
        let fresh = SigningKey::random(&mut OsRng);
        let fresh_public = PublicKey::from(fresh.verifying_key());
        let bytes = signed::pin_change_proof(
            &self.account,
            &self.device,
            &operation,
            &fresh_public,
            started.new_epoch,
        );
        let commit = PinChangeCommit {
            operation,
            new_approval_key: fresh_public,
            old_proof: sign(&self.approval, &bytes),
            new_proof: sign(&fresh, &bytes),
        };
        Ok((fresh, commit))
    }

    /// Removes this device from the app: a counted evaluation opens the approval key (here: the
    /// PIN must be the enrolled one), which signs the removal with the next counter.
    pub async fn remove(&mut self, pin: &str) -> Reply<RemoveDeviceResponse> {
        let pin = Pin::new(pin);
        let (_state, blinded) = oprf::blind(&pin, &mut OsRng).expect("blind");
        self.call(Evaluate {
            purpose: EvaluatePurpose::Remove,
            blinded_pin: blinded,
        })
        .await?;
        self.counter += 1;
        let bytes = signed::removal(&self.account, &self.device, self.counter);
        self.call(RemoveDevice {
            counter: self.counter,
            approval_signature: Some(sign(&self.approval, &bytes)),
        })
        .await
    }

    /// Starts a forgotten-PIN reset.
    pub async fn reset_start(
        &self,
        operation: OperationId,
        password: &str,
    ) -> Reply<PinResetStartResponse> {
        self.call(PinResetStart {
            operation,
            password: Password::new(password),
        })
        .await
    }

    /// Finishes a reset with the e-mailed code: fresh approval key.
    pub async fn reset_finish(
        &mut self,
        operation: OperationId,
        code: &str,
        new_pin: &str,
    ) -> Reply<CommitResponse> {
        let pin = Pin::new(new_pin);
        let (_state, blinded) = oprf::blind(&pin, &mut OsRng).expect("blind");
        let verified = self
            .call(PinResetVerify {
                operation,
                code: OneTimeCode::new(code),
                new_blinded_pin: blinded,
            })
            .await?;
        let fresh = SigningKey::random(&mut OsRng);
        let fresh_public = PublicKey::from(fresh.verifying_key());
        let bytes = signed::pin_reset_proof(
            &self.account,
            &self.device,
            &operation,
            &fresh_public,
            verified.new_epoch,
        );
        let r = self
            .call(PinResetCommit {
                operation,
                new_approval_key: fresh_public,
                new_proof: sign(&fresh, &bytes),
            })
            .await?;
        self.approval = fresh;
        self.epoch = r.epoch;
        Ok(r)
    }
}

/// The 8-digit code in the newest reset mail.
pub fn reset_code(server: &impl Served) -> String {
    let mail = server
        .mails()
        .into_iter()
        .map(|m| format!("{}\n{}", m.subject, m.body))
        .find(|m| m.contains("reset your PIN"))
        .expect("reset mail");
    mail.lines()
        .map(str::trim)
        .find(|l| l.len() == 8 && l.chars().all(|c| c.is_ascii_digit()))
        .expect("code line")
        .to_owned()
}

/// The path of the link in the newest "finish creating your account" mail to `email`, if any,
/// read from the decoded body (the mailer picks 7bit, quoted-printable or base64 by content).
pub fn registration_link(server: &impl Served, email: &str) -> Option<String> {
    let text = server
        .mails()
        .into_iter()
        .find(|m| m.subject.contains("finish creating your account") && m.to.contains(email))?
        .body;
    let at = text.find("/register/finish?t=")?;
    Some(
        text[at..]
            .split(|c: char| c.is_whitespace())
            .next()?
            .to_owned(),
    )
}

/// The 8-digit code in the newest one-time-code mail (sign-in without a device, confirming).
pub fn mailed_code(server: &impl Served) -> String {
    let mail = server
        .mails()
        .into_iter()
        .map(|m| format!("{}\n{}", m.subject, m.body))
        .find(|m| m.contains("your one-time code"))
        .expect("one-time code mail");
    mail.lines()
        .map(str::trim)
        .find(|l| l.len() == 8 && l.chars().all(|c| c.is_ascii_digit()))
        .expect("code line")
        .to_owned()
}

impl Browser {
    /// Confirms who it is with a mailed code (before adding or removing a device, P7).
    pub async fn confirm_by_mail(&self, server: &impl Served) {
        let location = self.confirm_by_mail_to(server, "/account").await;
        assert_eq!(location, "/account");
    }

    /// [`Browser::confirm_by_mail`] on the way to `next`; returns where the server sends it.
    pub async fn confirm_by_mail_to(&self, server: &impl Served, next: &str) -> String {
        let (status, page) = self.get(&format!("/confirm?next={next}")).await;
        assert_eq!(status, StatusCode::OK, "confirm page");
        let token = csrf(&page);
        let r = self
            .post("/confirm/send", &[("csrf", &token), ("next", next)])
            .await;
        assert_eq!(r.status(), StatusCode::OK, "code sent");
        let code = mailed_code(server);
        let r = self
            .post(
                "/confirm",
                &[("csrf", &token), ("code", &code), ("next", next)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "confirmed");
        r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned()
    }
}

/// Registers, adds a device with `pin` on the web, and enrols it.
pub async fn enrolled(server: &impl Served, email: &str, pin: &str) -> (Browser, Device) {
    let browser = Browser::register(server, email, "correct horse battery").await;
    let (_, link) = browser.add_device("Phone", pin).await;
    let device = Device::enrol(server, &link, pin).await.expect("enrol");
    (browser, device)
}

/// Rasterises the QR SVG the page serves (qrcode's `M x y h w v h H x V y` rectangles) into
/// a luma plane: (width, height, pixels).
pub fn rasterise(svg: &str) -> (usize, usize, Vec<u8>) {
    let attr = |name: &str| -> usize {
        between(svg, &format!("{name}=\""), "\"")
            .parse()
            .expect("number")
    };
    let (w, h) = (attr("width"), attr("height"));
    let mut pixels = vec![255u8; w * h];
    let d = between(svg, " d=\"", "\"");
    for rect in d.split('M').filter(|r| !r.is_empty()) {
        let nums: Vec<usize> = rect
            .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("coordinate"))
            .collect();
        let (x, y, rw, rh) = (nums[0], nums[1], nums[2], nums[3]);
        for yy in y..y + rh {
            for xx in x..x + rw {
                pixels[yy * w + xx] = 0;
            }
        }
    }
    (w, h, pixels)
}

/// The QR SVG inside an add-device page.
pub fn page_svg(html: &str) -> &str {
    between(html, "<figure class=\"qr\">", "</figure>")
}

/// A log sink for tests that scan everything the code logged.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Installs a TRACE-level subscriber (all targets, no timestamps) writing here.
    pub fn install() -> Self {
        let capture = Self::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .init();
        capture
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// `needle` as a whole token (not inside a longer run of letters or digits).
pub fn contains_token(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Reads a page's live status stream (server-sent `state` events) until `stop` holds for an
/// event or 10 s pass without one; returns every event seen, in order.
pub async fn read_events(
    mut response: reqwest::Response,
    stop: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    let mut buffer = String::new();
    loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .expect("stream")
            .expect("stream still open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                let value: serde_json::Value = serde_json::from_str(data).expect("json event");
                let done = stop(&value);
                seen.push(value);
                if done {
                    return seen;
                }
            }
        }
    }
}

/// A device's row in the server's database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    /// pending | enrolling | active | removed
    pub state: String,
    /// The approval public key (compressed SEC1, base64url).
    pub approval_key: Option<String>,
    /// Consecutive PIN failures (P2).
    pub failures: i64,
    /// The last signature counter accepted.
    pub last_counter: i64,
    /// The sealed OPRF key.
    pub oprf_key: String,
}

/// Reads a device's row straight from the server's database.
pub async fn device_row(server: &TestServer, device: &DeviceId) -> DeviceRow {
    use sqlx::Row as _;
    let row = sqlx::query(
        "SELECT state, approval_key, failures, last_counter, oprf_key FROM devices WHERE id = $1",
    )
    .bind(device.to_string())
    .fetch_one(&server.state.db)
    .await
    .expect("device row");
    DeviceRow {
        state: row.try_get("state").expect("state"),
        approval_key: row.try_get("approval_key").expect("approval_key"),
        failures: row.try_get("failures").expect("failures"),
        last_counter: row.try_get("last_counter").expect("last_counter"),
        oprf_key: row.try_get("oprf_key").expect("oprf_key"),
    }
}
