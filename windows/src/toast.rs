//! Windows toasts with Approve and Deny buttons: WinRT's `ToastNotification` through the
//! `windows` crate. Windows shows toasts only for an app whose AppUserModelID is registered
//! (the installer's Start-menu shortcut carries [`AUMID`]: windows/README.md); a press on the
//! toast or a button comes back to the running app through the toast's `Activated` event,
//! once per toast. The toast's XML is built here for every platform, so it is tested on Linux
//! too; showing it is Windows-only and type-checked here, never run.

use crate::platform::Notification;

/// The app's AppUserModelID (the installer registers it; toasts are refused without it).
pub const AUMID: &str = "org.latchkey.Latchkey";

/// The toast's argument for each press: the toast itself, Approve, Deny.
pub const OPEN: &str = "open";
/// Approve: opens the app at the request (the PIN is typed there).
pub const APPROVE: &str = "approve";
/// Deny: denies without opening the app.
pub const DENY: &str = "deny";

/// The toast's content: the app's words, escaped, with the two buttons. "reminder" keeps it
/// on screen until answered or withdrawn (a sign-in waits for it).
pub fn toast_xml(n: &Notification) -> String {
    format!(
        "<toast launch=\"{OPEN}\" activationType=\"foreground\" scenario=\"reminder\">\
         <visual><binding template=\"ToastGeneric\">\
         <text>{}</text><text>{}</text>\
         </binding></visual>\
         <actions>\
         <action content=\"{}\" arguments=\"{APPROVE}\" activationType=\"foreground\"/>\
         <action content=\"{}\" arguments=\"{DENY}\" activationType=\"foreground\"/>\
         </actions></toast>",
        escape(&n.title),
        escape(&n.body),
        escape(&n.approve),
        escape(&n.deny),
    )
}

/// Text for XML content or a quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 (a tab or newline is).
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Which press a toast's activation argument is: `Some(None)` opens the app, `Some(Some(Deny))`
/// denies; `None` for an argument the toast never carries.
pub fn pressed(argument: &str) -> Option<Option<latchkey_app::NotificationAction>> {
    match argument {
        OPEN | APPROVE | "" => Some(None),
        DENY => Some(Some(latchkey_app::NotificationAction::Deny)),
        _ => None,
    }
}

/// Shown toasts, by request.
#[cfg(windows)]
#[derive(Default)]
pub struct Toasts {
    shown: std::sync::Mutex<std::collections::HashMap<String, Shown>>,
    next: std::sync::atomic::AtomicU64,
}

#[cfg(windows)]
struct Shown {
    /// The toast's tag (request ids can be longer than the 64 characters a tag may have).
    tag: String,
    /// Whether it still answers (a replaced or withdrawn one does not).
    live: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[cfg(windows)]
impl Toasts {
    const GROUP: &'static str = "requests";

    fn shown(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Shown>> {
        self.shown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Shows the request's toast, replacing its earlier one; `answer` is called once.
    ///
    /// # Errors
    /// Windows refused the toast (no registered AUMID, notifications off).
    pub fn show(
        &self,
        notification: Notification,
        answer: crate::platform::OnNotification,
    ) -> windows::core::Result<()> {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex, PoisonError};

        use windows::core::{IInspectable, Interface as _, HSTRING};
        use windows::Data::Xml::Dom::XmlDocument;
        use windows::Foundation::TypedEventHandler;
        use windows::UI::Notifications::{
            ToastActivatedEventArgs, ToastNotification, ToastNotificationManager,
        };

        self.withdraw(&notification.request);
        let tag = format!("r{}", self.next.fetch_add(1, Ordering::SeqCst));
        let document = XmlDocument::new()?;
        document.LoadXml(&HSTRING::from(toast_xml(&notification)))?;
        let toast = ToastNotification::CreateToastNotification(&document)?;
        toast.SetTag(&HSTRING::from(tag.as_str()))?;
        toast.SetGroup(&HSTRING::from(Self::GROUP))?;
        let live = Arc::new(AtomicBool::new(true));
        let answers = Arc::clone(&live);
        let answer = Mutex::new(Some(answer));
        toast.Activated(&TypedEventHandler::<ToastNotification, IInspectable>::new(
            move |_, args| {
                let argument = args
                    .as_ref()
                    .and_then(|a| a.cast::<ToastActivatedEventArgs>().ok())
                    .and_then(|a| a.Arguments().ok())
                    .map(|a| a.to_string_lossy())
                    .unwrap_or_default();
                if let Some(press) = pressed(&argument) {
                    if answers.swap(false, Ordering::SeqCst) {
                        let once = answer.lock().unwrap_or_else(PoisonError::into_inner).take();
                        if let Some(answer) = once {
                            answer(press);
                        }
                    }
                }
                Ok(())
            },
        ))?;
        ToastNotificationManager::CreateToastNotifierWithId(&HSTRING::from(AUMID))?.Show(&toast)?;
        self.shown()
            .insert(notification.request, Shown { tag, live });
        Ok(())
    }

    /// Withdraws the request's toast from the screen and the action centre.
    pub fn withdraw(&self, request: &str) {
        use windows::core::HSTRING;
        use windows::UI::Notifications::ToastNotificationManager;

        let Some(shown) = self.shown().remove(request) else {
            return;
        };
        shown.live.store(false, std::sync::atomic::Ordering::SeqCst);
        if let Ok(history) = ToastNotificationManager::History() {
            let _ = history.RemoveGroupedTagWithId(
                &HSTRING::from(shown.tag.as_str()),
                &HSTRING::from(Self::GROUP),
                &HSTRING::from(AUMID),
            );
        }
    }
}

/// A toast left after the app quit would offer a Deny that no longer answers.
#[cfg(windows)]
impl Drop for Toasts {
    fn drop(&mut self) {
        let requests: Vec<String> = self.shown().keys().cloned().collect();
        for request in requests {
            self.withdraw(&request);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_app::NotificationAction;

    #[test]
    fn the_words_are_escaped_and_both_buttons_are_there() {
        let n = Notification {
            request: "r".into(),
            title: "Sign-in <request> & \"more\"".into(),
            body: "A sign-in needs your approval.\u{7}".into(),
            approve: "Approuver l'accès".into(),
            deny: "Deny".into(),
        };
        let xml = toast_xml(&n);
        assert!(xml.contains("<text>Sign-in &lt;request&gt; &amp; &quot;more&quot;</text>"));
        assert!(
            xml.contains("<text>A sign-in needs your approval.</text>"),
            "{xml}"
        );
        assert!(xml.contains(
            "<action content=\"Approuver l&apos;accès\" arguments=\"approve\" \
             activationType=\"foreground\"/>"
        ));
        assert!(xml.contains("<action content=\"Deny\" arguments=\"deny\""));
        assert!(xml.starts_with("<toast launch=\"open\""));
        // Every tag closed: as many opening tags as closing ones (self-closing counted).
        let opened = xml.matches('<').count() - xml.matches("</").count();
        let closed = xml.matches("</").count() + xml.matches("/>").count();
        assert_eq!(opened, closed, "{xml}");
    }

    #[test]
    fn each_argument_is_its_press() {
        assert_eq!(pressed("open"), Some(None));
        assert_eq!(pressed("approve"), Some(None));
        assert_eq!(pressed(""), Some(None));
        assert_eq!(pressed("deny"), Some(Some(NotificationAction::Deny)));
        assert_eq!(pressed("deny-all"), None);
    }
}
