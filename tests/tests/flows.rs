//! End to end: the real server on loopback HTTPS (SQLite), driven only through the core API.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_core::{Error, ErrorKind, ScanResult, Settled};
use latchkey_e2e::server::reset_code;
use latchkey_e2e::*;
use latchkey_protocol::link::{self, LinkPolicy};
use latchkey_protocol::secret::{OneTimeCode, Password, Pin};
use latchkey_protocol::wire::AnswerOutcome;

/// Registers, adds a device on the web with `pin`, scans the page's QR from its luma plane.
async fn scanned_link(
    server: &TestServer,
    email: &str,
    pin: &str,
) -> (Browser, link::EnrolmentLink) {
    let browser = Browser::register(server, email, PASSWORD).await;
    let (html, _) = browser.add_device("Phone", pin).await;
    (browser, scan_page(&html))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrol_approve_deny_and_wrong_pin() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "alice@example.org", "4831").await;
    let account = core
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("enrol");
    assert_eq!(account.label, "Latchkey demo — alice@example.org");
    assert_eq!(core.accounts().expect("accounts"), vec![account.clone()]);

    // Approve: the browser shows the number; the device asks for it and the PIN.
    let (browser, code, view) =
        sign_in_and_wait(&server, &core, &account.id, "alice@example.org").await;
    assert_eq!(view.challenge.browser, "Firefox on Linux");
    assert_eq!(view.challenge.code_digits, 2);
    core.approve(&view, &code, &Pin::new("4831"))
        .await
        .expect("approve");
    let r = browser.get_raw("/login/approve").await;
    assert_eq!(
        r.headers()["location"],
        "/account",
        "the browser is signed in"
    );

    // A wrong PIN is counted, with attempts left.
    let (_, _, view) = sign_in_and_wait(&server, &core, &account.id, "alice@example.org").await;
    let wrong = core
        .approve(&view, "00", &Pin::new("5038"))
        .await
        .expect_err("wrong PIN");
    assert!(
        matches!(
            wrong,
            Error::WrongPin {
                attempts_left: Some(4)
            }
        ),
        "{wrong:?}"
    );
    assert_eq!(
        wrong.to_string(),
        "wrong PIN; 4 attempts left before this device is locked"
    );

    // Deny as "this wasn't me".
    let outcome = core.deny(&view, true).await.expect("deny");
    assert_eq!(outcome, AnswerOutcome::Reported);
    let again = core.deny(&view, false).await.expect_err("already answered");
    assert_eq!(again.kind(), ErrorKind::AlreadyAnswered);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrol_refusals_before_any_network_use() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "weak@example.org", "4831").await;
    let weak = core
        .enrol(&link, &Pin::new("1234"), None)
        .await
        .expect_err("policy");
    assert_eq!(weak.kind(), ErrorKind::PinPolicy);
    // The code was not spent by the refusal.
    let no_lock = latchkey_core::Latchkey::open(latchkey_core::Options {
        data_dir: phone.data().to_owned(),
        keystore: phone.keystore.clone(),
        signer: None,
        platform: std::sync::Arc::new(latchkey_core::StaticPlatform {
            screen_lock: false,
            model: "x".into(),
        }),
        extra_ca_pem: Some(phone.ca.clone()),
        link_policy: LinkPolicy::default(),
        faults: None,
    })
    .expect("open");
    let e = no_lock
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect_err("no screen lock");
    assert_eq!(e.kind(), ErrorKind::ScreenLockMissing);
    core.enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("the code still works");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn change_pin_end_to_end() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "bob@example.org", "4831").await;
    let account = core
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("enrol");
    let weak = core
        .change_pin(&account.id, &Pin::new("4831"), &Pin::new("1111"))
        .await
        .expect_err("policy");
    assert_eq!(weak.kind(), ErrorKind::PinPolicy);
    core.change_pin(&account.id, &Pin::new("4831"), &Pin::new("5038"))
        .await
        .expect("change");
    let wrong_old = core
        .change_pin(&account.id, &Pin::new("4831"), &Pin::new("7292"))
        .await
        .expect_err("old PIN gone");
    assert_eq!(wrong_old.kind(), ErrorKind::WrongPin);
    let (_, number, view) = sign_in_and_wait(&server, &core, &account.id, "bob@example.org").await;
    core.approve(&view, &number, &Pin::new("5038"))
        .await
        .expect("approve with the new PIN");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p7_forgot_pin_end_to_end() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "dora@example.org", "4831").await;
    let account = core
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("enrol");
    // Lock it with wrong PINs.
    lock_with_wrong_pins(&server, &core, &account.id, "dora@example.org", 5).await;
    // Even the right PIN is refused now, in every flow that uses it. (A locked device gets no
    // sign-in requests: with no usable device the web asks for a mailed code instead.)
    for locked in [
        core.change_pin(&account.id, &Pin::new("4831"), &Pin::new("5038"))
            .await
            .expect_err("locked"),
        core.remove(&account.id, &Pin::new("4831"))
            .await
            .expect_err("locked"),
    ] {
        assert_eq!(locked.kind(), ErrorKind::Locked);
        assert!(locked.to_string().contains("Forgot PIN"));
    }

    // The password alone is not enough: a wrong password, then a wrong code, are refused.
    let bad = core
        .forgot_pin_start(&account.id, &Password::new("not the password"))
        .await
        .expect_err("password");
    assert_eq!(bad.kind(), ErrorKind::Rejected);
    let ticket = core
        .forgot_pin_start(&account.id, &Password::new(PASSWORD))
        .await
        .expect("start");
    assert_eq!(ticket.sent_to, vec!["d•••@example.org".to_owned()]);
    let guess = core
        .forgot_pin_finish(
            &account.id,
            &ticket,
            &OneTimeCode::new("12345678"),
            &Pin::new("7292"),
        )
        .await
        .expect_err("guess");
    assert_eq!(guess.kind(), ErrorKind::Rejected);
    let code = reset_code(&server);
    core.forgot_pin_finish(
        &account.id,
        &ticket,
        &OneTimeCode::new(code),
        &Pin::new("7292"),
    )
    .await
    .expect("reset");
    assert!(
        server
            .outbox()
            .iter()
            .any(|m| m.contains("Your PIN was reset")),
        "every address told"
    );

    let (_, number, view) = sign_in_and_wait(&server, &core, &account.id, "dora@example.org").await;
    core.approve(&view, &number, &Pin::new("7292"))
        .await
        .expect("unlocked: the new PIN approves");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_account_isolation() {
    let first = TestServer::start(Backend::Sqlite).await;
    let second = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&first);
    // One core trusting both test CAs.
    let both = [first.ca_pem.clone(), second.ca_pem.clone()].concat();
    let core = phone.open_with(Some(both), None);
    let (_, link_a) = scanned_link(&first, "carol@example.org", "4831").await;
    let (_, link_b) = scanned_link(&second, "carol@example.org", "4831").await;
    let a = core
        .enrol(&link_a, &Pin::new("4831"), None)
        .await
        .expect("enrol a");
    let b = core
        .enrol(&link_b, &Pin::new("4831"), None)
        .await
        .expect("enrol b");
    assert_ne!(a.id, b.id);
    assert_eq!(core.accounts().expect("accounts").len(), 2);

    // Wrong PINs on one account do not touch the other's counter.
    lock_with_wrong_pins(&first, &core, &a.id, "carol@example.org", 5).await;
    let (_, code, view) = sign_in_and_wait(&second, &core, &b.id, "carol@example.org").await;
    assert!(
        core.pending(&a.id, 0).await.expect("a").is_empty(),
        "b's sign-in is not a's"
    );
    core.approve(&view, &code, &Pin::new("4831"))
        .await
        .expect("b unaffected");

    // The locked account cannot be removed from the app (its PIN is needed, P7) ...
    let locked = core
        .remove(&a.id, &Pin::new("4831"))
        .await
        .expect_err("locked");
    assert_eq!(locked.kind(), ErrorKind::Locked);
    // ... and removing the other one with its PIN leaves it as it was.
    core.remove(&b.id, &Pin::new("4831"))
        .await
        .expect("remove b");
    assert_eq!(
        core.accounts()
            .expect("accounts")
            .iter()
            .map(|x| x.id.clone())
            .collect::<Vec<_>>(),
        vec![a.id.clone()]
    );
    let gone = core.pending(&b.id, 0).await.expect_err("removed");
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    core.pending(&a.id, 0).await.expect("a still enrolled");
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p5_plain_http_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "http@example.org", "4831").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let plain = link.render().replacen(
        &format!("https://localhost:{}", link.port().expect("port")),
        &format!("http://127.0.0.1:{port}"),
        1,
    );
    let refused = link::parse(&plain).expect_err("http link");
    assert_eq!(refused, link::LinkError::NotHttps);
    let e: Error = refused.into();
    assert_eq!(e.kind(), ErrorKind::NotLatchkeyQr);
    // Nothing ever connected to the plain listener.
    let accepted =
        tokio::time::timeout(std::time::Duration::from_millis(300), listener.accept()).await;
    assert!(accepted.is_err(), "no plain-HTTP connection was made");
    drop(core);
    server.stop().await;
}

/// An account whose stored server is plain HTTP (which no enrolment link can give, so the
/// record is changed through the vault, re-sealed) is never contacted: every flow refuses
/// with a clear error and not one connection reaches the plain listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p5_stored_plain_http_server_never_contacted() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "plain@example.org", "4831").await;
    let account = core
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("enrol");
    let (_, _, view) = sign_in_and_wait(&server, &core, &account.id, "plain@example.org").await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let accepting = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    for server_url in [
        format!("http://127.0.0.1:{port}/"),
        format!("HTTP://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        phone
            .vault()
            .edit_for_tests(&account.id, |record| {
                record.identity.server = server_url.clone();
            })
            .expect("edit");
        assert_eq!(core.accounts().expect("accounts")[0].server, server_url);
        let pin = Pin::new("4831");
        let results = [
            core.pending(&account.id, 0).await.map(|_| ()),
            core.challenge(&account.id, &view.challenge.id)
                .await
                .map(|_| ()),
            core.approve(&view, "00", &pin).await,
            core.deny(&view, false).await.map(|_| ()),
            core.change_pin(&account.id, &pin, &Pin::new("5038")).await,
            core.forgot_pin_start(&account.id, &Password::new(PASSWORD))
                .await
                .map(|_| ()),
            core.remove(&account.id, &pin).await,
        ];
        for result in results {
            let e = result.expect_err("a plain-HTTP server was used");
            assert_eq!(e.kind(), ErrorKind::ServerUntrusted, "{server_url}: {e}");
            assert!(e.to_string().contains("plain HTTP"), "{e}");
        }
        assert_eq!(
            core.accounts().expect("accounts").len(),
            1,
            "nothing removed"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "a connection reached the plain-HTTP listener"
    );
    accepting.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p5_untrusted_certificate_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let untrusting = phone.open_with(None, None);
    let (_, link) = scanned_link(&server, "mitm@example.org", "4831").await;
    let e = untrusting
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect_err("untrusted");
    assert_eq!(e.kind(), ErrorKind::ServerUntrusted, "{e}");
    assert!(untrusting.accounts().expect("accounts").is_empty());
    // The code was never redeemed: the trusting device can still use it.
    phone
        .open()
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("enrol with the CA");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p5_redirect_not_followed() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "redirect@example.org", "4831").await;
    // An HTTPS server (trusted cert) that redirects everything to the real server.
    let target = server.url.clone();
    let app = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { axum::response::Redirect::temporary(&format!("{target}api/v1/enrol/begin")) }
    });
    let tls_dir = server.dir.path().join("tls");
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(
        tls_dir.join("server-chain.pem"),
        tls_dir.join("server-key.pem"),
    )
    .await
    .expect("tls");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(axum_server::from_tcp_rustls(listener, tls).serve(app.into_make_service()));
    let redirecting = link::parse(&link.render().replacen(
        &format!(":{}/", link.port().expect("port")),
        &format!(":{port}/"),
        1,
    ))
    .expect("link");
    let e = core
        .enrol(&redirecting, &Pin::new("4831"), None)
        .await
        .expect_err("redirect");
    assert_eq!(e.kind(), ErrorKind::ServerUntrusted, "{e}");
    assert!(e.to_string().contains("redirect"));
    // The real server never saw the code: it still enrols.
    core.enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("the code was not consumed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p4_challenge_signed_by_other_key_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "pinned@example.org", "4831").await;
    // The QR is replaced by one carrying an attacker's key (same server, same code).
    let rogue = p256::SecretKey::random(&mut rand_core::OsRng);
    let rogue_key = latchkey_protocol::types::PublicKey::from(rogue.public_key());
    let text = link.render().replace(
        &latchkey_protocol::b64::encode(&link.server_key.to_sec1()),
        &latchkey_protocol::b64::encode(&rogue_key.to_sec1()),
    );
    let tampered = link::parse(&text).expect("link");
    let account = core
        .enrol(&tampered, &Pin::new("4831"), None)
        .await
        .expect("enrol");
    Browser::sign_in(&server, "pinned@example.org", PASSWORD).await;
    let ids = core.pending(&account.id, 5).await.expect("pending");
    let e = core
        .challenge(&account.id, &ids[0])
        .await
        .expect_err("wrong signer");
    assert_eq!(e.kind(), ErrorKind::ServerUntrusted);
    server.stop().await;
}

#[derive(serde::Deserialize)]
struct Corpus {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    what: String,
    expect: String,
    payload: String,
}

#[test]
fn p6_foreign_qr_codes_rejected() {
    let corpus: Corpus =
        serde_json::from_str(include_str!("../../protocol/tests/vectors/foreign-qr.json"))
            .expect("corpus");
    let mut checked = 0;
    for case in corpus.cases.iter().filter(|c| !c.payload.is_empty()) {
        let (w, h, luma) = qr_luma(&case.payload);
        match latchkey_core::scan_frame(&luma, w, h, w, &LinkPolicy::default()).expect("scan") {
            ScanResult::NotLatchkey(reason) => {
                let variant = format!("{reason:?}");
                assert!(
                    variant.starts_with(&case.expect),
                    "{}: {variant}",
                    case.what
                );
                checked += 1;
            }
            other => panic!("{}: {other:?}", case.what),
        }
    }
    assert!(checked >= 20, "{checked} QR images checked");
    let (w, h, blank) = (640, 480, vec![200u8; 640 * 480]);
    assert_eq!(
        latchkey_core::scan_frame(&blank, w, h, w, &LinkPolicy::default()).expect("scan"),
        ScanResult::NoCode
    );
    let short = latchkey_core::scan_frame(&blank[..100], w, h, w, &LinkPolicy::default())
        .expect_err("short buffer");
    assert_eq!(short.kind(), ErrorKind::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settle_activates_an_enrolment_whose_last_write_was_lost() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let (_, link) = scanned_link(&server, "settle@example.org", "4831").await;
    // Crash right after the server confirmed, before the device recorded it.
    let plan = latchkey_core::FaultPlan::counting();
    {
        let core = phone.open_with(Some(phone.ca.clone()), Some(plan.clone()));
        core.enrol(&link, &Pin::new("4831"), None)
            .await
            .expect("enrol");
    }
    let total = plan.steps();
    let plan = latchkey_core::FaultPlan::crash_after(total - 5);
    let (_, link2) = scanned_link(&server, "settle2@example.org", "4831").await;
    let phone2 = Phone::new(&server);
    {
        let core = phone2.open_with(Some(phone2.ca.clone()), Some(plan.clone()));
        core.enrol(&link2, &Pin::new("4831"), None)
            .await
            .expect_err("crash");
    }
    let core = phone2.open();
    let settled = core.settle().await.expect("settle");
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].1, Settled::Activated);
    let (_, code, view) =
        sign_in_and_wait(&server, &core, &settled[0].0, "settle2@example.org").await;
    core.approve(&view, &code, &Pin::new("4831"))
        .await
        .expect("usable after settle");
    server.stop().await;
}

/// P6: a vendor's host allow-list, given when the core is opened, applies to every scan the
/// shells make through `link_policy()`: a code for another host is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p6_the_vendor_host_allow_list_applies_to_scans() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let (_, scanned) = scanned_link(&server, "allow@example.org", "4831").await;
    let text = scanned.render();
    let policy = |host: &str| link::LinkPolicy {
        allowed_hosts: Some(vec![host.to_owned()]),
    };
    let strict = phone.open_with_policy(policy("login.example.org"));
    assert!(
        matches!(
            link::parse_with(&text, strict.link_policy()),
            Err(link::LinkError::HostNotAllowed { .. })
        ),
        "another host is refused"
    );
    drop(strict);
    let local = phone.open_with_policy(policy("localhost"));
    let parsed = link::parse_with(&text, local.link_policy()).expect("the allowed host");
    local
        .enrol(&parsed, &Pin::new("4831"), None)
        .await
        .expect("enrols");
    server.stop().await;
}

/// The live requests of an account, newest first, each verified (what `latchkey requests` and
/// a shell's list show); an ended request leaves the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_lists_live_sign_ins_newest_first() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "list@example.org", "4831").await;
    let account = core
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("enrol");
    assert!(core.requests(&account.id).await.expect("none").is_empty());
    let _older = Browser::sign_in(&server, "list@example.org", PASSWORD).await;
    server.state.clock.advance(1);
    let _newer = Browser::sign_in(&server, "list@example.org", PASSWORD).await;
    let live = core.requests(&account.id).await.expect("requests");
    assert_eq!(live.len(), 2);
    assert!(live[0].challenge.created_at > live[1].challenge.created_at);
    core.deny(&live[1], false).await.expect("deny the older");
    let live_after = core.requests(&account.id).await.expect("requests");
    assert_eq!(live_after.len(), 1);
    assert_eq!(live_after[0].challenge.id, live[0].challenge.id);
    server.stop().await;
}

/// A PIN chosen in the app must be typed twice alike, before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pin_chosen_in_the_app_is_confirmed() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        Policy {
            pin_source: latchkey_protocol::wire::PinSource::App,
            ..Policy::default()
        },
    )
    .await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let browser = Browser::register(&server, "app@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Phone", "").await;
    let link = scan_page(&html);
    let e = core
        .enrol(&link, &Pin::new("4831"), Some(&Pin::new("4832")))
        .await
        .expect_err("different PINs");
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(
        core.accounts().expect("accounts").is_empty(),
        "nothing sent"
    );
    let e = core
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect_err("no confirmation");
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    core.enrol(&link, &Pin::new("4831"), Some(&Pin::new("4831")))
        .await
        .expect("the same PIN twice");
    server.stop().await;
}

/// A web-set PIN typed wrong at enrolment keeps the enrolment; `finish_enrolment` with the
/// right PIN completes it, and the device approves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_web_pin_at_enrolment_is_retried_with_finish_enrolment() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "retry@example.org", "4831").await;
    let e = core
        .enrol(&link, &Pin::new("5038"), None)
        .await
        .expect_err("not the web PIN");
    assert!(
        matches!(
            e,
            Error::WrongPin {
                attempts_left: Some(4)
            }
        ),
        "{e:?}"
    );
    let pending = core.accounts().expect("accounts");
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].state,
        latchkey_core::vault::RecordState::Enrolling
    );
    let account = core
        .finish_enrolment(&pending[0].id, &Pin::new("4831"))
        .await
        .expect("the right PIN");
    assert_eq!(account.state, latchkey_core::vault::RecordState::Active);
    assert_eq!(
        core.accounts().expect("accounts")[0].state,
        latchkey_core::vault::RecordState::Active
    );
    let (_, code, view) = sign_in_and_wait(&server, &core, &account.id, "retry@example.org").await;
    core.approve(&view, &code, &Pin::new("4831"))
        .await
        .expect("approves");
    server.stop().await;
}

/// The link decides where the PIN comes from, never the server's answer: a server that says
/// "the PIN was set on the page" for a link that says "choose it in the app" would otherwise be
/// sent the check of the PIN just chosen, which it could search offline (found by the issue 21
/// review: any app on a phone can open Latchkey with a link to any server).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrol_refuses_a_server_that_contradicts_the_link() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let (_, link) = scanned_link(&server, "contradicted@example.org", "4831").await;
    assert_eq!(link.pin_source, latchkey_protocol::wire::PinSource::Web);
    // The same code under a link that says the PIN is chosen in the app.
    let text = link.render().replace("p=web", "p=app");
    let forged = link::parse(&text).expect("still a link");
    assert_eq!(forged.pin_source, latchkey_protocol::wire::PinSource::App);
    let e = core
        .enrol(&forged, &Pin::new("7395"), Some(&Pin::new("7395")))
        .await
        .expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::ServerUntrusted, "{e}");
    assert!(
        core.accounts().expect("accounts").is_empty(),
        "nothing kept, no check sent"
    );
    server.stop().await;
}
