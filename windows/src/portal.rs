//! Screenshots through the desktop portal (`org.freedesktop.portal.Screenshot`), for Wayland
//! sessions: there a program cannot read the screen itself (an X11 capture sees only other X11
//! windows), and the desktop asks the person once whether Latchkey may take screenshots.
//!
//! The answer counts only from the connection that took the request: the bus writes every
//! message's sender, so the `Screenshot` reply names the portal's connection, and only its
//! `Response` on the request's path is read (the match rule names that connection, so the bus
//! delivers no other). Another program on the bus cannot hand the app a file of its choosing
//! (which the app would read, and then delete: nothing captured is kept). The file is opened
//! without following links and must be a regular file; it is deleted only if it is a PNG.
//! Waiting for the person's answer has a deadline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_lite::StreamExt as _;
use zbus::blocking::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

/// The portal's well-known name.
pub const NAME: &str = "org.freedesktop.portal.Desktop";
/// Its object path.
pub const PATH: &str = "/org/freedesktop/portal/desktop";
/// The screenshot interface.
pub const SCREENSHOT: &str = "org.freedesktop.portal.Screenshot";
/// The interface of a request's object, whose `Response` carries the answer.
pub const REQUEST: &str = "org.freedesktop.portal.Request";

/// The largest screenshot read (a PNG of several 8K screens is smaller).
const MAX_BYTES: u64 = 512 << 20;

/// Why the portal gave no screenshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No portal answers on the session bus: another way may work.
    Unavailable(String),
    /// The person (or the desktop's policy) refused.
    Refused,
    /// The portal answered with an error, or not in time; in words.
    Failed(String),
}

/// Takes a screenshot of every screen; the PNG's bytes. The file the portal wrote is read
/// and deleted. `answer_within`: how long the person has to allow it.
///
/// # Errors
/// See [`Failure`].
pub fn screenshot(conn: &Connection, answer_within: Duration) -> Result<Vec<u8>, Failure> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let unavailable = |e: zbus::Error| Failure::Unavailable(e.to_string());
    let token = format!(
        "latchkey{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let unique = conn
        .unique_name()
        .ok_or_else(|| Failure::Unavailable("no name on the session bus".into()))?;
    // The portal's connection, started if the bus can start it: only its signals are
    // delivered (a flood from other programs cannot stall this connection).
    let bus = zbus::blocking::fdo::DBusProxy::new(conn).map_err(unavailable)?;
    let name = zbus::names::WellKnownName::from_static_str_unchecked(NAME);
    let _ = bus.start_service_by_name(name.clone(), 0);
    let portal = bus
        .get_name_owner(name.into())
        .map_err(|e| Failure::Unavailable(e.to_string()))?
        .to_string();
    let sender = unique.as_str().trim_start_matches(':').replace('.', "_");
    // The request's path is known before the call: listen first, so that no answer is missed.
    let expected = format!("{PATH}/request/{sender}/{token}");
    let mut responses = responses(conn, &portal, &expected).map_err(unavailable)?;
    let options = HashMap::from([
        ("handle_token", Value::from(token.as_str())),
        ("interactive", Value::from(false)),
        ("modal", Value::from(true)),
    ]);
    let reply = conn
        .call_method(
            Some(NAME),
            PATH,
            Some(SCREENSHOT),
            "Screenshot",
            &("", options),
        )
        .map_err(|e| match &e {
            zbus::Error::MethodError(name, _, _)
                if name.as_str().starts_with("org.freedesktop.DBus.Error.") =>
            {
                Failure::Unavailable(e.to_string())
            }
            _ => Failure::Failed(e.to_string()),
        })?;
    // Written by the bus, not by the portal: the connection that took the request, which
    // must be the one listened to.
    if reply.header().sender().map(|s| s.as_str()) != Some(portal.as_str()) {
        return Err(Failure::Failed(
            "the portal's reply came from another connection".into(),
        ));
    }
    let handle: OwnedObjectPath = reply
        .body()
        .deserialize()
        .map_err(|e| Failure::Failed(e.to_string()))?;
    if handle.as_str() != expected {
        // An older portal chose another path.
        responses = self::responses(conn, &portal, handle.as_str()).map_err(unavailable)?;
    }
    let answer = async_io::block_on(async {
        let from_portal = async {
            while let Some(message) = responses.next().await {
                let Ok(message) = message else { continue };
                if message
                    .header()
                    .sender()
                    .is_none_or(|s| s.as_str() != portal)
                {
                    continue;
                }
                if let Ok(answer) = message
                    .body()
                    .deserialize::<(u32, HashMap<String, OwnedValue>)>()
                {
                    return Some(answer);
                }
            }
            None
        };
        let deadline = async {
            async_io::Timer::after(answer_within).await;
            None
        };
        futures_lite::future::or(from_portal, deadline).await
    });
    let Some((code, results)) = answer else {
        // Withdraw the question from the screen.
        let _ = conn.call_method(Some(NAME), handle.as_str(), Some(REQUEST), "Close", &());
        return Err(Failure::Failed("the desktop did not answer in time".into()));
    };
    match code {
        0 => {}
        1 => return Err(Failure::Refused),
        _ => {
            return Err(Failure::Failed(
                "the desktop could not take the screenshot".into(),
            ))
        }
    }
    let uri = results
        .get("uri")
        .and_then(|v| v.downcast_ref::<String>().ok())
        .ok_or_else(|| Failure::Failed("the portal's answer holds no file".into()))?;
    let path = url::Url::parse(&uri)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .ok_or_else(|| Failure::Failed(format!("the portal's file is not a local file: {uri}")))?;
    let bytes =
        read_screenshot(&path).map_err(|e| Failure::Failed(format!("{}: {e}", path.display())))?;
    // Nothing captured is kept: the portal's file goes once read (only a PNG: a file that is
    // not a screenshot was not the portal's to give).
    if bytes.starts_with(PNG) {
        let _ = std::fs::remove_file(&path);
    }
    Ok(bytes)
}

/// A PNG file's first bytes.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A stream of `Response` signals from `portal` on the request at `path` (the caller checks
/// the sender again).
fn responses(conn: &Connection, portal: &str, path: &str) -> zbus::Result<zbus::MessageStream> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(portal)?
        .interface(REQUEST)?
        .member("Response")?
        .path(path.to_owned())?
        .build();
    async_io::block_on(zbus::MessageStream::for_match_rule(
        rule,
        conn.inner(),
        None,
    ))
}

/// The screenshot's bytes: a regular file (a link is not followed, a pipe or device is
/// refused without blocking), at most [`MAX_BYTES`].
fn read_screenshot(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return Err(std::io::Error::other(
            "not a screenshot (not a regular file, or too large)",
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_BYTES).read_to_end(&mut bytes)?;
    Ok(bytes)
}
