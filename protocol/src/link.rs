//! The enrolment link: what the "Add a device" QR code carries.
//!
//! ```text
//! https://HOST[:PORT][/PREFIX]/e#v=1&c=CODE&k=SERVER_KEY&p=PIN_SOURCE&n=PIN_DIGITS&l=LABEL
//! ```
//!
//! An ordinary `https` URL, so App Links / Universal Links open the app, and a generic QR
//! reader opens the server's `/e` page, which explains what to do instead of failing. Every
//! parameter sits in the fragment, which a browser never sends to the server.
//!
//! - `v`: protocol version (`1`);
//! - `c`: the single-use enrolment code, base64url, 14–32 bytes (≥112 bits, P6);
//! - `k`: the server's challenge-signing key, compressed SEC1 P-256, base64url (pinned, P5);
//! - `p`: `web` (PIN set on the web page) or `app` (PIN chosen in the app);
//! - `n`: PIN digits, `4` or `6`;
//! - `l`: the account label, percent-encoded UTF-8, 1–64 characters, no control characters.
//!
//! [`parse`] refuses anything else with a distinct [`LinkError`], each with a message that
//! tells the person what they scanned and what to scan instead.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use url::Url;

use crate::b64;
use crate::secret::EnrolmentCode;
use crate::types::PublicKey;
use crate::wire::PinSource;
use crate::PROTOCOL_VERSION;

pub use crate::secret::{MAX_CODE_BYTES, MIN_CODE_BYTES};
/// The longest account label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// Characters left as they are in the label: RFC 3986 unreserved.
const LABEL_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Parameter names that switch TLS checks off or weaken them in other apps' QR formats
/// (privacyIDEA's `sslverify`, and its many cousins). Latchkey has no such switch (P5).
const TLS_OFF_FLAGS: &[&str] = &["ssl", "tls", "verify", "insecure", "plain", "http", "cert"];

/// A parsed, validated enrolment link.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentLink {
    host: String,
    port: Option<u16>,
    path: String,
    /// The single-use enrolment code.
    pub code: EnrolmentCode,
    /// The server's challenge-signing key, pinned for the life of the enrolment.
    pub server_key: PublicKey,
    /// Where the PIN comes from.
    pub pin_source: PinSource,
    /// PIN digits (4 or 6).
    pub pin_digits: u8,
    /// The account label.
    pub label: String,
}

impl PartialEq for EnrolmentCode {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}
impl Eq for EnrolmentCode {}

impl fmt::Debug for EnrolmentLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrolmentLink")
            .field("origin", &self.origin())
            .field("path", &self.path)
            .field("code", &self.code)
            .field("server_key", &self.server_key)
            .field("pin_source", &self.pin_source)
            .field("pin_digits", &self.pin_digits)
            .field("label", &self.label)
            .finish()
    }
}

/// Optional limits a vendor sets on which links the app accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkPolicy {
    /// If set, only these hosts are accepted: `example.org` matches exactly,
    /// `*.example.org` matches any subdomain (not the apex).
    pub allowed_hosts: Option<Vec<String>>,
}

/// Why a scanned text is not a usable enrolment link.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// A Latchkey-shaped link over plain `http`.
    #[error("this enrolment link does not use a secure connection (https); ask the service for a new code")]
    NotHttps,
    /// `https://user:pass@host/...`: user information hides the real host.
    #[error("this link hides its real address behind a user name (user@host); it may be a phishing attempt, do not use it")]
    UserInfo,
    /// A one-time-password (TOTP/HOTP) QR for another authenticator app.
    #[error("this is a one-time-password code for another authenticator app, not a Latchkey code; scan the code on your account's \"Add a device\" page")]
    OtpAuth,
    /// A privacyIDEA push-token enrolment QR.
    #[error("this is a privacyIDEA push enrolment code, not a Latchkey code; use the privacyIDEA app for it, or scan the code on your account's \"Add a device\" page")]
    PrivacyIdeaPush,
    /// A Wi-Fi network QR.
    #[error("this is a Wi-Fi network code, not a Latchkey code; scan the code on your account's \"Add a device\" page")]
    WiFi,
    /// A contact card QR.
    #[error("this is a contact card, not a Latchkey code; scan the code on your account's \"Add a device\" page")]
    VCard,
    /// Text that is not a link at all.
    #[error("this code contains plain text, not a Latchkey code; scan the code on your account's \"Add a device\" page")]
    PlainText,
    /// Some other link (a web site, an e-mail address, another app's scheme).
    #[error("this code is a link to something else, not a Latchkey enrolment; scan the code on your account's \"Add a device\" page")]
    OtherUrl,
    /// The link asks to weaken or switch off TLS checks.
    #[error("this link asks to switch off security checks (\"{flag}\"); Latchkey never does that, so do not use it and tell the service")]
    TlsOff {
        /// The offending parameter name.
        flag: String,
    },
    /// The host is not on the vendor's allow-list.
    #[error("this app only enrols with approved services, and {host} is not one of them")]
    HostNotAllowed {
        /// The refused host.
        host: String,
    },
    /// No protocol version.
    #[error("this Latchkey link has no version; ask the service for a new code")]
    MissingVersion,
    /// A protocol version this app does not speak.
    #[error("this Latchkey link needs a newer version of the app (link version {found}); update the app and scan again")]
    UnsupportedVersion {
        /// The version found (truncated to 8 characters).
        found: String,
    },
    /// No enrolment code.
    #[error("this Latchkey link has no enrolment code; reload the \"Add a device\" page and scan the new code")]
    MissingCode,
    /// An enrolment code shorter than 112 bits.
    #[error("this Latchkey link's enrolment code is too short to be safe; ask the service for a new code")]
    CodeTooShort,
    /// An enrolment code that is not valid base64url or is too long.
    #[error("this Latchkey link's enrolment code is damaged; reload the \"Add a device\" page and scan the new code")]
    MalformedCode,
    /// No server key.
    #[error("this Latchkey link has no server key; ask the service for a new code")]
    MissingServerKey,
    /// A server key that is not a valid P-256 point.
    #[error("this Latchkey link's server key is damaged; reload the \"Add a device\" page and scan the new code")]
    InvalidServerKey,
    /// Another required parameter is missing.
    #[error("this Latchkey link is incomplete (no \"{name}\"); reload the \"Add a device\" page and scan the new code")]
    MissingParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// A parameter has an invalid value.
    #[error("this Latchkey link has an invalid \"{name}\"; reload the \"Add a device\" page and scan the new code")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// A parameter appears twice.
    #[error(
        "this Latchkey link repeats \"{name}\"; it may have been tampered with, do not use it"
    )]
    DuplicateParameter {
        /// The parameter's name (truncated to 16 characters).
        name: String,
    },
    /// A parameter this version does not know.
    #[error("this Latchkey link has an unexpected part (\"{name}\"); it may have been tampered with, do not use it")]
    UnexpectedParameter {
        /// The parameter's name (truncated to 16 characters).
        name: String,
    },
}

impl EnrolmentLink {
    /// Builds a link (the server's side) for a server whose public base URL is `base`
    /// (`https://HOST[:PORT]/[PREFIX/]`); the link's path is the base followed by `e`.
    ///
    /// # Errors
    /// [`LinkError::NotHttps`] or [`LinkError::UserInfo`] for such a base;
    /// [`LinkError::InvalidParameter`] for a base with a query or fragment, a base path not
    /// ending in `/`, a PIN length other than 4 or 6, or an unsafe label.
    pub fn new(
        base: &str,
        code: EnrolmentCode,
        server_key: PublicKey,
        pin_source: PinSource,
        pin_digits: u8,
        label: impl Into<String>,
    ) -> Result<Self, LinkError> {
        let url = Url::parse(base).map_err(|_| LinkError::InvalidParameter { name: "base" })?;
        if url.scheme() != "https" {
            return Err(LinkError::NotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(LinkError::UserInfo);
        }
        if url.query().is_some() || url.fragment().is_some() || !url.path().ends_with('/') {
            return Err(LinkError::InvalidParameter { name: "base" });
        }
        if pin_digits != 4 && pin_digits != 6 {
            return Err(LinkError::InvalidParameter { name: "n" });
        }
        let label = label.into();
        if !is_valid_label(&label) {
            return Err(LinkError::InvalidParameter { name: "l" });
        }
        Ok(Self {
            host: url.host_str().unwrap_or_default().to_owned(),
            port: url.port(),
            path: format!("{}e", url.path()),
            code,
            server_key,
            pin_source,
            pin_digits,
            label,
        })
    }

    /// `https://HOST[:PORT]`: where the device API lives.
    pub fn origin(&self) -> String {
        match self.port {
            Some(port) => format!("https://{}:{port}", self.host),
            None => format!("https://{}", self.host),
        }
    }

    /// The host (lowercase; IPv6 in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, if not 443.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The base for API paths: the link's path without its final `e` (`/` or `/prefix/`).
    /// Exactly one `e` is removed: [`parse`] and [`EnrolmentLink::new`] only make links whose
    /// last path segment is exactly `e`.
    pub fn api_base(&self) -> String {
        let base = self.path.strip_suffix('e').unwrap_or(&self.path);
        format!("{}{base}", self.origin())
    }

    /// The canonical text of the link (what the QR code carries).
    pub fn render(&self) -> String {
        // EXPOSE: rendering the link is how the code gets into the QR image.
        let code = b64::encode(self.code.expose_secret());
        format!(
            "{}{}#v={PROTOCOL_VERSION}&c={code}&k={}&p={}&n={}&l={}",
            self.origin(),
            self.path,
            b64::encode(&self.server_key.to_sec1()),
            self.pin_source.as_str(),
            self.pin_digits,
            utf8_percent_encode(&self.label, LABEL_SET),
        )
    }
}

/// Parses scanned text with no host restriction.
///
/// # Errors
/// A [`LinkError`] naming exactly what is wrong.
pub fn parse(text: &str) -> Result<EnrolmentLink, LinkError> {
    parse_with(text, &LinkPolicy::default())
}

/// Parses scanned text under a vendor's [`LinkPolicy`].
///
/// # Errors
/// A [`LinkError`] naming exactly what is wrong.
pub fn parse_with(text: &str, policy: &LinkPolicy) -> Result<EnrolmentLink, LinkError> {
    let text = text.trim();
    let lower = text
        .get(..16.min(text.len()))
        .unwrap_or("")
        .to_ascii_lowercase();
    if lower.starts_with("otpauth://pipush") {
        return Err(LinkError::PrivacyIdeaPush);
    }
    if lower.starts_with("otpauth://") || lower.starts_with("otpauth-migrati") {
        return Err(LinkError::OtpAuth);
    }
    if lower.starts_with("wifi:") {
        return Err(LinkError::WiFi);
    }
    if lower.starts_with("begin:vcard") || lower.starts_with("mecard:") {
        return Err(LinkError::VCard);
    }
    let Ok(url) = Url::parse(text) else {
        return Err(LinkError::PlainText);
    };
    match url.scheme() {
        "https" => {}
        "http" if looks_like_latchkey(&url) => return Err(LinkError::NotHttps),
        _ => return Err(LinkError::OtherUrl),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(LinkError::UserInfo);
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    if let Some(allowed) = &policy.allowed_hosts {
        if !allowed.iter().any(|pattern| host_matches(pattern, &host)) {
            return Err(LinkError::HostNotAllowed { host });
        }
    }
    let query: Vec<(String, String)> = url
        .query()
        .map(|q| split_params(q).collect())
        .unwrap_or_default();
    if let Some(flag) = query.iter().find(|(k, _)| is_tls_flag(k)) {
        return Err(LinkError::TlsOff {
            flag: truncate(&flag.0, 16),
        });
    }
    if !looks_like_latchkey(&url) {
        return Err(LinkError::OtherUrl);
    }
    if let Some((name, _)) = query.first() {
        return Err(LinkError::UnexpectedParameter {
            name: truncate(name, 16),
        });
    }
    // The API base is the path without its last segment, so that segment must be exactly
    // `e` (`/xe`, `/ee`, `/e/` are not enrolment links of any server).
    if !last_segment_is_e(&url) {
        return Err(LinkError::InvalidParameter { name: "path" });
    }
    let params = Params::from_fragment(url.fragment().unwrap_or(""))?;
    build(host, url.port(), url.path().to_owned(), params)
}

/// Fragment parameters with duplicates and unknown names already refused.
#[derive(Default)]
struct Params {
    v: Option<String>,
    c: Option<String>,
    k: Option<String>,
    p: Option<String>,
    n: Option<String>,
    l: Option<String>,
}

impl Params {
    fn from_fragment(fragment: &str) -> Result<Self, LinkError> {
        let mut params = Self::default();
        let pairs: Vec<(String, String)> = split_params(fragment).collect();
        if let Some((flag, _)) = pairs.iter().find(|(k, _)| is_tls_flag(k)) {
            return Err(LinkError::TlsOff {
                flag: truncate(flag, 16),
            });
        }
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "v" => &mut params.v,
                "c" => &mut params.c,
                "k" => &mut params.k,
                "p" => &mut params.p,
                "n" => &mut params.n,
                "l" => &mut params.l,
                _ => {
                    return Err(LinkError::UnexpectedParameter {
                        name: truncate(&key, 16),
                    })
                }
            };
            if slot.replace(value).is_some() {
                return Err(LinkError::DuplicateParameter { name: key });
            }
        }
        Ok(params)
    }
}

fn build(
    host: String,
    port: Option<u16>,
    path: String,
    params: Params,
) -> Result<EnrolmentLink, LinkError> {
    let version = params.v.ok_or(LinkError::MissingVersion)?;
    if version != PROTOCOL_VERSION.to_string() {
        return Err(LinkError::UnsupportedVersion {
            found: truncate(&version, 8),
        });
    }
    let code_text = params.c.ok_or(LinkError::MissingCode)?;
    let code_bytes = b64::decode(&code_text).ok_or(LinkError::MalformedCode)?;
    if code_bytes.len() < MIN_CODE_BYTES {
        return Err(LinkError::CodeTooShort);
    }
    let code = EnrolmentCode::from_bytes(code_bytes).ok_or(LinkError::MalformedCode)?;
    let key_text = params.k.ok_or(LinkError::MissingServerKey)?;
    let server_key = b64::decode(&key_text)
        .filter(|b| b.len() == 33)
        .and_then(|b| PublicKey::from_sec1(&b))
        .ok_or(LinkError::InvalidServerKey)?;
    let pin_source = match params.p.as_deref() {
        None => return Err(LinkError::MissingParameter { name: "p" }),
        Some("web") => PinSource::Web,
        Some("app") => PinSource::App,
        Some(_) => return Err(LinkError::InvalidParameter { name: "p" }),
    };
    let pin_digits = match params.n.as_deref() {
        None => return Err(LinkError::MissingParameter { name: "n" }),
        Some("4") => 4,
        Some("6") => 6,
        Some(_) => return Err(LinkError::InvalidParameter { name: "n" }),
    };
    let label_text = params.l.ok_or(LinkError::MissingParameter { name: "l" })?;
    let label = percent_decode_str(&label_text)
        .decode_utf8()
        .map_err(|_| LinkError::InvalidParameter { name: "l" })?
        .into_owned();
    if !is_valid_label(&label) {
        return Err(LinkError::InvalidParameter { name: "l" });
    }
    Ok(EnrolmentLink {
        host,
        port,
        path,
        code,
        server_key,
        pin_source,
        pin_digits,
        label,
    })
}

/// A label people can read safely: 1–64 characters, no control or bidi-override characters
/// (which could make "evil.com" display as "moc.live").
pub fn is_valid_label(label: &str) -> bool {
    let count = label.chars().count();
    (1..=MAX_LABEL_CHARS).contains(&count)
        && label.trim() == label
        && !label.chars().any(|c| {
            c.is_control()
                || ('\u{200B}'..='\u{200F}').contains(&c)
                || ('\u{202A}'..='\u{202E}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
}

fn last_segment_is_e(url: &Url) -> bool {
    url.path_segments().and_then(|mut s| s.next_back()) == Some("e")
}

fn looks_like_latchkey(url: &Url) -> bool {
    let fragment = url.fragment().unwrap_or("");
    let has_keys = split_params(fragment).any(|(k, _)| k == "c")
        && split_params(fragment).any(|(k, _)| k == "k");
    last_segment_is_e(url) || has_keys
}

fn split_params(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (pair.to_owned(), String::new()),
        })
}

fn is_tls_flag(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    TLS_OFF_FLAGS.iter().any(|flag| name.contains(flag))
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
        None => pattern == host,
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
