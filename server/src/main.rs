//! `latchkey-server`: the reference server.
//!
//! ```text
//! latchkey-server --dev                       # local CA, loopback HTTPS, SQLite, dev outbox
//! latchkey-server --data-dir /var/lib/latchkey --listen 0.0.0.0:443 \
//!     --public-url https://login.example.org/ --tls-cert chain.pem --tls-key key.pem \
//!     --database-url postgres://latchkey@db/latchkey --smtp-host smtp.example.org ...
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use latchkey_protocol::wire::PinSource;
use latchkey_server::config::{
    ApnsConfig, Config, FcmConfig, MailConfig, Policy, PushConfig, SecretText, WebPushConfig,
    WnsConfig,
};
use latchkey_server::keys::KeySource;

/// The Latchkey reference server (HTTPS only).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Data directory (database, keys, dev CA, outbox).
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "latchkey-data")]
    data_dir: PathBuf,
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB (default: SQLite in the data directory).
    #[arg(long, env = "LATCHKEY_DATABASE_URL")]
    database_url: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "LATCHKEY_LISTEN", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Public base URL (what the QR code points to), e.g. https://login.example.org/.
    #[arg(long, env = "LATCHKEY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Development mode: local CA and loopback certificate, mails into DATA/outbox and /dev/outbox.
    #[arg(long)]
    dev: bool,
    /// Certificate chain (PEM).
    #[arg(long, env = "LATCHKEY_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM).
    #[arg(long, env = "LATCHKEY_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// The server key file every node of one deployment shares (default
    /// DATA/server-keys.json, created on first start). It must exist: make it once with
    /// --create-server-keys. Or put the file's text in LATCHKEY_SERVER_KEYS (environment
    /// only, never on the command line, where other users could read it).
    #[arg(long, env = "LATCHKEY_SERVER_KEYS_FILE")]
    server_keys: Option<PathBuf>,
    /// Write new server keys to this file (0600; refused if it exists) and exit.
    #[arg(long, value_name = "FILE")]
    create_server_keys: Option<PathBuf>,
    /// Service name shown to people.
    #[arg(long, default_value = "Latchkey demo")]
    service_name: String,
    /// Let people choose the PIN in the app instead of on the web page.
    #[arg(long)]
    pin_in_app: bool,
    /// PIN digits (4 or 6).
    #[arg(long, default_value_t = 4)]
    pin_digits: u8,
    /// Digits of the number shown on the login page (2 to 6).
    #[arg(long, default_value_t = 2)]
    code_digits: u8,
    /// Consecutive wrong PINs before a device locks (1 to 10).
    #[arg(long, default_value_t = 5)]
    max_pin_attempts: u8,
    /// Days security events stay on an account's devices page (30 to 3650), then deleted.
    #[arg(long, default_value_t = 400)]
    audit_days: u32,
    /// SMTP relay host (production mail).
    #[arg(long, env = "LATCHKEY_SMTP_HOST")]
    smtp_host: Option<String>,
    /// SMTP relay port (587 STARTTLS, 465 implicit TLS).
    #[arg(long, env = "LATCHKEY_SMTP_PORT", default_value_t = 587)]
    smtp_port: u16,
    /// SMTP user name.
    #[arg(long, env = "LATCHKEY_SMTP_USER")]
    smtp_user: Option<String>,
    /// SMTP password (prefer the environment variable).
    #[arg(long, env = "LATCHKEY_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<SecretText>,
    /// Sender address.
    #[arg(
        long,
        env = "LATCHKEY_SMTP_FROM",
        default_value = "Latchkey <no-reply@localhost>"
    )]
    smtp_from: String,
    /// Firebase service-account JSON: push to Android devices through FCM.
    #[arg(long, env = "LATCHKEY_FCM_SERVICE_ACCOUNT")]
    fcm_service_account: Option<std::path::PathBuf>,
    /// FCM's base URL (a proxy, or a test double).
    #[arg(
        long,
        env = "LATCHKEY_FCM_ENDPOINT",
        default_value = "https://fcm.googleapis.com"
    )]
    fcm_endpoint: String,
    /// A file holding the VAPID private key (base64url of 32 bytes): push to Web Push /
    /// UnifiedPush endpoints.
    #[arg(long, env = "LATCHKEY_WEBPUSH_VAPID_KEY")]
    webpush_vapid_key: Option<std::path::PathBuf>,
    /// The contact VAPID names (`mailto:…` or `https://…`).
    #[arg(
        long,
        env = "LATCHKEY_WEBPUSH_SUBJECT",
        default_value = "mailto:admin@localhost"
    )]
    webpush_subject: String,
    /// A Web Push endpoint host allowed to resolve to an internal address (repeatable).
    #[arg(long)]
    webpush_allow_host: Vec<String>,
    /// The APNs token key (`AuthKey_XXXX.p8`): push to iOS devices. Needs the three below.
    #[arg(long, env = "LATCHKEY_APNS_KEY")]
    apns_key: Option<std::path::PathBuf>,
    /// The APNs key id (10 characters).
    #[arg(long, env = "LATCHKEY_APNS_KEY_ID")]
    apns_key_id: Option<String>,
    /// The Apple developer team id.
    #[arg(long, env = "LATCHKEY_APNS_TEAM_ID")]
    apns_team_id: Option<String>,
    /// The iOS app's bundle id (`apns-topic`).
    #[arg(long, env = "LATCHKEY_APNS_TOPIC")]
    apns_topic: Option<String>,
    /// APNs' base URL (`https://api.sandbox.push.apple.com` for development builds, a proxy).
    #[arg(
        long,
        env = "LATCHKEY_APNS_ENDPOINT",
        default_value = "https://api.push.apple.com"
    )]
    apns_endpoint: String,
    /// The WNS client id (package SID or Azure application id): push to Windows devices.
    #[arg(long, env = "LATCHKEY_WNS_CLIENT_ID")]
    wns_client_id: Option<String>,
    /// The WNS client secret (prefer the environment variable).
    #[arg(long, env = "LATCHKEY_WNS_CLIENT_SECRET", hide_env_values = true)]
    wns_client_secret: Option<SecretText>,
    /// WNS's token endpoint.
    #[arg(
        long,
        env = "LATCHKEY_WNS_TOKEN_URI",
        default_value = "https://login.live.com/accesstoken.srf"
    )]
    wns_token_uri: String,
    /// The WNS OAuth scope.
    #[arg(long, env = "LATCHKEY_WNS_SCOPE", default_value = "notify.windows.com")]
    wns_scope: String,
    /// A host channel URIs may be on (repeatable; default notify.windows.com).
    #[arg(long)]
    wns_channel_host: Vec<String>,
    /// An extra CA (PEM) the push senders trust (an egress proxy).
    #[arg(long, env = "LATCHKEY_PUSH_CA")]
    push_ca: Option<std::path::PathBuf>,
    /// An extra CA (PEM) for calls to relying parties: webhooks, the OpenID provider of CIBA.
    #[arg(long, env = "LATCHKEY_RP_CA")]
    rp_ca: Option<std::path::PathBuf>,
    /// An Android app that may open enrolment links (App Links): PACKAGE=SHA256_FINGERPRINT
    /// of its signing certificate. Repeat for more apps or keys.
    #[arg(long, value_name = "PACKAGE=FINGERPRINT")]
    android_app: Vec<String>,
    /// An iOS app that may open enrolment links (Universal Links): TEAMID.bundle.id. Repeat
    /// for more apps.
    #[arg(long, value_name = "TEAMID.BUNDLE")]
    apple_app_id: Vec<String>,
    /// Google's list of revoked Android attestation certificates (the JSON of
    /// https://android.googleapis.com/attestation/status, fetched daily by cron; read again
    /// each minute when it changed): devices whose attestation it names are not shown as
    /// verified hardware. Without it, a leaked and revoked factory key would pass.
    #[arg(long, env = "LATCHKEY_ATTESTATION_STATUS")]
    attestation_status: Option<std::path::PathBuf>,
    /// An operator's command instead of serving.
    #[command(subcommand)]
    command: Option<Command>,
}

/// Operator commands.
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Relying-party applications and their API keys (docs/RP-API.md).
    #[command(subcommand)]
    App(AppCommand),
}

#[derive(clap::Subcommand, Debug)]
enum AppCommand {
    /// Adds an application; prints its API key (and webhook secret) once.
    Add {
        /// The name people see in the app ("Intranet").
        name: String,
        /// Where its events are posted (https://…).
        #[arg(long)]
        webhook: Option<String>,
        /// Its request budget per minute.
        #[arg(long, default_value_t = 600)]
        requests_per_minute: i64,
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Lists applications and their live key ids (never keys).
    List,
    /// Adds a key to an application (rotation: add, deploy, revoke the old one).
    KeyAdd {
        /// The application's id.
        app: String,
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Revokes one key.
    KeyRevoke {
        /// The key's id (the part after `lk1.`).
        key: String,
    },
    /// Sets the webhook (a new secret, printed once), or clears it without a URL.
    Webhook {
        /// The application's id.
        app: String,
        /// https://…; none clears it.
        url: Option<String>,
    },
    /// Takes OpenID CIBA requests from this provider for the application (Keycloak's HTTP
    /// authentication channel: PUBLIC_URL/rp/v1/ciba/keycloak/APP); none stops it.
    Ciba {
        /// The application's id.
        app: String,
        /// The provider's issuer, e.g. https://sso.example.org/realms/staff.
        issuer: Option<String>,
    },
    /// Revokes an application: every key refused, no more webhooks.
    Revoke {
        /// The application's id.
        app: String,
    },
}

/// Runs an operator command against the server's database.
async fn run_app_command(config: &Config, command: &AppCommand) -> Result<(), String> {
    use latchkey_server::rp::admin;
    let (db, keys) = latchkey_server::open_for_admin(config)
        .await
        .map_err(|e| e.to_string())?;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
    .unwrap_or(0);
    let e = |e: latchkey_server::error::ServerError| e.to_string();
    match command {
        AppCommand::Add {
            name,
            webhook,
            requests_per_minute,
            json,
        } => {
            let app = admin::add_app(
                &db,
                &keys,
                name,
                webhook.as_deref(),
                *requests_per_minute,
                now,
            )
            .await
            .map_err(e)?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string(&app).map_err(|e| e.to_string())?
                );
            } else {
                println!("Application {} \"{}\" added.", app.app, app.name);
                println!("API key (shown once; store it in the application's secret store):");
                println!("  {}", app.key);
                if let Some(secret) = &app.webhook_secret {
                    println!("Webhook signing secret (shown once):");
                    println!("  {secret}");
                }
            }
        }
        AppCommand::List => {
            for app in admin::list(&db).await.map_err(e)? {
                println!(
                    "{}  {:<24}  {}  keys: {}  webhook: {}  CIBA: {}  {}/min",
                    app.app,
                    app.name,
                    if app.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    },
                    if app.keys.is_empty() {
                        "-".into()
                    } else {
                        app.keys.join(",")
                    },
                    app.webhook_url.as_deref().unwrap_or("-"),
                    app.ciba_issuer.as_deref().unwrap_or("-"),
                    app.requests_per_minute
                );
            }
        }
        AppCommand::KeyAdd { app, json } => {
            let (id, key) = admin::add_key(&db, app, now).await.map_err(e)?;
            if *json {
                println!("{}", serde_json::json!({ "key_id": id, "key": key }));
            } else {
                println!("Key {id} added to {app}. API key (shown once):");
                println!("  {key}");
            }
        }
        AppCommand::KeyRevoke { key } => {
            admin::revoke_key(&db, key, now).await.map_err(e)?;
            println!("Key {key} revoked: refused from the next request on.");
        }
        AppCommand::Webhook { app, url } => {
            match admin::set_webhook(&db, &keys, app, url.as_deref())
                .await
                .map_err(e)?
            {
                Some(secret) => {
                    println!("Webhook of {app} set. Signing secret (shown once):");
                    println!("  {secret}");
                }
                None => println!("Webhook of {app} cleared."),
            }
        }
        AppCommand::Ciba { app, issuer } => {
            admin::set_ciba(&db, app, issuer.as_deref())
                .await
                .map_err(e)?;
            match issuer {
                Some(issuer) => {
                    println!("{app} takes CIBA requests from {issuer}.");
                    println!(
                        "Give the provider this authentication channel: PUBLIC_URL/rp/v1/ciba/keycloak/{app}"
                    );
                }
                None => println!("{app} no longer takes CIBA requests."),
            }
        }
        AppCommand::Revoke { app } => {
            admin::revoke_app(&db, app, now).await.map_err(e)?;
            println!("Application {app} revoked: every key refused, no more webhooks.");
        }
    }
    Ok(())
}

/// The push configuration the flags name.
fn push_config(args: &Args) -> Result<PushConfig, String> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let fcm = match &args.fcm_service_account {
        Some(path) => Some(FcmConfig {
            account: serde_json::from_slice(&read(path)?).map_err(|e| {
                format!("{} is not a service-account JSON file: {e}", path.display())
            })?,
            endpoint: args.fcm_endpoint.clone(),
        }),
        None => None,
    };
    let webpush = match &args.webpush_vapid_key {
        Some(path) => {
            let text = zeroize::Zeroizing::new(
                String::from_utf8(read(path)?)
                    .map_err(|_| format!("{} is not text", path.display()))?,
            );
            let key = latchkey_protocol::b64::decode(text.trim())
                .filter(|k| k.len() == 32)
                .ok_or_else(|| {
                    format!("{} does not hold a base64url 32-byte key", path.display())
                })?;
            Some(WebPushConfig {
                vapid_private: zeroize::Zeroizing::new(key),
                subject: args.webpush_subject.clone(),
                allow_hosts: args.webpush_allow_host.clone(),
            })
        }
        None => None,
    };
    let apns =
        match (
            &args.apns_key,
            &args.apns_key_id,
            &args.apns_team_id,
            &args.apns_topic,
        ) {
            (None, None, None, None) => None,
            (Some(key), Some(key_id), Some(team_id), Some(topic)) => Some(ApnsConfig {
                credentials: latchkey_server::push::apns::ApnsCredentials {
                    key_id: key_id.clone(),
                    team_id: team_id.clone(),
                    private_key_pem: zeroize::Zeroizing::new(
                        String::from_utf8(read(key)?)
                            .map_err(|_| format!("{} is not a PEM key", key.display()))?,
                    ),
                    topic: topic.clone(),
                },
                endpoint: args.apns_endpoint.clone(),
            }),
            _ => return Err(
                "APNs needs --apns-key, --apns-key-id, --apns-team-id and --apns-topic together"
                    .into(),
            ),
        };
    let wns = match (&args.wns_client_id, &args.wns_client_secret) {
        (None, None) => None,
        (Some(id), Some(secret)) => Some(WnsConfig {
            credentials: latchkey_server::push::wns::WnsCredentials {
                client_id: id.clone(),
                // EXPOSE: the secret moves from the flag into the sender's configuration.
                client_secret: zeroize::Zeroizing::new(secret.expose_secret().to_owned()),
                token_uri: args.wns_token_uri.clone(),
                scope: args.wns_scope.clone(),
            },
            channel_hosts: if args.wns_channel_host.is_empty() {
                latchkey_server::push::wns::DEFAULT_CHANNEL_HOSTS
                    .iter()
                    .map(|h| (*h).to_owned())
                    .collect()
            } else {
                args.wns_channel_host.clone()
            },
        }),
        _ => return Err("WNS needs --wns-client-id and --wns-client-secret together".into()),
    };
    Ok(PushConfig {
        fcm,
        webpush,
        apns,
        wns,
        extra_ca_pem: args.push_ca.as_deref().map(read).transpose()?,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        // Colours only on a terminal: a log written to a file stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Some(path) = &args.create_server_keys {
        if path.exists() {
            eprintln!(
                "error: {} exists already; a deployment keeps its keys (move it away first if \
                 you really mean to replace them: every device would have to enrol again)",
                path.display()
            );
            return ExitCode::from(2);
        }
        return match latchkey_server::keys::ServerKeys::create(path) {
            Ok(()) => {
                println!(
                    "Created {} (readable by you only). Give every node this file with \
                     --server-keys, and back it up: without it no device can approve.",
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // From the environment only: a command line is readable by every local user.
    let keys_from_env = std::env::var("LATCHKEY_SERVER_KEYS")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(SecretText::new);
    let mail = match (&args.smtp_host, args.dev) {
        (Some(host), _) => MailConfig::Smtp {
            host: host.clone(),
            port: args.smtp_port,
            username: args.smtp_user.clone(),
            password: args.smtp_password.clone(),
            from: args.smtp_from.clone(),
        },
        // Operator commands send no mail.
        (None, true) | (None, false) if args.command.is_some() || args.dev => MailConfig::Outbox,
        (None, _) => {
            eprintln!("error: mail is needed for forgotten PINs: pass --smtp-host (or --dev for a local outbox)");
            return ExitCode::from(2);
        }
    };
    let push = match push_config(&args) {
        Ok(push) => push,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut app_links = latchkey_server::config::AppLinks::default();
    let added = args
        .android_app
        .iter()
        .try_for_each(|a| app_links.add_android(a))
        .and_then(|()| {
            args.apple_app_id
                .iter()
                .try_for_each(|a| app_links.add_apple(a))
        });
    if let Err(e) = added {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let config = Config {
        attestation_status: args.attestation_status.clone(),
        attestation_extra_roots: Vec::new(),
        app_links,
        push,
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        listen: args.listen,
        public_url: args.public_url.clone(),
        dev: args.dev,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        server_keys: match (&args.server_keys, keys_from_env) {
            (Some(path), None) => Some(KeySource::File(path.clone())),
            (None, Some(text)) => Some(KeySource::Text(text)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                eprintln!(
                    "error: give the server keys once: --server-keys FILE or \
                     LATCHKEY_SERVER_KEYS, not both"
                );
                return ExitCode::from(2);
            }
        },
        rp_ca_pem: match args.rp_ca.as_deref().map(std::fs::read).transpose() {
            Ok(pem) => pem,
            Err(e) => {
                eprintln!("error: cannot read the relying-party CA: {e}");
                return ExitCode::from(2);
            }
        },
        db_timeout: latchkey_server::db::DEFAULT_TIMEOUT,
        mail,
        policy: Policy {
            service_name: args.service_name.clone(),
            pin_source: if args.pin_in_app {
                PinSource::App
            } else {
                PinSource::Web
            },
            pin_digits: args.pin_digits,
            code_digits: args.code_digits,
            max_failures: args.max_pin_attempts,
            audit_days: args.audit_days,
            ..Policy::default()
        },
    };
    if let Some(Command::App(command)) = &args.command {
        return match run_app_command(&config, command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let running = match latchkey_server::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("Latchkey server listening on {}", running.url);
    if let Some(ca) = &running.ca_cert {
        println!("Development CA: {}", ca.display());
        println!(
            "  Trust it for this server only, e.g.  curl --cacert {} {}",
            ca.display(),
            running.url
        );
        println!("  or import it into a test browser profile. Never install it system-wide.");
        println!(
            "Dev outbox (forgotten-PIN codes): {}dev/outbox",
            running.url
        );
    }
    tokio::select! {
        result = running.wait() => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => { eprintln!("error: {e}"); ExitCode::FAILURE }
        },
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p9_debug_of_args_and_config_hides_the_smtp_password() {
        let args = Args::parse_from([
            "latchkey-server",
            "--smtp-host",
            "smtp.example.org",
            "--smtp-user",
            "relay",
            "--smtp-password",
            "hunter2-relay-secret",
        ]);
        assert!(!format!("{args:?}").contains("hunter2"), "{args:?}");
        let mail = MailConfig::Smtp {
            host: "smtp.example.org".into(),
            port: 587,
            username: Some("relay".into()),
            password: args.smtp_password.clone(),
            from: args.smtp_from.clone(),
        };
        let mut config = Config::dev("data");
        config.mail = mail;
        assert!(!format!("{config:?}").contains("hunter2"), "{config:?}");
    }
}
