//! Approve round trip on loopback HTTPS, from a challenge id (as a push carries it): fetch and
//! verify the challenge, counted OPRF evaluation, open the
//! approval key, durable counter, approval and device signatures, submit. Prints p50/p90/p99
//! over N approvals (default 1,000) for SQLite, and PostgreSQL when
//! `LATCHKEY_TEST_POSTGRES_URL` is set (use a cluster with fsync on: test.sh's throwaway one
//! runs with fsync off and flatters the numbers). The clock starts when the challenge id is
//! known, as when a push delivers it; the long-poll that finds it here is not timed.
//!
//! Run: `cargo run --release -p latchkey-e2e --bin approve-bench [-- N]`; with `BENCH_SPLIT=1`
//! it also prints the fetch / approve split of every 50th round trip.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark stops loudly on failure

use std::time::{Duration, Instant};

use latchkey_e2e::server::Policy;
use latchkey_e2e::*;
use latchkey_protocol::secret::Pin;

async fn run(backend: Backend, n: usize) -> Vec<Duration> {
    let policy = Policy {
        max_pending_pushes: i64::MAX,
        ..Policy::default()
    };
    let server = TestServer::start_with(backend, policy).await;
    let browser = Browser::register(&server, "bench@example.org", "correct horse battery").await;
    let (html, _) = browser.add_device("Bench phone", "4831").await;
    let link = scan_page(&html);
    let phone = Phone::new(&server);
    let core = phone.open();
    let account = core
        .enrol(&link, &Pin::new("4831"), None)
        .await
        .expect("enrol");
    let pin = Pin::new("4831");
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let signin =
            latchkey_server::start_signin(&server.state, "bench@example.org", "Bench", "127.0.0.1")
                .await
                .expect("sign-in");
        // The id arrives by push (or from the long-poll); the clock starts when it is there.
        let ids = core.pending(&account.id, 0).await.expect("pending");
        let id = *ids.last().expect("id");
        let started = Instant::now();
        let view = core.challenge(&account.id, &id).await.expect("fetch");
        let fetched = started.elapsed();
        core.approve(&view, &signin.code, &pin)
            .await
            .expect("approve");
        if std::env::var_os("BENCH_SPLIT").is_some() && i % 50 == 0 {
            eprintln!(
                "fetch {fetched:?} approve {:?}",
                started.elapsed() - fetched
            );
        }
        if i >= 20 {
            times.push(started.elapsed()); // the first 20 warm up connections and caches
        }
    }
    server.stop().await;
    times
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000);
    println!("Approve round trip on loopback HTTPS, {n} approvals each (release build, 2 cores)");
    println!("(fetch and verify challenge + counted OPRF + open key + durable counter + answer)\n");
    println!("| database   | p50 ms | p90 ms | p99 ms | max ms | target p50 <= 5 ms |");
    println!("|------------|--------|--------|--------|--------|--------------------|");
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("LATCHKEY_TEST_POSTGRES_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let mut times = run(backend, n).await;
        times.sort();
        let p50 = percentile(&times, 0.5);
        println!(
            "| {:<10} | {:>6.2} | {:>6.2} | {:>6.2} | {:>6.2} | {:<18} |",
            format!("{backend:?}"),
            p50,
            percentile(&times, 0.9),
            percentile(&times, 0.99),
            percentile(&times, 1.0),
            if p50 <= 5.0 { "met" } else { "missed" }
        );
    }
}
