//! The server's logs hold no secret: every flow runs with all targets at TRACE and the
//! captured output is scanned for the PIN, the password, the enrolment code, the number code
//! and the e-mailed reset code.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

mod common;

use common::*;
use latchkey_protocol::types::OperationId;
use rand_core::OsRng;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_logs_hold_no_secrets() {
    let capture = Capture::install();

    let pin = "739164";
    let new_pin = "580246";
    let password = "canary-password-Zq9-xx";
    let policy = Policy {
        pin_digits: 6,
        ..Policy::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, policy).await;
    let browser = Browser::register(&server, "logs@example.org", password).await;
    let (_, link) = browser.add_device("Phone", pin).await;
    let parsed = latchkey_protocol::link::parse(&link).expect("link");
    let code_text = latchkey_protocol::b64::encode(parsed.code.expose_secret());
    let mut device = Device::enrol(&server, &link, pin).await.expect("enrol");
    let (_, _, number) = Browser::sign_in(&server, "logs@example.org", password).await;
    let signed = device
        .fetch(device.pending(0).await[0])
        .await
        .expect("fetch");
    device
        .approve(&signed, &number, pin)
        .await
        .expect("approve");
    device.change_pin(pin, new_pin).await.expect("change");
    let op = OperationId::random(&mut OsRng);
    device.reset_start(op, password).await.expect("reset start");
    let reset = reset_code(&server);
    device.reset_finish(op, &reset, pin).await.expect("reset");
    server.stop().await;

    let logs = capture.text();
    assert!(
        logs.len() > 1_000,
        "logging was captured ({} bytes)",
        logs.len()
    );
    assert!(logs.contains("security event"), "the audit trail is logged");
    for (what, secret) in [
        ("PIN", pin),
        ("new PIN", new_pin),
        ("password", password),
        ("enrolment code", code_text.as_str()),
        ("reset code", reset.as_str()),
    ] {
        assert!(!contains_token(&logs, secret), "{what} found in the logs");
    }
    assert!(!logs.contains(&format!("code={number}")) && !logs.contains(&format!("\"{number}\"")));
}
