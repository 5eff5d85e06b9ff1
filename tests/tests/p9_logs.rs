//! P9 end to end: every flow with core and server logging at TRACE; the captured output
//! holds no PIN, password, enrolment code, number code, reset code, key, signature or OPRF
//! element.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_e2e::server::{contains_token, reset_code, Capture};
use latchkey_e2e::*;
use latchkey_protocol::secret::{OneTimeCode, Password, Pin};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p9_no_secret_in_logs() {
    let capture = Capture::install();

    let (pin, new_pin, reset_pin) = ("739164", "580246", "917352");
    let password = "canary-password-Zq9-xx";
    let policy = server::Policy {
        pin_digits: 6,
        ..server::Policy::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, policy).await;
    let browser = Browser::register(&server, "p9@example.org", password).await;
    let (html, link_text) = browser.add_device("Phone", pin).await;
    let link = scan_page(&html);
    let phone = Phone::new(&server);
    let core = phone.open();
    let account = core
        .enrol(&link, &Pin::new(pin), None)
        .await
        .expect("enrol");
    let (_, _, number) = Browser::sign_in(&server, "p9@example.org", password).await;
    let view = core
        .wait_for_challenge(&account.id, 5)
        .await
        .expect("wait")
        .expect("sign-in");
    let _ = core.approve(&view, &number, &Pin::new("000000")).await;
    core.approve(&view, &number, &Pin::new(pin))
        .await
        .expect("approve");
    core.change_pin(&account.id, &Pin::new(pin), &Pin::new(new_pin))
        .await
        .expect("change");
    let ticket = core
        .forgot_pin_start(&account.id, &Password::new(password))
        .await
        .expect("start");
    let code = reset_code(&server);
    core.forgot_pin_finish(
        &account.id,
        &ticket,
        &OneTimeCode::new(code.clone()),
        &Pin::new(reset_pin),
    )
    .await
    .expect("reset");
    let _ = core.remove(&account.id, &Pin::new("000000")).await;
    core.remove(&account.id, &Pin::new(reset_pin))
        .await
        .expect("remove");
    server.stop().await;

    let logs = capture.text();
    assert!(
        logs.len() > 10_000,
        "logging was captured ({} bytes)",
        logs.len()
    );
    assert!(
        logs.contains("enrolled") && logs.contains("sign-in approved"),
        "core logs too"
    );
    let enrolment_code = latchkey_protocol::b64::encode(link.code.expose_secret());
    let fragment = link_text.split('#').nth(1).expect("fragment").to_owned();
    for (what, secret) in [
        ("PIN", pin),
        ("new PIN", new_pin),
        ("reset PIN", reset_pin),
        ("password", password),
        ("enrolment code", enrolment_code.as_str()),
        ("link fragment", fragment.as_str()),
        ("reset code", code.as_str()),
    ] {
        assert!(!contains_token(&logs, secret), "{what} found in the logs");
    }
    assert!(
        !logs.contains("approval_signature")
            && !logs.contains("blinded_pin")
            && !logs.contains("evaluated_pin")
    );
    assert!(!logs.contains(&format!("\"{number}\"")));
}
