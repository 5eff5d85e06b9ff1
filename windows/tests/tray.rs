//! The tray icon on a private session bus with a StatusNotifierWatcher shaped as KDE's
//! specification has it: no watcher is reported in words; with one, the icon registers,
//! clicking it opens the window, its menu carries the catalogue's words (and follows the
//! app's language), "Quit" quits, and a dropped tray leaves the bus.
#![cfg(all(unix, not(target_os = "macos")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use latchkey_desktop::tray::{self, TrayAction};
use latchkey_e2e::SessionBus;
use zbus::blocking::{connection, Connection, Proxy};
use zbus::zvariant::{OwnedValue, Value};

const WATCHER: &str = "org.kde.StatusNotifierWatcher";

/// A dbusmenu layout node: id, properties, children.
type Node = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String) {
        self.items.lock().unwrap().push(service);
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }
}

/// The tray's dbusmenu object.
fn menu_proxy<'a>(conn: &Connection, service: &str) -> Proxy<'a> {
    Proxy::new(
        conn,
        service.to_owned(),
        "/MenuBar",
        "com.canonical.dbusmenu",
    )
    .expect("menu proxy")
}

/// The menu's items as (id, label).
fn menu(conn: &Connection, service: &str) -> Vec<(i32, String)> {
    let menu = menu_proxy(conn, service);
    let (_revision, (_root, _props, children)): (u32, Node) = menu
        .call("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
        .expect("GetLayout");
    children
        .into_iter()
        .filter_map(|child| {
            let value: Value<'_> = child.into();
            let (id, props, _): Node = value.try_into().expect("a menu item");
            let label = props.get("label")?.try_clone().ok()?;
            Some((id, String::try_from(label).ok()?))
        })
        .collect()
}

fn click(conn: &Connection, service: &str, id: i32) {
    let menu = menu_proxy(conn, service);
    let () = menu
        .call("Event", &(id, "clicked", Value::from(0i32), 0u32))
        .expect("Event");
}

#[test]
fn the_tray_opens_the_window_quits_and_speaks_the_apps_language() {
    let home = tempfile::tempdir().expect("home");
    let Some(bus) = SessionBus::start(home.path()) else {
        return;
    };
    // ksni connects to the session bus of the environment: this bus (the only test here).
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    let (tx, rx) = mpsc::channel();

    // No watcher: refused in words, and the window's close button quits as before.
    let answer = tx.clone();
    let refused = tray::spawn("en", move |a| answer.send(a).expect("send"))
        .err()
        .expect("no tray without a watcher");
    assert!(refused.contains("no tray"), "{refused}");

    let items = Arc::new(Mutex::new(Vec::new()));
    let _watcher = connection::Builder::address(bus.address.as_str())
        .expect("address")
        .name(WATCHER)
        .expect("name")
        .serve_at(
            "/StatusNotifierWatcher",
            Watcher {
                items: Arc::clone(&items),
            },
        )
        .expect("serve")
        .build()
        .expect("watcher");
    let mut shown = tray::spawn("en", move |a| tx.send(a).expect("send")).expect("tray");
    let service = items.lock().unwrap().first().cloned().expect("registered");
    let conn = connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .expect("connect");

    let item = Proxy::new(
        &conn,
        service.clone(),
        "/StatusNotifierItem",
        "org.kde.StatusNotifierItem",
    )
    .expect("item proxy");
    assert_eq!(
        item.get_property::<String>("Title").expect("Title"),
        "Latchkey"
    );
    assert_eq!(
        item.get_property::<String>("Id").expect("Id"),
        "org.latchkey.Latchkey"
    );
    let () = item.call("Activate", &(0i32, 0i32)).expect("Activate");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(TrayAction::Open)
    );

    let labels = menu(&conn, &service);
    let names: Vec<&str> = labels
        .iter()
        .map(|(_, l)| l.as_str())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(names, ["Open Latchkey", "Quit Latchkey"], "{labels:?}");
    click(&conn, &service, labels[0].0);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(TrayAction::Open)
    );

    // The person chose French in the settings: the menu follows.
    shown.set_language("fr");
    let french = menu(&conn, &service);
    assert!(
        french.iter().any(|(_, l)| l == "Ouvrir Latchkey")
            && french.iter().any(|(_, l)| l == "Quitter Latchkey"),
        "{french:?}"
    );
    let quit = french
        .iter()
        .find(|(_, l)| l == "Quitter Latchkey")
        .expect("quit")
        .0;
    click(&conn, &service, quit);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(TrayAction::Quit)
    );

    // Dropped: the icon leaves the bus.
    drop(shown);
    let dbus = zbus::blocking::fdo::DBusProxy::new(&conn).expect("bus proxy");
    let gone = (0..50).any(|_| {
        let owned = dbus
            .name_has_owner(service.as_str().try_into().expect("name"))
            .expect("NameHasOwner");
        if owned {
            std::thread::sleep(Duration::from_millis(50));
        }
        !owned
    });
    assert!(gone, "the tray's name stayed on the bus");
}
