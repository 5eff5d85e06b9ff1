//! The device API against the real server on loopback HTTPS, on SQLite and PostgreSQL.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_protocol::types::{OperationId, PublicKey};
use latchkey_protocol::wire::*;
use latchkey_test_support::*;
use rand_core::OsRng;

on_both_backends! {
    p2_parallel_wrong_pins_count_exactly_five => p2_parallel;
    p2_uniform_failure_responses => p2_uniform;
    p2_only_a_successful_pin_resets_the_counter => p2_reset;
    p4_replayed_answer_refused => p4_replay;
    p4_first_answer_wins => p4_first_wins;
    p4_code_mismatch_refused => p4_mismatch;
    p4_expiry_by_server_clock => p4_expiry;
    p4_tampered_challenge_refused => p4_tampered;
    p6_enrolment_code_single_use_and_expiry => p6_code;
    p7_password_alone_cannot_reset_pin => p7_password_alone;
    p7_reset_issues_fresh_keys_and_notifies => p7_reset;
    approve_signs_in_the_browser => approve_flow;
    long_poll_delivers_within_a_second => long_poll;
    pin_change_two_phase_and_status => pin_change;
    device_removal_revokes_access => removal;
    pin_chosen_in_app => pin_in_app;
    p4_every_answer_field_is_signed => answer_fields;
    p7_pin_change_refuses_the_old_key_as_new => same_key;
    p2_no_evaluation_for_a_dead_or_foreign_request => dead_requests;
    audit_events_name_what_happened => audit_events;
    envelopes_bound_to_their_account_and_clock => envelope_checks;
    old_request_ids_are_forgotten => request_id_sweep;
    p4_replay_refused_after_request_ids_are_swept => replay_after_sweep;
    p7_pin_change_needs_the_old_key_and_a_reset_expires => rekey_proofs;
    concurrent_pin_changes_commit_once => concurrent_changes;
    pin_operation_status_and_a_resent_commit => operation_status;
}

async fn challenge_for(
    server: &TestServer,
    device: &Device,
    email: &str,
) -> (Browser, String, SignedChallenge) {
    let (browser, _, code) = Browser::sign_in(server, email, "correct horse battery").await;
    let ids = device.pending(0).await;
    let newest = *ids.first().expect("a pending challenge");
    let signed = device.fetch(newest).await.expect("fetch");
    assert!(
        signed.verify(&device.link.server_key),
        "signed with the pinned key"
    );
    (browser, code, signed)
}

async fn p2_parallel(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "p2@example.org", "4831").await;
    let (_, _, signed) = challenge_for(&server, &device, "p2@example.org").await;
    let id = signed.challenge.id;
    let device = std::sync::Arc::new(device);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let device = device.clone();
            tokio::spawn(async move { device.evaluate(id, &format!("{:04}", 1000 + i)).await })
        })
        .collect();
    let mut counted = 0;
    let mut locked = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => counted += 1,
            Err(f) if f.body.error == ErrorCode::Locked => locked += 1,
            Err(f) => panic!("unexpected {f:?}"),
        }
    }
    assert_eq!(
        (counted, locked),
        (5, 45),
        "exactly five evaluations may happen"
    );
    let correct = device.evaluate(id, "4831").await.expect_err("locked");
    assert_eq!(correct.body.error, ErrorCode::Locked);
    assert!(correct.body.message.contains("Forgot PIN"));
    server.stop().await;
}

async fn p2_uniform(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "uniform@example.org", "4831").await;
    let (_, _, signed) = challenge_for(&server, &device, "uniform@example.org").await;
    let id = signed.challenge.id;
    // The server answers a right and a wrong PIN identically: it cannot tell them apart.
    let (_, left_right) = device
        .evaluate(id, "4831")
        .await
        .expect("right PIN evaluated");
    let (_, left_wrong) = device
        .evaluate(id, "9999")
        .await
        .expect("wrong PIN evaluated");
    assert_eq!(
        (left_right, left_wrong),
        (4, 3),
        "both counted the same way"
    );
    // Enrolment: a wrong PIN check and a missing one get the same answer.
    let browser = Browser::register(&server, "uniform2@example.org", "correct horse battery").await;
    let mut bodies = Vec::new();
    for check in [Some("wrong"), None] {
        let (_, link) = browser.add_device("Phone", "4831").await;
        let (link, begun) = Device::begin(&server, &link, "5038").await.expect("begin");
        let device = Device::enrolling(&server, link, &begun);
        let pin_check = check.map(|_| {
            latchkey_protocol::oprf::pin_check(&begun.output, &device.account, &device.device)
        });
        let failure = device
            .call(device.finish_body(pin_check))
            .await
            .expect_err("wrong PIN");
        bodies.push((failure.status, failure.body));
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[0].1.error, ErrorCode::WrongPin);
    assert_eq!(bodies[0].1.attempts_left, Some(4));
    server.stop().await;
}

async fn p4_replay(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "replay@example.org", "4831").await;
    let (_, code, signed) = challenge_for(&server, &device, "replay@example.org").await;
    device
        .evaluate(signed.challenge.id, "4831")
        .await
        .expect("evaluate");
    device.counter += 1;
    let request = device.envelope(device.answer_body(
        &signed,
        &code,
        latchkey_protocol::signed::Decision::Approve,
        device.counter,
    ));
    device.send(&request).await.expect("approved");
    let replay = device.send(&request).await.expect_err("replay");
    assert_eq!(replay.body.error, ErrorCode::Replayed);
    // Re-signed with a fresh request id but the same answer: the challenge is spent.
    let again = device
        .call(device.answer_body(
            &signed,
            &code,
            latchkey_protocol::signed::Decision::Approve,
            device.counter,
        ))
        .await;
    assert_eq!(
        again.expect_err("spent").body.error,
        ErrorCode::AlreadyAnswered
    );
    // A later challenge with an old counter is refused.
    let (_, code2, signed2) = challenge_for(&server, &device, "replay@example.org").await;
    device
        .evaluate(signed2.challenge.id, "4831")
        .await
        .expect("evaluate");
    let stale = device
        .call(device.answer_body(
            &signed2,
            &code2,
            latchkey_protocol::signed::Decision::Approve,
            device.counter,
        ))
        .await;
    assert_eq!(
        stale.expect_err("counter").body.error,
        ErrorCode::CounterReused
    );
    // A replayed evaluation is refused as such and counts nothing: the request id is
    // recorded in the same transaction as the failure counter.
    let (_, _, signed3) = challenge_for(&server, &device, "replay@example.org").await;
    let (_, blinded) =
        latchkey_protocol::oprf::blind(&latchkey_protocol::secret::Pin::new("0000"), &mut OsRng)
            .expect("blind");
    let evaluate = device.envelope(Evaluate {
        purpose: EvaluatePurpose::Approve {
            challenge: signed3.challenge.id,
        },
        blinded_pin: blinded,
    });
    let first = device.send(&evaluate).await.expect("evaluated");
    let replayed = device.send(&evaluate).await.expect_err("replay");
    assert_eq!(replayed.body.error, ErrorCode::Replayed);
    let (_, left) = device
        .evaluate(signed3.challenge.id, "4831")
        .await
        .expect("evaluate");
    assert_eq!(left, first.attempts_left - 1, "the replay was not counted");
    server.stop().await;
}

async fn p4_first_wins(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (browser, mut first) = enrolled(&server, "two@example.org", "4831").await;
    browser.confirm_by_mail(&server).await;
    let (_, link) = browser.add_device("Laptop", "5038").await;
    let mut second = Device::enrol(&server, &link, "5038")
        .await
        .expect("second device");
    let (_, _, code) = Browser::sign_in(&server, "two@example.org", "correct horse battery").await;
    let a = first
        .fetch(first.pending(0).await[0])
        .await
        .expect("fetch a");
    let b = second
        .fetch(second.pending(0).await[0])
        .await
        .expect("fetch b");
    assert_ne!(a.challenge.id, b.challenge.id, "one challenge per device");
    first
        .approve(&a, &code, "4831")
        .await
        .expect("first answer wins");
    let late = second
        .approve(&b, &code, "5038")
        .await
        .expect_err("second loses");
    assert_eq!(late.body.error, ErrorCode::AlreadyAnswered);
    let late_deny = second.deny(&b, false).await.expect_err("deny loses too");
    assert_eq!(late_deny.body.error, ErrorCode::AlreadyAnswered);
    assert!(second.pending(0).await.is_empty());
    server.stop().await;
}

async fn p4_mismatch(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "mismatch@example.org", "4831").await;
    let (browser, code, signed) = challenge_for(&server, &device, "mismatch@example.org").await;
    assert!(
        !serde_json::to_string(&signed)
            .expect("json")
            .contains(&format!("\"{code}\"")),
        "code never sent"
    );
    let wrong = if code == "10" { "11" } else { "10" };
    let refused = device
        .approve(&signed, wrong, "4831")
        .await
        .expect_err("mismatch");
    assert_eq!(refused.body.error, ErrorCode::CodeMismatch);
    let (_, page) = browser.get("/login/approve").await;
    assert!(page.contains("did not match"), "the browser is told");
    let again = device
        .approve(&signed, &code, "4831")
        .await
        .expect_err("spent");
    assert_eq!(again.body.error, ErrorCode::AlreadyAnswered);
    server.stop().await;
}

async fn p4_expiry(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "expiry@example.org", "4831").await;
    let (_, code, signed) = challenge_for(&server, &device, "expiry@example.org").await;
    // The device's clock did not move; the server's did (challenges live 120 s).
    server.state.clock.advance(121);
    // Device requests carry the device's time, which is now 121 s behind: still inside the skew.
    let fetched = device
        .fetch(signed.challenge.id)
        .await
        .expect_err("expired");
    assert_eq!(fetched.body.error, ErrorCode::Expired);
    let answered = device
        .approve(&signed, &code, "4831")
        .await
        .expect_err("expired");
    assert_eq!(answered.body.error, ErrorCode::Expired);
    assert!(device.pending(0).await.is_empty());
    server.stop().await;
}

async fn p4_tampered(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "tamper@example.org", "4831").await;
    let (_, code, signed) = challenge_for(&server, &device, "tamper@example.org").await;
    let mut tampered = signed.clone();
    tampered.challenge.ip = "203.0.113.66".into();
    assert!(
        !tampered.verify(&device.link.server_key),
        "the pinned key exposes the change"
    );
    let refused = device
        .approve(&tampered, &code, "4831")
        .await
        .expect_err("tampered");
    assert_eq!(refused.body.error, ErrorCode::BadRequest);
    // The genuine one still works afterwards.
    device
        .approve(&signed, &code, "4831")
        .await
        .expect("genuine approval");
    server.stop().await;
}

async fn p6_code(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::register(&server, "code@example.org", "correct horse battery").await;
    let (_, link) = browser.add_device("Phone", "4831").await;
    let parsed = latchkey_protocol::link::parse(&link).expect("link");
    assert!(parsed.code.expose_secret().len() * 8 >= 112);
    Device::begin(&server, &link, "4831")
        .await
        .expect("first use");
    let second = Device::begin(&server, &link, "4831")
        .await
        .err()
        .expect("single use");
    assert_eq!(second.body.error, ErrorCode::EnrolmentCodeInvalid);
    let (_, link2, page_path) = browser.add_device_at("Tablet", "4831").await;
    server.state.clock.advance(601);
    let late = Device::begin(&server, &link2, "4831")
        .await
        .err()
        .expect("expired");
    assert_eq!(
        late.body.error,
        ErrorCode::EnrolmentCodeInvalid,
        "same answer as unknown/used"
    );
    let (_, page) = browser.get(&page_path).await;
    assert!(
        page.contains("This code expired"),
        "the QR page no longer shows the code"
    );
    assert!(!page.contains(&link2));
    server.stop().await;
}

async fn p7_password_alone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "thief@example.org", "4831").await;
    let op = OperationId::random(&mut OsRng);
    let bad = device
        .reset_start(op, "wrong password!")
        .await
        .expect_err("wrong password");
    assert_eq!(bad.body.error, ErrorCode::BadCredentials);
    let op = OperationId::random(&mut OsRng);
    device
        .reset_start(op, "correct horse battery")
        .await
        .expect("code sent");
    let real_code = reset_code(&server);
    // Password alone: guesses of the code fail, and after 5 the operation is dead.
    for guess in ["00000000", "12345678", "11111111", "22222222", "33333333"] {
        let e = device
            .reset_finish(op, guess, "5038")
            .await
            .expect_err("guess");
        assert_eq!(e.body.error, ErrorCode::BadCredentials);
    }
    let e = device
        .reset_finish(op, &real_code, "5038")
        .await
        .expect_err("too many guesses");
    assert_eq!(e.body.error, ErrorCode::BadCredentials);
    server.stop().await;
}

async fn p7_reset(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (browser, mut device) = enrolled(&server, "forgot@example.org", "4831").await;
    let (_, _, signed) = challenge_for(&server, &device, "forgot@example.org").await;
    for _ in 0..5 {
        device
            .evaluate(signed.challenge.id, "0000")
            .await
            .expect("counted");
    }
    assert_eq!(
        device
            .evaluate(signed.challenge.id, "4831")
            .await
            .expect_err("locked")
            .body
            .error,
        ErrorCode::Locked
    );
    let (_, page) = browser.get("/account").await;
    assert!(page.contains("Locked"), "the devices page shows the lock");
    let old_public = PublicKey::from(device.approval.verifying_key());
    let op = OperationId::random(&mut OsRng);
    let started = device
        .reset_start(op, "correct horse battery")
        .await
        .expect("start");
    assert_eq!(started.sent_to, vec!["f•••@example.org".to_owned()]);
    let code = reset_code(&server);
    device.reset_finish(op, &code, "5038").await.expect("reset");
    assert_ne!(
        PublicKey::from(device.approval.verifying_key()),
        old_public,
        "fresh approval key"
    );
    assert_eq!(device.epoch, 2);
    assert!(
        server
            .outbox()
            .iter()
            .any(|m| m.contains("Your PIN was reset")),
        "notice sent"
    );
    // Unlocked, and the new key approves.
    let (_, code2, signed2) = challenge_for(&server, &device, "forgot@example.org").await;
    device
        .approve(&signed2, &code2, "5038")
        .await
        .expect("approve after reset");
    // Resets are rate-limited per account.
    for _ in 0..2 {
        device
            .reset_start(OperationId::random(&mut OsRng), "correct horse battery")
            .await
            .expect("within the limit of three an hour");
    }
    let limited = device
        .reset_start(OperationId::random(&mut OsRng), "correct horse battery")
        .await
        .expect_err("limited");
    assert_eq!(limited.body.error, ErrorCode::RateLimited);
    let wait = limited.body.retry_after.expect("retry_after");
    assert!(
        (3000..=3600).contains(&wait),
        "wait until the hour is over: {wait}"
    );
    server.stop().await;
}

async fn approve_flow(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "flow@example.org", "4831").await;
    let (browser, code, signed) = challenge_for(&server, &device, "flow@example.org").await;
    assert_eq!(signed.challenge.browser, "Firefox on Linux");
    assert_eq!(signed.challenge.ip, "127.0.0.1");
    assert_eq!(code.len(), 2);
    let r = device
        .approve(&signed, &code, "4831")
        .await
        .expect("approve");
    assert_eq!(r.outcome, AnswerOutcome::Approved);
    let r = browser.get_raw("/login/approve").await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account");
    let (status, page) = browser.get("/account").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(page.contains("Sign-in approved"), "audit shows it");
    server.stop().await;
}

async fn long_poll(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "poll@example.org", "4831").await;
    let device = std::sync::Arc::new(device);
    let waiter = {
        let device = device.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let ids = device.pending(20).await;
            (ids, started)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let signed_in_at = std::time::Instant::now();
    Browser::sign_in(&server, "poll@example.org", "correct horse battery").await;
    let (ids, _) = waiter.await.expect("waiter");
    let delay = signed_in_at.elapsed();
    assert_eq!(ids.len(), 1);
    assert!(
        delay < std::time::Duration::from_secs(3),
        "delivered in {delay:?}"
    );
    server.stop().await;
}

async fn pin_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "change@example.org", "4831").await;
    let old_public = PublicKey::from(device.approval.verifying_key());
    device.change_pin("4831", "5038").await.expect("change");
    assert_ne!(PublicKey::from(device.approval.verifying_key()), old_public);
    assert_eq!(device.epoch, 2);
    assert!(
        server
            .outbox()
            .iter()
            .any(|m| m.contains("Your PIN was changed")),
        "every address is told"
    );
    let (_, code, signed) = challenge_for(&server, &device, "change@example.org").await;
    device
        .approve(&signed, &code, "5038")
        .await
        .expect("approve with the new key");
    let unknown = device
        .call(OperationStatus {
            operation: OperationId::random(&mut OsRng),
        })
        .await
        .expect("status");
    assert_eq!(unknown.state, OperationState::Unknown);
    server.stop().await;
}

async fn removal(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (browser, mut device) = enrolled(&server, "remove@example.org", "4831").await;
    device.remove("4831").await.expect("removed");
    let after = device
        .call(ListChallenges { wait_seconds: 0 })
        .await
        .expect_err("gone");
    assert_eq!(after.body.error, ErrorCode::Unauthorized);
    let (_, page) = browser.get("/account").await;
    assert!(page.contains("Device removed"));
    server.stop().await;
}

async fn pin_in_app(backend: Backend) {
    let policy = Policy {
        pin_source: PinSource::App,
        ..Policy::default()
    };
    let server = TestServer::start_with(backend, policy).await;
    let browser = Browser::register(&server, "app@example.org", "correct horse battery").await;
    let (html, link) = browser.add_device("Phone", "").await;
    assert!(html.contains("Choose your PIN in the app"));
    let parsed = latchkey_protocol::link::parse(&link).expect("link");
    assert_eq!(parsed.pin_source, PinSource::App);
    let (link, begun) = Device::begin(&server, &link, "7292").await.expect("begin");
    assert_eq!(
        begun.response.pin_source,
        PinSource::App,
        "the app is told to ask for a new PIN"
    );
    let device = Device::enrolling(&server, link, &begun);
    device
        .call(device.finish_body(None))
        .await
        .expect("enrolled without a web PIN");
    server.stop().await;
}

async fn p2_reset(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "reset-counter@example.org", "4831").await;
    // Twice: four wrong PINs, then the right one. Without the reset the second round locks.
    for round in 0..2 {
        let (_, code, signed) = challenge_for(&server, &device, "reset-counter@example.org").await;
        for wrong in 0..4 {
            let (_, left) = device
                .evaluate(signed.challenge.id, "0000")
                .await
                .expect("counted");
            assert_eq!(left, 4 - wrong, "round {round}");
        }
        device
            .approve(&signed, &code, "4831")
            .await
            .expect("the fifth attempt, right, approves");
    }
    // Deny, "this wasn't me" aside, and a failed approval leave the counter where it is.
    let (_, _, denied) = challenge_for(&server, &device, "reset-counter@example.org").await;
    let (_, left) = device
        .evaluate(denied.challenge.id, "0000")
        .await
        .expect("counted");
    assert_eq!(left, 4);
    device.deny(&denied, false).await.expect("denied");
    let (_, code, failed) = challenge_for(&server, &device, "reset-counter@example.org").await;
    let (_, left) = device
        .evaluate(failed.challenge.id, "0000")
        .await
        .expect("counted");
    assert_eq!(left, 3, "a deny does not reset the counter");
    let mut bad = device.answer_body(
        &failed,
        &code,
        latchkey_protocol::signed::Decision::Approve,
        99,
    );
    bad.typed_code = "not signed".into();
    device.call(bad).await.expect_err("invalid approval");
    let (_, left) = device
        .evaluate(failed.challenge.id, "0000")
        .await
        .expect("counted");
    assert_eq!(left, 2, "a failed approval does not reset the counter");
    device.counter = 99;
    device
        .approve(&failed, &code, "4831")
        .await
        .expect("the right PIN approves");
    // A wrong PIN check at enrolment does not reset anything either; only approvals do.
    let (_, code, signed) = challenge_for(&server, &device, "reset-counter@example.org").await;
    let (_, left) = device
        .evaluate(signed.challenge.id, "0000")
        .await
        .expect("counted");
    assert_eq!(
        left, 4,
        "the counter restarted from zero after the last approval"
    );
    device
        .approve(&signed, &code, "4831")
        .await
        .expect("approve");
    // A wrong PIN check value at the end of an enrolment leaves the counter alone too.
    let browser = Browser::register(&server, "check@example.org", "correct horse battery").await;
    let (_, link) = browser.add_device("Phone", "4831").await;
    let (link, begun) = Device::begin(&server, &link, "5038").await.expect("begin");
    assert_eq!(begun.response.attempts_left, 4);
    let enrolling = Device::enrolling(&server, link, &begun);
    let check =
        latchkey_protocol::oprf::pin_check(&begun.output, &enrolling.account, &enrolling.device);
    let wrong = enrolling
        .call(enrolling.finish_body(Some(check)))
        .await
        .expect_err("wrong PIN check");
    assert_eq!(wrong.body.error, ErrorCode::WrongPin);
    let (_, blinded) =
        latchkey_protocol::oprf::blind(&latchkey_protocol::secret::Pin::new("4831"), &mut OsRng)
            .expect("blind");
    let again = enrolling
        .call(Evaluate {
            purpose: EvaluatePurpose::Enrol,
            blinded_pin: blinded,
        })
        .await
        .expect("counted");
    assert_eq!(
        again.attempts_left, 3,
        "the wrong check did not reset the counter"
    );
    server.stop().await;
}

/// For each field the approval signature covers, an answer whose signed bytes differ in that
/// field alone is refused as an invalid signature (dropping a field from `signed::answer`
/// turns one of these into an approval or a code mismatch).
async fn answer_fields(backend: Backend) {
    use latchkey_protocol::signed::{self, Decision};
    use latchkey_protocol::types::{AccountId, ChallengeId, DeviceId, Digest};
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "fields@example.org", "4831").await;
    let (_, code, signed_challenge) = challenge_for(&server, &device, "fields@example.org").await;
    device
        .evaluate(signed_challenge.challenge.id, "4831")
        .await
        .expect("evaluated");
    let c = &signed_challenge.challenge;
    let other_code = if code == "99" { "98" } else { "99" };
    let (a, d, id, digest) = (device.account, device.device, c.id, c.digest());
    let variants: Vec<(&str, Vec<u8>)> = vec![
        (
            "account",
            signed::answer(
                &AccountId::from_bytes([7; 16]),
                &d,
                &id,
                &digest,
                &code,
                Decision::Approve,
                1,
            ),
        ),
        (
            "device",
            signed::answer(
                &a,
                &DeviceId::from_bytes([7; 16]),
                &id,
                &digest,
                &code,
                Decision::Approve,
                1,
            ),
        ),
        (
            "challenge",
            signed::answer(
                &a,
                &d,
                &ChallengeId::from_bytes([7; 16]),
                &digest,
                &code,
                Decision::Approve,
                1,
            ),
        ),
        (
            "digest",
            signed::answer(
                &a,
                &d,
                &id,
                &Digest::of(b"other"),
                &code,
                Decision::Approve,
                1,
            ),
        ),
        (
            "typed code",
            signed::answer(&a, &d, &id, &digest, other_code, Decision::Approve, 1),
        ),
        (
            "decision",
            signed::answer(&a, &d, &id, &digest, &code, Decision::Deny, 1),
        ),
        (
            "counter",
            signed::answer(&a, &d, &id, &digest, &code, Decision::Approve, 2),
        ),
    ];
    for (field, bytes) in variants {
        let mut answer = device.answer_body(&signed_challenge, &code, Decision::Approve, 1);
        answer.approval_signature = Some(sign(&device.approval, &bytes));
        let refused = device.call(answer).await.expect_err(field);
        assert_eq!(
            refused.body.error,
            ErrorCode::BadRequest,
            "{field}: {refused:?}"
        );
        assert!(
            refused.body.message.contains("signature"),
            "{field}: {refused:?}"
        );
    }
    // The same answer, signed over its own fields, approves: the refusals were the fields.
    device.counter = 0;
    let r = device
        .approve(&signed_challenge, &code, "4831")
        .await
        .expect("the genuine answer approves");
    assert_eq!(r.outcome, AnswerOutcome::Approved);
    server.stop().await;
}

/// A PIN change must issue a fresh approval key: a commit naming the current key as the new
/// one is refused, and the key stays what it was.
async fn same_key(backend: Backend) {
    use latchkey_protocol::secret::Pin;
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "samekey@example.org", "4831").await;
    let operation = OperationId::random(&mut OsRng);
    let (_, b1) = latchkey_protocol::oprf::blind(&Pin::new("4831"), &mut OsRng).expect("blind");
    let (_, b2) = latchkey_protocol::oprf::blind(&Pin::new("5038"), &mut OsRng).expect("blind");
    let started = device
        .call(PinChangeStart {
            operation,
            old_blinded_pin: b1,
            new_blinded_pin: b2,
        })
        .await
        .expect("started");
    let current = PublicKey::from(device.approval.verifying_key());
    let bytes = latchkey_protocol::signed::pin_change_proof(
        &device.account,
        &device.device,
        &operation,
        &current,
        started.new_epoch,
    );
    let sig = sign(&device.approval, &bytes);
    let refused = device
        .call(PinChangeCommit {
            operation,
            new_approval_key: current,
            old_proof: sig.clone(),
            new_proof: sig,
        })
        .await
        .expect_err("the old key as the new one");
    assert_eq!(refused.body.error, ErrorCode::BadRequest);
    assert!(refused.body.message.contains("fresh key"), "{refused:?}");
    server.stop().await;
}

/// An approval evaluation names a live sign-in request of this device: one already answered,
/// expired or unknown gets its own refusal, and none of them spends a PIN attempt.
async fn dead_requests(backend: Backend) {
    use latchkey_protocol::types::ChallengeId;
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "dead@example.org", "4831").await;
    let (_, code, answered) = challenge_for(&server, &device, "dead@example.org").await;
    device
        .approve(&answered, &code, "4831")
        .await
        .expect("approved");
    let e = device
        .evaluate(answered.challenge.id, "0000")
        .await
        .expect_err("answered request");
    assert_eq!(e.body.error, ErrorCode::AlreadyAnswered);
    let e = device
        .evaluate(ChallengeId::random(&mut OsRng), "0000")
        .await
        .expect_err("unknown request");
    assert_eq!(e.body.error, ErrorCode::NotFound);
    let (_, _, late) = challenge_for(&server, &device, "dead@example.org").await;
    server
        .state
        .clock
        .advance(server.state.config.policy.challenge_ttl);
    let e = device
        .evaluate(late.challenge.id, "0000")
        .await
        .expect_err("expired request");
    assert_eq!(e.body.error, ErrorCode::Expired);
    // None of the refusals was counted: the next evaluation finds all five attempts.
    let (_, _, fresh) = challenge_for(&server, &device, "dead@example.org").await;
    let (_, left) = device
        .evaluate(fresh.challenge.id, "0000")
        .await
        .expect("counted");
    assert_eq!(left, 4, "only this evaluation was counted");
    server.stop().await;
}

async fn audit_events_of(server: &TestServer, device: &Device) -> Vec<String> {
    use sqlx::Row as _;
    sqlx::query("SELECT event FROM audit WHERE account_id = $1 ORDER BY at, event")
        .bind(device.account.to_string())
        .fetch_all(&server.state.db)
        .await
        .expect("audit")
        .iter()
        .map(|r| r.try_get("event").expect("event"))
        .collect()
}

/// The security events say what happened: a wrong number is a mismatch, not a denial, and a
/// report is recorded once, as a report.
async fn audit_events(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "events@example.org", "4831").await;
    let (_, code, signed) = challenge_for(&server, &device, "events@example.org").await;
    let wrong = if code == "10" { "11" } else { "10" };
    device
        .approve(&signed, wrong, "4831")
        .await
        .expect_err("mismatch");
    let (_, _, reported) = challenge_for(&server, &device, "events@example.org").await;
    device.deny(&reported, true).await.expect("reported");
    let events = audit_events_of(&server, &device).await;
    let count = |name: &str| events.iter().filter(|e| *e == name).count();
    assert_eq!(count("signin_code_mismatch"), 1, "{events:?}");
    assert_eq!(count("signin_reported"), 1, "{events:?}");
    assert_eq!(count("signin_denied"), 0, "{events:?}");
    server.stop().await;
}

/// A device request is refused when its header names another account than the device's, and
/// when its clock is more than five minutes off; the begin response says where the PIN comes
/// from.
async fn envelope_checks(backend: Backend) {
    use latchkey_protocol::types::AccountId;
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "envelope@example.org", "4831").await;
    let body = || ListChallenges { wait_seconds: 0 };
    let other_account = device.envelope_with(AccountId::random(&mut OsRng), now(), body());
    let e = device
        .send(&other_account)
        .await
        .expect_err("another account");
    assert_eq!(e.body.error, ErrorCode::Unauthorized);
    for skew in [-400i64, 400] {
        let at = now().checked_add_signed(skew).expect("time");
        let request = device.envelope_with(device.account, at, body());
        let e = device.send(&request).await.expect_err("clock off");
        assert_eq!(e.body.error, ErrorCode::ClockSkew, "{skew}");
        assert!(e.body.message.contains("clock"), "{e:?}");
        let told = e.body.server_time.expect("the server's time");
        assert!(told.abs_diff(now()) <= 2, "the server's own clock: {told}");
    }
    for skew in [-200i64, 200] {
        let at = now().checked_add_signed(skew).expect("time");
        let request = device.envelope_with(device.account, at, body());
        device.send(&request).await.expect("within five minutes");
    }
    server.stop().await;
}

/// Request ids are kept for the replay window (twice the clock skew) and then forgotten, so the
/// table does not grow with every request ever made.
async fn request_id_sweep(backend: Backend) {
    use sqlx::Row as _;
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "sweep@example.org", "4831").await;
    device.pending(0).await;
    let count = || async {
        sqlx::query("SELECT COUNT(*) AS n FROM request_ids WHERE device_id = $1")
            .bind(device.device.to_string())
            .fetch_one(&server.state.db)
            .await
            .expect("count")
            .try_get::<i64, _>("n")
            .expect("n")
    };
    let before = count().await;
    assert!(before >= 2, "enrolment and list requests are remembered");
    server.state.clock.advance(700);
    // A request from a device whose clock agrees with the server's moved clock.
    let request = device.envelope_with(
        device.account,
        now() + 700,
        ListChallenges { wait_seconds: 0 },
    );
    device.send(&request).await.expect("accepted");
    assert_eq!(count().await, 1, "only the newest request id is kept");
    server.stop().await;
}

/// A request id is remembered as long as its request could pass the clock check (twice the
/// allowed skew): a request stamped 290 s ahead, replayed 400 s later after a sweep, is still
/// refused as a replay.
async fn replay_after_sweep(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, device) = enrolled(&server, "replay-sweep@example.org", "4831").await;
    let request = device.envelope_with(
        device.account,
        now() + 290,
        ListChallenges { wait_seconds: 0 },
    );
    device.send(&request).await.expect("first time");
    server.state.clock.advance(400);
    // The replay itself runs the sweep (the last one was over a minute ago) before its id is
    // looked up.
    let replayed = device.send(&request).await.expect_err("replay");
    assert_eq!(replayed.body.error, ErrorCode::Replayed);
    assert!(
        replayed.body.message.contains("already received"),
        "{replayed:?}"
    );
    server.stop().await;
}

/// Found by mutation testing: a PIN change commits only with **both** proofs (the old key's
/// proves the PIN; a thief with the phone can make the new one), and a reset's mailed code dies
/// with its operation.
async fn rekey_proofs(backend: Backend) {
    use latchkey_protocol::secret::Pin;
    // Operations short enough for the device's clock to stay within the allowed skew.
    let policy = Policy {
        operation_ttl: 200,
        ..Policy::default()
    };
    let server = TestServer::start_with(backend, policy).await;
    let (_, mut device) = enrolled(&server, "rekey@example.org", "4831").await;
    let operation = OperationId::random(&mut OsRng);
    let (_, b1) = latchkey_protocol::oprf::blind(&Pin::new("0000"), &mut OsRng).expect("blind");
    let (_, b2) = latchkey_protocol::oprf::blind(&Pin::new("5038"), &mut OsRng).expect("blind");
    let started = device
        .call(PinChangeStart {
            operation,
            old_blinded_pin: b1,
            new_blinded_pin: b2,
        })
        .await
        .expect("started (the server cannot tell a wrong PIN here)");
    let thief = p256::ecdsa::SigningKey::random(&mut OsRng);
    let fresh = p256::ecdsa::SigningKey::random(&mut OsRng);
    let fresh_public = PublicKey::from(fresh.verifying_key());
    let bytes = latchkey_protocol::signed::pin_change_proof(
        &device.account,
        &device.device,
        &operation,
        &fresh_public,
        started.new_epoch,
    );
    let sign = |key: &p256::ecdsa::SigningKey| sign(key, &bytes);
    for (old_proof, new_proof, what) in [
        (sign(&thief), sign(&fresh), "old proof by another key"),
        (
            sign(&device.approval),
            sign(&thief),
            "new proof by another key",
        ),
    ] {
        let refused = device
            .call(PinChangeCommit {
                operation,
                new_approval_key: fresh_public,
                old_proof,
                new_proof,
            })
            .await
            .expect_err(what);
        assert_eq!(refused.body.error, ErrorCode::BadRequest, "{what}");
    }
    // The old key still approves: nothing was swapped.
    let (_, code, signed) = challenge_for(&server, &device, "rekey@example.org").await;
    device
        .approve(&signed, &code, "4831")
        .await
        .expect("old key");
    // A reset's code is dead once its operation expired.
    let op = OperationId::random(&mut OsRng);
    device
        .reset_start(op, "correct horse battery")
        .await
        .expect("code sent");
    let code = reset_code(&server);
    server
        .state
        .clock
        .advance(server.state.config.policy.operation_ttl);
    let e = device
        .reset_finish(op, &code, "5038")
        .await
        .expect_err("expired operation");
    assert_eq!(e.body.error, ErrorCode::BadCredentials, "{e:?}");
    server.stop().await;
}

/// The domain layer owns the SQL: no HTTP handler file holds a query (ARCHITECTURE.md).
#[test]
fn no_handler_file_holds_sql() {
    let handlers = [
        ("challenge", include_str!("../src/http/challenge.rs")),
        ("enrol", include_str!("../src/http/enrol.rs")),
        ("pin", include_str!("../src/http/pin.rs")),
        ("mod", include_str!("../src/http/mod.rs")),
        ("web/auth", include_str!("../src/http/web/auth.rs")),
        ("web/confirm", include_str!("../src/http/web/confirm.rs")),
        ("web/devices", include_str!("../src/http/web/devices.rs")),
        ("web/mod", include_str!("../src/http/web/mod.rs")),
        ("web/session", include_str!("../src/http/web/session.rs")),
    ];
    for (name, source) in handlers {
        assert!(
            !source.contains("sqlx::"),
            "http/{name}.rs holds SQL; move it into a domain module"
        );
    }
}

/// SQLite numbers `$n` placeholders in order of first appearance, PostgreSQL by n: queries
/// must use them in order or one database binds the wrong values.
#[test]
fn sql_placeholders_appear_in_order() {
    let sources = [
        include_str!("../src/accounts.rs"),
        include_str!("../src/attempts.rs"),
        include_str!("../src/audit.rs"),
        include_str!("../src/devices.rs"),
        include_str!("../src/enrolments.rs"),
        include_str!("../src/operations.rs"),
        include_str!("../src/requests.rs"),
        include_str!("../src/sessions.rs"),
        include_str!("../src/signins.rs"),
        include_str!("../src/throttle.rs"),
        include_str!("../src/lib.rs"),
    ];
    let mut checked = 0;
    for source in sources {
        for (at, _) in source.match_indices("sqlx::query(") {
            let rest = &source[at..];
            let Some(open) = rest.find('"') else { continue };
            let Some(len) = rest[open + 1..].find('"') else {
                continue;
            };
            let query = &rest[open + 1..open + 1 + len];
            let mut seen: Vec<u32> = Vec::new();
            for (i, c) in query.char_indices() {
                if c == '$' {
                    let digits: String = query[i + 1..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    if let Ok(n) = digits.parse::<u32>() {
                        if !seen.contains(&n) {
                            seen.push(n);
                        }
                    }
                }
            }
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            assert_eq!(seen, sorted, "placeholders out of order in: {query}");
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked} queries checked");
}

/// P2 lives in one module: only `attempts.rs` writes a device's PIN attempt counter (raise,
/// reset); everything else reads it through `attempts::Attempts`.
/// P2 durability: a PIN attempt is counted durably before anything is evaluated. On SQLite
/// the main pool commits with `synchronous = NORMAL` (a power cut may lose its last commits)
/// and the durable pool with `FULL`; every transaction that raises the counter is begun on
/// the durable pool.
#[tokio::test]
async fn p2_attempts_are_counted_on_the_durable_pool() {
    let server = TestServer::start(Backend::Sqlite).await;
    let level = |pool: sqlx::AnyPool| async move {
        sqlx::query_scalar::<_, i64>("PRAGMA synchronous")
            .fetch_one(&pool)
            .await
            .expect("pragma")
    };
    assert_eq!(level(server.state.durable_db.clone()).await, 2, "FULL");
    assert_eq!(level(server.state.db.clone()).await, 1, "NORMAL");
    server.stop().await;

    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut raisers = 0;
    for file in [
        "devices.rs",
        "operations.rs",
        "enrolments.rs",
        "signins.rs",
        "accounts.rs",
    ] {
        let text = std::fs::read_to_string(src.join(file)).expect("source");
        for (at, _) in text.match_indices("attempts::raise(") {
            let function = &text[text[..at].rfind("fn ").expect("in a function")..at];
            assert!(
                function.contains("state.durable_db.begin()"),
                "{file}: a PIN attempt is raised outside a durable transaction"
            );
            raisers += 1;
        }
    }
    assert!(raisers > 0, "the check found the callers");
}

#[test]
fn p2_only_the_attempts_module_writes_the_counter() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let writes = counter_writers(&files);
    assert!(
        writes.iter().all(|p| p.ends_with("attempts.rs")),
        "the counter is written outside attempts.rs: {writes:?}"
    );
    assert!(
        writes.iter().any(|p| p.ends_with("attempts.rs")),
        "the check found the writes in attempts.rs"
    );
}

/// Files with an SQL write of `failures` (`failures = …`, `failures + 1`).
fn counter_writers(files: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    files
        .iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).expect("source");
            text.contains("SET failures")
                || text.contains(", failures = ")
                || text.contains("failures = failures")
        })
        .cloned()
        .collect()
}

/// Two PIN changes of one device started from the same key and committed at the same moment:
/// at most one commits (the other is told the PIN changed meanwhile), and the device ends with
/// exactly that one's key. Repeated, so the commits really overlap (`commit_swap`'s guard).
async fn concurrent_changes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "race@example.org", "4831").await;
    let mut raced = 0;
    for round in 0..12 {
        let mut commits = Vec::new();
        for _ in 0..2 {
            commits.push(device.stage_change("4831", "5038").await.expect("staged"));
        }
        let (a, b) = (
            device.envelope(commits[0].1.clone()),
            device.envelope(commits[1].1.clone()),
        );
        let (ra, rb) = tokio::join!(device.send(&a), device.send(&b));
        assert!(
            !(ra.is_ok() && rb.is_ok()),
            "round {round}: both changes committed"
        );
        let won = match (&ra, &rb) {
            (Ok(_), _) => 0,
            (_, Ok(_)) => 1,
            _ => {
                // Both refused is allowed only as "changed in the meantime" for one of them.
                panic!("round {round}: neither committed: {ra:?} {rb:?}");
            }
        };
        let lost = if won == 0 { &rb } else { &ra };
        if lost
            .as_ref()
            .err()
            .is_some_and(|f| f.body.message.contains("changed in the meantime"))
        {
            raced += 1;
        }
        let stored = device_row(&server, &device.device)
            .await
            .approval_key
            .expect("an active device has a key");
        let (winner, commit) = &commits[won];
        assert_eq!(
            PublicKey::from_sec1(&latchkey_protocol::b64::decode(&stored).expect("stored key")),
            Some(commit.new_approval_key),
            "round {round}: the stored key is the winner's"
        );
        device.approval = winner.clone();
        device.epoch += 1;
    }
    eprintln!("{raced} of 12 rounds reached the commit guard together");
    server.stop().await;
}

async fn status(device: &Device, operation: OperationId) -> OperationState {
    device
        .call(OperationStatus { operation })
        .await
        .expect("status")
        .state
}

/// What `settle()` relies on after a crash: the status of an operation (pending, committed,
/// aborted once expired, unknown), and a commit resent after it succeeded answers the same
/// (the device lost the answer, not the change).
async fn operation_status(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "status@example.org", "4831").await;
    let (fresh, commit) = device.stage_change("4831", "5038").await.expect("staged");
    assert_eq!(
        status(&device, commit.operation).await,
        OperationState::Pending
    );
    let first = device.call(commit.clone()).await.expect("committed");
    device.approval = fresh;
    assert_eq!(
        status(&device, commit.operation).await,
        OperationState::Committed
    );
    let again = device
        .call(commit.clone())
        .await
        .expect("a resent commit answers the same");
    assert_eq!(again.epoch, first.epoch);
    assert_eq!(
        status(&device, OperationId::random(&mut OsRng)).await,
        OperationState::Unknown
    );
    // A different key under the same operation is not "the same commit".
    let mut other = commit.clone();
    other.new_approval_key =
        PublicKey::from(p256::ecdsa::SigningKey::random(&mut OsRng).verifying_key());
    assert!(device.call(other).await.is_err(), "not the committed key");
    // Started and left: aborted once it expires.
    let (_, lapsed) = device.stage_change("5038", "6194").await.expect("staged");
    assert_eq!(
        status(&device, lapsed.operation).await,
        OperationState::Pending
    );
    server
        .state
        .clock
        .advance(server.state.config.policy.operation_ttl + 1);
    // The device's envelope is dated by the server's (moved) clock.
    let later = device.envelope_with(
        device.account,
        server.state.clock.now(),
        OperationStatus {
            operation: lapsed.operation,
        },
    );
    let aborted = device.send(&later).await.expect("status").state;
    assert_eq!(aborted, OperationState::Aborted);
    server.stop().await;
}
