//! The desktop shell driven through its accessibility tree (egui_kittest, no GPU, no display)
//! against the real server on loopback: every control must have an accessible name (the
//! harness fails the test otherwise), and the person's flows work by keyboard and clicks.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;
use eframe::egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use egui_kittest::Harness;
use latchkey_app::{App, CapturedImage, NotificationAction, Options};
use latchkey_desktop::camera::{Frame, OpenError, PixelFormat, Webcam};
use latchkey_desktop::platform::{Desktop, Notification, OnNotification};
use latchkey_desktop::{draw, Mailbox, Shell};
use latchkey_e2e::server::{self, Backend, Browser, TestServer};
use latchkey_e2e::{Phone, PASSWORD};

/// The desktop's effects, faked as strictly as the shell uses them: screens are virtual
/// images, the clipboard is empty, notifications are recorded and can be "pressed", the
/// webcam is refused or sends the YUYV frames the test gives it.
#[derive(Default)]
struct FakeDesktop {
    screens: Mutex<Vec<CapturedImage>>,
    shown: Mutex<Vec<(Notification, Option<OnNotification>)>>,
    withdrawn: Mutex<Vec<String>>,
    /// `None`: the system refuses the camera; else its frames (1920×1080 luma).
    webcam: Mutex<Option<Receiver<Vec<u8>>>>,
    webcam_closed: Arc<AtomicBool>,
}

/// A webcam sending 1920×1080 YUYV frames made from the luma planes it is given.
struct FakeWebcam {
    frames: Receiver<Vec<u8>>,
    closed: Arc<AtomicBool>,
}

impl Webcam for FakeWebcam {
    fn next_frame(&mut self, each: &mut dyn FnMut(Frame<'_>)) -> Result<(), String> {
        match self.frames.recv_timeout(Duration::from_millis(20)) {
            Ok(luma) => {
                let yuyv: Vec<u8> = luma.iter().flat_map(|&y| [y, 128]).collect();
                each(Frame {
                    format: PixelFormat::Yuyv,
                    width: 1920,
                    height: 1080,
                    stride: 1920 * 2,
                    data: &yuyv,
                });
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => Err("unplugged".into()),
        }
    }
}

impl Drop for FakeWebcam {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

impl Desktop for FakeDesktop {
    fn capture_screens(&self) -> Result<Vec<CapturedImage>, String> {
        Ok(self.screens.lock().unwrap().clone())
    }
    fn clipboard_image(&self) -> Result<Option<CapturedImage>, String> {
        Ok(None)
    }
    fn pick_image(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
    fn notify(&self, notification: Notification, answer: OnNotification) {
        self.shown
            .lock()
            .unwrap()
            .push((notification, Some(answer)));
    }
    fn withdraw(&self, request: &str) {
        self.withdrawn.lock().unwrap().push(request.to_owned());
    }
    fn open_webcam(&self) -> Result<Box<dyn Webcam>, OpenError> {
        match self.webcam.lock().unwrap().take() {
            Some(frames) => Ok(Box::new(FakeWebcam {
                frames,
                closed: Arc::clone(&self.webcam_closed),
            })),
            None => Err(OpenError::Denied),
        }
    }
}

impl FakeDesktop {
    /// Presses the newest notification's `action` (`None`: opens it).
    fn press_notification(&self, action: Option<NotificationAction>) {
        let answer = self
            .shown
            .lock()
            .unwrap()
            .last_mut()
            .and_then(|(_, a)| a.take())
            .expect("a notification to press");
        answer(action);
    }
}

fn open(phone: &Phone) -> Harness<'static, Shell> {
    open_with(phone, Arc::new(FakeDesktop::default()))
}

fn open_with(phone: &Phone, desktop: Arc<FakeDesktop>) -> Harness<'static, Shell> {
    Harness::builder().with_size([480.0, 900.0]).build_ui_state(
        |ui, shell: &mut Shell| draw(ui, shell),
        new_shell(phone, desktop),
    )
}

fn new_shell(phone: &Phone, desktop: Arc<FakeDesktop>) -> Shell {
    let mailbox = Arc::new(Mailbox::default());
    let app = App::new(
        Arc::new(phone.open()),
        mailbox.clone(),
        tokio::runtime::Handle::current(),
        Options {
            languages: vec!["en".into()],
            poll_wait_seconds: 2,
            poll_pause: Duration::from_millis(200),
            screens: true,
            clipboard_images: true,
            webcam: true,
            ..Options::default()
        },
    );
    Shell::new(app, mailbox, desktop)
}

/// Frames until `test` holds (the app works on other threads); fails after 10 s.
async fn until(
    h: &mut Harness<'static, Shell>,
    what: &str,
    test: impl Fn(&Harness<'static, Shell>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        h.state().app().idle().await;
        h.step();
        if test(h) {
            h.run_ok();
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn shows(h: &Harness<'static, Shell>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// Clicks the button named `name` and lets the app answer.
async fn click(h: &mut Harness<'static, Shell>, name: &str) {
    h.get_by_role_and_label(Role::Button, name).click();
    h.run_ok();
    h.state().app().idle().await;
    h.run_ok();
}

/// Types `digits` into the digits field whose accessible name starts with `label`.
async fn type_digits(h: &mut Harness<'static, Shell>, label: &str, digits: &str) {
    h.get_by(|n| n.role() == Role::TextInput && n.label().is_some_and(|l| l.starts_with(label)))
        .focus();
    h.run_ok();
    h.get_by(|n| n.role() == Role::TextInput && n.label().is_some_and(|l| l.starts_with(label)))
        .type_text(digits);
    h.run_ok();
    h.state().app().idle().await;
    h.run_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_by_pasted_link_then_approve_with_number_and_pin() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let mut h = open(&phone);
    until(&mut h, "the home screen", |h| shows(h, "No account yet")).await;

    let browser = Browser::register(&server, "ana@example.org", PASSWORD).await;
    let (_, link) = browser.add_device("Desktop", "4831").await;
    click(&mut h, "Initialise (add an account)").await;
    // Paste the link the page prints under the code.
    h.get_by_role_and_label(Role::TextInput, "Enrolment link (starts with https://)")
        .focus();
    h.run_ok();
    h.get_by_role_and_label(Role::TextInput, "Enrolment link (starts with https://)")
        .type_text(&link);
    h.run_ok();
    h.state().app().idle().await;
    h.run_ok();
    click(&mut h, "Use this link").await;
    until(&mut h, "the enrol screen", |h| {
        shows(h, "Type the PIN you set on the page.")
    })
    .await;
    assert!(shows(&h, "ana@example.org"), "who asks is shown");
    assert!(
        h.get_by_role_and_label(Role::Button, "Add the account")
            .accesskit_node()
            .is_disabled(),
        "nothing typed yet"
    );
    type_digits(&mut h, "PIN:", "4831").await;
    assert!(h.query_by_label("PIN: 4 of 4 digits typed").is_some());
    click(&mut h, "Add the account").await;
    until(&mut h, "success", |h| shows(h, "This device is ready.")).await;
    click(&mut h, "Done").await;
    until(&mut h, "the account", |h| {
        shows(h, "Ready to approve sign-ins")
    })
    .await;

    // A sign-in: the request opens by itself; number and PIN by keyboard.
    let (browser, _, code) = Browser::sign_in(&server, "ana@example.org", PASSWORD).await;
    until(&mut h, "the request", |h| {
        shows(h, "Sign-in to Latchkey demo from")
    })
    .await;
    type_digits(&mut h, "The number shown on the login page", &code).await;
    type_digits(&mut h, "Your PIN", "0000").await;
    click(&mut h, "Approve").await;
    until(&mut h, "the wrong PIN", |h| {
        shows(h, "Wrong PIN. 4 attempts left")
    })
    .await;
    type_digits(&mut h, "Your PIN", "4831").await;
    click(&mut h, "Approve").await;
    until(&mut h, "the approval", |h| shows(h, "Approved.")).await;
    let r = browser.get_raw("/login/approve").await;
    assert_eq!(
        r.headers()["location"],
        "/account",
        "the browser is signed in"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_names_every_control() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let mut h = open(&phone);
    until(&mut h, "the home screen", |h| shows(h, "No account yet")).await;
    // The harness checks accessible names after every frame; visit the screens.
    click(&mut h, "Settings").await;
    assert!(shows(&h, "Language"));
    click(&mut h, "Français").await;
    until(&mut h, "French", |h| shows(h, "Paramètres")).await;
    click(&mut h, "Retour").await;
    click(&mut h, "Initialiser (ajouter un compte)").await;
    until(&mut h, "the scan screen", |h| {
        shows(h, "Coller le lien") || shows(h, "Lien")
    })
    .await;
    assert!(h.unnamed_widgets().is_empty(), "{:?}", h.unnamed_widgets());
    server.stop().await;
}

/// Registers, adds a device on the web page, and enrols through the shell by pasted link.
async fn enrol(h: &mut Harness<'static, Shell>, server: &TestServer, email: &str, pin: &str) {
    let browser = Browser::register(server, email, PASSWORD).await;
    let (_, link) = browser.add_device("Desktop", pin).await;
    click(h, "Initialise (add an account)").await;
    let field = "Enrolment link (starts with https://)";
    h.get_by_role_and_label(Role::TextInput, field).focus();
    h.run_ok();
    h.get_by_role_and_label(Role::TextInput, field)
        .type_text(&link);
    h.run_ok();
    click(h, "Use this link").await;
    until(h, "the enrol screen", |h| shows(h, email)).await;
    type_digits(h, "PIN:", pin).await;
    click(h, "Add the account").await;
    until(h, "success", |h| shows(h, "This device is ready.")).await;
    click(h, "Done").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_report_change_forget_two_accounts_remove() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let mut h = open(&phone);
    until(&mut h, "the home screen", |h| shows(h, "No account yet")).await;
    enrol(&mut h, &server, "ana@example.org", "4831").await;

    // Deny, then "this wasn't me".
    let (_, _, _) = Browser::sign_in(&server, "ana@example.org", PASSWORD).await;
    until(&mut h, "the request", |h| {
        shows(h, "Sign-in to Latchkey demo from")
    })
    .await;
    click(&mut h, "Deny").await;
    until(&mut h, "denied", |h| {
        shows(h, "Denied. Nobody was signed in.")
    })
    .await;
    click(&mut h, "Done").await;
    let (_, _, _) = Browser::sign_in(&server, "ana@example.org", PASSWORD).await;
    until(&mut h, "the request", |h| {
        shows(h, "Sign-in to Latchkey demo from")
    })
    .await;
    click(&mut h, "This wasn't me").await;
    until(&mut h, "reported", |h| shows(h, "Reported.")).await;
    click(&mut h, "Done").await;

    // Change the PIN (live feedback on an easy one), then reset it with the mailed code.
    until(&mut h, "the account", |h| shows(h, "Change PIN")).await;
    click(&mut h, "Change PIN").await;
    type_digits(&mut h, "Your current PIN", "4831").await;
    type_digits(&mut h, "Your new PIN:", "1234").await;
    assert!(shows(&h, "too easy to guess"), "live blocklist feedback");
    for _ in 0..4 {
        click(&mut h, "Erase the last digit (Your new PIN)").await;
    }
    type_digits(&mut h, "Your new PIN:", "5038").await;
    type_digits(&mut h, "Your new PIN again", "5038").await;
    click(&mut h, "Change PIN").await;
    until(&mut h, "changed", |h| shows(h, "Your PIN was changed.")).await;
    click(&mut h, "Done").await;
    click(&mut h, "Forgot PIN").await;
    h.get_by_role_and_label(Role::PasswordInput, "Password")
        .focus();
    h.run_ok();
    h.get_by_role_and_label(Role::PasswordInput, "Password")
        .type_text(PASSWORD);
    h.run_ok();
    click(&mut h, "Send the code").await;
    until(&mut h, "the code was sent", |h| {
        shows(h, "We e-mailed a code to")
    })
    .await;
    let code = latchkey_e2e::server::reset_code(&server);
    type_digits(&mut h, "Code from the e-mail", &code).await;
    type_digits(&mut h, "New PIN:", "7292").await;
    type_digits(&mut h, "New PIN again", "7292").await;
    click(&mut h, "Set the new PIN").await;
    until(&mut h, "reset", |h| shows(h, "Your new PIN is set")).await;
    click(&mut h, "Done").await;

    // A second account; remove the first with its PIN.
    click(&mut h, "Back").await;
    enrol(&mut h, &server, "bob@example.org", "2963").await;
    until(&mut h, "two accounts", |h| {
        shows(h, "bob@example.org") && shows(h, "ana@example.org")
    })
    .await;
    h.get_all_by_role(Role::Button)
        .find(|b| {
            b.accesskit_node()
                .label()
                .is_some_and(|l| l.contains("ana@example.org"))
        })
        .expect("Ana's account")
        .click();
    h.run_ok();
    click(&mut h, "Remove this account").await;
    type_digits(&mut h, "PIN:", "7292").await;
    click(&mut h, "Remove").await;
    until(&mut h, "removed", |h| {
        shows(h, "ana@example.org was removed from this device.")
    })
    .await;
    assert!(shows(&h, "bob@example.org"));
    server.stop().await;
}

/// Issue 17: add an account by scanning the screens (the page's code on the second of two
/// virtual screens), a request raises a notification whose Deny denies, then wrong PINs lock
/// the account and the way out is shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_scan_notification_deny_and_wrong_pins_lock() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let desktop = Arc::new(FakeDesktop::default());
    let mut h = open_with(&phone, desktop.clone());
    until(&mut h, "the home screen", |h| shows(h, "No account yet")).await;

    let browser = Browser::register(&server, "eve@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Desktop", "4831").await;
    let (cw, ch, code) = server::rasterise(server::page_svg(&html));
    *desktop.screens.lock().unwrap() = vec![
        CapturedImage {
            name: "HDMI-1".into(),
            width: 1920,
            height: 1080,
            luma: vec![0x5a; 1920 * 1080],
        },
        CapturedImage {
            name: "DP-1".into(),
            width: 2560,
            height: 1440,
            luma: latchkey_e2e::virtual_screen(2560, 1440, &code, cw, ch, 1700, 600),
        },
    ];
    click(&mut h, "Initialise (add an account)").await;
    click(&mut h, "Scan my screens").await;
    until(&mut h, "the enrol screen", |h| shows(h, "eve@example.org")).await;
    assert!(shows(&h, "Code found on screen 2 (DP-1)."), "which screen");
    type_digits(&mut h, "PIN:", "4831").await;
    click(&mut h, "Add the account").await;
    until(&mut h, "success", |h| shows(h, "This device is ready.")).await;
    click(&mut h, "Done").await;

    // The window loses the focus; a request raises a notification with the app's words, and
    // its Deny denies.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .focused = Some(false);
    h.run_ok();
    let (browser, _, _) = Browser::sign_in(&server, "eve@example.org", PASSWORD).await;
    until(&mut h, "the notification", |_| {
        !desktop.shown.lock().unwrap().is_empty()
    })
    .await;
    {
        let shown = desktop.shown.lock().unwrap();
        let (n, _) = shown.last().unwrap();
        assert_eq!(n.title, "Sign-in request");
        // A desktop cannot know whether its lock screen shows notifications: no details.
        assert_eq!(n.body, "A sign-in needs your approval.");
        assert_eq!((n.approve.as_str(), n.deny.as_str()), ("Approve", "Deny"));
    }
    let request = desktop
        .shown
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .0
        .request
        .clone();
    desktop.press_notification(Some(NotificationAction::Deny));
    until(&mut h, "the notification withdrawn", |_| {
        desktop.withdrawn.lock().unwrap().contains(&request)
    })
    .await;
    until(&mut h, "no request waiting", |h| !shows(h, "waiting")).await;
    let status = browser.get_raw("/login/approve").await;
    assert_ne!(
        status
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap()),
        Some("/account"),
        "denied: nobody signed in"
    );
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .focused = Some(true);
    h.run_ok();

    // Wrong PINs until the account locks; the guidance says what to do.
    let (_, _, number) = Browser::sign_in(&server, "eve@example.org", PASSWORD).await;
    until(&mut h, "the request", |h| {
        shows(h, "Sign-in to Latchkey demo from")
    })
    .await;
    type_digits(&mut h, "The number shown on the login page", &number).await;
    for left in ["4 attempts", "3 attempts", "2 attempts", "1 attempt "] {
        type_digits(&mut h, "Your PIN", "0000").await;
        click(&mut h, "Approve").await;
        until(&mut h, left, |h| shows(h, &format!("Wrong PIN. {left}"))).await;
    }
    type_digits(&mut h, "Your PIN", "0000").await;
    click(&mut h, "Approve").await;
    until(&mut h, "locked", |h| shows(h, "now locked")).await;
    assert!(
        h.get_by_role_and_label(Role::Button, "Approve")
            .accesskit_node()
            .is_disabled(),
        "a locked account cannot approve"
    );
    click(&mut h, "Forgot PIN").await;
    until(&mut h, "the reset", |h| shows(h, "Send the code")).await;
    server.stop().await;
}

/// Gives the fake desktop a webcam, presses "Use my camera" and waits until it runs; the
/// webcam's frames are sent through what this returns.
async fn start_webcam(
    h: &mut Harness<'static, Shell>,
    desktop: &FakeDesktop,
) -> std::sync::mpsc::Sender<Vec<u8>> {
    let (frames, receiver) = channel();
    *desktop.webcam.lock().unwrap() = Some(receiver);
    click(h, "Use my camera").await;
    until(h, "the camera running", |h| {
        shows(h, "Hold the QR code up to the camera")
    })
    .await;
    frames
}

/// Issue 17: "a webcam where one exists". It starts only when asked for, a refusal says
/// where to allow it, its picture shows while it runs (named for screen readers), and the
/// page's code held up to it enrols; the camera is closed once the code is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_by_webcam() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let desktop = Arc::new(FakeDesktop::default());
    let mut h = open_with(&phone, desktop.clone());
    until(&mut h, "the home screen", |h| shows(h, "No account yet")).await;
    let browser = Browser::register(&server, "cam@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Desktop", "4831").await;
    let (cw, ch, code) = server::rasterise(server::page_svg(&html));

    click(&mut h, "Initialise (add an account)").await;
    assert!(shows(&h, "If the code is on another device or on paper"));
    click(&mut h, "Use my camera").await;
    until(&mut h, "the refusal", |h| shows(h, "privacy settings")).await;

    let frames = start_webcam(&mut h, &desktop).await;
    assert!(h.query_by_label("Stop the camera").is_some());
    frames.send(vec![0x80; 1920 * 1080]).unwrap();
    until(&mut h, "the camera's picture", |h| {
        h.query_by_label("Camera view for scanning the QR code")
            .is_some()
    })
    .await;
    assert!(!desktop.webcam_closed.load(Ordering::SeqCst));
    frames
        .send(latchkey_e2e::virtual_screen(
            1920, 1080, &code, cw, ch, 400, 100,
        ))
        .unwrap();
    until(&mut h, "the enrol screen", |h| shows(h, "cam@example.org")).await;
    until(&mut h, "the camera closed", |_| {
        desktop.webcam_closed.load(Ordering::SeqCst)
    })
    .await;
    type_digits(&mut h, "PIN:", "4831").await;
    click(&mut h, "Add the account").await;
    until(&mut h, "success", |h| shows(h, "This device is ready.")).await;
    server.stop().await;
}

/// With a tray icon, closing the window hides it and the app goes on in the background: a
/// running webcam stops (it never watches for a hidden window). "Quit" closes for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_window_hides_it_and_stops_the_camera() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let desktop = Arc::new(FakeDesktop::default());
    let quitting = Arc::new(AtomicBool::new(false));
    let quit = Arc::clone(&quitting);
    let mut h = Harness::builder().with_size([480.0, 900.0]).build_ui_state(
        move |ui, shell: &mut Shell| {
            shell.close_to_tray(ui.ctx(), quit.load(Ordering::SeqCst));
            draw(ui, shell);
        },
        new_shell(&phone, desktop.clone()),
    );
    until(&mut h, "the home screen", |h| shows(h, "No account yet")).await;
    click(&mut h, "Initialise (add an account)").await;
    let _frames = start_webcam(&mut h, &desktop).await;

    let close = |h: &mut Harness<'static, Shell>| {
        h.input_mut()
            .viewports
            .entry(egui::ViewportId::ROOT)
            .or_default()
            .events
            .push(egui::ViewportEvent::Close);
        h.step();
        h.output()
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map(|v| v.commands.clone())
            .unwrap_or_default()
    };
    let commands = close(&mut h);
    assert!(
        commands.contains(&egui::ViewportCommand::CancelClose)
            && commands.contains(&egui::ViewportCommand::Visible(false)),
        "hidden, not closed: {commands:?}"
    );
    until(&mut h, "the camera closed", |_| {
        desktop.webcam_closed.load(Ordering::SeqCst)
    })
    .await;
    assert!(shows(&h, "The camera stopped when you left Latchkey"));

    quitting.store(true, Ordering::SeqCst);
    let commands = close(&mut h);
    assert!(
        !commands.contains(&egui::ViewportCommand::CancelClose),
        "Quit closes: {commands:?}"
    );
    server.stop().await;
}
