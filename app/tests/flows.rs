//! Every flow of the app as a sequence of events → views, against the real server on loopback
//! HTTPS (SQLite and PostgreSQL), through the real core. The shell here is a recorder: it
//! draws nothing and decides nothing.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_app::{
    Action, App, AppEffect, AppEvent, AppView, ButtonView, CapturedImage, Clock, ImageSource,
    InputField, Listener, Options, RequestScreen, Screen, Tone,
};
use latchkey_core::Latchkey;
use latchkey_e2e::server::{self, on_both_backends, Backend, Browser, TestServer};
use latchkey_e2e::{Phone, PASSWORD};

on_both_backends! {
    enrol_from_a_scanned_frame => enrol_from_frame;
    approve_with_number_and_pin => approve;
    wrong_pins_lock_and_say_what_to_do => wrong_pins_lock;
    deny_and_this_was_not_me => deny_and_report;
    the_countdown_reaches_zero => countdown;
    a_request_by_push_and_by_poll_shows_once => push_and_poll;
    change_pin => change_pin;
    forgot_pin_with_the_mailed_code => forgot_pin;
    two_accounts => two_accounts;
    remove_an_account => remove;
    a_restart_in_the_middle_of_a_pin_change_settles_it => restart_mid_change;
    backgrounded_without_polling_then_check_now => background_and_check_now;
    enrol_with_a_pin_chosen_in_the_app => enrol_app_pin;
    an_answer_only_counts_for_the_request_on_screen => answers_are_bound;
    a_push_at_a_cold_start_is_not_lost => cold_start_push;
    enrol_from_a_link_the_system_opened => link_opened;
    a_push_the_system_showed_is_denied_from_its_action => system_shown_push;
}

/// Issue 17: "Scan my screens" and "Paste an image of the code" (desktops). The shell
/// captures; the app says what it found, and on which screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_from_a_screen_capture_or_the_clipboard() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let shell = Shell::open_desktop(phone.open());
    let view = shell
        .wait_for("home", |v| matches!(v.screen, Screen::Accounts(_)))
        .await;
    let Screen::Accounts(home) = &view.screen else {
        unreachable!()
    };
    assert!(
        home.keystore_warning
            .as_deref()
            .is_some_and(|w| w.contains("forgets them when it restarts")),
        "a keystore that forgets at reboot is said on the home screen: {home:#?}"
    );
    let browser = Browser::register(&server, "scr@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Desktop", "4831").await;
    let view = shell.press(Action::AddAccount).await;
    let Screen::Scan(scan) = &view.screen else {
        panic!("{view:#?}")
    };
    let screens = scan.scan_screens.clone().expect("offered on desktops");
    assert_eq!(screens.label, "Scan my screens");
    assert!(screens.enabled);
    assert_eq!(
        scan.paste_image.as_ref().map(|b| b.label.as_str()),
        Some("Paste an image of the code")
    );
    let blank = |name: &str| CapturedImage {
        name: name.into(),
        width: 1920,
        height: 1080,
        luma: vec![0x5a; 1920 * 1080],
    };
    let guidance = |view: &AppView| match &view.screen {
        Screen::Scan(s) => (s.guidance.clone(), s.tone),
        other => panic!("not the scan screen: {other:#?}"),
    };

    // An answer nobody asked for is ignored.
    let view = shell
        .send(AppEvent::ImagesCaptured {
            source: ImageSource::Screens,
            images: vec![blank("HDMI-1")],
            failure: None,
        })
        .await;
    assert!(
        guidance(&view).0.contains("choose \"Scan my screens\""),
        "the screens first on a desktop: {view:#?}"
    );

    // Two screens without the code: say so, and what to do.
    let view = shell.press(Action::ScanScreens).await;
    assert!(shell.effects().contains(&AppEffect::CaptureScreens));
    assert_eq!(guidance(&view).0, "Looking for the code on your screens…");
    let Screen::Scan(scan) = &view.screen else {
        unreachable!()
    };
    assert!(
        !scan.scan_screens.as_ref().expect("button").enabled,
        "one capture at a time"
    );
    let view = shell
        .send(AppEvent::ImagesCaptured {
            source: ImageSource::Screens,
            images: vec![blank("HDMI-1"), blank("DP-1")],
            failure: None,
        })
        .await;
    assert_eq!(
        guidance(&view),
        (
            "No Latchkey code on any of your 2 screens. Open the account's \"Add a mobile \
             device\" page so that its code is visible, then scan again."
                .into(),
            Tone::Warning
        )
    );

    // A capture the system refused: its reason and the other ways.
    shell.press(Action::ScanScreens).await;
    let view = shell
        .send(AppEvent::ImagesCaptured {
            source: ImageSource::Screens,
            images: vec![],
            failure: Some("no display".into()),
        })
        .await;
    assert_eq!(
        guidance(&view).0,
        "Could not capture the screen (no display). Open an image of the code or paste the \
         link instead."
    );

    // An empty clipboard.
    shell.press(Action::PasteImage).await;
    assert!(shell.effects().contains(&AppEffect::ReadClipboardImage));
    let view = shell
        .send(AppEvent::ImagesCaptured {
            source: ImageSource::Clipboard,
            images: vec![],
            failure: None,
        })
        .await;
    assert!(
        guidance(&view)
            .0
            .starts_with("The clipboard holds no image"),
        "{view:#?}"
    );

    // The webcam: only when asked for (a desktop camera does not start with the screen),
    // frames count only while it runs, and a camera that cannot open says what to do instead.
    let opened =
        |shell: &Shell, effect: AppEffect| shell.effects().iter().filter(|e| **e == effect).count();
    assert_eq!(opened(&shell, AppEffect::OpenCamera), 0, "not by itself");
    let webcam = |view: &AppView| match &view.screen {
        Screen::Scan(s) => (
            s.webcam
                .as_ref()
                .map(|b| b.label.clone())
                .unwrap_or_default(),
            s.camera_view,
        ),
        other => panic!("not the scan screen: {other:#?}"),
    };
    let view = shell.view();
    assert_eq!(webcam(&view), ("Use my camera".into(), false));
    let (cw, ch, code) = server::rasterise(server::page_svg(&html));
    shell.app.scan_frame(&code, cw as u32, ch as u32, cw as u32);
    assert!(
        matches!(shell.view().screen, Screen::Scan(_)),
        "a frame while the webcam is off is not read"
    );
    let view = shell.press(Action::Webcam).await;
    assert_eq!(opened(&shell, AppEffect::OpenCamera), 1);
    assert_eq!(guidance(&view).0, "Starting the camera…");
    assert_eq!(webcam(&view), ("Stop the camera".into(), false));
    let view = shell
        .send(AppEvent::CameraUnavailable { denied: false })
        .await;
    assert_eq!(
        guidance(&view),
        (
            "No camera could be opened: none is connected, or another program is using it. \
             Scan your screens, open an image of the code or paste the link instead."
                .into(),
            Tone::Warning
        )
    );
    assert_eq!(webcam(&view), ("Use my camera".into(), false));
    shell.press(Action::Webcam).await;
    let view = shell
        .send(AppEvent::CameraUnavailable { denied: true })
        .await;
    assert!(
        guidance(&view).0.contains("system’s privacy settings"),
        "a desktop's words, not a phone's: {view:#?}"
    );
    shell.press(Action::Webcam).await;
    let view = shell.send(AppEvent::CameraOpened { torch: false }).await;
    assert_eq!(
        guidance(&view).0,
        "Hold the QR code up to the camera, so that the whole code is in the picture."
    );
    assert_eq!(webcam(&view), ("Stop the camera".into(), true));
    let (w, h, wifi) = latchkey_e2e::qr_luma("WIFI:S:home;T:WPA;P:secret;;");
    shell.app.scan_frame(&wifi, w as u32, h as u32, w as u32);
    assert_eq!(
        guidance(&shell.view()).0,
        "This is not a Latchkey code: it is a Wi-Fi network code."
    );
    // Leaving the window stops it (a camera never watches for a window the person left).
    let closes = opened(&shell, AppEffect::CloseCamera);
    let view = shell
        .send(AppEvent::Backgrounded {
            stop_polling: false,
        })
        .await;
    assert_eq!(opened(&shell, AppEffect::CloseCamera), closes + 1);
    assert_eq!(webcam(&view), ("Use my camera".into(), false));
    assert!(guidance(&view)
        .0
        .starts_with("The camera stopped when you left"));
    shell.send(AppEvent::Foregrounded).await;
    // Any way out of the running camera closes it: here a link the system opened.
    shell.press(Action::Webcam).await;
    shell.send(AppEvent::CameraOpened { torch: false }).await;
    let view = shell
        .send(AppEvent::LinkOpened {
            url: "https://example.org/not-an-enrolment".into(),
        })
        .await;
    assert_eq!(opened(&shell, AppEffect::CloseCamera), closes + 2);
    assert_eq!(webcam(&view), ("Use my camera".into(), false));
    shell.press(Action::Webcam).await;
    shell.send(AppEvent::CameraOpened { torch: false }).await;
    let view = shell.press(Action::Webcam).await;
    assert_eq!(opened(&shell, AppEffect::CloseCamera), closes + 3);
    assert_eq!(webcam(&view), ("Use my camera".into(), false));
    assert!(guidance(&view).0.contains("\"Use my camera\""), "{view:#?}");
    shell.app.scan_frame(&code, cw as u32, ch as u32, cw as u32);
    assert!(
        matches!(shell.view().screen, Screen::Scan(_)),
        "a frame after the webcam stopped is not read"
    );

    // The page's code on the second of two screens, a 2560×1440 one.
    let screen = latchkey_e2e::virtual_screen(2560, 1440, &code, cw, ch, 1500, 500);
    shell.press(Action::ScanScreens).await;
    let view = shell
        .send(AppEvent::ImagesCaptured {
            source: ImageSource::Screens,
            images: vec![
                blank("HDMI-1"),
                CapturedImage {
                    name: "DP-1".into(),
                    width: 2560,
                    height: 1440,
                    luma: screen,
                },
            ],
            failure: None,
        })
        .await;
    let Screen::Enrol(enrol) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(enrol.who.contains("scr@example.org"), "{}", enrol.who);
    assert_eq!(notice(&view), "Code found on screen 2 (DP-1).");
    shell.type_digits(InputField::Pin, "4831").await;
    let view = shell.press(Action::Submit).await;
    assert!(notice(&view).contains("This device is ready"), "{view:#?}");
    server.stop().await;
}

/// Issue 18, item 5: the platform's push token reaches every account's server (and an
/// account added later), the server pushes the challenge id through FCM, and that id opens
/// the request — the same one long-poll lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_token_reaches_every_account_and_a_push_opens_the_request() {
    use latchkey_e2e::server::fcm::FcmFake;
    let fake = FcmFake::start().await;
    let push = fake.push_config();
    let server = TestServer::start_config(Backend::Sqlite, move |config| config.push = push).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    enrolled(&server, &shell, "ana@example.org", "4831").await;
    shell
        .send(AppEvent::PushTokenChanged {
            registration: Some(latchkey_app::PushRegistration {
                service: latchkey_app::PushService::Fcm,
                token: "fcm-phone-token".into(),
                p256dh: None,
                auth: None,
            }),
        })
        .await;
    shell.app.idle().await;
    // An account added after the token was given is registered too.
    enrolled(&server, &shell, "bob@example.org", "2963").await;
    shell.app.idle().await;
    let registered: i64 = sqlx::query("SELECT COUNT(*) AS n FROM push_targets WHERE token = $1")
        .bind("fcm-phone-token")
        .fetch_one(&server.state.db)
        .await
        .map(|r| sqlx::Row::get(&r, "n"))
        .expect("count");
    assert_eq!(registered, 2, "both accounts' servers know the token");

    // Polling stops (a phone in the background): only the push can bring the request.
    shell
        .send(AppEvent::Backgrounded { stop_polling: true })
        .await;
    shell.effects();
    Browser::sign_in(&server, "bob@example.org", PASSWORD).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fake.accepted().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no push");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pushed = fake.accepted()[0]["data"]["challenge"]
        .as_str()
        .expect("challenge id")
        .to_owned();
    assert_eq!(pushed, newest_challenge(&server).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    shell.app.idle().await;
    assert!(
        !shell
            .effects()
            .iter()
            .any(|e| matches!(e, AppEffect::Notify { .. })),
        "nothing without the push (polling is stopped)"
    );
    shell
        .send(AppEvent::PushReceived {
            account: None,
            challenge: pushed,
        })
        .await;
    shell.app.idle().await;
    assert!(
        shell
            .effects()
            .iter()
            .any(|e| matches!(e, AppEffect::Notify { .. })),
        "the pushed request is notified"
    );
    server.stop().await;
}

/// The shell: records every view and effect.
#[derive(Default)]
struct Recorder {
    views: Mutex<Vec<AppView>>,
    effects: Mutex<Vec<AppEffect>>,
}

impl Listener for Recorder {
    fn view_changed(&self, view: AppView) {
        self.views.lock().unwrap().push(view);
    }
    fn perform(&self, effect: AppEffect) {
        self.effects.lock().unwrap().push(effect);
    }
}

/// A clock the test moves (countdowns); the wall clock is the real one.
#[derive(Default)]
struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    fn unix_now(&self) -> u64 {
        server::now()
    }
}

struct Shell {
    app: App,
    recorder: Arc<Recorder>,
    clock: Arc<TestClock>,
}

impl Shell {
    fn open(core: Latchkey) -> Self {
        Self::open_as(core, false)
    }

    /// As a desktop: screens and the clipboard can be scanned, a webcam starts on request.
    fn open_desktop(core: Latchkey) -> Self {
        Self::open_as(core, true)
    }

    fn open_as(core: Latchkey, desktop: bool) -> Self {
        let recorder = Arc::new(Recorder::default());
        let clock = Arc::new(TestClock::default());
        let app = App::new(
            Arc::new(core),
            recorder.clone(),
            tokio::runtime::Handle::current(),
            Options {
                languages: vec!["en-GB".into()],
                clock: Some(clock.clone()),
                poll_wait_seconds: 2,
                poll_pause: Duration::from_millis(200),
                screens: desktop,
                clipboard_images: desktop,
                webcam: desktop,
                // The desktop under test keeps its keys in the kernel keyring.
                keys_forgotten_at_reboot: desktop,
                ..Options::default()
            },
        );
        app.send(AppEvent::Started);
        Self {
            app,
            recorder,
            clock,
        }
    }

    fn view(&self) -> AppView {
        self.app.view()
    }

    async fn send(&self, event: AppEvent) -> AppView {
        self.app.send(event);
        self.app.idle().await;
        self.view()
    }

    async fn press(&self, action: Action) -> AppView {
        self.send(AppEvent::Press(action)).await
    }

    /// Presses a button of the request on screen, as a shell does: the action it carries.
    async fn answer(&self, button: impl Fn(&RequestScreen) -> &ButtonView) -> AppView {
        let view = self.view();
        let action = button(request(&view)).action.clone();
        self.press(action).await
    }

    async fn type_digits(&self, field: InputField, digits: &str) {
        for d in digits.bytes() {
            self.app.send(AppEvent::Digit {
                field,
                digit: d - b'0',
            });
        }
        self.app.idle().await;
    }

    async fn erase(&self, field: InputField, times: usize) {
        for _ in 0..times {
            self.app.send(AppEvent::Erase { field });
        }
        self.app.idle().await;
    }

    /// Waits (long-polls run in the background) until the view satisfies `what`.
    async fn wait_for(&self, what: &str, test: impl Fn(&AppView) -> bool) -> AppView {
        for _ in 0..500 {
            self.app.idle().await;
            let view = self.view();
            if test(&view) {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "timed out waiting for {what}; the view is {:#?}",
            self.view()
        );
    }

    fn effects(&self) -> Vec<AppEffect> {
        self.recorder.effects.lock().unwrap().clone()
    }

    fn advance(&self, seconds: u64) {
        self.clock.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

fn request(view: &AppView) -> &RequestScreen {
    match &view.screen {
        Screen::Request(r) => r,
        other => panic!("not a request screen: {other:#?}"),
    }
}

fn notice(view: &AppView) -> String {
    view.notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

fn is_request(view: &AppView) -> bool {
    matches!(&view.screen, Screen::Request(r) if r.seconds_left > 0 || view.notice.is_some())
}

/// Registers `email`, adds a device on the web page with `pin`, and enrols the app by scanning
/// the page's QR code: the browser and the account's id.
async fn enrolled(server: &TestServer, shell: &Shell, email: &str, pin: &str) -> (Browser, String) {
    let browser = Browser::register(server, email, PASSWORD).await;
    let (html, _) = browser.add_device("Phone", pin).await;
    let view = shell.press(Action::AddAccount).await;
    assert!(matches!(view.screen, Screen::Scan(_)), "{view:#?}");
    let (w, h, luma) = server::rasterise(server::page_svg(&html));
    shell.app.scan_frame(&luma, w as u32, h as u32, w as u32);
    shell.app.idle().await;
    shell.type_digits(InputField::Pin, pin).await;
    let view = shell.press(Action::Submit).await;
    assert!(
        notice(&view).contains("This device is ready"),
        "enrolled: {view:#?}"
    );
    let view = shell.press(Action::Done).await;
    let Screen::Accounts(home) = &view.screen else {
        panic!("home after enrolment: {view:#?}")
    };
    let row = home
        .accounts
        .iter()
        .find(|a| a.account == email)
        .expect("the new account is listed");
    (browser, row.id.clone())
}

async fn enrol_from_frame(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    let view = shell
        .wait_for("home", |v| matches!(v.screen, Screen::Accounts(_)))
        .await;
    let Screen::Accounts(home) = &view.screen else {
        unreachable!()
    };
    assert!(home
        .empty
        .as_deref()
        .unwrap_or("")
        .contains("Add a mobile device"));
    assert_eq!(home.add.label, "Initialise (add an account)");
    assert_eq!(home.keystore_warning, None);

    let browser = Browser::register(&server, "ana@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Phone", "4831").await;
    let view = shell.press(Action::AddAccount).await;
    assert!(
        shell.effects().contains(&AppEffect::OpenCamera),
        "the camera opens"
    );
    let Screen::Scan(scan) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(
        scan.scan_screens.is_none() && scan.paste_image.is_none() && scan.webcam.is_none(),
        "a phone scans with its camera"
    );
    assert!(scan.camera_view, "its picture shows from the start");
    assert!(
        scan.guidance.contains("Point the camera"),
        "{}",
        scan.guidance
    );

    // A frame with another kind of code: the reason, and the camera stays open.
    let (w, h, luma) = latchkey_e2e::qr_luma("WIFI:S:home;T:WPA;P:secret;;");
    shell.app.scan_frame(&luma, w as u32, h as u32, w as u32);
    let Screen::Scan(scan) = &shell.view().screen else {
        panic!()
    };
    assert_eq!(
        scan.guidance,
        "This is not a Latchkey code: it is a Wi-Fi network code."
    );
    assert_eq!(scan.tone, Tone::Warning);

    // The page's code: who asks, and the PIN set on the page.
    let (w, h, luma) = server::rasterise(server::page_svg(&html));
    shell.app.scan_frame(&luma, w as u32, h as u32, w as u32);
    let view = shell.view();
    assert!(shell.effects().contains(&AppEffect::CloseCamera));
    let Screen::Enrol(enrol) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(view.secure, "a PIN screen is kept out of screenshots");
    assert!(enrol.who.contains("ana@example.org"), "{}", enrol.who);
    assert!(enrol.who.contains("localhost"), "{}", enrol.who);
    assert_eq!(enrol.instruction, "Type the PIN you set on the page.");
    assert!(
        enrol.pin_again.is_none(),
        "a PIN set on the page is typed once"
    );
    assert!(!enrol.submit.enabled, "nothing typed yet");

    // A PIN the policy refuses never reaches the server.
    shell.type_digits(InputField::Pin, "1111").await;
    assert_eq!(shell.view().screen_pin_filled(), 4);
    let view = shell.press(Action::Submit).await;
    assert!(notice(&view).contains("too easy to guess"), "{view:#?}");
    // A wrong PIN: the attempts left, and the retry works.
    shell.type_digits(InputField::Pin, "7394").await;
    let view = shell.press(Action::Submit).await;
    assert!(notice(&view).starts_with("Wrong PIN."), "{view:#?}");
    assert!(notice(&view).contains("attempts left"), "{}", notice(&view));
    shell.type_digits(InputField::Pin, "4831").await;
    let view = shell.press(Action::Submit).await;
    assert_eq!(
        notice(&view),
        "This device is ready. Latchkey demo will ask you here to approve each sign-in."
    );
    assert!(shell.effects().contains(&AppEffect::Vibrate {
        pattern: latchkey_app::Haptic::Success
    }));
    let view = shell.press(Action::Done).await;
    let Screen::Accounts(home) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(!view.secure, "the list of accounts may be captured");
    assert_eq!(home.accounts.len(), 1);
    let row = &home.accounts[0];
    assert_eq!(row.account, "ana@example.org");
    assert_eq!(row.status, "Ready to approve sign-ins");
    assert_eq!(row.assurance, "Key kept in software, encrypted");
    assert!(
        row.open.a11y.contains("ana@example.org"),
        "{}",
        row.open.a11y
    );
    let (_, page) = browser.get("/account").await;
    assert!(
        page.contains("Active"),
        "the web page lists the device as active"
    );
    server.stop().await;
}

/// Signs in on the web page and waits until the app opens the request on its own.
async fn sign_in(server: &TestServer, shell: &Shell, email: &str) -> (Browser, String, AppView) {
    let (browser, _, code) = Browser::sign_in(server, email, PASSWORD).await;
    let view = shell.wait_for("the request", is_request).await;
    (browser, code, view)
}

async fn approve(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    let (_, _) = enrolled(&server, &shell, "ana@example.org", "4831").await;
    let (browser, code, view) = sign_in(&server, &shell, "ana@example.org").await;
    assert_eq!(view.title, "Authenticate");
    let r = request(&view);
    assert!(
        r.who.starts_with("Sign-in to Latchkey demo from"),
        "{}",
        r.who
    );
    assert_eq!(r.ip, "IP address 127.0.0.1");
    assert!(r.time.starts_with("Requested at "), "{}", r.time);
    assert!(r.seconds_left > 100, "{}", r.seconds_left);
    assert!(!r.approve.enabled, "number and PIN first");
    assert_eq!(r.code.length, 2);
    shell.type_digits(InputField::Code, &code).await;
    assert_eq!(
        request(&shell.view()).code.shown.as_deref(),
        Some(code.as_str())
    );
    shell.type_digits(InputField::Pin, "4831").await;
    let r = shell.view();
    assert!(request(&r).approve.enabled);
    assert_eq!(request(&r).pin.a11y, "Your PIN: 4 of 4 digits typed");
    assert_eq!(request(&r).pin.shown, None, "the PIN is never shown");
    let view = shell.answer(|r| &r.approve).await;
    assert_eq!(
        notice(&view),
        "Approved. The sign-in continues on the other screen."
    );
    assert!(request(&view).done.is_some());
    assert!(!request(&view).deny.enabled, "answered once");
    let r = browser.get_raw("/login/approve").await;
    assert_eq!(
        r.headers()["location"],
        "/account",
        "the browser is signed in"
    );
    let view = shell.press(Action::Done).await;
    assert!(matches!(view.screen, Screen::Account(_)), "{view:#?}");
    server.stop().await;
}

async fn wrong_pins_lock(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    enrolled(&server, &shell, "ana@example.org", "4831").await;
    let (_, code, _) = sign_in(&server, &shell, "ana@example.org").await;
    shell.type_digits(InputField::Code, &code).await;
    for left in [4, 3, 2, 1] {
        shell.type_digits(InputField::Pin, "0000").await;
        let view = shell.answer(|r| &r.approve).await;
        let expected = if left == 1 {
            "Wrong PIN. 1 attempt left before this account is locked on this device.".to_owned()
        } else {
            format!("Wrong PIN. {left} attempts left before this account is locked on this device.")
        };
        assert_eq!(notice(&view), expected);
        assert_eq!(view.notice.as_ref().unwrap().tone, Tone::Error);
        assert_eq!(request(&view).pin.filled, 0, "the PIN field is emptied");
    }
    shell.type_digits(InputField::Pin, "0000").await;
    let view = shell.answer(|r| &r.approve).await;
    assert!(notice(&view).contains("now locked"), "{}", notice(&view));
    let r = request(&view);
    assert!(
        !r.pin.enabled && !r.approve.enabled,
        "a locked account cannot approve"
    );
    assert!(r.deny.enabled, "but it can still deny");
    let forgot = r.forgot_pin.as_ref().expect("the way out is offered");
    assert_eq!(forgot.label, "Forgot PIN");
    let view = shell.press(Action::Back).await;
    let Screen::Account(account) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(account.account.locked);
    assert_eq!(
        account.account.status,
        "Locked after wrong PINs: use \"Forgot PIN\""
    );
    assert!(
        !account.change_pin.enabled,
        "a locked PIN cannot be changed, only reset"
    );
    server.stop().await;
}

async fn deny_and_report(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    enrolled(&server, &shell, "ana@example.org", "4831").await;
    let (browser, _, _) = sign_in(&server, &shell, "ana@example.org").await;
    let view = shell.answer(|r| &r.deny).await;
    assert_eq!(notice(&view), "Denied. Nobody was signed in.");
    let (_, page) = browser.get("/login/approve").await;
    assert!(page.contains("denied"), "the login page says so");
    shell.press(Action::Done).await;
    let (_, _, _) = sign_in(&server, &shell, "ana@example.org").await;
    let view = shell.answer(|r| &r.not_me).await;
    assert!(notice(&view).starts_with("Reported."), "{}", notice(&view));
    assert_eq!(view.notice.as_ref().unwrap().tone, Tone::Warning);
    assert!(
        server.outbox().iter().any(|m| m.contains("was reported")),
        "every address is told"
    );
    server.stop().await;
}

async fn countdown(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    enrolled(&server, &shell, "ana@example.org", "4831").await;
    let (_, _, view) = sign_in(&server, &shell, "ana@example.org").await;
    let start = request(&view).seconds_left;
    assert!(start > 100 && start <= 120, "{start}");
    shell.advance(30);
    let view = shell.send(AppEvent::Tick).await;
    assert_eq!(request(&view).seconds_left, start - 30);
    assert_eq!(
        request(&view).countdown,
        format!("{} seconds left", start - 30)
    );
    shell.advance(u64::from(start) - 31);
    let view = shell.send(AppEvent::Tick).await;
    assert_eq!(request(&view).countdown, "1 second left");
    shell.advance(1);
    let view = shell.send(AppEvent::Tick).await;
    assert_eq!(request(&view).seconds_left, 0);
    assert_eq!(
        notice(&view),
        "This request expired. Start the sign-in again on the login page."
    );
    assert!(!request(&view).approve.enabled && !request(&view).deny.enabled);
    server.stop().await;
}

async fn push_and_poll(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    let (_, account) = enrolled(&server, &shell, "ana@example.org", "4831").await;
    // Away from home (in Settings), so a request is notified rather than opened.
    shell.press(Action::OpenSettings).await;
    // The device is unlocked: notifications may carry details (not before the shell says so).
    shell.send(AppEvent::DeviceLocked { locked: false }).await;
    let (_, _, _code) = Browser::sign_in(&server, "ana@example.org", PASSWORD).await;
    let challenge = newest_challenge(&server).await;
    // The push and the long-poll race; the request is fetched and notified once.
    shell
        .send(AppEvent::PushReceived {
            account: Some(account.clone()),
            challenge: challenge.clone(),
        })
        .await;
    shell
        .send(AppEvent::PushReceived {
            account: None,
            challenge: challenge.clone(),
        })
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await; // a few polls
    shell.app.idle().await;
    let notifications = || -> Vec<AppEffect> {
        shell
            .effects()
            .into_iter()
            .filter(|e| matches!(e, AppEffect::Notify { .. }))
            .collect()
    };
    let notified = notifications();
    assert_eq!(notified.len(), 1, "one notification: {notified:#?}");
    let AppEffect::Notify {
        request: key,
        title,
        body,
        public_body,
        approve,
        deny,
        channel,
    } = &notified[0]
    else {
        unreachable!()
    };
    assert_eq!(key, &format!("{account}/{challenge}"));
    assert_eq!(title, "Sign-in request");
    assert_eq!(channel, "Sign-in requests");
    assert!(
        body.starts_with("Latchkey demo: approve the sign-in from"),
        "{body}"
    );
    assert_eq!(public_body, "A sign-in needs your approval.");
    assert_eq!((approve.as_str(), deny.as_str()), ("Approve", "Deny"));
    // The device locks: the notification is replaced by one without details.
    shell.send(AppEvent::DeviceLocked { locked: true }).await;
    let again = notifications();
    assert_eq!(again.len(), 2, "{again:#?}");
    assert!(
        matches!(&again[1], AppEffect::Notify { request, body, .. } if request == key && body == "A sign-in needs your approval."),
        "{again:#?}"
    );
    let view = shell.press(Action::Back).await;
    let Screen::Accounts(home) = &view.screen else {
        panic!("{view:#?}")
    };
    assert_eq!(home.accounts[0].pending, 1, "listed once");
    assert_eq!(
        home.accounts[0].pending_text.as_deref(),
        Some("1 sign-in request waiting")
    );
    // Deny from the notification, without opening the app.
    shell
        .send(AppEvent::NotificationPressed {
            request: key.clone(),
            action: Some(latchkey_app::NotificationAction::Deny),
        })
        .await;
    assert!(shell.effects().contains(&AppEffect::CancelNotification {
        request: key.clone()
    }));
    let view = shell
        .wait_for(
            "no waiting request",
            |v| matches!(&v.screen, Screen::Accounts(h) if h.accounts[0].pending == 0),
        )
        .await;
    assert!(matches!(view.screen, Screen::Accounts(_)));
    server.stop().await;
}

async fn change_pin(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    let (_, account) = enrolled(&server, &shell, "ana@example.org", "4831").await;
    shell
        .press(Action::OpenAccount {
            account: account.clone(),
        })
        .await;
    let view = shell
        .press(Action::ChangePin {
            account: account.clone(),
        })
        .await;
    assert_eq!(view.title, "Change PIN");
    shell.type_digits(InputField::Pin, "4831").await;
    shell.type_digits(InputField::NewPin, "1234").await;
    let Screen::ChangePin(c) = &shell.view().screen else {
        panic!()
    };
    assert!(
        c.feedback.as_deref().unwrap_or("").contains("too easy"),
        "live blocklist feedback: {c:#?}"
    );
    shell.erase(InputField::NewPin, 4).await;
    shell.type_digits(InputField::NewPin, "5038").await;
    shell.type_digits(InputField::NewPinAgain, "5039").await;
    let Screen::ChangePin(c) = &shell.view().screen else {
        panic!()
    };
    assert_eq!(
        c.feedback.as_deref(),
        Some("The two PINs are different. Type the same PIN twice.")
    );
    assert!(!c.submit.enabled);
    shell.erase(InputField::NewPinAgain, 1).await;
    shell.type_digits(InputField::NewPinAgain, "8").await;
    let view = shell.press(Action::Submit).await;
    assert_eq!(
        notice(&view),
        "Your PIN was changed. Use the new one from now on."
    );
    shell.press(Action::Done).await;
    let (_, code, _) = sign_in(&server, &shell, "ana@example.org").await;
    shell.type_digits(InputField::Code, &code).await;
    shell.type_digits(InputField::Pin, "5038").await;
    let view = shell.answer(|r| &r.approve).await;
    assert!(
        notice(&view).starts_with("Approved."),
        "the new PIN works: {view:#?}"
    );
    server.stop().await;
}

async fn forgot_pin(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    let (_, account) = enrolled(&server, &shell, "ana@example.org", "4831").await;
    shell
        .press(Action::OpenAccount {
            account: account.clone(),
        })
        .await;
    let view = shell
        .press(Action::ForgotPin {
            account: account.clone(),
        })
        .await;
    let Screen::ForgotPin(f) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(
        f.intro.contains("password of your Latchkey demo account"),
        "{}",
        f.intro
    );
    assert!(f.password.as_ref().unwrap().secret);
    assert!(f.code.is_none(), "the code comes after the password");
    // A wrong password.
    shell
        .send(AppEvent::Input {
            field: InputField::Password,
            text: "wrong".into(),
        })
        .await;
    let view = shell.press(Action::Submit).await;
    assert_eq!(notice(&view), "The password or the code is wrong.");
    shell
        .send(AppEvent::Input {
            field: InputField::Password,
            text: PASSWORD.into(),
        })
        .await;
    let view = shell.press(Action::Submit).await;
    assert!(
        notice(&view).starts_with("We e-mailed a code to a•••@example.org. It is valid for"),
        "{}",
        notice(&view)
    );
    let Screen::ForgotPin(f) = &view.screen else {
        panic!()
    };
    assert!(f.password.is_none() && f.code.is_some());
    let code = server::reset_code(&server);
    shell.type_digits(InputField::MailedCode, &code).await;
    shell.type_digits(InputField::NewPin, "7292").await;
    shell.type_digits(InputField::NewPinAgain, "7292").await;
    let view = shell.press(Action::Submit).await;
    assert_eq!(
        notice(&view),
        "Your new PIN is set, and this device can approve sign-ins again."
    );
    shell.press(Action::Done).await;
    let (_, code, _) = sign_in(&server, &shell, "ana@example.org").await;
    shell.type_digits(InputField::Code, &code).await;
    shell.type_digits(InputField::Pin, "7292").await;
    let view = shell.answer(|r| &r.approve).await;
    assert!(notice(&view).starts_with("Approved."), "{view:#?}");
    server.stop().await;
}

async fn two_accounts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    enrolled(&server, &shell, "ana@example.org", "4831").await;
    let (_, bob) = enrolled(&server, &shell, "bob@example.org", "5038").await;
    let Screen::Accounts(home) = &shell.view().screen else {
        panic!()
    };
    assert_eq!(home.accounts.len(), 2);
    // Bob's request opens for Bob, with Bob's PIN.
    let (_, code, view) = sign_in(&server, &shell, "bob@example.org").await;
    assert_eq!(request(&view).account, "bob@example.org");
    shell.type_digits(InputField::Code, &code).await;
    shell.type_digits(InputField::Pin, "5038").await;
    let view = shell.answer(|r| &r.approve).await;
    assert!(notice(&view).starts_with("Approved."), "{view:#?}");
    let view = shell.press(Action::Done).await;
    let Screen::Account(a) = &view.screen else {
        panic!("{view:#?}")
    };
    assert_eq!(a.account.id, bob);
    server.stop().await;
}

async fn remove(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    let (browser, account) = enrolled(&server, &shell, "ana@example.org", "4831").await;
    shell
        .press(Action::OpenAccount {
            account: account.clone(),
        })
        .await;
    let view = shell
        .press(Action::RemoveAccount {
            account: account.clone(),
        })
        .await;
    let Screen::Remove(r) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(
        r.intro.contains("web page"),
        "the way out without the PIN: {}",
        r.intro
    );
    assert!(!r.submit.enabled);
    shell.type_digits(InputField::Pin, "0000").await;
    let view = shell.press(Action::Submit).await;
    assert!(notice(&view).starts_with("Wrong PIN."), "{view:#?}");
    shell.type_digits(InputField::Pin, "4831").await;
    let view = shell.press(Action::Submit).await;
    assert_eq!(
        notice(&view),
        "ana@example.org was removed from this device."
    );
    let Screen::Accounts(home) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(home.accounts.is_empty());
    let (_, page) = browser.get("/account").await;
    assert!(!page.contains("Active"), "the web page no longer lists it");
    server.stop().await;
}

async fn restart_mid_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let account = {
        let shell = Shell::open(phone.open());
        let (_, account) = enrolled(&server, &shell, "ana@example.org", "4831").await;
        account
    };
    // The app dies right after the server committed the change, before the device promoted
    // the new key.
    {
        let core = phone.open_with(
            Some(phone.ca.clone()),
            Some(latchkey_core::FaultPlan::crash_after(5)),
        );
        let shell = Shell::open(core);
        shell
            .wait_for(
                "home",
                |v| matches!(&v.screen, Screen::Accounts(h) if !h.accounts.is_empty()),
            )
            .await;
        shell
            .press(Action::ChangePin {
                account: account.clone(),
            })
            .await;
        shell.type_digits(InputField::Pin, "4831").await;
        shell.type_digits(InputField::NewPin, "5038").await;
        shell.type_digits(InputField::NewPinAgain, "5038").await;
        let view = shell.press(Action::Submit).await;
        assert!(
            view.notice.is_some(),
            "the interrupted change says something: {view:#?}"
        );
    }
    // Restarted: settled on start, and the home screen says which PIN works.
    let shell = Shell::open(phone.open());
    let view = shell
        .wait_for("the settle report", |v| v.notice.is_some())
        .await;
    assert!(matches!(view.screen, Screen::Accounts(_)), "{view:#?}");
    assert_eq!(
        notice(&view),
        "The PIN change of ana@example.org was completed: use your new PIN."
    );
    let (_, code, _) = sign_in(&server, &shell, "ana@example.org").await;
    shell.type_digits(InputField::Code, &code).await;
    shell.type_digits(InputField::Pin, "5038").await;
    let view = shell.answer(|r| &r.approve).await;
    assert!(notice(&view).starts_with("Approved."), "{view:#?}");
    server.stop().await;
}

async fn background_and_check_now(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    enrolled(&server, &shell, "ana@example.org", "4831").await;
    // The platform limits background work: the long-poll stops, nothing arrives by polling.
    shell
        .send(AppEvent::Backgrounded { stop_polling: true })
        .await;
    let (_, _, _) = Browser::sign_in(&server, "ana@example.org", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    shell.app.idle().await;
    let Screen::Accounts(home) = &shell.view().screen else {
        panic!()
    };
    assert_eq!(home.accounts[0].pending, 0, "no poll while backgrounded");
    assert!(
        !shell
            .effects()
            .iter()
            .any(|e| matches!(e, AppEffect::Notify { .. })),
        "nothing was notified"
    );
    // Foregrounded: "check now" finds it at once.
    shell.send(AppEvent::Foregrounded).await;
    let view = shell.press(Action::CheckNow).await;
    let view = if is_request(&view) {
        view
    } else {
        shell.wait_for("the request", is_request).await
    };
    assert!(request(&view).who.starts_with("Sign-in to"), "{view:#?}");
    server.stop().await;
}

async fn enrol_app_pin(backend: Backend) {
    let policy = server::Policy {
        pin_source: latchkey_core::protocol::wire::PinSource::App,
        ..server::Policy::default()
    };
    let server = TestServer::start_with(backend, policy).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    let browser = Browser::register(&server, "ana@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Phone", "").await;
    shell.press(Action::AddAccount).await;
    let (w, h, luma) = server::rasterise(server::page_svg(&html));
    shell.app.scan_frame(&luma, w as u32, h as u32, w as u32);
    let view = shell.view();
    let Screen::Enrol(enrol) = &view.screen else {
        panic!("{view:#?}")
    };
    assert_eq!(enrol.instruction, "Choose a 4-digit PIN for this account.");
    assert_eq!(enrol.pin_again.as_ref().unwrap().label, "PIN again");
    // Live blocklist feedback as soon as the PIN is complete.
    shell.type_digits(InputField::Pin, "1234").await;
    let Screen::Enrol(enrol) = &shell.view().screen else {
        panic!()
    };
    assert!(
        enrol
            .feedback
            .as_deref()
            .unwrap_or("")
            .contains("too easy to guess"),
        "{enrol:#?}"
    );
    assert!(!enrol.submit.enabled);
    shell.erase(InputField::Pin, 4).await;
    shell.type_digits(InputField::Pin, "4831").await;
    shell.type_digits(InputField::PinAgain, "4830").await;
    let Screen::Enrol(enrol) = &shell.view().screen else {
        panic!()
    };
    assert_eq!(
        enrol.feedback.as_deref(),
        Some("The two PINs are different. Type the same PIN twice.")
    );
    assert!(!enrol.submit.enabled);
    shell.erase(InputField::PinAgain, 1).await;
    shell.type_digits(InputField::PinAgain, "1").await;
    let Screen::Enrol(enrol) = &shell.view().screen else {
        panic!()
    };
    assert_eq!(enrol.feedback, None);
    assert!(enrol.submit.enabled);
    let view = shell.press(Action::Submit).await;
    assert!(
        notice(&view).starts_with("This device is ready."),
        "{view:#?}"
    );
    shell.press(Action::Done).await;
    let (_, code, _) = sign_in(&server, &shell, "ana@example.org").await;
    shell.type_digits(InputField::Code, &code).await;
    shell.type_digits(InputField::Pin, "4831").await;
    let view = shell.answer(|r| &r.approve).await;
    assert!(notice(&view).starts_with("Approved."), "{view:#?}");
    server.stop().await;
}

async fn answers_are_bound(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    enrolled(&server, &shell, "ana@example.org", "4831").await;
    enrolled(&server, &shell, "bob@example.org", "5038").await;
    shell.send(AppEvent::DeviceLocked { locked: false }).await;
    let (_, ana_code, view) = sign_in(&server, &shell, "ana@example.org").await;
    let ana_deny = request(&view).deny.action.clone();
    let ana_approve = request(&view).approve.action.clone();
    // A second request arrives while the first is open: notified, never opened over it.
    let (_, _, _) = Browser::sign_in(&server, "bob@example.org", PASSWORD).await;
    let view = shell
        .wait_for("bob's notification", |_| {
            shell
                .effects()
                .iter()
                .any(|e| matches!(e, AppEffect::Notify { body, .. } if body.contains("approve")))
        })
        .await;
    assert_eq!(
        request(&view).account,
        "ana@example.org",
        "still Ana's request"
    );
    // The person opens Bob's; a press that was meant for Ana's (sent late) does nothing.
    let Some(AppEffect::Notify { request: bob, .. }) = shell
        .effects()
        .into_iter()
        .find(|e| matches!(e, AppEffect::Notify { .. }))
    else {
        unreachable!()
    };
    shell
        .send(AppEvent::NotificationPressed {
            request: bob.clone(),
            action: None,
        })
        .await;
    assert_eq!(request(&shell.view()).account, "bob@example.org");
    shell.type_digits(InputField::Code, &ana_code).await;
    shell.type_digits(InputField::Pin, "4831").await;
    let view = shell.press(ana_approve).await;
    assert!(view.notice.is_none(), "nothing was sent: {view:#?}");
    let view = shell.press(ana_deny).await;
    assert!(view.notice.is_none(), "nothing was sent: {view:#?}");
    assert!(request(&view).deny.enabled, "Bob's request is still open");
    server.stop().await;
}

async fn cold_start_push(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let account = {
        let shell = Shell::open(phone.open());
        let (_, account) = enrolled(&server, &shell, "ana@example.org", "4831").await;
        account
    };
    let (_, _, _) = Browser::sign_in(&server, "ana@example.org", PASSWORD).await;
    let challenge = newest_challenge(&server).await;
    // The app is started by the push itself: the push comes before the accounts are read.
    let recorder = Arc::new(Recorder::default());
    let app = App::new(
        Arc::new(phone.open()),
        recorder.clone(),
        tokio::runtime::Handle::current(),
        Options {
            clock: Some(Arc::new(TestClock::default())),
            // No long-poll help: only the push can bring the request.
            poll_wait_seconds: 25,
            poll_pause: Duration::from_secs(60),
            ..Options::default()
        },
    );
    app.send(AppEvent::Started);
    // In the background without polling: only the push can bring the request.
    app.send(AppEvent::Backgrounded { stop_polling: true });
    app.send(AppEvent::PushReceived {
        account: Some(account.clone()),
        challenge: challenge.clone(),
    });
    let key = format!("{account}/{challenge}");
    let notified = || {
        recorder
            .effects
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, AppEffect::Notify { request, .. } if *request == key))
    };
    for _ in 0..200 {
        app.idle().await;
        if notified() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        notified(),
        "the push was not lost: {:#?}",
        recorder.effects.lock().unwrap()
    );
    server.stop().await;
}

/// Issue 21: iOS shows an APNs push itself while the app is not running, with the Approve /
/// Deny actions the app registered from `NotificationActions` (given once at start, in the
/// app's words). Pressed, it names the request alone (no account): Deny is sent once the
/// request is fetched and verified for whichever account it is; Approve opens it.
async fn system_shown_push(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let shell = Shell::open(phone.open());
    shell.app.idle().await;
    let actions: Vec<AppEffect> = shell
        .effects()
        .into_iter()
        .filter(|e| matches!(e, AppEffect::NotificationActions { .. }))
        .collect();
    assert_eq!(
        actions,
        vec![AppEffect::NotificationActions {
            approve: "Approve".into(),
            deny: "Deny".into(),
            public_body: "A sign-in needs your approval.".into(),
        }],
        "given once, before any notification"
    );
    enrolled(&server, &shell, "ana@example.org", "4831").await;
    enrolled(&server, &shell, "bob@example.org", "5038").await;
    // Away from home and without polling: only the pressed notification brings the request.
    shell.press(Action::OpenSettings).await;
    shell
        .send(AppEvent::Backgrounded { stop_polling: true })
        .await;
    let (_, _, _) = Browser::sign_in(&server, "bob@example.org", PASSWORD).await;
    let challenge = newest_challenge(&server).await;
    shell
        .send(AppEvent::NotificationPressed {
            request: challenge.clone(),
            action: Some(latchkey_app::NotificationAction::Deny),
        })
        .await;
    let state = || async {
        use sqlx::Row as _;
        sqlx::query(
            "SELECT l.state FROM logins l JOIN challenges c ON c.login_id = l.id WHERE c.id = $1",
        )
        .bind(&challenge)
        .fetch_one(&server.state.db)
        .await
        .map(|r| r.try_get::<String, _>("state").unwrap())
        .unwrap()
    };
    for _ in 0..200 {
        shell.app.idle().await;
        if state().await != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state().await, "denied", "{:#?}", shell.effects());
    // Approve on another one opens it, for the account it belongs to.
    let (_, _, _) = Browser::sign_in(&server, "ana@example.org", PASSWORD).await;
    let challenge = newest_challenge(&server).await;
    shell
        .send(AppEvent::NotificationPressed {
            request: challenge,
            action: None,
        })
        .await;
    let view = shell.wait_for("the request", is_request).await;
    assert_eq!(request(&view).account, "ana@example.org");
    // Anything else a notification might name: ignored.
    let before = shell.effects().len();
    let view = shell
        .send(AppEvent::NotificationPressed {
            request: "not a request".into(),
            action: Some(latchkey_app::NotificationAction::Deny),
        })
        .await;
    assert!(is_request(&view));
    assert_eq!(shell.effects().len(), before, "nothing done");
    // The same push's Deny pressed later, the request already on screen (fetched when the
    // app was opened): answered at once, not lost.
    let ana = newest_challenge(&server).await;
    shell
        .send(AppEvent::NotificationPressed {
            request: ana.clone(),
            action: Some(latchkey_app::NotificationAction::Deny),
        })
        .await;
    for _ in 0..200 {
        shell.app.idle().await;
        if login_state(&server, &ana).await != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(login_state(&server, &ana).await, "denied");
    server.stop().await;
}

/// The state of the sign-in a challenge belongs to.
async fn login_state(server: &TestServer, challenge: &str) -> String {
    use sqlx::Row as _;
    sqlx::query(
        "SELECT l.state FROM logins l JOIN challenges c ON c.login_id = l.id WHERE c.id = $1",
    )
    .bind(challenge)
    .fetch_one(&server.state.db)
    .await
    .map(|r| r.try_get::<String, _>("state").unwrap())
    .unwrap()
}

/// Issue 21: an App Link / Universal Link opens the app with the enrolment link; it reads as if
/// scanned, even at a cold start, and any other link is explained on the scan screen; so are a
/// refused camera and refused notifications.
async fn link_opened(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = Phone::new(&server);
    let browser = Browser::register(&server, "ana@example.org", PASSWORD).await;
    let (_, link) = browser.add_device("Phone", "4831").await;
    let event = AppEvent::LinkOpened { url: link.clone() };
    let code = link.split("c=").nth(1).unwrap().split('&').next().unwrap();
    assert!(
        !format!("{event:?}").contains(code),
        "the code is not in Debug output"
    );

    // Another site's link: the scan screen says why, and the camera opens to scan instead.
    let shell = Shell::open(phone.open());
    let view = shell
        .send(AppEvent::LinkOpened {
            url: "https://example.org/welcome".into(),
        })
        .await;
    let Screen::Scan(scan) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(
        scan.guidance.starts_with("This is not a Latchkey code"),
        "{}",
        scan.guidance
    );
    assert_eq!(scan.tone, Tone::Warning);
    assert!(shell.effects().contains(&AppEffect::OpenCamera));
    // A camera with a light: the screen offers it, and the app turns it on and off.
    let view = shell.send(AppEvent::CameraOpened { torch: true }).await;
    let Screen::Scan(scan) = &view.screen else {
        panic!("{view:#?}")
    };
    let torch = scan.torch.clone().expect("a light is offered");
    assert_eq!(
        (torch.label.as_str(), torch.a11y.as_str()),
        ("Light on", "Turn the camera's light on")
    );
    let view = shell.press(Action::Torch).await;
    assert!(shell.effects().contains(&AppEffect::SetTorch { on: true }));
    let Screen::Scan(scan) = &view.screen else {
        panic!("{view:#?}")
    };
    assert_eq!(scan.torch.as_ref().unwrap().label, "Light off");
    // The camera refused: what to do instead.
    let view = shell
        .send(AppEvent::CameraUnavailable { denied: true })
        .await;
    let Screen::Scan(scan) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(
        scan.guidance
            .starts_with("Latchkey may not use the camera.")
            && scan.guidance.contains("paste the link"),
        "{}",
        scan.guidance
    );
    // Notifications refused: home says requests show only while the app is open.
    shell
        .send(AppEvent::NotificationsAllowed { allowed: false })
        .await;
    let view = shell.press(Action::Back).await;
    let Screen::Accounts(home) = &view.screen else {
        panic!("{view:#?}")
    };
    assert!(home
        .notifications_warning
        .as_deref()
        .is_some_and(|w| w.starts_with("Notifications are off")));
    let view = shell
        .send(AppEvent::NotificationsAllowed { allowed: true })
        .await;
    let Screen::Accounts(home) = &view.screen else {
        panic!("{view:#?}")
    };
    assert_eq!(home.notifications_warning, None);
    drop(shell);

    // A cold start by the link: it arrives before the accounts are read, and is not lost.
    let shell = Shell::open(phone.open());
    shell.app.send(event);
    let view = shell
        .wait_for("the enrolment", |v| matches!(v.screen, Screen::Enrol(_)))
        .await;
    let Screen::Enrol(enrol) = &view.screen else {
        unreachable!()
    };
    assert!(enrol.who.contains("ana@example.org"), "{}", enrol.who);
    shell.type_digits(InputField::Pin, "4831").await;
    let view = shell.press(Action::Submit).await;
    assert!(
        notice(&view).contains("This device is ready"),
        "enrolled: {view:#?}"
    );
    server.stop().await;
}

/// The id of the newest sign-in request (what a push would carry).
async fn newest_challenge(server: &TestServer) -> String {
    use sqlx::Row as _;
    sqlx::query(
        "SELECT c.id FROM challenges c JOIN logins l ON l.id = c.login_id \
         ORDER BY l.created_ms DESC LIMIT 1",
    )
    .fetch_one(&server.state.db)
    .await
    .map(|r| r.try_get::<String, _>("id").unwrap())
    .unwrap_or_default()
}

trait PinFilled {
    fn screen_pin_filled(&self) -> u8;
}

impl PinFilled for AppView {
    fn screen_pin_filled(&self) -> u8 {
        match &self.screen {
            Screen::Enrol(e) => e.pin.filled,
            Screen::Request(r) => r.pin.filled,
            _ => 0,
        }
    }
}
