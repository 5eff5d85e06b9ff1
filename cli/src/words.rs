//! The CLI's words: the app's Fluent catalogue (`latchkey_app::words`), in the language of
//! `LC_ALL`, `LC_MESSAGES` or `LANG` (English otherwise). Its terminal layout stays its own.

use std::sync::LazyLock;

pub use latchkey_app::words::Text;
use latchkey_app::words::{error_text, posix_languages, Words};
use latchkey_core::{Error, ErrorKind, Settled};

static WORDS: LazyLock<Words> = LazyLock::new(|| Words::negotiate(&posix_languages()));

/// A message without arguments.
pub fn say(id: &'static str) -> String {
    WORDS.say(id)
}

/// A message with arguments.
pub fn text(text: Text) -> String {
    WORDS.get(&text)
}

/// A prompt: the message and ": ".
pub fn prompt(message: Text) -> String {
    format!("{}: ", WORDS.get(&message))
}

/// A core error in the person's words, with what to type next where the CLI knows.
pub fn error(e: &Error) -> String {
    let mut message = WORDS.get(&error_text(e));
    let hint = match e.kind() {
        ErrorKind::Locked => Some("cli-hint-forgot"),
        ErrorKind::NotFound => Some("cli-hint-accounts"),
        _ => None,
    };
    if let Some(hint) = hint {
        message.push(' ');
        message.push_str(&WORDS.say(hint));
    }
    if e.kind() == ErrorKind::KeyStore {
        message.push(' ');
        message.push_str(&WORDS.get(&Text::of("cli-hint-keystore").with("reason", e.to_string())));
    }
    message
}

/// [`error`] for `map_err`.
#[allow(clippy::needless_pass_by_value)] // map_err hands the error over
pub fn fail(e: Error) -> String {
    error(&e)
}

/// What settling an interrupted operation did, if worth saying.
pub fn settled(settled: Settled, account: &str) -> Option<String> {
    let id = match settled {
        Settled::Promoted => "settle-promoted",
        Settled::Discarded => "settle-discarded",
        Settled::Activated => "settle-activated",
        Settled::Nothing | Settled::Pending => return None,
    };
    Some(WORDS.get(&Text::of(id).with("account", account)))
}
