//! The desktop shell driven through its accessibility tree (egui_kittest, no GPU, no display)
//! against the real server on loopback: every control must have an accessible name (the
//! harness fails the test otherwise), and the person's flows work by keyboard and clicks.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use egui_kittest::Harness;
use latchkey_app::{App, Options};
use latchkey_desktop::{draw, Mailbox, Shell};
use latchkey_e2e::server::{Backend, Browser, TestServer};
use latchkey_e2e::{Phone, PASSWORD};

fn open(phone: &Phone) -> Harness<'static, Shell> {
    let mailbox = Arc::new(Mailbox::default());
    let app = App::new(
        Arc::new(phone.open()),
        mailbox.clone(),
        tokio::runtime::Handle::current(),
        Options {
            languages: vec!["en".into()],
            poll_wait_seconds: 2,
            poll_pause: Duration::from_millis(200),
            ..Options::default()
        },
    );
    Harness::builder().with_size([480.0, 900.0]).build_ui_state(
        |ui, shell: &mut Shell| draw(ui, shell),
        Shell::new(app, mailbox),
    )
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
