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
    security_events_go_after_the_audit_days => audit_retention;
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

async fn audit_retention(backend: Backend) {
    let server = TestServer::start_config(backend, |config| config.policy.audit_days = 30).await;
    enrolled(&server, "keep@example.org", "4831").await;
    let recorded = count(&server, "audit").await;
    let account: String = sqlx::query_scalar("SELECT account_id FROM audit LIMIT 1")
        .fetch_one(&server.state.db)
        .await
        .unwrap();
    assert!(recorded > 0, "enrolment is recorded");
    // A backlog older than the retention, more than one sweep takes (10,000).
    let now = server.state.clock.now_i64();
    let mut tx = server.state.db.begin().await.unwrap();
    for i in 0..10_500 {
        sqlx::query(
            "INSERT INTO audit (id, account_id, device_id, event, detail, at) \
             VALUES ($1, $2, NULL, 'old', '', $3)",
        )
        .bind(format!("old-{i}"))
        .bind(&account)
        .bind(now - 31 * 86_400)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    latchkey_server::sweep_expired_enrolments(&server.state)
        .await
        .unwrap();
    assert_eq!(
        count(&server, "audit").await,
        recorded + 500,
        "one sweep deletes at most 10,000 and keeps what is recent"
    );
    latchkey_server::sweep_expired_enrolments(&server.state)
        .await
        .unwrap();
    assert_eq!(
        count(&server, "audit").await,
        recorded,
        "the rest next minute"
    );
    // 29 days on: kept; past 30: gone.
    server.state.clock.advance(29 * 86_400);
    latchkey_server::sweep_expired_enrolments(&server.state)
        .await
        .unwrap();
    assert_eq!(count(&server, "audit").await, recorded);
    server.state.clock.advance(2 * 86_400);
    latchkey_server::sweep_expired_enrolments(&server.state)
        .await
        .unwrap();
    assert_eq!(count(&server, "audit").await, 0);
    server.stop().await;

    let mut policy = latchkey_server::config::Policy::default();
    for (days, ok) in [
        (29, false),
        (30, true),
        (400, true),
        (3650, true),
        (3651, false),
    ] {
        policy.audit_days = days;
        assert_eq!(policy.validate().is_ok(), ok, "{days} days");
    }
}
