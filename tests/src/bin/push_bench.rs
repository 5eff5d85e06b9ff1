//! Push delivery time: from a sign-in being created to the provider (the loopback FCM of
//! `latchkey_test_support::fcm`) accepting its push, at 8 and 32 concurrent sign-ins, then with
//! the provider failing 30 % of sends at random (retries with backoff): every push must arrive
//! exactly once. SQLite, and PostgreSQL when `LATCHKEY_TEST_POSTGRES_URL` is set.
//!
//! Run: `cargo run --release -p latchkey-e2e --bin push-bench [-- ROUNDS]` (default 10).
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark stops loudly on failure

use std::collections::HashMap;
use std::time::{Duration, Instant};

use latchkey_e2e::server::fcm::FcmFake;
use latchkey_e2e::server::Policy;
use latchkey_e2e::*;
use latchkey_protocol::wire::{PushKind, PushTarget, SetPushTarget};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Row {
    backend: &'static str,
    concurrency: usize,
    failure: f64,
    times: Vec<Duration>,
    sends: usize,
    accepted: usize,
    doubled: usize,
}

async fn run(backend: Backend, name: &'static str, rounds: usize) -> Vec<Row> {
    let fake = FcmFake::start().await;
    let push = fake.push_config();
    let server = latchkey_e2e::server::TestServer::start_config(backend, move |config| {
        config.policy = Policy {
            max_pending_pushes: i64::MAX,
            registrations_per_ip: i64::MAX,
            login_attempts: i64::MAX,
            ..Policy::default()
        };
        config.push = push;
    })
    .await;
    let mut emails = Vec::new();
    for n in 0..32 {
        let email = format!("bench{n}@example.org");
        let (_, device) = latchkey_e2e::server::enrolled(&server, &email, "4831").await;
        device
            .call(SetPushTarget {
                target: Some(PushTarget {
                    kind: PushKind::Fcm,
                    token: format!("fcm-bench-{n}"),
                    p256dh: None,
                    auth: None,
                }),
            })
            .await
            .expect("register");
        emails.push(email);
    }
    let mut rows = Vec::new();
    for (concurrency, failure) in [(8, 0.0), (32, 0.0), (32, 0.3)] {
        eprintln!(
            "{name}: {concurrency} concurrent sign-ins, {:.0} % provider failures",
            failure * 100.0
        );
        fake.fail_at_random(failure);
        let (sends0, accepted0) = (fake.sends(), fake.accepted_at().len());
        let mut times = Vec::new();
        for _ in 0..rounds {
            let before = fake.accepted_at().len();
            let started = Instant::now();
            let created =
                futures_util::future::join_all(emails[..concurrency].iter().map(|email| {
                    latchkey_server::start_signin(&server.state, email, "Bench", "127.0.0.1")
                }))
                .await;
            assert!(created.iter().all(Result::is_ok));
            let deadline = Instant::now() + Duration::from_secs(120);
            while fake.accepted_at().len() < before + concurrency {
                if Instant::now() > deadline {
                    let states: Vec<(String, String, i64)> = sqlx::query(
                        "SELECT state, outcome, attempts FROM push_jobs WHERE state <> 'sent'",
                    )
                    .fetch_all(&server.state.db)
                    .await
                    .expect("jobs")
                    .iter()
                    .map(|r| {
                        use sqlx::Row as _;
                        (r.get("state"), r.get("outcome"), r.get("attempts"))
                    })
                    .collect();
                    panic!(
                        "{name}, {concurrency} concurrent, {failure}: {} of {concurrency} pushes \
                         after 120 s; unsent jobs: {states:?}",
                        fake.accepted_at().len() - before
                    );
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            times.extend(
                fake.accepted_at()[before..]
                    .iter()
                    .map(|(at, _)| at.duration_since(started)),
            );
        }
        // Let late duplicates show, if any.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let accepted = fake.accepted_at()[accepted0..].to_vec();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (_, id) in &accepted {
            *seen.entry(id.clone()).or_default() += 1;
        }
        times.sort();
        rows.push(Row {
            backend: name,
            concurrency,
            failure,
            times,
            sends: fake.sends() - sends0,
            accepted: accepted.len(),
            doubled: seen.values().filter(|&&n| n > 1).count(),
        });
    }
    server.stop().await;
    rows
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(10, |a| a.parse().expect("rounds"));
    let mut rows = run(Backend::Sqlite, "SQLite", rounds).await;
    if latchkey_e2e::server::postgres_url().is_some() {
        rows.extend(run(Backend::Postgres, "PostgreSQL", rounds).await);
    }
    println!("| backend | concurrent sign-ins | provider failures | pushes | p50 | p99 | sends (retries) | lost | doubled |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let expected = r.concurrency * rounds;
        println!(
            "| {} | {} | {:.0} % | {} | {:.1} ms | {:.1} ms | {} ({}) | {} | {} |",
            r.backend,
            r.concurrency,
            r.failure * 100.0,
            r.accepted,
            pct(&r.times, 0.5).as_secs_f64() * 1000.0,
            pct(&r.times, 0.99).as_secs_f64() * 1000.0,
            r.sends,
            r.sends - r.accepted,
            expected.saturating_sub(r.accepted),
            r.doubled,
        );
    }
}
