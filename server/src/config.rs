//! Server configuration: where data lives, how to reach the database, and the deployment's
//! policy knobs.

use crate::error::{ErrorKind, ServerError};
use std::net::SocketAddr;
use std::path::PathBuf;

use latchkey_protocol::wire::PinSource;

/// A deployment's security and UX policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The service name shown in the app and on pages ("Example Corp").
    pub service_name: String,
    /// Where the PIN is chosen at enrolment (EU Login style: on the web page).
    pub pin_source: PinSource,
    /// PIN digits, 4 or 6.
    pub pin_digits: u8,
    /// Digits of the number shown on the login page (2 to 6).
    pub code_digits: u8,
    /// Consecutive PIN failures before the approval key locks (P2: 5 by default, at most 10).
    pub max_failures: u8,
    /// Lifetime of an enrolment code, seconds (P6: at most 600).
    pub enrol_ttl: u64,
    /// Lifetime of a sign-in challenge, seconds.
    pub challenge_ttl: u64,
    /// Most sign-in pushes pending at once for one account.
    pub max_pending_pushes: i64,
    /// How long pushes stay muted after "this wasn't me", seconds.
    pub mute_secs: u64,
    /// Lifetime of a PIN change or reset operation, seconds.
    pub operation_ttl: u64,
    /// Password attempts per address and per IP in 15 minutes.
    pub login_attempts: i64,
    /// PIN resets per IP in an hour (per account: 3).
    pub resets_per_ip: i64,
    /// Account registrations per IP in an hour.
    pub registrations_per_ip: i64,
    /// One-time codes mailed per account in an hour (sign-in without a device, confirmation).
    pub mailed_codes_per_hour: i64,
    /// How long a sign-in approved on a device, or a mailed code, lets the session add or
    /// remove devices, seconds (P7).
    pub confirm_ttl: u64,
    /// How long security events stay on an account's devices page, days (at least 30, at
    /// most ten years). Older events are deleted by the minute's sweep.
    pub audit_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            service_name: "Latchkey demo".into(),
            pin_source: PinSource::Web,
            pin_digits: 4,
            code_digits: 2,
            max_failures: 5,
            enrol_ttl: 600,
            challenge_ttl: 120,
            max_pending_pushes: 3,
            mute_secs: 20 * 60,
            operation_ttl: 900,
            login_attempts: 10,
            resets_per_ip: 10,
            registrations_per_ip: 20,
            mailed_codes_per_hour: 5,
            confirm_ttl: 600,
            audit_days: 400,
        }
    }
}

impl Policy {
    /// Checks the limits DESIGN.md sets.
    ///
    /// # Errors
    /// A sentence naming the bad setting.
    pub fn validate(&self) -> Result<(), ServerError> {
        if self.pin_digits != 4 && self.pin_digits != 6 {
            return Err(ServerError::of(
                ErrorKind::Config,
                format!("PIN digits must be 4 or 6, not {}", self.pin_digits),
            ));
        }
        if !(2..=6).contains(&self.code_digits) {
            return Err(ServerError::of(
                ErrorKind::Config,
                format!("code digits must be 2 to 6, not {}", self.code_digits),
            ));
        }
        if !(1..=10).contains(&self.max_failures) {
            return Err(ServerError::of(
                ErrorKind::Config,
                format!("PIN attempts must be 1 to 10, not {}", self.max_failures),
            ));
        }
        if self.enrol_ttl == 0 || self.enrol_ttl > 600 {
            return Err(ServerError::of(
                ErrorKind::Config,
                "enrolment codes must expire within 600 seconds",
            ));
        }
        if !(30..=3650).contains(&self.audit_days) {
            return Err(ServerError::of(
                ErrorKind::Config,
                format!(
                    "security events must be kept 30 to 3650 days, not {}",
                    self.audit_days
                ),
            ));
        }
        if !latchkey_protocol::link::is_valid_label(&self.service_name) {
            return Err(ServerError::of(
                ErrorKind::Config,
                "the service name must be 1 to 64 printable characters",
            ));
        }
        Ok(())
    }
}

/// A configured secret (the SMTP password): wiped on drop, never printed by `Debug`.
#[derive(Clone, Default)]
pub struct SecretText(zeroize::Zeroizing<String>);

impl SecretText {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(text.into()))
    }

    /// The secret itself (callers say why with an `// EXPOSE:` comment).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(..)")
    }
}

impl std::str::FromStr for SecretText {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

/// Outgoing mail.
#[derive(Clone, Debug)]
pub enum MailConfig {
    /// Write mails into `DATA/outbox` and show them on `/dev/outbox` (dev mode only).
    Outbox,
    /// Send through an SMTP relay (STARTTLS, or implicit TLS on port 465).
    Smtp {
        /// Relay host.
        host: String,
        /// Relay port.
        port: u16,
        /// Login, if the relay needs one.
        username: Option<String>,
        /// Password for `username`.
        password: Option<SecretText>,
        /// The From address.
        from: String,
    },
}

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Data directory: database (SQLite), keys, dev CA, outbox.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite in the data directory.
    pub database_url: Option<String>,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The public base URL (`https://host[:port]/`); default in dev mode: the loopback URL.
    pub public_url: Option<String>,
    /// Dev mode: local CA and loopback certificate, outbox mail, `/dev/outbox`.
    pub dev: bool,
    /// Certificate chain (PEM) for production.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) for production.
    pub tls_key: Option<PathBuf>,
    /// Mail delivery.
    pub mail: MailConfig,
    /// Policy.
    pub policy: Policy,
    /// Push senders (none: devices are woken by long-poll only).
    pub push: PushConfig,
    /// Where the server keys are (default `DATA/server-keys.json`); every node of one
    /// deployment must be given the same.
    pub server_keys: Option<crate::keys::KeySource>,
    /// An extra CA (PEM) for calls to relying parties (webhooks; the OpenID provider of CIBA).
    pub rp_ca_pem: Option<Vec<u8>>,
    /// How long a request waits on the database before answering 503 (`db::DEFAULT_TIMEOUT`).
    pub db_timeout: std::time::Duration,
    /// The apps that may open this server's enrolment links (App Links, Universal Links).
    pub app_links: AppLinks,
    /// Android key attestation: Google's status file of revoked attestation certificates
    /// (`--attestation-status FILE`, fetched daily by the operator's cron from
    /// `https://android.googleapis.com/attestation/status`; read again when it changes).
    pub attestation_status: Option<PathBuf>,
    /// Root certificates (PEM) trusted for key attestation besides Google's: a test's own
    /// root. No command-line flag sets it.
    pub attestation_extra_roots: Vec<String>,
}

/// The apps allowed to open this server's enrolment links straight from a camera or a mail:
/// served as `/.well-known/assetlinks.json` (Android App Links) and
/// `/.well-known/apple-app-site-association` (iOS Universal Links). Empty: both answer 404
/// and the links open the `/e` page, which tells people to scan from inside the app.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppLinks {
    /// Android apps: package name and the SHA-256 fingerprints of its signing certificates.
    pub android: Vec<AndroidApp>,
    /// iOS apps: `TEAMID.bundle.id`.
    pub apple_app_ids: Vec<String>,
}

/// An Android app allowed to open enrolment links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndroidApp {
    /// `com.example.latchkey`.
    pub package: String,
    /// `AB:CD:…` (32 bytes, upper-case hex with colons, as `keytool` and Play Console show).
    pub fingerprints: Vec<String>,
}

impl AppLinks {
    /// Adds `PACKAGE=FINGERPRINT` (`--android-app`); a package given twice gets both
    /// fingerprints (an upload key and Play's signing key).
    ///
    /// # Errors
    /// A sentence naming what is wrong.
    pub fn add_android(&mut self, text: &str) -> Result<(), String> {
        let (package, fingerprint) = text.split_once('=').ok_or_else(|| {
            format!("--android-app wants PACKAGE=SHA256_FINGERPRINT, not {text:?}")
        })?;
        let package = package.trim();
        let valid_part = |part: &str| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if package.split('.').count() < 2 || !package.split('.').all(valid_part) {
            return Err(format!(
                "{package:?} is not an Android package name (like com.example.latchkey)"
            ));
        }
        let hex: String = fingerprint
            .trim()
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_uppercase();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "the fingerprint of {package} must be the SHA-256 of its signing certificate: \
                 32 bytes in hex (keytool -list -v shows it)"
            ));
        }
        let fingerprint = hex
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":");
        match self.android.iter_mut().find(|a| a.package == package) {
            Some(app) if app.fingerprints.contains(&fingerprint) => {}
            Some(app) => app.fingerprints.push(fingerprint),
            None => self.android.push(AndroidApp {
                package: package.to_owned(),
                fingerprints: vec![fingerprint],
            }),
        }
        Ok(())
    }

    /// Adds `TEAMID.bundle.id` (`--apple-app-id`).
    ///
    /// # Errors
    /// A sentence naming what is wrong.
    pub fn add_apple(&mut self, text: &str) -> Result<(), String> {
        let text = text.trim();
        let valid = text.split_once('.').is_some_and(|(team, bundle)| {
            team.len() == 10
                && team
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && !bundle.is_empty()
                && bundle.len() <= 155
                && bundle
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        });
        if !valid {
            return Err(format!(
                "{text:?} is not an iOS app id: the 10-character team id, a dot and the bundle \
                 id (like ABCDE12345.org.example.latchkey)"
            ));
        }
        if !self.apple_app_ids.iter().any(|id| id == text) {
            self.apple_app_ids.push(text.to_owned());
        }
        Ok(())
    }
}

/// Push senders.
#[derive(Clone, Debug, Default)]
pub struct PushConfig {
    /// Firebase Cloud Messaging.
    pub fcm: Option<FcmConfig>,
    /// Web Push / UnifiedPush.
    pub webpush: Option<WebPushConfig>,
    /// Apple Push Notification service.
    pub apns: Option<ApnsConfig>,
    /// Windows Push Notification Services.
    pub wns: Option<WnsConfig>,
    /// An extra CA (PEM) the senders trust: a deployment's egress proxy, or the loopback fakes.
    pub extra_ca_pem: Option<Vec<u8>>,
}

/// Windows Push Notification Services.
#[derive(Clone, Debug)]
pub struct WnsConfig {
    /// Client credentials.
    pub credentials: crate::push::wns::WnsCredentials,
    /// Channel URI hosts pushed to (they and their subdomains); default `notify.windows.com`.
    pub channel_hosts: Vec<String>,
}

/// Apple Push Notification service.
#[derive(Clone, Debug)]
pub struct ApnsConfig {
    /// Token-based credentials.
    pub credentials: crate::push::apns::ApnsCredentials,
    /// `https://api.push.apple.com` (or `https://api.sandbox.push.apple.com`, or a proxy).
    pub endpoint: String,
}

/// Web Push / UnifiedPush.
#[derive(Clone)]
pub struct WebPushConfig {
    /// The VAPID private key: 32 bytes of a P-256 scalar.
    pub vapid_private: zeroize::Zeroizing<Vec<u8>>,
    /// The contact VAPID names (`mailto:…` or `https://…`).
    pub subject: String,
    /// Endpoint hosts allowed to resolve to internal addresses (an on-premises distributor).
    pub allow_hosts: Vec<String>,
}

impl std::fmt::Debug for WebPushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebPushConfig")
            .field("subject", &self.subject)
            .field("allow_hosts", &self.allow_hosts)
            .finish_non_exhaustive()
    }
}

/// Firebase Cloud Messaging HTTP v1.
#[derive(Clone, Debug)]
pub struct FcmConfig {
    /// The service account (its JSON file).
    pub account: crate::push::fcm::ServiceAccount,
    /// `https://fcm.googleapis.com`, or a proxy.
    pub endpoint: String,
}

impl Config {
    /// A dev configuration on a free loopback port in `data_dir`.
    pub fn dev(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            dev: true,
            tls_cert: None,
            tls_key: None,
            mail: MailConfig::Outbox,
            policy: Policy::default(),
            push: PushConfig::default(),
            server_keys: None,
            rp_ca_pem: None,
            db_timeout: crate::db::DEFAULT_TIMEOUT,
            app_links: AppLinks::default(),
            attestation_status: None,
            attestation_extra_roots: Vec::new(),
        }
    }
}
