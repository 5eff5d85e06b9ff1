//! Outgoing mail: one-time codes for a forgotten PIN and security notices (P7).
//!
//! In dev mode mails are written to `DATA/outbox/` (and listed on `/dev/outbox`, a page that
//! exists only in dev mode); in production they go through an SMTP relay with `lettre`.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};

use crate::config::MailConfig;

/// A boxed future, so [`Mailer`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends one plain-text mail.
pub trait Mailer: Send + Sync {
    /// Sends `body` to `to`.
    fn send<'a>(
        &'a self,
        to: &'a str,
        subject: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// Builds the mailer for a configuration.
///
/// # Errors
/// A sentence if the SMTP relay settings are invalid.
pub fn build(
    config: &MailConfig,
    data_dir: &std::path::Path,
    from_name: &str,
) -> Result<Box<dyn Mailer>, String> {
    match config {
        MailConfig::Outbox => {
            let dir = data_dir.join("outbox");
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Ok(Box::new(Outbox {
                dir,
                from: format!("{from_name} <no-reply@localhost>"),
            }))
        }
        MailConfig::Smtp {
            host,
            port,
            username,
            password,
            from,
        } => {
            let builder = if *port == 465 {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host)
            } else {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            }
            .map_err(|e| format!("invalid SMTP relay {host}: {e}"))?
            .port(*port);
            let builder = match (username, password) {
                // EXPOSE: the relay login needs the password itself.
                (Some(u), Some(p)) => {
                    builder.credentials(Credentials::new(u.clone(), p.expose_secret().to_owned()))
                }
                _ => builder,
            };
            Ok(Box::new(Smtp {
                transport: builder.build(),
                from: from.clone(),
            }))
        }
    }
}

fn message(from: &str, to: &str, subject: &str, body: &str) -> Result<Message, String> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| format!("invalid sender address: {e}"))?;
    let to: Mailbox = to
        .parse()
        .map_err(|_| "invalid recipient address".to_owned())?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| format!("cannot build the mail: {e}"))
}

/// Dev-mode outbox: one `.eml` file per mail.
pub struct Outbox {
    dir: PathBuf,
    from: String,
}

impl Mailer for Outbox {
    fn send<'a>(
        &'a self,
        to: &'a str,
        subject: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mail = message(&self.from, to, subject, body)?;
            let mut id = [0u8; 6];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let path = self.dir.join(format!(
                "{stamp}-{}.eml",
                latchkey_protocol::b64::encode(&id)
            ));
            crate::keys::write_private(&path, &mail.formatted())?;
            tracing::info!(mail = %path.display(), "dev outbox: mail written");
            Ok(())
        })
    }
}

/// SMTP delivery.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl Mailer for Smtp {
    fn send<'a>(
        &'a self,
        to: &'a str,
        subject: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mail = message(&self.from, to, subject, body)?;
            self.transport
                .send(mail)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP delivery failed: {e}"))
        })
    }
}

/// Reads the dev outbox, newest first: (file name, raw message).
pub fn read_outbox(data_dir: &std::path::Path) -> Vec<(String, String)> {
    let mut mails: Vec<(String, String)> = std::fs::read_dir(data_dir.join("outbox"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".eml") {
                return None;
            }
            std::fs::read_to_string(e.path())
                .ok()
                .map(|text| (name, text))
        })
        .collect();
    mails.sort_by(|a, b| b.0.cmp(&a.0));
    mails
}
