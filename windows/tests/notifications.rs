//! The desktop's notifications on a private session bus with a notification server shaped as
//! the freedesktop specification has it: the app's words and actions are shown, an answer
//! counts only from the server (another program on the bus cannot deny a request for the
//! person), a replaced notification answers once, and a withdrawn one is closed and silent.
#![cfg(all(unix, not(target_os = "macos")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use latchkey_app::NotificationAction;
use latchkey_desktop::notifications::{Notifier, NAME, PATH};
use latchkey_desktop::platform::{Desktop, Notification, System};
use latchkey_e2e::SessionBus;
use zbus::blocking::{connection, Connection};
use zbus::names::BusName;
use zbus::zvariant::OwnedValue;

#[derive(Clone, Debug)]
struct Shown {
    id: u32,
    replaces: u32,
    summary: String,
    body: String,
    actions: Vec<String>,
    urgency: Option<u8>,
}

#[derive(Clone, Default)]
struct Seen {
    shown: Arc<Mutex<Vec<Shown>>>,
    closed: Arc<Mutex<Vec<u32>>>,
}

struct Server {
    seen: Seen,
    next: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        _app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let id = if replaces_id == 0 {
            self.next += 1;
            self.next
        } else {
            replaces_id
        };
        let urgency = hints
            .get("urgency")
            .and_then(|v| v.downcast_ref::<u8>().ok());
        self.seen.shown.lock().unwrap().push(Shown {
            id,
            replaces: replaces_id,
            summary,
            body,
            actions,
            urgency,
        });
        id
    }

    fn close_notification(&mut self, id: u32) {
        self.seen.closed.lock().unwrap().push(id);
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }
}

fn connect(bus: &SessionBus) -> Connection {
    connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .expect("connect")
}

fn request(title: &str) -> Notification {
    Notification {
        request: "request-1".into(),
        title: title.into(),
        body: "Open Latchkey to answer".into(),
        approve: "Approve".into(),
        deny: "Deny".into(),
    }
}

fn action(conn: &Connection, to: Option<&str>, id: u32, key: &str) {
    conn.emit_signal(
        to.map(|n| BusName::try_from(n).expect("name")),
        PATH,
        NAME,
        "ActionInvoked",
        &(id, key),
    )
    .expect("signal");
}

const QUIET: Duration = Duration::from_millis(700);

#[test]
fn only_the_notification_server_answers_a_notification() {
    let home = tempfile::tempdir().expect("home");
    let Some(bus) = SessionBus::start(home.path()) else {
        return;
    };
    let seen = Seen::default();
    let server = connection::Builder::address(bus.address.as_str())
        .expect("address")
        .name(NAME)
        .expect("name")
        .serve_at(
            PATH,
            Server {
                seen: seen.clone(),
                next: 0,
            },
        )
        .expect("serve")
        .build()
        .expect("server");
    let app_side = connect(&bus);
    let app_name = app_side.unique_name().expect("unique name").to_string();
    let desktop = System::with_notifier(Notifier::on(app_side));

    let (tx, rx) = mpsc::channel();
    let answer = tx.clone();
    desktop.notify(
        request("Sign-in request"),
        Box::new(move |a| answer.send(a).expect("send")),
    );
    let first = seen.shown.lock().unwrap()[0].clone();
    assert_eq!(
        (first.summary.as_str(), first.body.as_str(), first.replaces),
        ("Sign-in request", "Open Latchkey to answer", 0)
    );
    assert_eq!(
        first.actions,
        ["default", "Approve", "approve", "Approve", "deny", "Deny"]
    );
    assert_eq!(first.urgency, Some(2), "critical: it stays until answered");

    // Another program on the bus fakes the person's Deny, broadcast and sent to the app alone.
    let spoofer = connect(&bus);
    action(&spoofer, None, first.id, "deny");
    action(&spoofer, Some(&app_name), first.id, "deny");
    assert!(
        rx.recv_timeout(QUIET).is_err(),
        "an ActionInvoked signal from a program that is not the notification server counted"
    );
    // It claims to have become the server (a NameOwnerChanged sent to the app alone), then
    // answers: still not the connection that showed the notification.
    let spoofer_name = spoofer.unique_name().expect("unique name").to_string();
    let server_name = server.unique_name().expect("server").to_string();
    spoofer
        .emit_signal(
            Some(BusName::try_from(app_name.as_str()).expect("name")),
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameOwnerChanged",
            &(NAME, server_name.as_str(), spoofer_name.as_str()),
        )
        .expect("fake NameOwnerChanged");
    action(&spoofer, Some(&app_name), first.id, "deny");
    assert!(
        rx.recv_timeout(QUIET).is_err(),
        "a program that claimed the notification server's name in a signal answered"
    );

    // The server's answer counts, once.
    action(&server, None, first.id, "deny");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(Some(NotificationAction::Deny))
    );
    action(&server, None, first.id, "deny");
    assert!(rx.recv_timeout(QUIET).is_err(), "answered twice");

    // Shown again for the same request: it replaces the first, and answers once.
    let answer = tx.clone();
    desktop.notify(
        request("Sign-in request, again"),
        Box::new(move |a| answer.send(a).expect("send")),
    );
    let second = seen.shown.lock().unwrap()[1].clone();
    assert_eq!((second.replaces, second.id), (first.id, first.id));
    let answer = tx.clone();
    desktop.notify(
        request("Sign-in request, third"),
        Box::new(move |a| answer.send(a).expect("send")),
    );
    action(&server, None, first.id, "default");
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(None), "opened");
    assert!(
        rx.recv_timeout(QUIET).is_err(),
        "a replaced notification answered too"
    );

    // Withdrawn: closed on the server, and silent afterwards.
    let answer = tx;
    desktop.notify(
        request("Sign-in request, fourth"),
        Box::new(move |a| answer.send(a).expect("send")),
    );
    desktop.withdraw("request-1");
    assert_eq!(*seen.closed.lock().unwrap(), [first.id]);
    action(&server, None, first.id, "deny");
    assert!(
        rx.recv_timeout(QUIET).is_err(),
        "a withdrawn notification answered"
    );
}
