//! The `latchkey` command against the real server: enrol from the link, list accounts, wait
//! and approve a sign-in, change the PIN. Secrets come on stdin (`--stdin`); the keystore is
//! the real kernel keyring (test.sh runs inside `keyctl session`).
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use std::io::Write as _;
use std::process::{Command, Stdio};

use latchkey_e2e::*;

fn latchkey(
    data: &std::path::Path,
    ca: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .arg("--data-dir")
        .arg(data)
        .arg("--ca")
        .arg(ca)
        .arg("--stdin")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run latchkey");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_enrol_wait_approve_and_change_pin() {
    let server = TestServer::start(Backend::Sqlite).await;
    let browser = Browser::register(&server, "cli@example.org", "correct horse battery").await;
    let (_, link) = browser.add_device("CLI", "4831").await;
    let data = tempfile::tempdir().expect("tempdir");
    let ca = server.dir.path().join("tls/dev-ca.pem");

    // First a PIN that is not the one set on the web page, then the right one.
    let (ok, out, err) = latchkey(
        data.path(),
        &ca,
        &["enrol", "--link", &link],
        "5038\n4831\n",
    );
    if !ok && err.contains("keyctl session") {
        assert!(
            std::env::var_os("LATCHKEY_REQUIRE_KEYUTILS").is_none(),
            "keyutils required: {err}"
        );
        eprintln!("skipped: no session keyring here ({err})");
        return;
    }
    assert!(ok, "enrol failed: {err}");
    assert!(out.contains("Success"), "{out}");
    assert!(
        err.contains("wrong PIN; 4 attempts left"),
        "the retry was offered: {err}"
    );
    let (ok, out, _) = latchkey(data.path(), &ca, &["accounts"], "");
    assert!(ok && out.contains("cli@example.org"), "{out}");

    let (data_path, ca_path) = (data.path().to_owned(), ca.clone());
    let (_, _, code) = Browser::sign_in(&server, "cli@example.org", "correct horse battery").await;
    let input = format!("{code}\n4831\n");
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        latchkey(&data_path, &ca_path, &["wait", "--timeout", "5"], &input)
    })
    .await
    .expect("cli");
    assert!(ok, "wait failed: {err}");
    assert!(
        out.contains("Firefox on Linux") && out.contains("Approved"),
        "{out}"
    );

    let (ok, out, err) = latchkey(data.path(), &ca, &["pin", "change"], "4831\n5038\n5038\n");
    assert!(ok && out.contains("PIN changed"), "{out}{err}");
    let (ok, _, err) = latchkey(data.path(), &ca, &["pin", "change"], "4831\n7292\n7292\n");
    assert!(!ok && err.contains("wrong PIN"), "{err}");
    let (ok, _, err) = latchkey(
        data.path(),
        &ca,
        &[
            "enrol",
            "--link",
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP",
        ],
        "",
    );
    assert!(!ok && err.contains("another authenticator app"), "{err}");
    // Removal needs the PIN (P7); the prompt says what to do without it.
    let (ok, _, err) = latchkey(data.path(), &ca, &["remove"], "4831\n");
    assert!(!ok && err.contains("wrong PIN"), "{err}");
    assert!(
        err.contains("latchkey pin forgot") && err.contains("web page"),
        "{err}"
    );
    let (ok, out, _) = latchkey(data.path(), &ca, &["accounts"], "");
    assert!(
        ok && out.contains("cli@example.org"),
        "still enrolled: {out}"
    );
    let (ok, out, err) = latchkey(data.path(), &ca, &["remove"], "5038\n");
    assert!(ok && out.contains("Removed"), "{out}{err}");
    server.stop().await;
}
