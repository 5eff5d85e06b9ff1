//! Freedesktop notifications with actions, straight over the session bus (zbus; no libdbus).
//!
//! An action counts only when the bus says it came from the server that showed the
//! notification: the bus itself writes every message's sender, so the `Notify` reply names
//! that server's connection, and only signals from that same connection are read. A name's
//! owner as a signal claims it is not trusted (a `NameOwnerChanged` can be sent to the app
//! by anyone), nor is any other program on the bus: a faked `ActionInvoked` with a guessed id
//! cannot deny a sign-in for the person (notify-rust 4.19 reads that signal from anyone).
//! Calls time out, so a hung server cannot freeze the window.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use zbus::blocking::{Connection, MessageIterator};
use zbus::zvariant::Value;

/// The notification server's well-known name (also its interface).
pub const NAME: &str = "org.freedesktop.Notifications";
/// Its object path.
pub const PATH: &str = "/org/freedesktop/Notifications";

/// How long a call to the server may take.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// What became of a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The person pressed the action with this key (`default`: the notification itself).
    Action(String),
    /// It was closed (dismissed, replaced, expired or withdrawn).
    Closed,
}

/// Shows notifications on one session-bus connection, made on first use.
#[derive(Default)]
pub struct Notifier {
    conn: Mutex<Option<Connection>>,
}

impl Notifier {
    /// A notifier on this connection (tests: a private bus).
    pub fn on(conn: Connection) -> Self {
        Self {
            conn: Mutex::new(Some(conn)),
        }
    }

    /// The session-bus connection (made on first use; the screenshot portal uses it too).
    ///
    /// # Errors
    /// No session bus.
    pub fn connection(&self) -> zbus::Result<Connection> {
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(conn) = &*slot {
            return Ok(conn.clone());
        }
        let conn = zbus::blocking::connection::Builder::session()?
            .method_timeout(CALL_TIMEOUT)
            .build()?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Shows a critical notification that stays until acted on (replacing `replaces` if it is
    /// not 0) with `actions` as (key, label); returns its id. `on_outcome` is called once, from
    /// a thread of its own, when the server reports an action or the close.
    ///
    /// # Errors
    /// No session bus, or no notification server on it.
    pub fn show(
        &self,
        replaces: u32,
        summary: &str,
        body: &str,
        actions: &[(&str, &str)],
        on_outcome: impl FnOnce(Outcome) + Send + 'static,
    ) -> zbus::Result<u32> {
        let conn = self.connection()?;
        // Listen before showing, so that a quick answer is not missed; which signals count is
        // decided by their sender below.
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .path(PATH)?
            .interface(NAME)?
            .build();
        let signals = MessageIterator::for_match_rule(rule, &conn, None)?;
        let actions: Vec<&str> = actions.iter().flat_map(|(k, l)| [*k, *l]).collect();
        let hints = HashMap::from([
            ("urgency", Value::U8(2)),
            ("desktop-entry", Value::from("org.latchkey.Latchkey")),
        ]);
        let reply = conn.call_method(
            Some(NAME),
            PATH,
            Some(NAME),
            "Notify",
            &(
                "Latchkey", replaces, "", summary, body, actions, hints, 0i32,
            ),
        )?;
        let id: u32 = reply.body().deserialize()?;
        // Written by the bus, not by the server: the connection that showed it.
        let server = reply
            .header()
            .sender()
            .map(|s| s.as_str().to_owned())
            .ok_or_else(|| zbus::Error::Failure("the server's reply names no sender".into()))?;
        std::thread::spawn(move || {
            let from_server = signals.filter_map(Result::ok).filter(|message| {
                message
                    .header()
                    .sender()
                    .is_some_and(|sender| sender.as_str() == server)
            });
            if let Some(outcome) = wait(from_server, id) {
                on_outcome(outcome);
            }
        });
        Ok(id)
    }

    /// Closes a notification (ignored if it is gone or there is no server).
    pub fn close(&self, id: u32) {
        if let Ok(conn) = self.connection() {
            let _ = conn.call_method(Some(NAME), PATH, Some(NAME), "CloseNotification", &(id,));
        }
    }
}
/// The first action or close the server reports for `id`.
fn wait(signals: impl IntoIterator<Item = zbus::Message>, id: u32) -> Option<Outcome> {
    for message in signals {
        let header = message.header();
        match header.member().map(|m| m.as_str()) {
            Some("ActionInvoked") => {
                if let Ok((n, key)) = message.body().deserialize::<(u32, String)>() {
                    if n == id {
                        return Some(Outcome::Action(key));
                    }
                }
            }
            Some("NotificationClosed") => {
                if let Ok((n, _reason)) = message.body().deserialize::<(u32, u32)>() {
                    if n == id {
                        return Some(Outcome::Closed);
                    }
                }
            }
            _ => {}
        }
    }
    None
}
