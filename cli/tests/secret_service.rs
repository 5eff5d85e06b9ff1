//! Issue 17, item 4: keys that survive a reboot. The CLI's default keystore is the Secret
//! Service: here GNOME Keyring on a private D-Bus session bus, unlocked from stdin. An account
//! is enrolled, the keyring daemon is stopped and started again (it reloads the keyring from
//! disk, as after a reboot), and the account still approves a sign-in.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

mod support;

use latchkey_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_service_keys_survive_a_keyring_restart() {
    let Some(mut session) = SecretServiceSession::start() else {
        return;
    };
    let server = TestServer::start(Backend::Sqlite).await;
    let browser = Browser::register(&server, "ss@example.org", "correct horse battery").await;
    let (_, link) = browser.add_device("Desktop", "4831").await;
    let data = tempfile::tempdir().expect("tempdir");
    let ca = server.dir.path().join("tls/dev-ca.pem");
    let env = session.env();
    let run =
        |args: &[&str], stdin: &str| support::latchkey_env(data.path(), &ca, args, stdin, &env);

    let (ok, out, err) = run(&["enrol", "--link", &link], "4831\n");
    assert!(ok, "enrol failed: {err}");
    assert!(out.contains("Success"), "{out}");
    assert!(
        !err.contains("kernel keyring"),
        "no forgets-at-reboot note for the Secret Service: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(data.path().join("keystore")).expect("marker"),
        "secret-service\n",
        "the data directory records the Secret Service"
    );
    // The wrapping key is in the keyring file on disk, not only in the daemon's memory.
    let keyrings = session.home.path().join("data/keyrings");
    assert!(
        std::fs::read_dir(&keyrings)
            .expect("keyrings dir")
            .any(|e| e.expect("entry").file_name() == "login.keyring"),
        "the login keyring is on disk"
    );

    session.stop_keyring();
    session.start_keyring();
    let env = session.env();
    let run =
        |args: &[&str], stdin: &str| support::latchkey_env(data.path(), &ca, args, stdin, &env);

    let (_, _, code) = Browser::sign_in(&server, "ss@example.org", "correct horse battery").await;
    let input = format!("{code}\n4831\n");
    let (ok, out, err) = tokio::task::block_in_place(|| run(&["wait", "--timeout", "5"], &input));
    assert!(ok, "approve after the keyring restart failed: {err}");
    assert!(out.contains("Approved"), "{out}");

    // Asking for the kernel keyring now is refused: the keys are in the Secret Service.
    let mut kernel = env.clone();
    kernel.push(("LATCHKEY_KEYSTORE", "kernel-keyring".into()));
    let (ok, _, err) = support::latchkey_env(data.path(), &ca, &["accounts"], "", &kernel);
    assert!(!ok && err.contains("secret-service"), "{err}");
    server.stop().await;
}

/// Without a Secret Service the CLI refuses with the fix and writes nothing.
#[test]
fn no_secret_service_is_refused_with_the_fix() {
    let data = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("home");
    let env = [
        (
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/no-bus", home.path().display()).into(),
        ),
        ("HOME", home.path().into()),
    ];
    let ca = home.path().join("ca.pem");
    std::fs::write(&ca, "").expect("ca");
    let (ok, _, err) = support::latchkey_env(data.path(), &ca, &["accounts"], "", &env);
    assert!(!ok, "refused");
    assert!(
        err.contains("GNOME Keyring") && err.contains("--keystore kernel-keyring"),
        "the fix is named: {err}"
    );
    assert_nothing_written(data.path());
}

/// GNOME Keyring's session collection forgets everything at logout: when the Secret Service's
/// default keyring is that one, the CLI refuses with the fix and writes nothing.
#[test]
fn the_session_only_keyring_is_refused_with_the_fix() {
    let Some(session) = SecretServiceSession::start() else {
        return;
    };
    let env = session.env();
    let set_default = std::process::Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.SetAlias",
            "string:default",
            "objpath:/org/freedesktop/secrets/collection/session",
        ])
        .envs(env.iter().cloned())
        .output()
        .expect("dbus-send");
    assert!(
        set_default.status.success(),
        "SetAlias: {}",
        String::from_utf8_lossy(&set_default.stderr)
    );
    let data = tempfile::tempdir().expect("data");
    let ca = session.home.path().join("ca.pem");
    std::fs::write(&ca, "").expect("ca");
    let (ok, _, err) = support::latchkey_env(data.path(), &ca, &["accounts"], "", &env);
    assert!(!ok, "refused: {err}");
    assert!(
        err.contains("session keyring") && err.contains("Set as Default"),
        "says why and the fix: {err}"
    );
    assert_nothing_written(data.path());
}

/// A refused start leaves the data directory as it was: empty.
fn assert_nothing_written(data: &std::path::Path) {
    assert!(
        std::fs::read_dir(data).expect("data").next().is_none(),
        "nothing written"
    );
}
