//! Database outages (issue 23, item 2, begun): while PostgreSQL refuses this server's
//! database, or another process holds SQLite's write lock, requests fail with a clear 503 and
//! Retry-After, no PIN is evaluated uncounted, and the server recovers on its own once the
//! database is back.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_test_support::*;

/// Takes the server's database away (new connections refused, open ones terminated), or
/// gives it back.
async fn database_reachable(server: &TestServer, reachable: bool) {
    let admin = sqlx::PgPool::connect(&postgres_url().expect("url"))
        .await
        .expect("admin");
    let url = server.state.config.database_url.clone().expect("postgres");
    let name = url.rsplit('/').next().expect("name").to_owned();
    sqlx::query(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}"
    ))
    .execute(&admin)
    .await
    .expect("alter database");
    if !reachable {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&name)
        .execute(&admin)
        .await
        .expect("terminate");
    }
}

/// No PostgreSQL here (`postgres_url` fails instead when `LATCHKEY_REQUIRE_POSTGRES` is set).
fn skip() -> bool {
    postgres_url().is_none()
}

/// During the outage: device requests get 503 with Retry-After and a sentence that says to
/// try again, pages a 503 page; afterwards the same server answers again, no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_recovers_without_restart() {
    if skip() {
        return;
    }
    let server = TestServer::start(Backend::Postgres).await;
    let (_, device) = enrolled(&server, "outage@example.org", "4831").await;
    assert!(device.pending(0).await.is_empty());

    database_reachable(&server, false).await;
    let failed = device
        .call(latchkey_protocol::wire::ListChallenges { wait_seconds: 0 })
        .await
        .expect_err("no database");
    assert_eq!(
        failed.status,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "{failed:?}"
    );
    assert_eq!(failed.body.retry_after, Some(5));
    assert!(failed.body.message.contains("try again"), "{failed:?}");
    let page = server
        .client()
        .get(format!("{}login", server.url))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(page
        .text()
        .await
        .expect("body")
        .contains("Try again in a moment"));

    database_reachable(&server, true).await;
    assert!(device.pending(0).await.is_empty(), "answers again");
    let (_, status, _) =
        Browser::sign_in(&server, "outage@example.org", "correct horse battery").await;
    assert_eq!(status, reqwest::StatusCode::SEE_OTHER, "signs in again");
    assert_eq!(device.pending(0).await.len(), 1);
    server.stop().await;
}

/// P2 through an outage: an evaluation either is counted or fails before anything is
/// evaluated. Five evaluations during the outage all fail without an answer; afterwards the
/// counter is where the last counted one left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_outage_counts_or_refuses_never_evaluates_uncounted() {
    if skip() {
        return;
    }
    let server = TestServer::start(Backend::Postgres).await;
    let (_, device) = enrolled(&server, "p2outage@example.org", "4831").await;
    let (_, status, _) =
        Browser::sign_in(&server, "p2outage@example.org", "correct horse battery").await;
    assert_eq!(status, reqwest::StatusCode::SEE_OTHER);
    let id = device.pending(0).await[0];
    let (_, left) = device.evaluate(id, "1111").await.expect("counted");
    assert_eq!(left, 4);

    database_reachable(&server, false).await;
    for guess in ["2222", "3333", "4444", "5555", "6666"] {
        let refused = device
            .evaluate(id, guess)
            .await
            .expect_err("nothing evaluated");
        assert_eq!(
            refused.status,
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            "{refused:?}"
        );
    }
    database_reachable(&server, true).await;
    let (_, left) = device.evaluate(id, "7777").await.expect("counted again");
    assert_eq!(left, 3, "the outage neither counted nor evaluated anything");
    server.stop().await;
}

/// SQLite's file write-locked by another process for longer than the busy timeout: a device
/// request that must write answers 503 (after waiting the 10 s timeout), and works again once
/// the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_answers_503_then_recovers() {
    use sqlx::Connection as _;
    let server = TestServer::start(Backend::Sqlite).await;
    let (_, device) = enrolled(&server, "locked@example.org", "4831").await;
    let mut other =
        sqlx::SqliteConnection::connect(&latchkey_server::db::sqlite_url(server.dir.path()))
            .await
            .expect("another connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("write lock");
    let failed = device
        .call(latchkey_protocol::wire::ListChallenges { wait_seconds: 0 })
        .await
        .expect_err("the write lock is held");
    assert_eq!(
        failed.status,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "{failed:?}"
    );
    assert_eq!(failed.body.retry_after, Some(5));
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("release");
    assert!(device.pending(0).await.is_empty(), "answers again");
    server.stop().await;
}
