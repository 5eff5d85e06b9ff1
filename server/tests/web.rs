//! The web pages: cookies and CSRF, security headers, push-bombing limits, the QR code that
//! really decodes (rqrr) to a link the protocol crate accepts, the `/e` landing page and the
//! dev-only outbox.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_protocol::wire::ErrorCode;
use latchkey_test_support::*;

const PASSWORD: &str = "correct horse battery";
use reqwest::StatusCode;

on_both_backends! {
    csrf_and_cookie_flags => csrf_cookies;
    push_bombing_is_throttled => push_bombing;
    add_device_page_qr_decodes_to_a_valid_link => qr_decodes;
    add_device_refuses_weak_and_mismatched_pins => weak_pins;
    landing_page_and_outbox => landing_outbox;
    wrong_password_is_refused_and_throttled => password_throttle;
    approve_page_updates_live => live_status;
    registration_does_not_tell_whether_an_address_exists => registration;
    cancelled_and_replaced_sign_ins_die_at_once_and_devices_list_live_requests_newest_first => cancel_dies;
    approve_page_shows_wrong_pins_and_the_lock => wrong_pins_shown;
    pages_name_every_control_and_announce_status => accessible_markup;
    removing_a_device_asks_first_and_names_it => remove_confirmation;
    only_failed_sign_ins_use_up_the_login_limit => successes_not_throttled;
}

async fn csrf_cookies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let r = client
        .get(format!("{}login", server.url))
        .send()
        .await
        .expect("login page");
    let cookie = r
        .headers()
        .get("set-cookie")
        .expect("session cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    for flag in [
        "__Host-latchkey=",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(flag), "cookie lacks {flag}: {cookie}");
    }
    let headers = r.headers().clone();
    assert!(headers["content-security-policy"]
        .to_str()
        .expect("csp")
        .contains("default-src 'none'"));
    assert!(headers["content-security-policy"]
        .to_str()
        .expect("csp")
        .contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("strict-transport-security"));
    let page = r.text().await.expect("body");
    let token = csrf(&page);

    // Missing, wrong and foreign-session tokens are refused.
    let form = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("email", "x@example.org".into()),
            ("password", "whatever123".into()),
        ]
    };
    let missing = client
        .post(format!("{}login", server.url))
        .form(&[("email", "x@example.org"), ("password", "whatever123")])
        .send()
        .await
        .expect("post");
    assert!(
        missing.status().is_client_error(),
        "no token: {}",
        missing.status()
    );
    let wrong = client
        .post(format!("{}login", server.url))
        .form(&form("forged"))
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let other = server.client();
    let stolen = other
        .post(format!("{}login", server.url))
        .form(&form(&token))
        .send()
        .await
        .expect("post");
    assert_eq!(
        stolen.status(),
        StatusCode::FORBIDDEN,
        "a token is bound to its session"
    );
    let right = client
        .post(format!("{}login", server.url))
        .form(&form(&token))
        .send()
        .await
        .expect("post");
    assert_eq!(
        right.status(),
        StatusCode::UNAUTHORIZED,
        "token accepted; unknown account refused"
    );

    // Signed-in forms need the token too.
    let browser = Browser::register(&server, "csrf@example.org", "correct horse battery").await;
    let r = browser
        .post(
            "/devices/add",
            &[
                ("csrf", "nope"),
                ("name", "Phone"),
                ("pin", "4831"),
                ("pin2", "4831"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    server.stop().await;
}

async fn push_bombing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "bomb@example.org", "4831").await;
    // At most three sign-in pushes wait at once.
    for _ in 0..3 {
        let (_, status, _) =
            Browser::sign_in(&server, "bomb@example.org", "correct horse battery").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (_, status, body) =
        Browser::sign_in(&server, "bomb@example.org", "correct horse battery").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("already waiting"), "{body}");
    assert_eq!(device.pending(0).await.len(), 3);
    // "This wasn't me" mutes pushes for 20 minutes and tells the account's addresses.
    let first = device
        .fetch(device.pending(0).await[0])
        .await
        .expect("fetch");
    let r = device.deny(&first, true).await.expect("reported");
    assert_eq!(r.outcome, latchkey_protocol::wire::AnswerOutcome::Reported);
    assert!(
        server.outbox().iter().any(|m| m.contains("was reported")),
        "notice mailed"
    );
    server.state.clock.advance(200); // the other pushes expire
    let (_, status, body) =
        Browser::sign_in(&server, "bomb@example.org", "correct horse battery").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("paused"), "{body}");
    assert!(device.pending(0).await.is_empty());
    server.state.clock.advance(20 * 60);
    let (_, status, _) =
        Browser::sign_in(&server, "bomb@example.org", "correct horse battery").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "pushes resume after the mute"
    );
    server.stop().await;
}

async fn qr_decodes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::register(&server, "qr@example.org", "correct horse battery").await;
    let (html, link) = browser.add_device("Phone", "4831").await;
    assert!(html.contains("Initialise"), "EU Login words");
    assert!(
        html.contains("generic QR reader"),
        "warns against generic readers"
    );
    let svg = page_svg(&html);
    let (w, h, pixels) = rasterise(svg);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_, decoded) = grids[0].decode().expect("QR decodes");
    assert_eq!(decoded, link, "the QR carries the link shown as text");
    let parsed = latchkey_protocol::link::parse(&decoded).expect("the protocol crate accepts it");
    assert_eq!(parsed.origin(), server.url.trim_end_matches('/'));
    assert_eq!(parsed.server_key, server.state.keys.challenge_public());
    assert_eq!(parsed.label, "Latchkey demo — qr@example.org");
    // The device can enrol from what was decoded.
    Device::enrol(&server, &decoded, "4831")
        .await
        .expect("enrol from the decoded QR");
    server.stop().await;
}

async fn weak_pins(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::register(&server, "weak@example.org", "correct horse battery").await;
    let (_, page) = browser.get("/devices/add").await;
    let token = csrf(&page);
    for (pin, pin2, expect) in [
        ("1234", "1234", "sequence"),
        ("1990", "1990", "year"),
        ("4831", "4832", "different"),
        ("48a1", "48a1", "digits"),
    ] {
        let r = browser
            .post(
                "/devices/add",
                &[
                    ("csrf", &token),
                    ("name", "Phone"),
                    ("pin", pin),
                    ("pin2", pin2),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = r.text().await.expect("body");
        assert!(body.contains(expect), "{pin}: {body}");
        assert!(
            !body.contains(&format!("value=\"{pin}\"")),
            "the PIN is not echoed back"
        );
    }
    server.stop().await;
}

async fn landing_outbox(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let page = client
        .get(format!("{}e", server.url))
        .send()
        .await
        .expect("landing")
        .text()
        .await
        .expect("body");
    assert!(page.contains("Latchkey app") && page.contains("Initialise"));
    let outbox = client
        .get(format!("{}dev/outbox", server.url))
        .send()
        .await
        .expect("outbox");
    assert_eq!(
        outbox.status(),
        StatusCode::OK,
        "dev mode has an outbox page"
    );
    server.stop().await;
    // Without dev mode there is no outbox page.
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = latchkey_server::tls::ensure_dev_ca(dir.path()).expect("certificates");
    let mut config = Config::dev(dir.path());
    config.dev = false;
    config.tls_cert = Some(ca.cert.clone());
    config.tls_key = Some(ca.key.clone());
    if backend == Backend::Postgres {
        return; // the route table does not depend on the database
    }
    let running = latchkey_server::start(config).await.expect("start");
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&ca.ca_cert).expect("ca")).expect("ca"),
        )
        .build()
        .expect("client");
    let r = client
        .get(format!("{}dev/outbox", running.url))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    running.shutdown().await;
}

async fn password_throttle(backend: Backend) {
    let server = TestServer::start(backend).await;
    Browser::register(&server, "pw@example.org", "correct horse battery").await;
    let (_, status, body) = Browser::sign_in(&server, "pw@example.org", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("wrong"));
    let (_, status, _) = Browser::sign_in(&server, "nobody@example.org", "wrong password").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "unknown address: same answer"
    );
    let mut last = StatusCode::OK;
    for _ in 0..10 {
        last = Browser::sign_in(&server, "pw@example.org", "wrong password")
            .await
            .1;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let (_, status, _) = Browser::sign_in(&server, "pw@example.org", "correct horse battery").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    server.state.clock.advance(900);
    let (_, status, _) = Browser::sign_in(&server, "pw@example.org", "correct horse battery").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "a new window opens after 15 minutes"
    );
    server.stop().await;
}

/// Reads server-sent events until one says the sign-in is done.
async fn read_until_done(response: reqwest::Response) -> serde_json::Value {
    let mut seen = read_events(response, |e| e["done"] == true).await;
    seen.pop().expect("the final event")
}

async fn live_status(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "live@example.org", "4831").await;
    let (browser, _, code) =
        Browser::sign_in(&server, "live@example.org", "correct horse battery").await;
    let events = browser.get_raw("/login/approve/events").await;
    assert_eq!(events.status(), StatusCode::OK);
    assert!(events.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/event-stream"));
    let reader = tokio::spawn(read_until_done(events));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let signed = device
        .fetch(device.pending(0).await[0])
        .await
        .expect("fetch");
    device
        .approve(&signed, &code, "4831")
        .await
        .expect("approve");
    let event = reader.await.expect("reader");
    assert_eq!(event["ok"], true, "{event}");
    assert!(event["message"]
        .as_str()
        .expect("message")
        .contains("Approved"));

    // A denial reaches the page the same way, with a way to retry.
    let (browser, _, _) =
        Browser::sign_in(&server, "live@example.org", "correct horse battery").await;
    let reader = tokio::spawn(read_until_done(
        browser.get_raw("/login/approve/events").await,
    ));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let signed = device
        .fetch(device.pending(0).await[0])
        .await
        .expect("fetch");
    device.deny(&signed, false).await.expect("deny");
    let event = reader.await.expect("reader");
    assert_eq!(event["ok"], false);
    assert!(event["message"]
        .as_str()
        .expect("message")
        .contains("denied"));
    let (_, page) = browser.get("/login/approve").await;
    assert!(page.contains("Sign in again"), "a clear way to retry");
    server.stop().await;
}

/// Registering answers the same for a new and a taken address; the mailbox tells the
/// difference (a link to finish, or a notice to the owner), and the link works once, for an hour.
async fn registration(backend: Backend) {
    let server = TestServer::start(backend).await;
    Browser::register(&server, "taken@example.org", "correct horse battery").await;
    let attempt = |email: &'static str| {
        let server = &server;
        async move {
            let b = Browser {
                client: server.client(),
                base: server.url.clone(),
                email: email.into(),
                password: String::new(),
            };
            let (_, page) = b.get("/register").await;
            let r = b
                .post(
                    "/register",
                    &[
                        ("csrf", &csrf(&page)),
                        ("email", email),
                        ("password", "another password!"),
                        ("password2", "another password!"),
                    ],
                )
                .await;
            let status = r.status();
            let text = r.text().await.expect("page").replace(email, "ADDRESS");
            (b, status, text)
        }
    };
    let (_, taken_status, taken_page) = attempt("taken@example.org").await;
    let (fresh, fresh_status, fresh_page) = attempt("fresh@example.org").await;
    assert_eq!(taken_status, fresh_status);
    // The pages differ only in their CSRF token (the session of each browser).
    let strip = |page: &str| page.replace(&csrf_or_empty(page), "");
    assert_eq!(strip(&taken_page), strip(&fresh_page));
    assert!(fresh_page.contains("Check your e-mail"));
    // The owner of the taken address is told; no link is sent to it, and nothing changed.
    assert!(
        registration_link(&server, "taken@example.org").is_some(),
        "the first registration's link"
    );
    assert_eq!(
        server
            .outbox()
            .iter()
            .filter(|m| m.contains("taken@example.org") && m.contains("finish creating"))
            .count(),
        1,
        "no second link for a taken address"
    );
    assert!(server
        .outbox()
        .iter()
        .any(|m| m.contains("taken@example.org") && m.contains("tried to create an account")));
    let (_, status, _) = Browser::sign_in(&server, "taken@example.org", "another password!").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the password was not replaced"
    );
    // The fresh address: no account until the link is used; the link works once.
    let (_, status, _) = Browser::sign_in(&server, "fresh@example.org", "another password!").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no account before the link"
    );
    let path = registration_link(&server, "fresh@example.org").expect("link");
    let (_, page) = fresh.get(&path).await;
    let token = between(&page, "name=\"t\" value=\"", "\"").to_owned();
    let r = fresh
        .post("/register/finish", &[("csrf", &csrf(&page)), ("t", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account");
    let (_, page) = fresh.get("/account").await;
    let r = fresh
        .post("/register/finish", &[("csrf", &csrf(&page)), ("t", &token)])
        .await;
    let text = r.text().await.expect("page");
    assert!(text.contains("expired or was already used"), "{text}");
    let (_, status, _) = Browser::sign_in(&server, "fresh@example.org", "another password!").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the account exists now");
    // A link older than an hour is dead.
    let (late, _, _) = attempt("late@example.org").await;
    server.state.clock.advance(3600);
    let (_, page) = late
        .get(&registration_link(&server, "late@example.org").expect("link"))
        .await;
    assert!(page.contains("expired or was already used"), "{page}");
    server.stop().await;
}

fn csrf_or_empty(page: &str) -> String {
    page.find("name=\"csrf\" value=\"")
        .map(|_| csrf(page))
        .unwrap_or_default()
}

/// Issue 14, item 1: "Cancel and start again", and a new sign-in from the same browser, end the
/// waiting request at once (refused as cancelled, gone from the device's list); the device
/// lists live requests newest first, with the time left by the server's clock.
async fn cancel_dies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "cancel@example.org", "4831").await;
    // Cancel.
    let (browser, _, _) = Browser::sign_in(&server, "cancel@example.org", PASSWORD).await;
    let cancelled = device.pending(0).await;
    assert_eq!(cancelled.len(), 1);
    let (_, page) = browser.get("/login/approve").await;
    let r = browser
        .post("/login/cancel", &[("csrf", &csrf(&page))])
        .await;
    assert_eq!(r.headers()["location"], "/login");
    assert!(device.pending(0).await.is_empty(), "gone from the device");
    let refused = device.fetch(cancelled[0]).await.expect_err("cancelled");
    assert_eq!(refused.body.error, ErrorCode::AlreadyAnswered);
    assert!(refused.body.message.contains("cancelled"), "{refused:?}");

    // A right PIN typed while the browser cancelled: refused as cancelled, and yet the valid
    // approval signature resets the failure counter (only a successful PIN use resets it).
    let (browser, _, code) = Browser::sign_in(&server, "cancel@example.org", PASSWORD).await;
    let mut device = device;
    let id = device.pending(0).await[0];
    let signed_challenge = device.fetch(id).await.expect("fetch");
    device
        .evaluate(id, "4831")
        .await
        .expect("right PIN evaluated");
    let (_, page) = browser.get("/login/approve").await;
    browser
        .post("/login/cancel", &[("csrf", &csrf(&page))])
        .await;
    device.counter += 1;
    let answer = device.answer_body(
        &signed_challenge,
        &code,
        latchkey_protocol::signed::Decision::Approve,
        device.counter,
    );
    let refused = device.call(answer).await.expect_err("cancelled");
    assert!(refused.body.message.contains("cancelled"), "{refused:?}");
    assert_eq!(
        device_row(&server, &device.device).await.failures,
        0,
        "the right PIN reset the counter"
    );

    // A new sign-in from the same browser replaces the one it was waiting for.
    let (browser, _, first_code) = Browser::sign_in(&server, "cancel@example.org", PASSWORD).await;
    let first = device.pending(0).await;
    server.state.clock.advance(1);
    let r = browser.sign_in_again().await;
    assert_eq!(r.headers()["location"], "/login/approve");
    let (_, page) = browser.get("/login/approve").await;
    let second_code = between(
        &page,
        "<p class=\"code\" aria-describedby=\"code-label\">",
        "</p>",
    );
    let live = device.pending(0).await;
    assert_eq!(live.len(), 1, "only the new request is live");
    assert_ne!(live[0], first[0]);
    let mut answering = device;
    let old = answering.fetch(first[0]).await.expect_err("replaced");
    assert!(old.body.message.contains("cancelled"), "{old:?}");
    let _ = first_code;

    // Several browsers: newest first, each with its time left.
    server.state.clock.advance(30);
    let (other, _, _) = Browser::sign_in(&server, "cancel@example.org", PASSWORD).await;
    let live = answering.pending(0).await;
    assert_eq!(live.len(), 2);
    let newest = answering.fetch(live[0]).await.expect("newest");
    let older = answering.fetch(live[1]).await.expect("older");
    assert!(newest.challenge.created_at > older.challenge.created_at);
    // By the server's clock (wall time plus the test's offset, so a second may pass).
    let left =
        |c: &latchkey_protocol::wire::SignedChallenge| c.challenge.expires_at - c.server_time;
    assert!((118..=120).contains(&left(&newest)), "{}", left(&newest));
    assert!((88..=90).contains(&left(&older)), "{}", left(&older));
    // The page shows the browser and the time the device shows.
    let (_, page) = other.get("/login/approve").await;
    assert!(page.contains("Firefox on Linux"), "{page}");
    let t = newest.challenge.created_at % 86_400;
    let shown = format!("{:02}:{:02}:{:02} UTC", t / 3600, t / 60 % 60, t % 60);
    assert!(page.contains(&shown), "{shown} on the page");
    // The page's own request is answered with the page's number.
    answering
        .approve(&older, second_code, "4831")
        .await
        .expect("the replacing request is approved");
    server.stop().await;
}

/// Issue 14, item 2: the approve page tells about wrong PINs (with attempts left) and, once the
/// device is locked, what to do instead.
async fn wrong_pins_shown(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "wrongpin@example.org", "4831").await;
    let (browser, _, _) = Browser::sign_in(&server, "wrongpin@example.org", PASSWORD).await;
    let id = device.pending(0).await[0];
    let (_, page) = browser.get("/login/approve").await;
    assert!(page.contains("Waiting for your device"), "{page}");
    // A PIN just evaluated may be the right one with its approval on the way: nothing is said
    // yet (a password holder watching learns nothing of the device until a PIN is wrong).
    device.evaluate(id, "0000").await.expect("counted");
    let (_, page) = browser.get("/login/approve").await;
    assert!(page.contains("Waiting for your device"), "{page}");
    assert!(!page.contains("wrong PIN"), "{page}");
    // No approval followed: it was wrong. The device is not named on this page.
    server.state.clock.advance(9);
    let (_, page) = browser.get("/login/approve").await;
    assert!(
        page.contains("A wrong PIN was entered on your device (4 of 5 attempts left)"),
        "{page}"
    );
    assert!(
        !page.contains("Phone"),
        "the device is not named before approval"
    );
    // A further evaluation shows the earlier one was wrong at once.
    for left in [3, 2, 1] {
        device.evaluate(id, "0000").await.expect("counted");
        let (_, page) = browser.get("/login/approve").await;
        assert!(
            page.contains(&format!("({left} of 5 attempts left)")),
            "{left} left: {page}"
        );
    }
    // The lock reaches the live page as it happens (signalled, not found by a later poll).
    let events = browser.get_raw("/login/approve/events").await;
    let reader = tokio::spawn(async move {
        read_events(events, |e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("is locked"))
        })
        .await
        .into_iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    device
        .evaluate(id, "0000")
        .await
        .expect("the fifth is counted");
    let seen = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
        .await
        .expect("the lock reaches the page at once")
        .expect("reader");
    assert!(seen[0].contains("(1 of 5 attempts left)"), "{seen:?}");
    let last = seen.last().expect("events");
    assert!(
        last.contains("is locked")
            && last.contains("Forgot PIN")
            && last.contains("code sent to your e-mail"),
        "{seen:?}"
    );
    let (_, page) = browser.get("/login/approve").await;
    assert!(
        page.contains("status warning") && page.contains("Forgot PIN"),
        "{page}"
    );
    assert!(
        page.contains("e-mail me a code"),
        "the way forward is on the page"
    );
    server.stop().await;
}

/// Issue 14, items 3–5: status is announced, the number is read out, the QR code and every
/// control have a name, refused PINs put the focus back on the PIN, pages link back to the
/// account, the icon exists, the outbox is readable, events read well.
async fn accessible_markup(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (owner, _device) = enrolled(&server, "a11y@example.org", "4831").await;
    let (browser, _, code) = Browser::sign_in(&server, "a11y@example.org", PASSWORD).await;
    let (_, page) = browser.get("/login/approve").await;
    let status = between(&page, "<p id=\"status\"", ">");
    assert!(
        status.contains("role=\"status\"") && status.contains("aria-live=\"polite\""),
        "{status}"
    );
    assert!(page.contains(&format!("aria-describedby=\"code-label\">{code}</p>")));
    assert!(
        !page.contains("<p class=\"code\" aria-label"),
        "the number is not hidden"
    );
    assert!(page.contains("<span class=\"status-text\">") && page.contains("class=\"countdown\""));
    // Account page: no empty header, Remove names the device, way out.
    let (_, page) = owner.get("/account").await;
    assert!(!page.contains("<th></th>"), "no empty table header");
    assert!(
        page.contains("Remove<span class=\"visually-hidden\"> Phone</span>"),
        "{page}"
    );
    // Add a device (a fresh confirmation first: the owner's session is password-only).
    owner.confirm_by_mail(&server).await;
    let (_, page) = owner.get("/devices/add").await;
    assert!(page.contains("href=\"/account\">My account</a>") && page.contains("Sign out"));
    assert!(
        page.contains("title=\"Exactly 4 digits\""),
        "the format is explained"
    );
    assert!(
        page.contains("autocomplete=\"off\""),
        "device name has autocomplete"
    );
    let r = owner
        .post(
            "/devices/add",
            &[
                ("csrf", &csrf(&page)),
                ("name", "Tablet"),
                ("pin", "123"),
                ("pin2", "123"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.expect("page");
    assert!(page.contains("role=\"alert\""), "{page}");
    let pin_field = between(&page, "name=\"pin\"", ">");
    assert!(
        pin_field.contains("autofocus") && pin_field.contains("aria-invalid=\"true\""),
        "{pin_field}"
    );
    let (html, _) = owner.add_device("Tablet", "5038").await;
    assert!(html.contains("<svg role=\"img\" aria-label=\"QR code to scan with the Latchkey app\""));
    assert!(
        html.contains("href=\"/account\">My account</a>"),
        "the QR page links back"
    );
    assert!(html.contains("role=\"status\""));
    // The icon.
    let r = owner.get_raw("/favicon.ico").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    // The dev outbox shows mails decoded.
    let (_, page) = owner.get("/dev/outbox").await;
    assert!(page.contains("To a11y@example.org"), "{page}");
    assert!(
        !page.contains("=\n") && !page.contains("=E2=") && !page.contains("=3D"),
        "{page}"
    );
    server.stop().await;
}

/// Issue 14, item 4: "Remove" opens a confirmation that names the device; only its button
/// removes.
async fn remove_confirmation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (owner, device) = enrolled(&server, "remove@example.org", "4831").await;
    let path = format!("/devices/{}/remove", device.device);
    let (status, page) = owner.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Remove \"Phone\"?</h1>"), "{page}");
    assert!(
        page.contains("<button class=\"danger\" type=\"submit\">Remove Phone</button>"),
        "{page}"
    );
    assert!(page.contains("your only device that can approve"), "{page}");
    assert!(page.contains("href=\"/account\">Keep it</a>"));
    assert_eq!(
        device_row(&server, &device.device).await.state,
        "active",
        "nothing removed by looking"
    );
    let (_, page) = owner.get("/devices/not-a-device/remove").await;
    assert!(page.contains("not on your account"), "{page}");
    // The removal itself (after the P7 confirmation) lands on the account page with a notice.
    owner.confirm_by_mail(&server).await;
    let (_, page) = owner.get(&path).await;
    let r = owner.post(&path, &[("csrf", &csrf(&page))]).await;
    let notice_path = format!("/account?removed={}", device.device);
    assert_eq!(r.headers()["location"], notice_path.as_str());
    let (_, page) = owner.get(&notice_path).await;
    assert!(page.contains("was removed. Every address"), "{page}");
    assert!(
        page.contains("Phone"),
        "the notice names the device: {page}"
    );
    // A crafted link names nothing: only a removed device of this account is named.
    for crafted in ["%3Cscript%3E", "not-a-device"] {
        let (_, page) = owner.get(&format!("/account?removed={crafted}")).await;
        assert!(
            !page.contains("was removed") && !page.contains("<script>"),
            "{page}"
        );
    }
    let (stranger, _) = enrolled(&server, "stranger@example.org", "5038").await;
    let (_, page) = stranger.get(&notice_path).await;
    assert!(
        !page.contains("was removed"),
        "another account's device is not named"
    );
    server.stop().await;
}

/// Issue 14, item 5: sign-ins that complete do not use up the login limit; wrong passwords and
/// sign-ins that are never approved do (else a password holder could push without limit).
async fn successes_not_throttled(backend: Backend) {
    let server = TestServer::start(backend).await;
    let limit = server.state.config.policy.login_attempts;
    // A brand-new account: the password completes the sign-in.
    let owner = Browser::register(&server, "often@example.org", PASSWORD).await;
    for round in 0..limit + 3 {
        let (_, status, body) = Browser::sign_in(&server, "often@example.org", PASSWORD).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in {round}: {body}");
    }
    for round in 0..limit {
        let (_, status, _) =
            Browser::sign_in(&server, "often@example.org", "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {round}");
    }
    let (_, status, _) = Browser::sign_in(&server, "often@example.org", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "failures still count"
    );
    // Item 5: the event reads once, plainly.
    let (_, page) = owner.get("/account").await;
    assert!(
        page.contains("Signed in with the password only (no device enrolled yet)"),
        "{page}"
    );
    assert!(!page.contains("(no device yet) (no device"), "{page}");

    server.stop().await;

    // An account with a device (a fresh server: the failures above used up this IP's limit):
    // approved sign-ins give their count back.
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "approver@example.org", "4831").await;
    for round in 0..limit + 2 {
        let (browser, status, code) =
            Browser::sign_in(&server, "approver@example.org", PASSWORD).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in {round}");
        let signed = device
            .fetch(device.pending(0).await[0])
            .await
            .expect("fetch");
        device
            .approve(&signed, &code, "4831")
            .await
            .expect("approve");
        let r = browser.get_raw("/login/approve").await;
        assert_eq!(
            r.headers()["location"],
            "/account",
            "approved sign-in {round}"
        );
    }
    // Sign-ins that are never approved keep counting, even from one browser that replaces its
    // own request each time (a password holder cannot push without limit).
    let (browser, _, _) = Browser::sign_in(&server, "approver@example.org", PASSWORD).await;
    let mut throttled = None;
    for round in 1..=limit {
        let r = browser.sign_in_again().await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some((round, r.text().await.unwrap_or_default()));
            break;
        }
    }
    let (round, body) = throttled.expect("unfinished sign-ins are throttled");
    assert_eq!(round, limit, "the first sign-in plus {} more", limit - 1);
    assert!(body.contains("too many attempts"), "{body}");
    server.stop().await;
}
