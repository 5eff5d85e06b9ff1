//! "Scan my screens" on Wayland: the desktop portal's Screenshot on a private session bus,
//! served as the portal specification has it (the request's path from the caller's name and
//! its token, the answer as that request's `Response`). The screenshot the portal wrote is
//! read and deleted; an answer from another program on the bus is not read (and the file it
//! names is neither read nor deleted); a refusal, silence and a missing portal each say so.
#![cfg(all(unix, not(target_os = "macos")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use latchkey_desktop::platform::portal_screens;
use latchkey_desktop::portal::{screenshot, Failure, NAME, PATH, REQUEST};
use latchkey_e2e::SessionBus;
use zbus::blocking::{connection, Connection};
use zbus::names::BusName;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

/// What the fake portal was asked: the request's path and its options.
type Asked = (String, HashMap<String, OwnedValue>);

struct Portal {
    asked: mpsc::Sender<Asked>,
}

#[zbus::interface(name = "org.freedesktop.portal.Screenshot")]
impl Portal {
    fn screenshot(
        &self,
        #[zbus(header)] header: zbus::message::Header<'_>,
        _parent_window: String,
        options: HashMap<String, OwnedValue>,
    ) -> OwnedObjectPath {
        let sender = header.sender().expect("sender").as_str();
        let token = options
            .get("handle_token")
            .and_then(|v| v.downcast_ref::<String>().ok())
            .expect("a handle_token");
        let path = format!(
            "{PATH}/request/{}/{token}",
            sender.trim_start_matches(':').replace('.', "_")
        );
        self.asked.send((path.clone(), options)).expect("asked");
        OwnedObjectPath::try_from(path).expect("path")
    }
}

fn connect(bus: &SessionBus) -> Connection {
    connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .expect("connect")
}

fn respond(from: &Connection, to: &Connection, path: &str, code: u32, file: Option<&Path>) {
    let mut results: HashMap<&str, Value<'_>> = HashMap::new();
    let uri = file.map(|f| url::Url::from_file_path(f).expect("uri").to_string());
    if let Some(uri) = &uri {
        results.insert("uri", Value::from(uri.as_str()));
    }
    let app = to.unique_name().expect("app name").to_string();
    from.emit_signal(
        Some(BusName::try_from(app.as_str()).expect("name")),
        path,
        REQUEST,
        "Response",
        &(code, results),
    )
    .expect("Response");
}

/// A PNG of a 1920×1080 screen with a QR code on it.
fn screen_png(dir: &Path, text: &str) -> PathBuf {
    let (w, h, code) = latchkey_e2e::qr_luma(text);
    let luma = latchkey_e2e::virtual_screen(1920, 1080, &code, w, h, 900, 300);
    let path = dir.join("Screenshot.png");
    image::GrayImage::from_raw(1920, 1080, luma)
        .expect("image")
        .save(&path)
        .expect("png");
    path
}

#[test]
fn the_portal_s_screenshot_is_read_and_deleted_and_only_the_portal_answers() {
    let home = tempfile::tempdir().expect("home");
    let Some(bus) = SessionBus::start(home.path()) else {
        return;
    };
    let (asked, requests) = mpsc::channel();
    let portal = connection::Builder::address(bus.address.as_str())
        .expect("address")
        .name(NAME)
        .expect("name")
        .serve_at(PATH, Portal { asked })
        .expect("serve")
        .build()
        .expect("portal");
    let app = connect(&bus);
    let spoofer = connect(&bus);
    const TEXT: &str = "https://localhost:8443/enrol#portal";

    // The portal's answer is read, the file deleted; a spoofed answer before it is not read,
    // and the file it names stays.
    let shot = screen_png(home.path(), TEXT);
    let planted = home.path().join("planted.txt");
    std::fs::write(&planted, "not a screenshot").expect("planted");
    let caller = app.clone();
    let taken = std::thread::spawn(move || portal_screens(&caller, Duration::from_secs(10)));
    let (path, options) = requests
        .recv_timeout(Duration::from_secs(5))
        .expect("asked");
    assert_eq!(
        options
            .get("interactive")
            .and_then(|v| v.downcast_ref::<bool>().ok()),
        Some(false),
        "no selection dialog: every screen"
    );
    respond(&spoofer, &app, &path, 0, Some(&planted));
    std::thread::sleep(Duration::from_millis(300));
    respond(&portal, &app, &path, 0, Some(&shot));
    let screens = taken.join().expect("thread").expect("the screenshot");
    assert_eq!(screens.len(), 1);
    let screen = &screens[0];
    assert_eq!((screen.width, screen.height), (1920, 1080));
    let codes = latchkey_core::read_codes(&screen.luma, 1920, 1080, 1920).expect("read");
    assert_eq!(codes, vec![TEXT.to_owned()]);
    assert!(!shot.exists(), "the screenshot file is deleted once read");
    assert!(
        planted.exists(),
        "a file named by another program is left alone"
    );

    // Refused by the person.
    let caller = app.clone();
    let taken = std::thread::spawn(move || screenshot(&caller, Duration::from_secs(10)));
    let (path, _) = requests
        .recv_timeout(Duration::from_secs(5))
        .expect("asked");
    respond(&portal, &app, &path, 1, None);
    assert_eq!(taken.join().expect("thread"), Err(Failure::Refused));

    // Only a spoofer answers: the deadline passes.
    let caller = app.clone();
    let taken = std::thread::spawn(move || screenshot(&caller, Duration::from_millis(800)));
    let (path, _) = requests
        .recv_timeout(Duration::from_secs(5))
        .expect("asked");
    respond(&spoofer, &app, &path, 0, Some(&planted));
    assert_eq!(
        taken.join().expect("thread"),
        Err(Failure::Failed("the desktop did not answer in time".into()))
    );
    assert!(planted.exists());
    drop(portal);
}

#[test]
fn without_a_portal_another_way_is_tried() {
    let home = tempfile::tempdir().expect("home");
    let Some(bus) = SessionBus::start(home.path()) else {
        return;
    };
    let app = connect(&bus);
    assert!(
        matches!(
            screenshot(&app, Duration::from_secs(5)),
            Err(Failure::Unavailable(_))
        ),
        "no portal on the bus"
    );
}
