//! The app's words: Project Fluent catalogues (`app/locales/{en,fr,de}/app.ftl`), compiled in,
//! one chosen from the platform's preferred languages. Every text a shell shows comes from
//! here; a test checks that every locale has every message with the same variables.

use std::borrow::Cow;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use fluent_langneg::{negotiate_languages, NegotiationStrategy};
use latchkey_core::protocol::link::LinkError;
use latchkey_core::protocol::wire::ErrorCode;
use latchkey_core::{Error, ErrorKind};
use unic_langid::LanguageIdentifier;

/// The catalogues, by language tag, English first (the fallback).
pub const CATALOGUES: [(&str, &str); 3] = [
    ("en", include_str!("../locales/en/app.ftl")),
    ("fr", include_str!("../locales/fr/app.ftl")),
    ("de", include_str!("../locales/de/app.ftl")),
];

/// The CLI's own words (`cli` feature only: the mobile library does not carry them), in the
/// same order as [`CATALOGUES`].
#[cfg(feature = "cli")]
pub const CLI_CATALOGUES: [(&str, &str); 3] = [
    ("en", include_str!("../locales/en/cli.ftl")),
    ("fr", include_str!("../locales/fr/cli.ftl")),
    ("de", include_str!("../locales/de/cli.ftl")),
];

/// Every catalogue file a language's bundle is made of.
fn sources(index: usize) -> Vec<&'static str> {
    #[cfg(feature = "cli")]
    return vec![CATALOGUES[index].1, CLI_CATALOGUES[index].1];
    #[cfg(not(feature = "cli"))]
    vec![CATALOGUES[index].1]
}

/// The languages the app speaks, as BCP 47 tags, English first.
pub fn languages() -> Vec<&'static str> {
    CATALOGUES.iter().map(|(tag, _)| *tag).collect()
}

/// The person's languages on a POSIX system, most preferred first: `LC_ALL`, `LC_MESSAGES`,
/// then `LANG`, as BCP 47 tags (`fr_FR.UTF-8@euro` → `fr-FR`; `C` and `POSIX` → English).
/// For [`Words::negotiate`].
pub fn posix_languages() -> Vec<String> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .filter(|value| !value.is_empty())
        .map(|value| posix_to_bcp47(&value))
        .collect()
}

/// One POSIX locale name as a BCP 47 tag.
pub fn posix_to_bcp47(value: &str) -> String {
    let base = value.split(['.', '@']).next().unwrap_or(value);
    match base {
        "C" | "POSIX" => "en".into(),
        _ => base.replace('_', "-"),
    }
}

struct Catalogue {
    tag: &'static str,
    bundle: FluentBundle<FluentResource>,
}

static CATALOGUE_SET: LazyLock<Vec<Catalogue>> = LazyLock::new(|| {
    CATALOGUES
        .iter()
        .enumerate()
        .filter_map(|(index, (tag, _))| {
            let lang: LanguageIdentifier = tag.parse().ok()?;
            let mut bundle = FluentBundle::new_concurrent(vec![lang]);
            // No Unicode isolation marks around placeables: the shells' text views show them.
            bundle.set_use_isolating(false);
            for source in sources(index) {
                // A catalogue that does not parse is left out (English stands in); the
                // catalogue tests make that impossible in a build that passed them.
                let resource = FluentResource::try_new(source.to_owned()).ok()?;
                bundle.add_resource(resource).ok()?;
            }
            Some(Catalogue { tag, bundle })
        })
        .collect()
});

/// A message and its arguments, rendered when a view is built (so a language change
/// re-renders everything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    /// The message id.
    pub id: &'static str,
    /// Named arguments: text, or a number (numbers choose plural forms).
    pub args: Vec<(&'static str, Arg)>,
}

/// One argument of a [`Text`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Shown as is.
    Str(String),
    /// A count (plural selection).
    Num(i64),
    /// Another message, rendered in the same language first.
    Text(Box<Text>),
}

impl Text {
    /// A message without arguments.
    pub fn of(id: &'static str) -> Self {
        Self {
            id,
            args: Vec::new(),
        }
    }

    /// Adds a text argument.
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, Arg::Str(value.into())));
        self
    }

    /// Adds a number argument.
    #[must_use]
    pub fn num(mut self, name: &'static str, value: impl Into<i64>) -> Self {
        self.args.push((name, Arg::Num(value.into())));
        self
    }

    /// Adds another message as an argument.
    #[must_use]
    pub fn text(mut self, name: &'static str, value: Text) -> Self {
        self.args.push((name, Arg::Text(Box::new(value))));
        self
    }
}

/// The words in one language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Words {
    index: usize,
}

impl Words {
    /// The best language for `preferred` (most preferred first, BCP 47 tags such as
    /// `fr-CA`), English when none matches.
    pub fn negotiate(preferred: &[String]) -> Self {
        let requested: Vec<LanguageIdentifier> =
            preferred.iter().filter_map(|t| t.parse().ok()).collect();
        let available: Vec<LanguageIdentifier> = CATALOGUE_SET
            .iter()
            .filter_map(|c| c.tag.parse().ok())
            .collect();
        let english: Option<LanguageIdentifier> = "en".parse().ok();
        let chosen = negotiate_languages(
            &requested,
            &available,
            english.as_ref(),
            NegotiationStrategy::Lookup,
        );
        let index = chosen
            .first()
            .and_then(|lang| {
                CATALOGUE_SET
                    .iter()
                    .position(|c| c.tag.parse::<LanguageIdentifier>().ok().as_ref() == Some(*lang))
            })
            .unwrap_or(0);
        Self { index }
    }

    /// The language's tag (`en`, `fr`, `de`).
    pub fn tag(&self) -> &'static str {
        CATALOGUE_SET.get(self.index).map_or("en", |c| c.tag)
    }

    /// Renders `text`; a message missing here falls back to English, then to its id.
    pub fn get(&self, text: &Text) -> String {
        let mut args = FluentArgs::new();
        for (name, value) in &text.args {
            let value: FluentValue<'_> = match value {
                Arg::Str(s) => FluentValue::String(Cow::Owned(s.clone())),
                Arg::Num(n) => FluentValue::from(*n),
                Arg::Text(inner) => FluentValue::String(Cow::Owned(self.get(inner))),
            };
            args.set(*name, value);
        }
        for catalogue in [CATALOGUE_SET.get(self.index), CATALOGUE_SET.first()]
            .into_iter()
            .flatten()
        {
            let bundle = &catalogue.bundle;
            if let Some(pattern) = bundle.get_message(text.id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                let out = bundle.format_pattern(pattern, Some(&args), &mut errors);
                if !errors.is_empty() {
                    tracing::warn!(id = text.id, ?errors, "message formatting");
                }
                return out.into_owned();
            }
        }
        text.id.to_owned()
    }

    /// Renders message `id` without arguments.
    pub fn say(&self, id: &'static str) -> String {
        self.get(&Text::of(id))
    }
}

/// The person's sentence for a core error: never the core's English text (which names CLI
/// commands), always a catalogue message.
pub fn error_text(e: &Error) -> Text {
    match e {
        Error::WrongPin {
            attempts_left: Some(left),
        } => return Text::of("wrong-pin").num("left", *left),
        Error::WrongPin {
            attempts_left: None,
        } => return Text::of("wrong-pin-plain"),
        Error::PinPolicy(refusal) => {
            use latchkey_core::protocol::pin::PinRefusal;
            return match refusal {
                PinRefusal::WrongLength { expected } => {
                    Text::of("pin-length").num("digits", *expected)
                }
                PinRefusal::NotDigits => Text::of("pin-digits-only"),
                _ => Text::of("pin-weak"),
            };
        }
        Error::AlreadyStaged => return Text::of("error-busy"),
        Error::ClockSkew { off_by_secs } => {
            return match off_by_secs {
                Some(off) => Text::of(if *off > 0 {
                    "error-clock-ahead"
                } else {
                    "error-clock-behind"
                })
                .num(
                    "minutes",
                    i64::try_from(off.unsigned_abs().div_ceil(60)).unwrap_or(i64::MAX),
                ),
                None => Text::of("error-clock"),
            };
        }
        Error::NotLatchkeyQr(link) => {
            return Text::of("scan-not-latchkey").text("reason", link_reason(link))
        }
        Error::Server { code, .. } => {
            let id = match code {
                ErrorCode::BadCredentials => Some("bad-credentials"),
                ErrorCode::RateLimited => Some("rate-limited"),
                ErrorCode::EnrolmentCodeInvalid => Some("scan-expired"),
                ErrorCode::Unauthorized => Some("error-not-found"),
                _ => None,
            };
            if let Some(id) = id {
                return Text::of(id);
            }
        }
        _ => {}
    }
    Text::of(match e.kind() {
        ErrorKind::Locked => "locked",
        ErrorKind::Expired => "operation-expired",
        ErrorKind::AlreadyAnswered => "outcome-answered",
        ErrorKind::CodeMismatch => "outcome-mismatch",
        ErrorKind::PinPolicy => "pin-weak",
        ErrorKind::WrongPin => "wrong-pin-plain",
        ErrorKind::NotLatchkeyQr => "reason-damaged",
        ErrorKind::ServerUntrusted => "error-untrusted",
        ErrorKind::Network => "error-network",
        ErrorKind::ScreenLockMissing => "error-screen-lock",
        ErrorKind::Storage => "error-storage",
        ErrorKind::Corrupt => "error-corrupt",
        ErrorKind::KeyStore => "error-keystore",
        ErrorKind::Signer => "error-signer",
        ErrorKind::NotFound => "error-not-found",
        ErrorKind::Rejected => "error-rejected",
        _ => "error-invalid",
    })
}

/// Why a scanned code is not a usable Latchkey code, in the person's language.
pub fn link_reason(e: &LinkError) -> Text {
    match e {
        LinkError::OtpAuth => Text::of("reason-otpauth"),
        LinkError::PrivacyIdeaPush => Text::of("reason-privacyidea"),
        LinkError::WiFi => Text::of("reason-wifi"),
        LinkError::VCard => Text::of("reason-vcard"),
        LinkError::PlainText => Text::of("reason-text"),
        LinkError::OtherUrl => Text::of("reason-other-url"),
        LinkError::NotHttps | LinkError::UserInfo | LinkError::TlsOff { .. } => {
            Text::of("reason-unsafe")
        }
        LinkError::HostNotAllowed { host } => Text::of("reason-host").with("host", host.clone()),
        LinkError::UnsupportedVersion { .. } => Text::of("reason-update"),
        _ => Text::of("reason-damaged"),
    }
}
