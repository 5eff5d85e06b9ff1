//! Database faults (issue 23, item 2): PostgreSQL refusing this server's database, SQLite's
//! write lock held by another process, the connection pool exhausted, a statement that runs
//! past its timeout. Requests fail with a clear 503 and Retry-After, no PIN is evaluated
//! uncounted, nothing is half applied, and the server recovers on its own.
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
/// request that must write answers 503 (after waiting the timeout, 1 s here, 10 s by
/// default), and works again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_answers_503_then_recovers() {
    use sqlx::Connection as _;
    let server = TestServer::start_config(Backend::Sqlite, |c| c.db_timeout = SHORT).await;
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

/// The database timeout in these tests.
const SHORT: std::time::Duration = std::time::Duration::from_secs(1);

/// The server's consecutive PIN failures for its only active device.
async fn failures(server: &TestServer) -> i64 {
    sqlx::query_scalar("SELECT failures FROM devices WHERE state = 'active'")
        .fetch_one(&server.state.db)
        .await
        .unwrap()
}

on_both_backends! {
    db_pool_exhausted_answers_503_then_recovers => pool_exhausted;
}

/// Every pooled connection taken (a burst beyond what the pool holds): a request waits the
/// timeout, then answers 503 with Retry-After; a PIN evaluation is refused, not evaluated and
/// not counted; once connections free up the same server answers and counts.
async fn pool_exhausted(backend: Backend) {
    let server = TestServer::start_config(backend, |c| c.db_timeout = SHORT).await;
    let (_, mut device) = enrolled(&server, "pool@example.org", "4831").await;
    let (browser, status, code) =
        Browser::sign_in(&server, "pool@example.org", "correct horse battery").await;
    assert_eq!(status, reqwest::StatusCode::SEE_OTHER);
    let id = device.pending(0).await[0];
    let mut held = Vec::new();
    for pool in [&server.state.db, &server.state.durable_db] {
        while let Ok(Ok(conn)) =
            tokio::time::timeout(std::time::Duration::from_millis(300), pool.acquire()).await
        {
            held.push(conn);
        }
    }
    assert!(!held.is_empty());
    let started = std::time::Instant::now();
    let refused = device
        .evaluate(id, "1111")
        .await
        .expect_err("no connection");
    assert_eq!(
        refused.status,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "{refused:?}"
    );
    assert_eq!(refused.body.retry_after, Some(5));
    assert!(refused.body.message.contains("try again"), "{refused:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the timeout, not longer"
    );
    let page = browser.get_raw("/login/approve").await;
    assert_eq!(page.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    drop(held);
    assert_eq!(failures(&server).await, 0, "nothing was counted");
    let signed = device.fetch(id).await.expect("answers again");
    device
        .approve(&signed, &code, "4831")
        .await
        .expect("approved");
    assert_eq!(failures(&server).await, 0);
    server.stop().await;
}

/// PostgreSQL: a statement stuck behind another session's lock is cancelled at the statement
/// timeout; the request answers 503 and its transaction rolls back (the PIN attempt it was
/// counting is not kept, and nothing was evaluated); afterwards the same request works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_statement_timeout_answers_503_and_applies_nothing() {
    use sqlx::Connection as _;
    if skip() {
        return;
    }
    let server = TestServer::start_config(Backend::Postgres, |c| c.db_timeout = SHORT).await;
    let (_, mut device) = enrolled(&server, "slow@example.org", "4831").await;
    let (_, _, code) = Browser::sign_in(&server, "slow@example.org", "correct horse battery").await;
    let id = device.pending(0).await[0];
    let url = server.state.config.database_url.clone().expect("postgres");
    let mut other = sqlx::PgConnection::connect(&url)
        .await
        .expect("another session");
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("LOCK TABLE devices IN ACCESS EXCLUSIVE MODE")
        .execute(&mut other)
        .await
        .unwrap();
    let refused = device
        .evaluate(id, "1111")
        .await
        .expect_err("the statement times out");
    assert_eq!(
        refused.status,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "{refused:?}"
    );
    assert_eq!(refused.body.retry_after, Some(5));
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert_eq!(
        failures(&server).await,
        0,
        "the timed-out count was rolled back"
    );
    let (_, left) = device.evaluate(id, "1111").await.expect("counted now");
    assert_eq!(left, 4);
    let signed = device.fetch(id).await.expect("fetch");
    device
        .approve(&signed, &code, "4831")
        .await
        .expect("approved");
    server.stop().await;
}
