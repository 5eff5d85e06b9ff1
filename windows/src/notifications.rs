//! Freedesktop notifications with actions, straight over the session bus (zbus; no libdbus).
//!
//! An action counts only when the bus says it came from the notification server: the
//! answer is read from a proxy's signal stream, which the bus filters by a match rule on the
//! sender and zbus checks again against the unique name that owns
//! `org.freedesktop.Notifications` (following changes of owner). Any other program on the
//! session bus can emit an `ActionInvoked` signal with a guessed id; it is ignored, so it
//! cannot deny a sign-in for the person (notify-rust 4.19 reads such signals from anyone).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::Value;

/// The notification server's well-known name (also its interface).
pub const NAME: &str = "org.freedesktop.Notifications";
/// Its object path.
pub const PATH: &str = "/org/freedesktop/Notifications";

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

    fn proxy(&self) -> zbus::Result<Proxy<'static>> {
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match &*slot {
            Some(conn) => conn.clone(),
            None => {
                let conn = Connection::session()?;
                *slot = Some(conn.clone());
                conn
            }
        };
        Proxy::new(&conn, NAME, PATH, NAME)
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
        let proxy = self.proxy()?;
        // Listen before showing, so that a quick answer is not missed.
        let signals = proxy.receive_all_signals()?;
        let actions: Vec<&str> = actions.iter().flat_map(|(k, l)| [*k, *l]).collect();
        let hints = HashMap::from([
            ("urgency", Value::U8(2)),
            ("desktop-entry", Value::from("org.latchkey.Latchkey")),
        ]);
        let id: u32 = proxy.call(
            "Notify",
            &(
                "Latchkey", replaces, "", summary, body, actions, hints, 0i32,
            ),
        )?;
        std::thread::spawn(move || {
            if let Some(outcome) = wait(signals, id) {
                on_outcome(outcome);
            }
        });
        Ok(id)
    }

    /// Closes a notification (ignored if it is gone or there is no server).
    pub fn close(&self, id: u32) {
        if let Ok(proxy) = self.proxy() {
            let _: zbus::Result<()> = proxy.call("CloseNotification", &(id,));
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
