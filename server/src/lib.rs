//! Latchkey reference server: the other half of the protocol, real enough for a small
//! organisation, and what every end-to-end test talks to.
//!
//! - [`http`]: the device API (`/api/v1/…`, docs/PROTOCOL.md) and the web pages;
//! - [`db`]: SQLite or PostgreSQL through one set of migrations and queries;
//! - [`keys`]: the challenge-signing key and the master key sealing per-device secrets;
//! - [`tls`]: HTTPS only, with a dev CA in dev mode;
//! - [`mail`], [`push`]: out-of-band codes and notices; push delivery (ids only).
#![forbid(unsafe_code)]

pub mod accounts;
pub mod attempts;
pub mod attestation;
pub mod audit;
pub mod clock;
pub mod codes;
pub mod config;
pub mod db;
pub mod devices;
pub mod enrolments;
pub mod error;
pub mod events;
pub mod http;
pub mod keys;
pub mod mail;
pub mod operations;
pub mod passwords;
pub mod push;
pub mod requests;
pub mod rp;
pub mod sessions;
pub mod signals;
pub mod signins;
pub mod throttle;
pub mod tls;

use latchkey_protocol::wire::ErrorCode;

use crate::error::{ErrorKind, ServerError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use sqlx::AnyPool;

use crate::clock::Clock;
use crate::config::Config;
use crate::events::Events;
use crate::keys::ServerKeys;
use crate::mail::Mailer;
use crate::signals::Signals;

/// A sign-in started for an account, as the login page shows it.
#[derive(Clone, Debug)]
pub struct SigninStarted {
    /// The sign-in's id.
    pub login_id: String,
    /// The number the person must type on the device.
    pub code: String,
}

/// Starts a push sign-in for the account with this e-mail address, as the login page does
/// after the password (for integrations that check the password themselves, and benchmarks).
///
/// # Errors
/// A sentence: unknown account, no device, muted, too many pending, or a storage failure.
pub async fn start_signin(
    state: &AppState,
    email: &str,
    browser: &str,
    ip: &str,
) -> Result<SigninStarted, ServerError> {
    let account = accounts::id_by_email(state, email)
        .await?
        .ok_or_else(|| ServerError::new(ErrorCode::NotFound, "no such account"))?;
    let signin = signins::create_signin(state, &account, browser, ip)
        .await
        .map_err(signins::SigninBlocked::into_error)?;
    let code = signins::code(state, &signin.login_id).await?;
    Ok(SigninStarted {
        login_id: signin.login_id,
        code,
    })
}

/// Waits (as the "Approve on your device" page does: woken by events, re-reading the row)
/// until the sign-in `login_id` is answered, up to `timeout`; its state then (`approved`,
/// `denied`, …), or `None` if still unanswered. For integrations and benchmarks.
///
/// # Errors
/// A storage failure.
pub async fn wait_answered(
    state: &AppState,
    login_id: &str,
    timeout: std::time::Duration,
) -> Result<Option<String>, ServerError> {
    let key = events::signin_key(login_id);
    state
        .signals
        .wait_for(&key, timeout, || async {
            match signins::answered_state(state, login_id).await {
                Ok(None) => None,
                other => Some(other),
            }
        })
        .await
        .unwrap_or(Ok(None))
}

/// Everything a request handler can reach.
pub struct AppState {
    /// The database pool for what a power cut may lose (`db::Pools`).
    pub db: AnyPool,
    /// The database pool for what a power cut must not lose: PIN attempts, keys, devices,
    /// accounts (`db::Pools`; the same pool on PostgreSQL).
    pub durable_db: AnyPool,
    /// The server's keys.
    pub keys: ServerKeys,
    /// The configuration.
    pub config: Config,
    /// The public base URL, ending in `/`.
    pub public_url: String,
    /// The clock expiry is judged by.
    pub clock: Clock,
    /// Long-poll and live-page wake-ups (waiters sleep here; events wake them).
    pub signals: Arc<Signals>,
    /// Where handlers publish what happened (wake-ups, pushes).
    pub events: Box<dyn Events>,
    /// Mail delivery.
    pub mailer: Box<dyn Mailer>,
    /// When request ids were last swept (unix seconds).
    pub request_id_sweep: std::sync::atomic::AtomicU64,
    /// The database is PostgreSQL (several server processes may share it).
    pub postgres: bool,
    /// The push senders this server is configured with.
    pub providers: Arc<push::Providers>,
    /// Relying parties: the client, the senders' wake-up, OpenID providers' keys.
    pub rp: rp::Runtime,
    /// Android key attestation: trusted roots, revoked certificates.
    pub attestation: attestation::Trust,
    /// iOS App Attest: Apple's root, the apps, whether development builds count.
    pub app_attest: attestation::apple::AppAttestPolicy,
}

/// A started server.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The public base URL.
    pub url: String,
    /// The dev CA certificate, in dev mode.
    pub ca_cert: Option<PathBuf>,
    /// Shared state (tests move the clock and read the outbox through it).
    pub state: Arc<AppState>,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Sweeper, push sender, cross-node wake-ups: stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// Google's attestation roots, the configured extra roots and revocations.
fn attestation_trust(config: &Config) -> Result<attestation::Trust, ServerError> {
    let bad = |what: &str, e: String| ServerError::of(ErrorKind::Config, format!("{what}: {e}"));
    let mut roots = attestation::Roots::google();
    if !config.attestation_extra_roots.is_empty() {
        let pems: Vec<&str> = config
            .attestation_extra_roots
            .iter()
            .map(String::as_str)
            .collect();
        roots = roots
            .with(attestation::Roots::from_pems(&pems).map_err(|e| bad("attestation root", e))?);
    }
    attestation::Trust::new(roots, config.attestation_status.clone(), config.dev)
        .map_err(|e| bad("the attestation status file", e))
}

/// How often expired enrolments are swept, seconds.
const SWEEP_EVERY: u64 = 60;

/// The advisory lock the periodic sweep holds on PostgreSQL (one node sweeps at a time).
const SWEEP_LOCK: i64 = 0x4c61_7463_6853_7770; // "LatchSwp"

/// Ends every enrolment whose code expired: the row is marked `expired` and its sealed web
/// PIN check value, enrolment link and code hash are deleted. Together with the key file, a
/// kept check value would allow a 10⁴ search of the PIN set on the web page. Runs at start
/// and every minute.
///
/// # Errors
/// The database error, as a sentence.
pub async fn sweep_expired_enrolments(state: &AppState) -> Result<u64, ServerError> {
    let swept = devices::sweep_expired(state).await?;
    // Registration links are swept with them (same timer): an expired one is only dead weight.
    accounts::sweep_registrations(state).await?;
    // Finished push jobs are kept a week for operators, then dropped.
    push::outbox::sweep(state, state.clock.now_millis() - 7 * 24 * 3600 * 1000).await?;
    rp::sweep(state).await?;
    signins::sweep_ended(state).await?;
    audit::sweep(state).await?;
    devices::withdraw_revoked_attestations(state).await?;
    Ok(swept)
}

impl Running {
    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(self) {
        for task in &self.background {
            task.abort();
        }
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(2)));
        let _ = self.task.await;
    }

    /// Waits until the server stops (for the binary).
    ///
    /// # Errors
    /// The listener's I/O error.
    pub async fn wait(self) -> std::io::Result<()> {
        let _background: Vec<AbortOnDrop> = self.background.into_iter().map(AbortOnDrop).collect();
        self.task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Refuses dev mode anywhere but loopback with the dev CA: it serves `/dev/outbox`, where
/// every mailed code (PIN resets, sign-in codes) can be read.
fn check_dev_mode(config: &Config) -> Result<(), ServerError> {
    if !config.dev {
        return Ok(());
    }
    if !config.listen.ip().is_loopback() {
        return Err(ServerError::of(
            ErrorKind::Config,
            format!(
            "--dev serves every mailed code on /dev/outbox, so it listens on loopback only, not \
             {}; drop --dev (and configure SMTP and a certificate) to serve other machines",
            config.listen
        ),
        ));
    }
    if config.tls_cert.is_some() || config.tls_key.is_some() {
        return Err(ServerError::of(
            ErrorKind::Config,
            "--dev uses its own local CA; it cannot be combined with --tls-cert or \
                    --tls-key (drop --dev for a real certificate)",
        ));
    }
    if let Some(url) = &config.public_url {
        let host = url
            .strip_prefix("https://")
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .map(|authority| {
                authority
                    .rsplit_once(':')
                    .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
                    .map_or(authority, |(host, _)| host)
            })
            .unwrap_or("");
        if !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            return Err(ServerError::of(
                ErrorKind::Config,
                format!(
                "--dev is for this machine only; its public URL must be on localhost, not {url}"
            ),
            ));
        }
    }
    Ok(())
}

/// The database and keys, for the operator's commands (`latchkey-server app …`): the same
/// data directory, database and key file the server uses, checked against each other.
///
/// # Errors
/// A sentence saying what could not be opened.
pub async fn open_for_admin(config: &Config) -> Result<(AnyPool, ServerKeys), ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        ServerError::of(
            ErrorKind::Config,
            format!(
                "cannot create the data directory {}: {e}",
                config.data_dir.display()
            ),
        )
    })?;
    let (pools, keys, _) = open_database(config).await?;
    Ok((pools.durable, keys))
}

/// The keys (the configured source, or the data directory's file), the database pools (and
/// the URL they use), and the check that the keys are this database's: what the server and
/// the operator's commands both open.
async fn open_database(config: &Config) -> Result<(db::Pools, ServerKeys, String), ServerError> {
    let keys = ServerKeys::load(
        &config
            .server_keys
            .clone()
            .unwrap_or_else(|| keys::KeySource::in_data_dir(&config.data_dir)),
    )?;
    let url = config
        .database_url
        .clone()
        .unwrap_or_else(|| db::sqlite_url(&config.data_dir));
    let pools = db::connect_pools(&url, config.db_timeout).await?;
    keys.check_database(&pools.main).await?;
    Ok((pools, keys, url))
}

/// Starts the server: data directory, keys, TLS, database, listener.
///
/// # Errors
/// A sentence saying what could not be set up and how to fix it.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    config.policy.validate()?;
    check_dev_mode(&config)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        ServerError::of(
            ErrorKind::Config,
            format!(
                "cannot create the data directory {}: {e}",
                config.data_dir.display()
            ),
        )
    })?;
    let _ = rustls::crypto::ring::default_provider().install_default();

    let (cert, key, ca_cert) = match (&config.tls_cert, &config.tls_key, config.dev) {
        (Some(cert), Some(key), _) => (cert.clone(), key.clone(), None),
        (None, None, true) => {
            let ca = tls::ensure_dev_ca(&config.data_dir)?;
            (ca.cert, ca.key, Some(ca.ca_cert))
        }
        _ => {
            return Err(ServerError::of(
                ErrorKind::Config,
                "HTTPS needs a certificate: pass --tls-cert and --tls-key, or --dev for a \
                        local development CA (there is no plain-HTTP mode)",
            ))
        }
    };
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
        .await
        .map_err(|e| {
            ServerError::of(
                ErrorKind::Network,
                format!("cannot load the TLS certificate {}: {e}", cert.display()),
            )
        })?;

    let (pools, keys, database_url) = open_database(&config).await?;
    let pool = pools.main.clone();
    let mailer = mail::build(&config.mail, &config.data_dir, &config.policy.service_name)?;

    let listener = std::net::TcpListener::bind(config.listen).map_err(|e| {
        ServerError::of(
            ErrorKind::Network,
            format!("cannot listen on {}: {e}", config.listen),
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServerError::of(ErrorKind::Network, e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::of(ErrorKind::Network, e.to_string()))?;
    let public_url = match &config.public_url {
        Some(url) if url.ends_with('/') => url.clone(),
        Some(url) => format!("{url}/"),
        None => format!("https://localhost:{}/", addr.port()),
    };

    let signals = Arc::new(Signals::default());
    let providers = Arc::new(push_providers(&config.push)?);
    let push_wake = Arc::new(tokio::sync::Notify::new());
    let pusher = Box::new(push::WakeSender(push_wake.clone()));
    let postgres = database_url.starts_with("postgres");
    let mut background = Vec::new();
    let events: Box<dyn Events> = if postgres {
        let wakeups = events::postgres(&database_url, pool.clone(), signals.clone(), pusher);
        background.push(wakeups.sender);
        background.push(wakeups.listener);
        Box::new(wakeups.events)
    } else {
        Box::new(events::InProcess::new(signals.clone(), pusher))
    };
    let config_rp_ca = config.rp_ca_pem.clone();
    let attestation = attestation_trust(&config)?;
    let app_attest = attestation::apple::AppAttestPolicy::new(
        &config.attestation_extra_roots,
        config.app_links.apple_app_ids.clone(),
        config.dev,
    )
    .map_err(|e| ServerError::of(ErrorKind::Config, format!("attestation root: {e}")))?;
    let state = Arc::new(AppState {
        attestation,
        app_attest,
        db: pool,
        durable_db: pools.durable,
        keys,
        config,
        public_url: public_url.clone(),
        clock: Clock::default(),
        signals,
        events,
        mailer,
        request_id_sweep: std::sync::atomic::AtomicU64::new(0),
        postgres,
        providers: providers.clone(),
        rp: rp::Runtime::new(config_rp_ca.as_deref())?,
    });
    background.push(push::sender::spawn(
        Arc::downgrade(&state),
        providers,
        push_wake,
    ));
    background.extend(rp::spawn_senders(&state));
    sweep_expired_enrolments(&state).await?;
    if !passwords::warm_dummy_hash().await {
        return Err(ServerError::of(
            ErrorKind::Internal,
            "cannot compute the password hash for unknown addresses",
        ));
    }
    background.push({
        let state = Arc::downgrade(&state);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(SWEEP_EVERY));
            every.tick().await;
            loop {
                every.tick().await;
                let Some(state) = state.upgrade() else { return };
                if let Err(e) =
                    db::one_node_at_a_time(&state, SWEEP_LOCK, || sweep_expired_enrolments(&state))
                        .await
                {
                    tracing::error!(error = %e, "sweep failed");
                }
            }
        })
    });
    let app = http::router(state.clone());
    let handle = axum_server::Handle::new();
    // TCP_NODELAY: small HTTP responses must not wait for delayed ACKs.
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let server = axum_server::from_tcp(listener)
        .acceptor(acceptor)
        .handle(handle.clone());
    let task = tokio::spawn(server.serve(app.into_make_service_with_connect_info::<SocketAddr>()));
    Ok(Running {
        addr,
        url: public_url,
        ca_cert,
        state,
        handle,
        task,
        background,
    })
}

/// The push senders the configuration names.
fn push_providers(config: &config::PushConfig) -> Result<push::Providers, ServerError> {
    let mut providers: Vec<Box<dyn push::Provider>> = Vec::new();
    if let Some(fcm) = &config.fcm {
        let http = push::http_client(config.extra_ca_pem.as_deref())
            .map_err(|e| ServerError::of(ErrorKind::Config, format!("push HTTP client: {e}")))?;
        let sender = push::fcm::Fcm::new(fcm.account.clone(), &fcm.endpoint, http)
            .map_err(|e| ServerError::of(ErrorKind::Config, e))?;
        providers.push(Box::new(sender));
    }
    if let Some(apns) = &config.apns {
        let http = push::http_client(config.extra_ca_pem.as_deref())
            .map_err(|e| ServerError::of(ErrorKind::Config, format!("push HTTP client: {e}")))?;
        let sender = push::apns::Apns::new(apns.credentials.clone(), &apns.endpoint, http)
            .map_err(|e| ServerError::of(ErrorKind::Config, e))?;
        providers.push(Box::new(sender));
    }
    if let Some(wns) = &config.wns {
        let http = push::http_client(config.extra_ca_pem.as_deref())
            .map_err(|e| ServerError::of(ErrorKind::Config, format!("push HTTP client: {e}")))?;
        providers.push(Box::new(push::wns::Wns::new(
            wns.credentials.clone(),
            wns.channel_hosts.clone(),
            http,
        )));
    }
    if let Some(webpush) = &config.webpush {
        // Endpoints come from devices: resolved through the guard, never through a proxy.
        let http = push::http_client_builder(config.extra_ca_pem.as_deref())
            .map_err(|e| ServerError::of(ErrorKind::Config, format!("push HTTP client: {e}")))?
            .no_proxy()
            .dns_resolver(Arc::new(push::webpush::GuardedResolver {
                allow_hosts: webpush.allow_hosts.clone(),
            }))
            .build()
            .map_err(|e| ServerError::of(ErrorKind::Config, format!("push HTTP client: {e}")))?;
        let sender = push::webpush::WebPush::new(
            // EXPOSE: the VAPID key signs the Web Push authorization.
            &webpush.vapid_private,
            &webpush.subject,
            webpush.allow_hosts.clone(),
            http,
        )
        .map_err(|e| ServerError::of(ErrorKind::Config, e))?;
        providers.push(Box::new(sender));
    }
    Ok(push::Providers::new(providers))
}
