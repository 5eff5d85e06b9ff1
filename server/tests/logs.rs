//! The server's logs hold no secret: every flow runs with all targets at TRACE and the
//! captured output is scanned for the PIN, the password, the enrolment code, the number code
//! and the e-mailed reset code.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_protocol::types::OperationId;
use latchkey_test_support::*;
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

/// Issue 14, item 6: a log written to a file is plain text (no ANSI colours), and it goes to
/// stderr, so stdout keeps only the lines a person or a script reads (URL, CA path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_written_to_a_file_has_no_colour_codes() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
    let data = dir.path().join("data");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey-server"))
        .args([
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("text");
    let url = first
        .strip_prefix("Latchkey server listening on ")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .to_owned();
    // Something worth a log line: a registration writes a mail to the dev outbox.
    let ca = std::fs::read(data.join("tls/dev-ca.pem")).expect("dev CA");
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
        .cookie_store(true)
        .build()
        .expect("client");
    let page = client
        .get(format!("{url}register"))
        .send()
        .await
        .expect("register page")
        .text()
        .await
        .expect("text");
    let status = client
        .post(format!("{url}register"))
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("email", "plain@example.org"),
            ("password", "correct horse battery"),
            ("password2", "correct horse battery"),
        ])
        .send()
        .await
        .expect("register")
        .status();
    assert!(status.is_success(), "{status}");
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(dir.path().join("server.log")).expect("log");
    assert!(
        text.contains("dev outbox: mail written"),
        "logged: {text:?}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no ANSI escapes in a file: {text:?}"
    );
}
