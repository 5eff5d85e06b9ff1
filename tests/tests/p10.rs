//! P10 end to end: a crash at every step of a PIN change and of a forgotten-PIN reset — each
//! durable write on the device, and between the device and the server (before the commit is
//! sent, and after the server committed but before the device heard) — then a restart and
//! `settle()`. Afterwards the old or the new PIN approves a sign-in; the person is never
//! locked out.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_core::{FaultPlan, Latchkey};
use latchkey_e2e::server::reset_code;
use latchkey_e2e::*;
use latchkey_protocol::secret::{OneTimeCode, Password, Pin};

async fn enrolled_phone(server: &TestServer, email: &str) -> (Phone, latchkey_core::Account) {
    let browser = Browser::register(server, email, PASSWORD).await;
    let (html, _) = browser.add_device("Phone", "4831").await;
    let link = scan_page(&html);
    let phone = Phone::new(server);
    let account = phone
        .open()
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("enrol");
    (phone, account)
}

/// A PIN change 4831 → 5038 that stops right before its commit is sent: staged on the device,
/// never committed on the server (the staged write is the first 4 steps).
async fn change_interrupted_before_commit(phone: &Phone, account: &latchkey_core::Account) {
    let core = phone.open_with(Some(phone.ca.clone()), Some(FaultPlan::crash_after(4)));
    let e = core
        .change_pin(&account.id, &Pin::new("4831"), &Pin::new("5038"))
        .await
        .expect_err("interrupted before the commit");
    assert!(e.to_string().contains("before sending the commit"), "{e}");
}

/// Which PIN approves a fresh sign-in now (after settling).
async fn working_pin(
    server: &TestServer,
    core: &Latchkey,
    account: &latchkey_core::Account,
    email: &str,
    pins: &[&str],
) -> String {
    for pin in pins {
        let (_, code, view) = sign_in_and_wait(server, core, &account.id, email).await;
        match core.approve(&view, &code, &Pin::new(*pin)).await {
            Ok(()) => return (*pin).to_owned(),
            Err(e) => {
                assert_eq!(e.kind(), latchkey_core::ErrorKind::WrongPin, "{e}");
                let _ = core.deny(&view, false).await;
            }
        }
    }
    panic!("no PIN works: the person is locked out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p10_crash_during_change_and_reset() {
    // Dozens of sign-ins and resets from one IP: lift the per-IP limits for this test.
    let policy = server::Policy {
        login_attempts: 10_000,
        resets_per_ip: 10_000,
        registrations_per_ip: 10_000,
        ..server::Policy::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, policy).await;
    let mut outcomes = Vec::new();
    for (kind, old, new) in [("change", "4831", "5038"), ("reset", "4831", "7292")] {
        let mut n = 0;
        loop {
            let email = format!("{kind}{n}@example.org");
            let (phone, account) = enrolled_phone(&server, &email).await;
            let plan = FaultPlan::crash_after(n);
            let result = {
                let core = phone.open_with(Some(phone.ca.clone()), Some(plan.clone()));
                match kind {
                    "change" => {
                        core.change_pin(&account.id, &Pin::new(old), &Pin::new(new))
                            .await
                    }
                    _ => {
                        let ticket = core
                            .forgot_pin_start(&account.id, &Password::new(PASSWORD))
                            .await
                            .expect("start");
                        let code = reset_code(&server);
                        core.forgot_pin_finish(
                            &account.id,
                            &ticket,
                            &OneTimeCode::new(code),
                            &Pin::new(new),
                        )
                        .await
                    }
                }
            };
            if !plan.crashed() {
                result.expect("no crash: success");
                break;
            }
            assert!(result.is_err());
            // Restart, settle, and find the PIN that works.
            let core = phone.open();
            let settled = core.settle().await.expect("settle");
            assert!(
                core.accounts()
                    .expect("accounts")
                    .iter()
                    .all(|a| !a.unsettled),
                "settled: {settled:?}"
            );
            let pin = working_pin(&server, &core, &account, &email, &[old, new]).await;
            outcomes.push(format!(
                "{kind} crash at step {n}: {settled:?} -> PIN {pin} works"
            ));
            n += 1;
        }
        assert!(n >= 10, "{kind}: only {n} crash points");
    }
    for line in &outcomes {
        eprintln!("{line}");
    }
    assert!(
        outcomes.iter().any(|l| l.contains("Promoted")),
        "some crash was settled forwards"
    );
    server.stop().await;
}

/// A change staged on the device whose commit never reached the server, settled after the
/// server let the operation lapse: rolled back, and the old PIN still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p10_lapsed_change_rolls_back() {
    let policy = server::Policy {
        operation_ttl: 2,
        ..server::Policy::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, policy).await;
    let (phone, account) = enrolled_phone(&server, "lapsed@example.org").await;
    change_interrupted_before_commit(&phone, &account).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let core = phone.open();
    assert!(core.accounts().expect("accounts")[0].unsettled);
    let settled = core.settle().await.expect("settle");
    assert_eq!(settled[0].1, latchkey_core::Settled::Discarded);
    let pin = working_pin(
        &server,
        &core,
        &account,
        "lapsed@example.org",
        &["4831", "5038"],
    )
    .await;
    assert_eq!(pin, "4831");
    server.stop().await;
}

/// Two processes on one data directory (say `latchkey pin change` and a `latchkey accounts`
/// started beside it): the second one's start-up `settle()` must leave the change the first is
/// committing alone — resending or discarding it half-way could lock the person out. Here the
/// first process is a change interrupted before its commit whose claim is still held.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p10_settle_leaves_another_process_operation_alone() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (phone, account) = enrolled_phone(&server, "two@example.org").await;
    change_interrupted_before_commit(&phone, &account).await;
    // The first process is still "running" its operation: it holds the claim.
    let running = latchkey_core::vault::Vault::open(phone.dir.path(), phone.keystore.clone())
        .expect("vault")
        .claim_operation(&account.id)
        .expect("claim")
        .expect("free");
    let second = phone.open();
    let settled = second.settle().await.expect("settle");
    assert_eq!(settled[0].1, latchkey_core::Settled::Pending);
    assert!(second.accounts().expect("accounts")[0].unsettled);
    let refused = second
        .change_pin(&account.id, &Pin::new("4831"), &Pin::new("6124"))
        .await
        .expect_err("another change is running");
    assert!(
        refused.to_string().contains("already in progress"),
        "{refused}"
    );
    // The first process ends (or crashes): its claim goes, and settling finishes the change.
    drop(running);
    let settled = second.settle().await.expect("settle");
    assert_eq!(settled[0].1, latchkey_core::Settled::Promoted);
    let pin = working_pin(
        &server,
        &second,
        &account,
        "two@example.org",
        &["4831", "5038"],
    )
    .await;
    assert_eq!(pin, "5038");
    server.stop().await;
}
