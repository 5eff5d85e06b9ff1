//! P7 on the device side, end to end (the real core against the real server): removing a
//! device from the app needs its PIN, and a PIN change or a forgotten-PIN reset replaces the
//! approval key on the server — a signature by the old key is refused afterwards.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_core::vault::approval::ApprovalKey;
use latchkey_core::vault::RecordId;
use latchkey_core::{Error, ErrorKind};
use latchkey_e2e::server::reset_code;
use latchkey_e2e::*;
use latchkey_protocol::oprf;
use latchkey_protocol::secret::{OneTimeCode, Password, Pin};
use latchkey_protocol::signed::{self, Decision};
use latchkey_protocol::wire::{Answer, AnswerOutcome, Evaluate, EvaluatePurpose, RemoveDevice};
use rand_core::OsRng;

async fn enrolled(server: &TestServer, email: &str, pin: &str) -> (Phone, latchkey_core::Account) {
    let browser = Browser::register(server, email, PASSWORD).await;
    let (html, _) = browser.add_device("Phone", pin).await;
    let link = scan_page(&html);
    let phone = Phone::new(server);
    let account = phone
        .open()
        .enrol(&link, &Pin::new(pin), None)
        .await
        .expect("enrol");
    (phone, account)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p7_app_removal_needs_pin() {
    let server = TestServer::start(Backend::Sqlite).await;
    let email = "remove@example.org";
    let (phone, account) = enrolled(&server, email, "4831").await;
    let core = phone.open();
    let device = phone.record(&account.id).identity.device;

    // A wrong PIN is counted and refused: nothing is removed, here or on the server.
    let wrong = core
        .remove(&account.id, &Pin::new("5038"))
        .await
        .expect_err("a wrong PIN removed the device");
    assert!(
        matches!(
            wrong,
            Error::WrongPin {
                attempts_left: Some(4)
            }
        ),
        "{wrong:?}"
    );
    assert_eq!(core.accounts().expect("accounts").len(), 1);
    let row = device_row(&server, &device).await;
    assert_eq!((row.state.as_str(), row.failures), ("active", 1));

    // What the core never sends, the server refuses too: no signature, a signature by
    // another key, or a replayed counter. The device stays active.
    let refused = phone
        .raw_call(
            &server,
            &account.id,
            RemoveDevice {
                counter: 1 << 40,
                approval_signature: None,
            },
        )
        .await
        .expect_err("removed without the PIN");
    assert_eq!(refused.status.as_u16(), 400, "{refused:?}");
    let record = phone.record(&account.id);
    let (a, d) = (record.identity.account, record.identity.device);
    let stranger = ApprovalKey::generate(&mut OsRng);
    phone
        .raw_call(
            &server,
            &account.id,
            RemoveDevice {
                counter: 1 << 40,
                approval_signature: Some(stranger.sign(&signed::removal(&a, &d, 1 << 40))),
            },
        )
        .await
        .expect_err("removed with another key's signature");
    assert_eq!(device_row(&server, &device).await.state, "active");

    // Still the person's device: sign-ins still reach it and its PIN approves.
    let (browser, code, view) = sign_in_and_wait(&server, &core, &account.id, email).await;
    core.approve(&view, &code, &Pin::new("4831"))
        .await
        .expect("still enrolled");
    assert_eq!(
        browser.get_raw("/login/approve").await.headers()["location"],
        "/account"
    );
    let used = device_row(&server, &device).await.last_counter;

    // A signature by the real approval key with a counter already used is refused too.
    let key = phone.approval_key(&server, &account.id, "4831").await;
    let replayed = u64::try_from(used).expect("counter");
    phone
        .raw_call(
            &server,
            &account.id,
            RemoveDevice {
                counter: replayed,
                approval_signature: Some(key.sign(&signed::removal(&a, &d, replayed))),
            },
        )
        .await
        .expect_err("a used counter removed the device");
    assert_eq!(device_row(&server, &device).await.state, "active");
    drop(key);

    // The right PIN removes it: on the server, and here.
    core.remove(&account.id, &Pin::new("4831"))
        .await
        .expect("remove");
    assert!(core.accounts().expect("accounts").is_empty());
    let row = device_row(&server, &device).await;
    assert_eq!(row.state, "removed");
    assert!(row.approval_key.is_none());
    assert!(row.last_counter > used, "the removal used a fresh counter");
    assert!(
        !std::fs::read_dir(phone.data().join("device-keys"))
            .expect("device keys")
            .any(|e| e
                .expect("entry")
                .path()
                .extension()
                .is_some_and(|x| x == "json")),
        "the device key is gone"
    );
    server.stop().await;
}

/// An enrolment the server never confirmed has no approval key: removing it needs no PIN
/// (it cancels the enrolment); and a device already removed on the web page is removed here
/// whatever PIN is typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removal_of_unfinished_or_already_removed_devices() {
    let server = TestServer::start(Backend::Sqlite).await;
    let browser = Browser::register(&server, "half@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Phone", "4831").await;
    let link = scan_page(&html);
    let phone = Phone::new(&server);
    let core = phone.open();
    let e = core
        .enrol(&link, &Pin::new("5038"), None)
        .await
        .expect_err("not the PIN set on the web page");
    assert_eq!(e.kind(), ErrorKind::WrongPin);
    let pending = core.accounts().expect("accounts");
    assert_eq!(pending.len(), 1);
    let device = phone.record(&pending[0].id).identity.device;
    core.remove(&pending[0].id, &Pin::new("0000"))
        .await
        .expect("cancel the enrolment");
    assert!(core.accounts().expect("accounts").is_empty());
    assert_eq!(device_row(&server, &device).await.state, "removed");

    // An enrolment the server confirmed but whose last write on the device was lost is an
    // enrolled device: its removal needs the PIN.
    let browser = Browser::register(&server, "lost@example.org", PASSWORD).await;
    let (html, _) = browser.add_device("Phone", "4831").await;
    let link = scan_page(&html);
    let phone = Phone::new(&server);
    let plan = latchkey_core::FaultPlan::counting();
    let probe = Phone::new(&server);
    let probe_browser = Browser::register(&server, "probe@example.org", PASSWORD).await;
    let (probe_html, _) = probe_browser.add_device("Phone", "4831").await;
    probe
        .open_with(Some(probe.ca.clone()), Some(plan.clone()))
        .enrol(&scan_page(&probe_html), &Pin::new("4831"), None)
        .await
        .expect("enrol");
    // The last write (activation) is the last 4 steps; crash at its first.
    let crash = latchkey_core::FaultPlan::crash_after(plan.steps() - 4);
    phone
        .open_with(Some(phone.ca.clone()), Some(crash))
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect_err("crash before the activation was written");
    let core = phone.open();
    let half = core.accounts().expect("accounts");
    assert_eq!(half[0].state, latchkey_core::vault::RecordState::Enrolling);
    let device = phone.record(&half[0].id).identity.device;
    assert_eq!(device_row(&server, &device).await.state, "active");
    let wrong = core
        .remove(&half[0].id, &Pin::new("0000"))
        .await
        .expect_err("an enrolled device removed without its PIN");
    assert_eq!(wrong.kind(), ErrorKind::WrongPin, "{wrong}");
    assert_eq!(device_row(&server, &device).await.state, "active");
    core.remove(&half[0].id, &Pin::new("4831"))
        .await
        .expect("remove with the PIN");
    assert_eq!(device_row(&server, &device).await.state, "removed");

    let (phone, account) = enrolled(&server, "gone@example.org", "4831").await;
    let core = phone.open();
    let device = phone.record(&account.id).identity.device;
    sqlx::query("UPDATE devices SET state = 'removed' WHERE id = $1")
        .bind(device.to_string())
        .execute(&server.state.db)
        .await
        .expect("removed on the web page");
    core.remove(&account.id, &Pin::new("0000"))
        .await
        .expect("finished locally");
    assert!(core.accounts().expect("accounts").is_empty());
    server.stop().await;
}

/// Sends an approval for the next sign-in signed by `key` (after the counted evaluation the
/// server requires), as a device holding that key would.
async fn answer_signed_by(
    server: &TestServer,
    phone: &Phone,
    account: &RecordId,
    email: &str,
    key: &ApprovalKey,
) -> Result<AnswerOutcome, server::Failure> {
    let core = phone.open();
    let (_, code, view) = sign_in_and_wait(server, &core, account, email).await;
    let (_, blinded) = oprf::blind(&Pin::new("0000"), &mut OsRng).expect("blind");
    phone
        .raw_call(
            server,
            account,
            Evaluate {
                purpose: EvaluatePurpose::Approve {
                    challenge: view.challenge.id,
                },
                blinded_pin: blinded,
            },
        )
        .await
        .expect("evaluation");
    // Reserved through the vault, so the core's own counters stay above it.
    let counter = phone.vault().next_counter(account).expect("counter");
    let c = &view.challenge;
    let bytes = signed::answer(
        &c.account,
        &c.device,
        &c.id,
        &c.digest(),
        &code,
        Decision::Approve,
        counter,
    );
    let result = phone
        .raw_call(
            server,
            account,
            Answer {
                challenge: c.id,
                challenge_digest: c.digest(),
                decision: Decision::Approve,
                typed_code: code,
                counter,
                approval_signature: Some(key.sign(&bytes)),
            },
        )
        .await
        .map(|r| r.outcome);
    if result.is_err() {
        // Out of the way of the next sign-in.
        core.deny(&view, false).await.expect("deny");
    }
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p7_pin_change_issues_a_fresh_key_on_the_server() {
    let server = TestServer::start(Backend::Sqlite).await;
    let email = "fresh-change@example.org";
    let (phone, account) = enrolled(&server, email, "4831").await;
    let core = phone.open();
    let device = phone.record(&account.id).identity.device;
    let before = device_row(&server, &device).await;
    let old_key = phone.approval_key(&server, &account.id, "4831").await;
    assert_eq!(
        before.approval_key.as_deref(),
        Some(latchkey_protocol::b64::encode(&old_key.public_key().to_sec1()).as_str()),
        "the key read from the device is the one the server holds"
    );

    core.change_pin(&account.id, &Pin::new("4831"), &Pin::new("5038"))
        .await
        .expect("change");
    let after = device_row(&server, &device).await;
    assert!(after.approval_key.is_some());
    assert_ne!(
        after.approval_key, before.approval_key,
        "a fresh approval key"
    );
    assert_ne!(after.oprf_key, before.oprf_key, "a fresh OPRF key");

    let refused = answer_signed_by(&server, &phone, &account.id, email, &old_key)
        .await
        .expect_err("the old key still approves");
    assert_eq!(refused.status.as_u16(), 400, "{refused:?}");
    // The same answer by the new key goes through: only the key made the difference.
    let new_key = phone.approval_key(&server, &account.id, "5038").await;
    assert_ne!(new_key.public_key(), old_key.public_key());
    let outcome = answer_signed_by(&server, &phone, &account.id, email, &new_key)
        .await
        .expect("the new key approves");
    assert_eq!(outcome, AnswerOutcome::Approved);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p7_reset_issues_fresh_keys_on_the_server() {
    let server = TestServer::start(Backend::Sqlite).await;
    let email = "fresh-reset@example.org";
    let (phone, account) = enrolled(&server, email, "4831").await;
    let core = phone.open();
    let device = phone.record(&account.id).identity.device;
    let old_key = phone.approval_key(&server, &account.id, "4831").await;
    lock_with_wrong_pins(&server, &core, &account.id, email, 5).await;
    let before = device_row(&server, &device).await;
    assert_eq!(before.failures, 5, "locked");

    let ticket = core
        .forgot_pin_start(&account.id, &Password::new(PASSWORD))
        .await
        .expect("start");
    core.forgot_pin_finish(
        &account.id,
        &ticket,
        &OneTimeCode::new(reset_code(&server)),
        &Pin::new("7292"),
    )
    .await
    .expect("reset");
    let after = device_row(&server, &device).await;
    assert!(after.approval_key.is_some());
    assert_ne!(
        after.approval_key, before.approval_key,
        "a fresh approval key"
    );
    assert_ne!(after.oprf_key, before.oprf_key, "a fresh OPRF key");
    assert_eq!(after.failures, 0, "unlocked");

    let refused = answer_signed_by(&server, &phone, &account.id, email, &old_key)
        .await
        .expect_err("the old key still approves");
    assert_eq!(refused.status.as_u16(), 400, "{refused:?}");
    let new_key = phone.approval_key(&server, &account.id, "7292").await;
    let outcome = answer_signed_by(&server, &phone, &account.id, email, &new_key)
        .await
        .expect("the new key approves");
    assert_eq!(outcome, AnswerOutcome::Approved);
    // And the core itself approves with the new PIN.
    let (_, code, view) = sign_in_and_wait(&server, &core, &account.id, email).await;
    core.approve(&view, &code, &Pin::new("7292"))
        .await
        .expect("approve");
    server.stop().await;
}
