//! What a long-running server keeps (issue 23's soak found sign-ins kept for ever slowing every
//! query over them): ended sign-ins and their challenges go a week after they expire; the
//! audit trail keeps what happened.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_test_support::*;

async fn count(server: &TestServer, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&server.state.db)
        .await
        .unwrap()
}

on_both_backends! {
    ended_sign_ins_are_deleted_a_week_after_they_expire => retention;
}

async fn retention(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, mut device) = enrolled(&server, "keep@example.org", "4831").await;
    let (_, _, code) = Browser::sign_in(&server, "keep@example.org", "correct horse battery").await;
    let id = device.pending(0).await[0];
    let signed = device.fetch(id).await.unwrap();
    device
        .approve(&signed, &code, "4831")
        .await
        .expect("approved");
    Browser::sign_in(&server, "keep@example.org", "correct horse battery").await;
    assert_eq!(count(&server, "logins").await, 2);
    let audit = count(&server, "audit").await;

    // Six days on: kept.
    server.state.clock.advance(6 * 86_400);
    latchkey_server::sweep_expired_enrolments(&server.state)
        .await
        .unwrap();
    assert_eq!(
        count(&server, "logins").await,
        2,
        "kept for a week after expiry"
    );
    // Past the week: gone, with their challenges; the audit trail stays.
    server.state.clock.advance(2 * 86_400);
    latchkey_server::sweep_expired_enrolments(&server.state)
        .await
        .unwrap();
    assert_eq!(count(&server, "logins").await, 0);
    assert_eq!(
        count(&server, "challenges").await,
        0,
        "challenges go with their sign-in"
    );
    assert_eq!(
        count(&server, "audit").await,
        audit,
        "what happened is still recorded"
    );
    server.stop().await;
}
