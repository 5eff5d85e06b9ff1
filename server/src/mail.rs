//! Outgoing mail: one-time codes for a forgotten PIN and security notices (P7).
//!
//! In dev mode mails are written to `DATA/outbox/` (and listed on `/dev/outbox`, a page that
//! exists only in dev mode); in production they go through an SMTP relay with `lettre`.

use crate::error::{ErrorKind, ServerError};
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
    ) -> BoxFuture<'a, Result<(), ServerError>>;
}

/// Builds the mailer for a configuration.
///
/// # Errors
/// A sentence if the SMTP relay settings are invalid.
pub fn build(
    config: &MailConfig,
    data_dir: &std::path::Path,
    from_name: &str,
) -> Result<Box<dyn Mailer>, ServerError> {
    match config {
        MailConfig::Outbox => {
            let dir = data_dir.join("outbox");
            std::fs::create_dir_all(&dir).map_err(|e| {
                ServerError::of(
                    ErrorKind::Mail,
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
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
            .map_err(|e| {
                ServerError::of(ErrorKind::Mail, format!("invalid SMTP relay {host}: {e}"))
            })?
            .port(*port);
            let builder = match (username, password) {
                // EXPOSE: the relay login needs the password itself.
                (Some(u), Some(p)) => {
                    // EXPOSE: lettre's credentials take the password as a String.
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

fn message(from: &str, to: &str, subject: &str, body: &str) -> Result<Message, ServerError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| ServerError::of(ErrorKind::Mail, format!("invalid sender address: {e}")))?;
    let to: Mailbox = to
        .parse()
        .map_err(|_| ServerError::of(ErrorKind::Mail, "invalid recipient address"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| ServerError::of(ErrorKind::Mail, format!("cannot build the mail: {e}")))
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
    ) -> BoxFuture<'a, Result<(), ServerError>> {
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
    ) -> BoxFuture<'a, Result<(), ServerError>> {
        Box::pin(async move {
            let mail = message(&self.from, to, subject, body)?;
            self.transport
                .send(mail)
                .await
                .map(|_| ())
                .map_err(|e| ServerError::of(ErrorKind::Mail, format!("SMTP delivery failed: {e}")))
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

/// A dev-outbox mail as the outbox page shows it: headers and body decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    /// The file it was read from.
    pub file: String,
    /// The `To` header.
    pub to: String,
    /// The subject, decoded.
    pub subject: String,
    /// The body, decoded from quoted-printable or base64 as the message says.
    pub body: String,
}

impl OutboxMail {
    /// Parses a raw message (as written by the dev outbox).
    pub fn parse(file: String, raw: &str) -> Self {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        // Unfold continued header lines.
        let head = head.replace("\n ", " ").replace("\n\t", " ");
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let encoding = header("Content-Transfer-Encoding").to_ascii_lowercase();
        let body = match encoding.as_str() {
            "quoted-printable" => decode_qp(body),
            "base64" => decode_base64(&body.split_whitespace().collect::<String>()),
            _ => body.to_owned(),
        };
        Self {
            file,
            to: header("To"),
            subject: decode_words(&header("Subject")),
            body,
        }
    }
}

fn decode_qp(text: &str) -> String {
    quoted_printable::decode(text.as_bytes(), quoted_printable::ParseMode::Robust)
        .map(|b| String::from_utf8_lossy(&b).replace("\r\n", "\n"))
        .unwrap_or_else(|_| text.to_owned())
}

fn decode_base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|_| text.to_owned())
}

/// Decodes RFC 2047 encoded words (`=?utf-8?q?…?=`, `=?utf-8?b?…?=`) in a header.
fn decode_words(header: &str) -> String {
    header
        .split_whitespace()
        .map(|word| {
            let inner = word.strip_prefix("=?").and_then(|w| w.strip_suffix("?="));
            let parts: Option<Vec<&str>> = inner.map(|w| w.splitn(3, '?').collect());
            match parts.as_deref() {
                Some([_, q, text]) if q.eq_ignore_ascii_case("q") => {
                    (decode_qp(&text.replace('_', " ")), true)
                }
                Some([_, b, text]) if b.eq_ignore_ascii_case("b") => (decode_base64(text), true),
                _ => (word.to_owned(), false),
            }
        })
        .fold(
            (String::new(), false),
            |(mut out, last_encoded), (word, encoded)| {
                // Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
                if !(out.is_empty() || last_encoded && encoded) {
                    out.push(' ');
                }
                out.push_str(&word);
                (out, encoded)
            },
        )
        .0
}

#[cfg(test)]
mod outbox_tests {
    use super::*;

    #[test]
    fn outbox_mails_are_shown_decoded() {
        let raw = "From: a@b\r\nTo: person@example.com\r\nSubject: =?utf-8?q?Your_code_=E2=80=94_Latchkey?=\r\n \
                   =?utf-8?b?ZGVtbw==?=\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                   A line that is longer than seventy-six characters is wrapped by the encod=\r\ner, \
                   and =E2=80=9Cquotes=E2=80=9D =3D equals.\r\n";
        let mail = OutboxMail::parse("1.eml".into(), raw);
        assert_eq!(mail.to, "person@example.com");
        assert_eq!(mail.subject, "Your code — Latchkeydemo");
        assert_eq!(
            mail.body,
            "A line that is longer than seventy-six characters is wrapped by the encoder, and \u{201c}quotes\u{201d} = equals.\n"
        );
        let plain = OutboxMail::parse("2.eml".into(), "Subject: Hi\n\nplain =3D body");
        assert_eq!(
            (plain.subject.as_str(), plain.body.as_str()),
            ("Hi", "plain =3D body")
        );
    }
}
