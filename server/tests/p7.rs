//! P7 — no password-only way in: removing a device, signing in without a usable device, and
//! adding or removing devices on the web, against the real server on SQLite and PostgreSQL.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_protocol::signed;
use latchkey_protocol::wire::*;
use latchkey_server::error::ErrorKind;
use latchkey_test_support::*;
use reqwest::StatusCode;
use sqlx::Row as _;

on_both_backends! {
    p7_removed_device_does_not_open_password_only_sign_in => removed_device;
    p7_no_device_sign_in_needs_mailed_code => no_device_sign_in;
    p7_locked_devices_sign_in_needs_mailed_code => locked_devices;
    p7_cant_use_my_device_cancels_the_request_and_mails_a_code => cant_use_device;
    p7_app_removal_needs_pin => app_removal;
    p7_every_removal_is_mailed => removal_mailed;
    p7_web_changes_need_a_recent_approval_or_mailed_code => web_gate;
    p7_only_a_brand_new_account_adds_a_device_on_the_password => bootstrap;
    expired_enrolments_lose_their_pin_check => sweep;
}

const PASSWORD: &str = "correct horse battery";

async fn device_rows(server: &TestServer, device: &Device) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM devices WHERE account_id = $1")
        .bind(device.account.to_string())
        .fetch_one(&server.state.db)
        .await
        .expect("count")
        .try_get("n")
        .expect("n")
}

fn removal_mails(server: &TestServer) -> usize {
    server
        .outbox()
        .iter()
        .filter(|m| m.contains("A device was removed from your account"))
        .count()
}

/// Removal requests the device key alone can make (no signature, or one by the device key or
/// by a key of the thief's) are each refused as bad requests; the unsigned one asks for the PIN.
async fn removals_without_the_approval_key_refused(device: &Device) {
    let refused = device
        .call(RemoveDevice {
            counter: 1,
            approval_signature: None,
        })
        .await
        .expect_err("removal without the PIN");
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body.error, ErrorCode::BadRequest);
    assert!(refused.body.message.contains("PIN"), "{refused:?}");
    let thiefs = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    for key in [&device.device_key, &thiefs] {
        let forged = device
            .call(RemoveDevice {
                counter: 1,
                approval_signature: Some(sign(
                    key,
                    &signed::removal(&device.account, &device.device, 1),
                )),
            })
            .await
            .expect_err("not signed by the approval key");
        assert_eq!(forged.status, StatusCode::BAD_REQUEST);
        assert_eq!(forged.body.error, ErrorCode::BadRequest);
    }
}

/// Whether a browser is signed in (the account page answers instead of sending to /login).
async fn is_signed_in(browser: &Browser) -> bool {
    browser.get_raw("/account").await.status() == StatusCode::OK
}

/// The three steps of the bypass the review found, each of which must now end in refusal.
async fn removed_device(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = "stolen@example.org";
    let (owner, mut device) = enrolled(&server, email, "4831").await;
    // 1. The thief has the phone (its device key) but not the PIN: removing it is refused.
    removals_without_the_approval_key_refused(&device).await;
    assert_eq!(device_row(&server, &device.device).await.state, "active");
    // 2. So the password leads to "approve on your device", not into the account.
    let (thief, status, _) = Browser::sign_in(&server, email, PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        !is_signed_in(&thief).await,
        "password alone is not a session"
    );
    // Even once the device is gone (here removed by its owner, with the PIN), the password
    // alone gives no session: a code goes to the account's mailbox instead.
    device
        .remove("4831")
        .await
        .expect("owner removes with the PIN");
    let (thief, status, page) = Browser::sign_in(&server, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Sign in with a code sent by e-mail"),
        "{page}"
    );
    assert!(
        !is_signed_in(&thief).await,
        "no session before the mailed code"
    );
    // 3. "Add a device" from that half-session is refused, and nothing is created.
    let token = csrf(&page);
    let r = thief
        .post(
            "/devices/add",
            &[
                ("csrf", &token),
                ("name", "Thief"),
                ("pin", "5038"),
                ("pin2", "5038"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
    // The owner's old password-only session (from registration) cannot add one either.
    let r = owner.get_raw("/devices/add").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/confirm?next=/devices/add");
    let (_, account_page) = owner.get("/account").await;
    let r = owner
        .post(
            "/devices/add",
            &[
                ("csrf", &csrf(&account_page)),
                ("name", "Thief"),
                ("pin", "5038"),
                ("pin2", "5038"),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], "/confirm?next=/devices/add");
    assert_eq!(
        device_rows(&server, &device).await,
        1,
        "no device was added"
    );
    server.stop().await;
}

async fn no_device_sign_in(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = "nodevice@example.org";
    let (_, mut device) = enrolled(&server, email, "4831").await;
    device.remove("4831").await.expect("removed");
    let (browser, status, page) = Browser::sign_in(&server, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("n•••@example.org"),
        "names where the code went"
    );
    assert!(
        page.contains("Send a new code"),
        "offers another code, not a first one"
    );
    let (_, again) = browser.get("/login/code").await;
    assert!(
        again.contains("Sign in with a code sent by e-mail"),
        "the page can be reloaded"
    );
    // Every code form checks the session's CSRF token.
    for path in ["/login/code", "/login/code/resend"] {
        let r = browser
            .post(path, &[("csrf", "forged"), ("code", "00000000")])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let token = csrf(&page);
    // A wrong code is refused; the right one signs in.
    let r = browser
        .post("/login/code", &[("csrf", &token), ("code", "00000000")])
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!is_signed_in(&browser).await);
    let code = mailed_code(&server);
    let r = browser
        .post("/login/code", &[("csrf", &token), ("code", &code)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        is_signed_in(&browser).await,
        "password + mailed code signs in"
    );
    assert!(
        server
            .outbox()
            .iter()
            .any(|m| m.contains("Signed in with a code sent by e-mail")),
        "every address is told"
    );
    // The code is used up.
    let (again, _, page) = Browser::sign_in(&server, email, PASSWORD).await;
    let r = again
        .post("/login/code", &[("csrf", &csrf(&page)), ("code", &code)])
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "an old code is dead");
    // Five attempts per code: after five wrong ones the right code no longer works.
    let (guesser, _, page) = Browser::sign_in(&server, email, PASSWORD).await;
    let token = csrf(&page);
    let right = mailed_code(&server);
    for guess in ["11111111", "22222222", "33333333", "44444444", "55555555"] {
        let r = guesser
            .post("/login/code", &[("csrf", &token), ("code", guess)])
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = guesser
        .post("/login/code", &[("csrf", &token), ("code", &right)])
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempts used up");
    assert!(!is_signed_in(&guesser).await);
    // Codes are rate-limited per account (5 an hour by default; 3 were sent above).
    let mut limited = false;
    for _ in 0..3 {
        let (_, status, page) = Browser::sign_in(&server, email, PASSWORD).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(page.contains("Too many"), "{page}");
            limited = true;
        }
    }
    assert!(limited, "mailed codes are rate-limited");
    server.stop().await;
}

async fn locked_devices(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = "locked@example.org";
    let (_, device) = enrolled(&server, email, "4831").await;
    let (_, _, _) = Browser::sign_in(&server, email, PASSWORD).await;
    let id = *device.pending(0).await.first().expect("request");
    for _ in 0..5 {
        device.evaluate(id, "0000").await.expect("counted");
    }
    // The only device is locked: no push to it, a mailed code instead.
    let (browser, status, page) = Browser::sign_in(&server, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("locked"), "says why: {page}");
    assert!(
        server
            .outbox()
            .iter()
            .any(|m| m.contains("A device was locked after wrong PINs")),
        "the lock is mailed"
    );
    assert!(!is_signed_in(&browser).await);
    server.stop().await;
}

async fn cant_use_device(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = "lostphone@example.org";
    let (_, device) = enrolled(&server, email, "4831").await;
    let (browser, _, _) = Browser::sign_in(&server, email, PASSWORD).await;
    let id = *device.pending(0).await.first().expect("request");
    let (_, page) = browser.get("/login/approve").await;
    assert!(page.contains("I can't use my device"));
    let r = browser
        .post("/login/nodevice", &[("csrf", &csrf(&page))])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("page");
    assert!(page.contains("Sign in with a code sent by e-mail"));
    // The waiting request died with it.
    let gone = device.fetch(id).await.expect_err("cancelled request");
    assert_eq!(gone.body.error, ErrorCode::AlreadyAnswered);
    assert!(device.pending(0).await.is_empty());
    let r = browser
        .post(
            "/login/code",
            &[("csrf", &csrf(&page)), ("code", &mailed_code(&server))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(is_signed_in(&browser).await);
    server.stop().await;
}

async fn app_removal(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = "appremove@example.org";
    let (_, mut device) = enrolled(&server, email, "4831").await;
    // Without the approval key's signature, or with another key's: refused, still active.
    removals_without_the_approval_key_refused(&device).await;
    assert_eq!(device_row(&server, &device.device).await.state, "active");
    // A removal signature is used once: its counter must be above every one used before.
    let (_, code, signed_challenge) = {
        let (b, _, code) = Browser::sign_in(&server, email, PASSWORD).await;
        let id = *device.pending(0).await.first().expect("request");
        (b, code, device.fetch(id).await.expect("fetch"))
    };
    device
        .approve(&signed_challenge, &code, "4831")
        .await
        .expect("approved with counter 1");
    let stale = device
        .call(RemoveDevice {
            counter: 1,
            approval_signature: Some(sign(
                &device.approval,
                &signed::removal(&device.account, &device.device, 1),
            )),
        })
        .await
        .expect_err("counter reused");
    assert_eq!(stale.body.error, ErrorCode::CounterReused);
    // Opening the key to remove is a counted PIN use (P2): five wrong PINs lock it, and a
    // locked device cannot open its key to remove itself.
    let pin_use = |pin: &'static str| {
        let device = &device;
        async move {
            let (_, blinded) = latchkey_protocol::oprf::blind(
                &latchkey_protocol::secret::Pin::new(pin),
                &mut rand_core::OsRng,
            )
            .expect("blind");
            device
                .call(Evaluate {
                    purpose: EvaluatePurpose::Remove,
                    blinded_pin: blinded,
                })
                .await
        }
    };
    for left in (0..5).rev() {
        assert_eq!(pin_use("0000").await.expect("counted").attempts_left, left);
    }
    assert_eq!(
        pin_use("4831").await.expect_err("locked").body.error,
        ErrorCode::Locked
    );
    assert_eq!(device_row(&server, &device.device).await.state, "active");
    server.stop().await;
    // With the PIN it goes, and the device's requests are refused from then on.
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, email, "4831").await;
    device.remove("4831").await.expect("removed with the PIN");
    assert_eq!(device_row(&server, &device.device).await.state, "removed");
    let after = device
        .call(ListChallenges { wait_seconds: 0 })
        .await
        .expect_err("gone");
    assert_eq!(after.body.error, ErrorCode::Unauthorized);
    server.stop().await;
}

async fn removal_mailed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = "mailremove@example.org";
    let (owner, mut phone) = enrolled(&server, email, "4831").await;
    assert_eq!(removal_mails(&server), 0);
    // From the web: first a confirmation, then the removal, mailed.
    owner.confirm_by_mail(&server).await;
    let (_, link) = owner.add_device("Laptop", "5038").await;
    let laptop = Device::enrol(&server, &link, "5038")
        .await
        .expect("second device");
    let (_, page) = owner.get("/account").await;
    let r = owner
        .post(
            &format!("/devices/{}/remove", laptop.device),
            &[("csrf", &csrf(&page))],
        )
        .await;
    assert_eq!(
        r.headers()["location"],
        format!("/account?removed={}", laptop.device).as_str()
    );
    assert_eq!(device_row(&server, &laptop.device).await.state, "removed");
    assert_eq!(removal_mails(&server), 1, "web removal mailed");
    // From the app, with the PIN.
    phone.remove("4831").await.expect("removed");
    assert_eq!(removal_mails(&server), 2, "app removal mailed");
    // An unfinished enrolment cancelled on the device.
    let (_, link) = owner.add_device("Tablet", "6194").await;
    let (link, begun) = Device::begin(&server, &link, "6194").await.expect("begin");
    let tablet = Device::enrolling(&server, link, &begun);
    tablet
        .call(RemoveDevice {
            counter: 0,
            approval_signature: None,
        })
        .await
        .expect("an unfinished enrolment is cancelled without a PIN");
    assert_eq!(removal_mails(&server), 3, "cancelled enrolment mailed");
    server.stop().await;
}

async fn web_gate(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = "webgate@example.org";
    let (owner, mut device) = enrolled(&server, email, "4831").await;
    // The registration session (password only) may not remove the device.
    let (_, page) = owner.get("/account").await;
    let r = owner
        .post(
            &format!("/devices/{}/remove", device.device),
            &[("csrf", &csrf(&page))],
        )
        .await;
    assert_eq!(r.headers()["location"], "/confirm?next=/account");
    assert_eq!(device_row(&server, &device.device).await.state, "active");
    assert_eq!(removal_mails(&server), 0);
    // An approval the browser picks up late counts from when it was given (checked below).
    let (late, _, code) = Browser::sign_in(&server, email, PASSWORD).await;
    let id = *device.pending(0).await.first().expect("request");
    let signed_challenge = device.fetch(id).await.expect("fetch");
    device
        .approve(&signed_challenge, &code, "4831")
        .await
        .expect("approved");
    // A sign-in approved on the device may, for a while.
    let (browser, _, code) = Browser::sign_in(&server, email, PASSWORD).await;
    let id = *device.pending(0).await.first().expect("request");
    let signed_challenge = device.fetch(id).await.expect("fetch");
    device
        .approve(&signed_challenge, &code, "4831")
        .await
        .expect("approved");
    let r = browser.get_raw("/login/approve").await;
    assert_eq!(r.headers()["location"], "/account");
    let r = browser.get_raw("/devices/add").await;
    assert_eq!(r.status(), StatusCode::OK, "fresh approval: may add");
    server
        .state
        .clock
        .advance(server.state.config.policy.confirm_ttl + 1);
    let r = browser.get_raw("/devices/add").await;
    assert_eq!(
        r.headers()["location"],
        "/confirm?next=/devices/add",
        "an old approval is not enough"
    );
    let r = late.get_raw("/login/approve").await;
    assert_eq!(r.headers()["location"], "/account", "signed in");
    let r = late.get_raw("/devices/add").await;
    assert_eq!(
        r.headers()["location"],
        "/confirm?next=/devices/add",
        "an approval picked up late does not confirm"
    );
    for path in ["/confirm", "/confirm/send"] {
        let r = browser
            .post(
                path,
                &[
                    ("csrf", "forged"),
                    ("code", "00000000"),
                    ("next", "/account"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Confirming sends the person back to "Add a device" when that is where they were going.
    assert_eq!(
        late.confirm_by_mail_to(&server, "/devices/add").await,
        "/devices/add"
    );
    // A mailed code confirms again; a wrong one does not.
    let (_, page) = browser.get("/confirm?next=/devices/add").await;
    let token = csrf(&page);
    let r = browser
        .post(
            "/confirm/send",
            &[("csrf", &token), ("next", "/devices/add")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = browser
        .post(
            "/confirm",
            &[
                ("csrf", &token),
                ("code", "12345678"),
                ("next", "/devices/add"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = browser
        .post(
            "/confirm",
            &[
                ("csrf", &token),
                ("code", &mailed_code(&server)),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account", "never sent elsewhere");
    assert_eq!(
        browser.get_raw("/devices/add").await.status(),
        StatusCode::OK
    );
    server.stop().await;
}

async fn bootstrap(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::register(&server, "fresh@example.org", PASSWORD).await;
    let (_, page) = browser.get("/devices/add").await;
    assert!(
        page.contains("first device of your account"),
        "the page says why the password is enough"
    );
    // Two enrolments started on the password alone: the first to finish wins, the other is
    // refused (it would be a second device added without approval).
    let (_, first) = browser.add_device("Phone", "4831").await;
    let (_, second) = browser.add_device("Other", "5038").await;
    let first = Device::enrol(&server, &first, "4831")
        .await
        .expect("the first device");
    let Err(refused) = Device::enrol(&server, &second, "5038").await else {
        panic!("a second device was added on the password alone");
    };
    assert_eq!(refused.body.error, ErrorCode::EnrolmentCodeInvalid);
    assert!(refused.body.message.contains("another device"));
    assert_eq!(device_row(&server, &first.device).await.state, "active");
    // Once the account had a device, the password alone adds none.
    let r = browser.get_raw("/devices/add").await;
    assert_eq!(r.headers()["location"], "/confirm?next=/devices/add");
    server.stop().await;
}

async fn sweep(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::register(&server, "abandon@example.org", PASSWORD).await;
    let (_, link, location) = browser.add_device_at("Phone", "4831").await;
    let id = location.rsplit('/').next().expect("id").to_owned();
    let row = |db: sqlx::AnyPool, id: String| async move {
        let r = sqlx::query(
            "SELECT state, pin_check, enrol_link, code_hash FROM devices WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&db)
        .await
        .expect("row");
        (
            r.try_get::<String, _>("state").expect("state"),
            r.try_get::<Option<String>, _>("pin_check")
                .expect("pin_check"),
            r.try_get::<Option<String>, _>("enrol_link")
                .expect("enrol_link"),
            r.try_get::<Option<String>, _>("code_hash")
                .expect("code_hash"),
        )
    };
    let swept = latchkey_server::sweep_expired_enrolments(&server.state)
        .await
        .expect("sweep");
    assert_eq!(swept, 0, "a live enrolment is kept");
    let (state, check, link_sealed, code) = row(server.state.db.clone(), id.clone()).await;
    assert_eq!(state, "pending");
    assert!(check.is_some() && link_sealed.is_some() && code.is_some());
    server
        .state
        .clock
        .advance(server.state.config.policy.enrol_ttl);
    let swept = latchkey_server::sweep_expired_enrolments(&server.state)
        .await
        .expect("sweep");
    assert_eq!(swept, 1);
    let (state, check, link_sealed, code) = row(server.state.db.clone(), id).await;
    assert_eq!(state, "expired");
    assert_eq!(
        (check, link_sealed, code),
        (None, None, None),
        "nothing kept"
    );
    let Err(e) = Device::begin(&server, &link, "4831").await else {
        panic!("an expired code was accepted");
    };
    assert_eq!(e.body.error, ErrorCode::EnrolmentCodeInvalid);
    server.stop().await;
}

#[tokio::test]
async fn dev_mode_refuses_other_hosts_and_real_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::dev(dir.path());
    config.listen = "0.0.0.0:0".parse().expect("address");
    let e = latchkey_server::start(config).await.err().expect("refused");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("loopback"), "{e}");
    let mut config = Config::dev(dir.path());
    config.tls_cert = Some(dir.path().join("cert.pem"));
    config.tls_key = Some(dir.path().join("key.pem"));
    let e = latchkey_server::start(config).await.err().expect("refused");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("--tls-cert"), "{e}");
    let mut config = Config::dev(dir.path());
    config.public_url = Some("https://login.example.org/".into());
    let e = latchkey_server::start(config).await.err().expect("refused");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("localhost"), "{e}");
    let mut config = Config::dev(dir.path());
    config.public_url = Some("https://localhost:8443/".into());
    let running = latchkey_server::start(config)
        .await
        .expect("loopback dev is fine");
    running.shutdown().await;
}
