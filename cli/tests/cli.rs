//! The `latchkey` command against the real server: enrol from the link, list accounts, wait
//! and approve a sign-in, change the PIN. Secrets come on stdin (`--stdin`); the keystore is
//! the real kernel keyring (test.sh runs inside `keyctl session`).
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use std::io::Write as _;
use std::process::{Command, Stdio};

use latchkey_e2e::*;

mod support;

/// The CLI with the kernel keyring (no Secret Service under test.sh), chosen as a person would.
fn latchkey(
    data: &std::path::Path,
    ca: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    support::latchkey_env(
        data,
        ca,
        args,
        stdin,
        &[("LATCHKEY_KEYSTORE", "kernel-keyring".into())],
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
        err.contains("Wrong PIN. 4 attempts left"),
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

    // Issue 14, item 6: live requests are listed newest first with their time left; `approve`
    // and `deny` take the only live request, or an id from the list; denials read plainly.
    let (_, _, older_code) =
        Browser::sign_in(&server, "cli@example.org", "correct horse battery").await;
    server.state.clock.advance(2);
    let (_, _, _) = Browser::sign_in(&server, "cli@example.org", "correct horse battery").await;
    let (ok, out, err) = latchkey(data.path(), &ca, &["requests"], "");
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("Firefox on Linux") && l.contains(" left")),
        "{out}"
    );
    let left = |line: &str| -> u64 {
        let at = line.find(" left").expect("time left");
        let (m, sec) = line[..at]
            .rsplit(' ')
            .next()
            .and_then(|t| t.split_once(':'))
            .expect("m:ss");
        m.parse::<u64>().expect("minutes") * 60 + sec.parse::<u64>().expect("seconds")
    };
    let (newest_left, older_left) = (left(lines[0]), left(lines[1]));
    assert!((110..=120).contains(&newest_left), "{out}");
    assert!(
        older_left + 2 <= newest_left,
        "newest first, older has less left: {out}"
    );
    let newest = lines[0].split_whitespace().next().expect("id").to_owned();
    let older = lines[1].split_whitespace().next().expect("id").to_owned();
    let (ok, _, err) = latchkey(data.path(), &ca, &["approve"], "");
    assert!(
        !ok && err.contains("2 sign-in requests are waiting"),
        "{err}"
    );
    let (ok, out, err) = latchkey(data.path(), &ca, &["deny", &newest], "");
    assert!(ok, "{err}");
    assert!(
        out.contains("Denied. The login page says") && !out.contains("(Denied)"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("time left")
            && (l.contains(" 1:") || l.contains(" 2:00"))),
        "{out}"
    );
    assert!(out.contains("requested  ") && out.contains(" UTC"), "{out}");
    let (data_path, ca_path) = (data.path().to_owned(), ca.clone());
    let input = format!("{older_code}\n4831\n");
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || latchkey(&data_path, &ca_path, &["approve"], &input))
            .await
            .expect("cli");
    assert!(
        ok && out.contains("Approved"),
        "the only live one: {out}{err}"
    );
    let _ = older;

    let (ok, out, err) = latchkey(data.path(), &ca, &["pin", "change"], "4831\n5038\n5038\n");
    assert!(ok && out.contains("Your PIN was changed"), "{out}{err}");
    let (ok, _, err) = latchkey(data.path(), &ca, &["pin", "change"], "4831\n7292\n7292\n");
    assert!(!ok && err.contains("Wrong PIN"), "{err}");
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
    assert!(!ok && err.contains("Wrong PIN"), "{err}");
    assert!(
        err.contains("latchkey pin forgot") && err.contains("web page"),
        "{err}"
    );
    let (ok, out, _) = latchkey(data.path(), &ca, &["accounts"], "");
    assert!(
        ok && out.contains("cli@example.org"),
        "still enrolled: {out}"
    );
    // Issue 14, item 6: `pin forgot` asks for the new PIN twice, like `pin change`; two
    // different PINs change nothing.
    let forgot = |again: &'static str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .arg("--data-dir")
            .arg(data.path())
            .arg("--ca")
            .arg(&ca)
            .args(["--stdin", "pin", "forgot"])
            .env("LATCHKEY_KEYSTORE", "kernel-keyring")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run latchkey");
        let mut stdin = child.stdin.take().expect("stdin");
        let before = server.outbox().len();
        // The new PIN twice first; only a matching pair goes on to the password and the mail.
        stdin
            .write_all(format!("6917\n{again}\n").as_bytes())
            .expect("PINs");
        if again == "6917" {
            stdin
                .write_all(b"correct horse battery\n")
                .expect("password");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while server.outbox().len() == before {
                assert!(std::time::Instant::now() < deadline, "no reset mail");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let code = latchkey_e2e::server::reset_code(&server);
            stdin
                .write_all(format!("{code}\n").as_bytes())
                .expect("code");
        }
        drop(stdin);
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mails = server.outbox().len();
    let (ok, _, err) = forgot("6918");
    assert_eq!(
        server.outbox().len(),
        mails,
        "a typo costs no reset (nothing mailed)"
    );
    assert!(
        !ok && err.contains("The two new PINs are different"),
        "{err}"
    );
    assert!(err.contains("New PIN again"), "asked twice: {err}");
    let (ok, _, err) = latchkey(data.path(), &ca, &["remove"], "6917\n");
    assert!(!ok && err.contains("Wrong PIN"), "nothing changed: {err}");
    let (ok, out, err) = forgot("6917");
    assert!(ok && out.contains("Your new PIN is set"), "{out}{err}");

    let (ok, out, err) = latchkey(data.path(), &ca, &["remove"], "6917\n");
    assert!(
        ok && out.contains("was removed from this device"),
        "{out}{err}"
    );
    server.stop().await;
}

/// The CLI takes its words from the app's catalogue, in the locale's language.
#[test]
fn cli_speaks_the_locale_language() {
    let data = tempfile::tempdir().expect("tempdir");
    for (lang, expected) in [
        ("fr_FR.UTF-8", ["Aucun compte", "trousseau"]),
        ("de_DE.UTF-8", ["Noch kein Konto", "Schlüsselbund"]),
        ("C.UTF-8", ["No account yet", "keyring"]),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .arg("--data-dir")
            .arg(data.path())
            .arg("accounts")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", lang)
            .output()
            .expect("run latchkey");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(expected.iter().any(|e| text.contains(e)), "{lang}: {text}");
    }
}
