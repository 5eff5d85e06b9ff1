//! The load benchmark (issue 19): sign-in rounds through real server processes on loopback
//! HTTPS, devices simulated through `latchkey-core`, and the crypto ceiling timed in the same
//! run. Prints markdown tables.
//!
//! - *protocol round*: the sign-in is created past the password (in the server process) →
//!   the device lists, fetches and verifies the challenge → counted OPRF → approves → the web
//!   side (a waiter in the server, woken as the live page is) sees "approved".
//! - *full round*: the same, starting with the browser's password sign-in over HTTPS (argon2id
//!   at the shipped parameters) and ending with the browser's live page saying "approved".
//! - *RP round* (issue 20): a relying party starts an authentication over the RP API with its
//!   API key → the device approves → the relying party's long-poll on the transaction sees
//!   "approved".
//!
//! Configurations: SQLite one node; with `LATCHKEY_TEST_POSTGRES_URL` also PostgreSQL one node
//! and two nodes (sign-ins created on one node, answered through the other). Concurrency 1,
//! 8, 32. Server CPU is read from /proc for the server processes only.
//!
//! *Idle* (`idle [WAITERS]`): 10,000 long-polls waiting at once, spread over 100 devices, on one
//! SQLite node and on two PostgreSQL nodes: the server's RSS and CPU per minute while they wait
//! (each long-poll lasts 60 s and is asked again at once, as devices do), and the time from
//! creating a sign-in on one node to a waiting device's long-poll answering.
//!
//! *Soak* (`soak MINUTES sqlite|postgres [idle]`, issue 23): one server process for MINUTES
//! minutes under steady concurrency-8 protocol rounds, with every device's push going through
//! a loopback FCM fake (the push outbox) and 200 long-polls waiting; `idle` instead keeps
//! 10,000 long-polls waiting and signs in only a few times a minute. Every minute it prints the
//! server's RSS, open file descriptors, database size, rounds and p99, pushes sent, errors.
//!
//! Run: `cargo run --release -p latchkey-e2e --bin latchkey-loadbench [-- SECONDS]` (seconds
//! per cell, default 5), `… -- idle [WAITERS]`, `… -- soak 60 sqlite`. The server processes are
//! this binary in `serve` mode.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark stops loudly on failure

use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_core::vault::RecordId;
use latchkey_core::Latchkey;
use latchkey_e2e::server::read_events;
use latchkey_e2e::server::Served as _;
use latchkey_e2e::*;
use latchkey_protocol::secret::Pin;
use tokio::sync::mpsc;

const PIN: &str = "4831";
const CONCURRENCY: [usize; 3] = [1, 8, 32];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(&args[2..]);
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if args.get(1).map(String::as_str) == Some("idle") {
        let waiters = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
        runtime.block_on(idle(waiters));
        return;
    }
    if args.get(1).map(String::as_str) == Some("soak") {
        let minutes = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(60);
        let postgres = args.get(3).map(String::as_str) == Some("postgres");
        let idle_only = args.get(4).map(String::as_str) == Some("idle");
        runtime.block_on(soak(minutes, postgres, idle_only));
        return;
    }
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    runtime.block_on(bench(Duration::from_secs(seconds)));
}

// ---------------------------------------------------------------------------------------
// The server process: `serve DATA_DIR DATABASE_URL|- KEY_FILE`; then, on stdin, `signin N
// EMAIL` lines, answered on stdout by `signed N LOGIN CODE` and `done N STATE`.

fn serve(args: &[String]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let data_dir = std::path::PathBuf::from(&args[0]);
        let mut config = latchkey_server::config::Config::dev(&data_dir);
        if args[1] != "-" {
            config.database_url = Some(args[1].clone());
        }
        config.server_keys = Some(latchkey_server::keys::KeySource::File(
            args[2].clone().into(),
        ));
        // The soak pushes through a loopback FCM fake (the bench process says where).
        if let (Ok(account), Ok(url), Ok(ca)) = (
            std::env::var("LATCHKEY_BENCH_FCM_ACCOUNT"),
            std::env::var("LATCHKEY_BENCH_FCM_URL"),
            std::env::var("LATCHKEY_BENCH_FCM_CA"),
        ) {
            config.push = latchkey_server::config::PushConfig {
                fcm: Some(latchkey_server::config::FcmConfig {
                    account: serde_json::from_slice(&std::fs::read(account).expect("account"))
                        .expect("service account"),
                    endpoint: url,
                }),
                extra_ca_pem: Some(std::fs::read(ca).expect("CA")),
                ..latchkey_server::config::PushConfig::default()
            };
        }
        // A benchmark signs in thousands of times from one address.
        config.policy.login_attempts = i64::MAX / 4;
        config.policy.max_pending_pushes = i64::MAX / 4;
        config.policy.registrations_per_ip = i64::MAX / 4;
        let running = latchkey_server::start(config).await.expect("server starts");
        let state = running.state.clone();
        println!("listening {}", running.url);
        let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    return;
                }
            }
        });
        while let Some(line) = lines_rx.recv().await {
            if let Some(n) = line.strip_prefix("app ") {
                // A relying-party application for the RP rounds (its key printed once).
                let app = latchkey_server::rp::admin::add_app(
                    &state.durable_db,
                    &state.keys,
                    "Bench",
                    None,
                    100_000,
                    state.clock.now_i64(),
                )
                .await
                .expect("app");
                println!("app {n} {}", app.key);
                continue;
            }
            let mut parts = line.split(' ');
            let (Some("signin"), Some(n), Some(email)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (state, n, email) = (state.clone(), n.to_owned(), email.to_owned());
            tokio::spawn(async move {
                let signin = latchkey_server::start_signin(&state, &email, "Bench", "127.0.0.1")
                    .await
                    .expect("sign-in");
                println!("signed {n} {} {}", signin.login_id, signin.code);
                let outcome = latchkey_server::wait_answered(
                    &state,
                    &signin.login_id,
                    Duration::from_secs(60),
                )
                .await
                .expect("outcome");
                println!(
                    "done {n} {}",
                    outcome.unwrap_or_else(|| "unanswered".into())
                );
            });
        }
        running.shutdown().await;
    });
}

/// A server process and its control pipe.
struct Proc {
    child: std::process::Child,
    stdin: Mutex<std::process::ChildStdin>,
    replies: Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Vec<String>>>>>,
    next: AtomicU64,
    endpoint: server::Endpoint,
}

impl Proc {
    fn start(
        data_dir: &std::path::Path,
        database_url: Option<&str>,
        keys: &std::path::Path,
    ) -> Self {
        let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
            .arg("serve")
            .arg(data_dir)
            .arg(database_url.unwrap_or("-"))
            .arg(keys)
            .env("RUST_LOG", "error")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("server process");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = lines
            .next()
            .expect("a first line")
            .expect("line")
            .strip_prefix("listening ")
            .expect("listening")
            .to_owned();
        let replies: Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Vec<String>>>>> = Arc::default();
        {
            let replies = replies.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    let words: Vec<String> = line.split(' ').map(str::to_owned).collect();
                    let Some(n) = words.get(1).and_then(|n| n.parse::<u64>().ok()) else {
                        continue;
                    };
                    let mut map = replies.lock().unwrap();
                    if let Some(tx) = map.get(&n) {
                        let _ = tx.send(words.clone());
                    }
                    if words[0] == "done" {
                        map.remove(&n);
                    }
                }
            });
        }
        let ca_pem = std::fs::read(data_dir.join("tls").join("dev-ca.pem")).expect("dev CA");
        Self {
            child,
            stdin: Mutex::new(stdin),
            replies,
            next: AtomicU64::new(0),
            endpoint: server::Endpoint {
                url,
                ca_pem,
                data_dir: data_dir.to_owned(),
            },
        }
    }

    /// Creates a sign-in past the password; returns its code and a receiver of its outcome.
    async fn signin(&self, email: &str) -> (String, mpsc::UnboundedReceiver<Vec<String>>) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.replies.lock().unwrap().insert(n, tx);
        writeln!(self.stdin.lock().unwrap(), "signin {n} {email}").expect("command");
        let signed = rx.recv().await.expect("signed");
        (signed[3].clone(), rx)
    }

    /// Adds a relying-party application; its API key.
    async fn rp_key(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.replies.lock().unwrap().insert(n, tx);
        writeln!(self.stdin.lock().unwrap(), "app {n}").expect("command");
        let reply = rx.recv().await.expect("app");
        self.replies.lock().unwrap().remove(&n);
        reply[2].clone()
    }

    /// User plus system CPU seconds used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("proc stat");
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU seconds process `pid` used so far (`self` for this one).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// One simulated person: an account on the servers, a phone with the core.
struct Person {
    email: String,
    core: Latchkey,
    account: RecordId,
    /// The same person as a relying party's user, on the same phone.
    rp_user: String,
    rp_account: RecordId,
    /// The node the phone talks to (its enrolment link's server).
    home: usize,
    _phone: Phone,
}

struct Setup {
    procs: Vec<Proc>,
    people: Vec<Arc<Person>>,
    /// The relying party's API key and its client per node.
    rp_key: String,
    rp_clients: Vec<reqwest::Client>,
    _dir: tempfile::TempDir,
}

/// `nodes` server processes sharing a data directory (dev CA, outbox) and a new key file, on
/// `database_url` (SQLite in the data directory when `None`).
async fn start_nodes(database_url: Option<String>, nodes: usize) -> (tempfile::TempDir, Vec<Proc>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let keys = dir.path().join("server-keys.json");
    latchkey_server::keys::ServerKeys::create(&keys).expect("server keys");
    let mut procs = Vec::new();
    for _ in 0..nodes {
        let (data, keys, url) = (data.clone(), keys.clone(), database_url.clone());
        procs.push(
            tokio::task::spawn_blocking(move || Proc::start(&data, url.as_deref(), &keys))
                .await
                .expect("start"),
        );
    }
    (dir, procs)
}

async fn setup(database_url: Option<String>, nodes: usize, people: usize) -> Setup {
    let (dir, procs) = start_nodes(database_url, nodes).await;
    let rp_key = procs[0].rp_key().await;
    let rp_clients: Vec<reqwest::Client> = procs.iter().map(|p| p.endpoint.client()).collect();
    let mut list = Vec::new();
    for i in 0..people {
        let home = i % nodes;
        let node = &procs[home].endpoint;
        let email = format!("bench{i}@example.org");
        let browser = Browser::register(node, &email, PASSWORD).await;
        let (html, _) = browser.add_device("Bench phone", PIN).await;
        let link = scan_page(&html);
        let phone = Phone::with_ca(node.ca_pem.clone());
        let core = phone.open();
        let account = core
            .enrol(&link, &Pin::new(PIN), None)
            .await
            .expect("enrol");
        let rp_user = format!("bench{i}");
        let rp = &rp_clients[home];
        let put = rp
            .put(format!("{}rp/v1/users/{rp_user}", node.url))
            .bearer_auth(&rp_key)
            .send()
            .await
            .expect("RP user");
        assert!(put.status().is_success(), "RP user: {}", put.status());
        let enrolment: serde_json::Value = rp
            .post(format!("{}rp/v1/users/{rp_user}/enrolments", node.url))
            .bearer_auth(&rp_key)
            .json(&serde_json::json!({ "device_name": "Bench phone", "pin": PIN }))
            .send()
            .await
            .expect("RP enrolment")
            .json()
            .await
            .expect("JSON");
        let rp_link = latchkey_protocol::link::parse(enrolment["link"].as_str().expect("link"))
            .expect("link");
        let rp_account = core
            .enrol(&rp_link, &Pin::new(PIN), None)
            .await
            .expect("enrol with the relying party");
        list.push(Arc::new(Person {
            email,
            core,
            account: account.id,
            rp_user,
            rp_account: rp_account.id,
            home,
            _phone: phone,
        }));
    }
    Setup {
        procs,
        people: list,
        rp_key,
        rp_clients,
        _dir: dir,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Protocol,
    Full,
    Rp,
}

/// What a completed round leaves for the replay check.
struct Done {
    person: Arc<Person>,
    view: latchkey_core::ChallengeView,
    code: String,
}

/// One round for `person`; the sign-in is created on the node other than the phone's home
/// when there are two.
async fn round(setup: &Setup, person: &Arc<Person>, kind: Kind) -> Result<Done, String> {
    let signin_node = (person.home + 1) % setup.procs.len();
    let proc = &setup.procs[signin_node];
    let pin = Pin::new(PIN);
    match kind {
        Kind::Rp => {
            let rp = &setup.rp_clients[signin_node];
            let base = &proc.endpoint.url;
            let started: serde_json::Value = rp
                .post(format!("{base}rp/v1/authentications"))
                .bearer_auth(&setup.rp_key)
                .json(&serde_json::json!({ "user": person.rp_user,
                    "context": { "service": "Bench", "browser": "Bench", "ip": "127.0.0.1" } }))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let transaction = started["transaction"].as_str().ok_or("no transaction")?;
            let code = started["code"].as_str().ok_or("no code")?.to_owned();
            let status = {
                let rp = rp.clone();
                let url = format!("{base}rp/v1/authentications/{transaction}?wait=20");
                let key = setup.rp_key.clone();
                tokio::spawn(async move {
                    rp.get(url)
                        .bearer_auth(key)
                        .send()
                        .await?
                        .json::<serde_json::Value>()
                        .await
                })
            };
            let view = approve(person, &person.rp_account, &code, &pin).await?;
            let seen = status
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            if seen["state"] != "approved" {
                return Err(format!("the relying party saw {seen}"));
            }
            Ok(Done {
                person: person.clone(),
                view,
                code,
            })
        }
        Kind::Protocol => {
            let (code, mut outcome) = proc.signin(&person.email).await;
            let view = approve(person, &person.account, &code, &pin).await?;
            let done = outcome.recv().await.ok_or("no outcome")?;
            if done[2] != "approved" {
                return Err(format!("web side saw {}", done[2]));
            }
            Ok(Done {
                person: person.clone(),
                view,
                code,
            })
        }
        Kind::Full => {
            let (browser, status, code) =
                Browser::sign_in(&proc.endpoint, &person.email, PASSWORD).await;
            if status != reqwest::StatusCode::SEE_OTHER {
                return Err(format!("sign-in answered {status}"));
            }
            let events = browser.get_raw("/login/approve/events").await;
            let page = tokio::spawn(read_events(events, |e| e["done"] == true));
            let view = approve(person, &person.account, &code, &pin).await?;
            let seen = page.await.map_err(|e| e.to_string())?;
            if seen.last().map(|e| e["ok"] == true) != Some(true) {
                return Err(format!("the page said {:?}", seen.last()));
            }
            Ok(Done {
                person: person.clone(),
                view,
                code,
            })
        }
    }
}

async fn approve(
    person: &Person,
    account: &RecordId,
    code: &str,
    pin: &Pin,
) -> Result<latchkey_core::ChallengeView, String> {
    let ids = person
        .core
        .pending(account, 0)
        .await
        .map_err(|e| e.to_string())?;
    let id = *ids.last().ok_or("nothing pending")?;
    let view = person
        .core
        .challenge(account, &id)
        .await
        .map_err(|e| e.to_string())?;
    person
        .core
        .approve(&view, code, pin)
        .await
        .map_err(|e| e.to_string())?;
    Ok(view)
}

struct Cell {
    rounds: usize,
    per_second: f64,
    p50: f64,
    p99: f64,
    failed: usize,
    doubled: usize,
    cpu_per_round_ms: f64,
    generator_per_round_ms: f64,
}

async fn run(setup: &Arc<Setup>, kind: Kind, concurrency: usize, length: Duration) -> Cell {
    let cpu_before: f64 = setup.procs.iter().map(Proc::cpu_seconds).sum();
    let generator_before = cpu_seconds("self");
    let started = Instant::now();
    let deadline = started + length;
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let setup = setup.clone();
        let person = setup.people[w].clone();
        workers.push(tokio::spawn(async move {
            let (mut times, mut done, mut failed) = (Vec::new(), Vec::new(), 0);
            while Instant::now() < deadline {
                let t = Instant::now();
                match round(&setup, &person, kind).await {
                    Ok(d) => {
                        times.push(t.elapsed());
                        done.push(d);
                    }
                    Err(e) => {
                        eprintln!("round failed: {e}");
                        failed += 1;
                    }
                }
            }
            (times, done, failed)
        }));
    }
    let (mut times, mut done, mut failed) = (Vec::new(), Vec::new(), 0);
    for w in workers {
        let (t, d, f) = w.await.expect("worker");
        times.extend(t);
        done.extend(d);
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = setup.procs.iter().map(Proc::cpu_seconds).sum::<f64>() - cpu_before;
    let generator = cpu_seconds("self") - generator_before;
    // Doubled: an answer accepted twice. Every completed round is approved again: all must
    // be refused.
    let mut doubled = 0;
    for d in &done {
        if d.person
            .core
            .approve(&d.view, &d.code, &Pin::new(PIN))
            .await
            .is_ok()
        {
            doubled += 1;
        }
    }
    times.sort();
    let pct = |p: f64| {
        times
            .get(((times.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    Cell {
        rounds: times.len(),
        per_second: times.len() as f64 / elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
        failed,
        doubled,
        cpu_per_round_ms: cpu / times.len().max(1) as f64 * 1e3,
        generator_per_round_ms: generator / times.len().max(1) as f64 * 1e3,
    }
}

/// Every signature, verification and OPRF step of one protocol round, device and server,
/// timed alone (median of many): CPU milliseconds per round.
fn crypto_per_round() -> (f64, Vec<(&'static str, f64)>) {
    use latchkey_protocol::oprf;
    use latchkey_protocol::secret::OprfKey;
    use latchkey_protocol::types::{PublicKey, Signature};
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::SigningKey;
    use rand_core::OsRng;

    fn time(n: usize, mut f: impl FnMut()) -> f64 {
        let mut samples: Vec<f64> = (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        samples[n / 2]
    }
    let device = SigningKey::random(&mut OsRng);
    let public = PublicKey::from(device.verifying_key());
    let message = [7u8; 200];
    let signature: p256::ecdsa::Signature = device.sign(&message);
    let signature = Signature::from_ecdsa(&signature);
    let dir = tempfile::tempdir().expect("tempdir");
    let server_keys = latchkey_server::keys::ServerKeys::load_or_create(dir.path()).expect("keys");
    let challenge_sig = server_keys.sign_challenge(&message);
    let server_public = server_keys.challenge_public();
    let key = OprfKey::generate(&mut OsRng);
    let pin = Pin::new(PIN);
    let (_, blinded) = oprf::blind(&pin, &mut OsRng).expect("blind");
    let evaluated = oprf::blind_evaluate(&key, &blinded).expect("evaluate");
    let n = 300;
    let sign = time(n, || {
        let _: p256::ecdsa::Signature = device.sign(&message);
    });
    let verify = time(n, || assert!(public.verify(&message, &signature)));
    let server_sign = time(n, || {
        server_keys.sign_challenge(&message);
    });
    let verify_challenge = time(
        n,
        || assert!(server_public.verify(&message, &challenge_sig)),
    );
    let blind = time(n, || {
        oprf::blind(&pin, &mut OsRng).expect("blind");
    });
    let finalize = time(n, || {
        let (state, _) = oprf::blind(&pin, &mut OsRng).expect("blind");
        state.finalize(&pin, &evaluated).ok();
    }) - blind;
    let evaluate = time(n, || {
        oprf::blind_evaluate(&key, &blinded).expect("evaluate");
    });
    // Per round: the device signs 4 envelopes (list, fetch, evaluate, answer) and the
    // approval, verifies the challenge, blinds and finalizes; the server verifies the 4
    // envelopes and the approval, signs the challenge, evaluates.
    let steps = vec![
        ("device: 5 P-256 signatures", 5.0 * sign),
        ("device: verify the challenge", verify_challenge),
        ("device: OPRF blind + finalize", blind + finalize),
        ("server: 5 P-256 verifications", 5.0 * verify),
        ("server: sign the challenge (ring)", server_sign),
        ("server: OPRF evaluate", evaluate),
    ];
    (steps.iter().map(|(_, t)| t).sum(), steps)
}

async fn bench(length: Duration) {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    println!(
        "# Latchkey load benchmark — {} on {} ({cores} cores), {}s per cell\n",
        date(),
        machine(),
        length.as_secs()
    );
    let (crypto_ms, steps) = crypto_per_round();
    let ceiling = cores as f64 / (crypto_ms / 1e3);
    println!("Crypto per protocol round, each step timed alone (median):\n");
    println!("| step | ms |\n|---|---|");
    for (name, ms) in &steps {
        println!("| {name} | {ms:.3} |");
    }
    println!(
        "| **total** | **{crypto_ms:.3}** |\n\nCrypto ceiling on {cores} cores: **{ceiling:.0} \
         rounds/s** (all cores doing nothing but this crypto).\n"
    );

    let mut configs: Vec<(&str, Option<String>, usize)> = vec![("SQLite, 1 node", None, 1)];
    if let Some(url) = server::postgres_url() {
        configs.push(("PostgreSQL, 1 node", Some(url.clone()), 1));
        configs.push(("PostgreSQL, 2 nodes", Some(url), 2));
    }
    println!(
        "| round | database | conc. | rounds | rounds/s | p50 ms | p99 ms | lost | doubled | \
         server CPU ms/round | devices CPU ms/round | of crypto ceiling |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, url, nodes) in configs {
        let database_url = match url {
            Some(_) => Some(server::fresh_postgres().await),
            None => None,
        };
        let setup = Arc::new(setup(database_url, nodes, *CONCURRENCY.iter().max().unwrap()).await);
        for kind in [Kind::Protocol, Kind::Full, Kind::Rp] {
            for concurrency in CONCURRENCY {
                let cell = run(&setup, kind, concurrency, length).await;
                println!(
                    "| {} | {name} | {concurrency} | {} | {:.0} | {:.1} | {:.1} | {} | {} | {:.2} | {:.2} | {:.0} % |",
                    match kind { Kind::Protocol => "protocol", Kind::Full => "full", Kind::Rp => "RP API" },
                    cell.rounds,
                    cell.per_second,
                    cell.p50,
                    cell.p99,
                    cell.failed,
                    cell.doubled,
                    cell.cpu_per_round_ms,
                    cell.generator_per_round_ms,
                    cell.per_second / ceiling * 100.0
                );
            }
        }
    }
}

fn date() -> String {
    std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

// ---------------------------------------------------------------------------------------
// Idle long-polls.

/// Resident memory of process `pid`, MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One long-poll, without panicking on a network error (counted instead).
async fn long_poll(
    device: &server::Device,
) -> Result<Vec<latchkey_protocol::types::ChallengeId>, String> {
    use latchkey_protocol::wire::{ChallengeList, ListChallenges, RequestBody as _};
    let request = device.envelope(ListChallenges { wait_seconds: 60 });
    let url = format!(
        "{}{}",
        device.base,
        ListChallenges::PATH.trim_start_matches('/')
    );
    let response = device
        .http
        .post(url)
        .json(&request)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let list: ChallengeList = response.json().await.map_err(|e| e.to_string())?;
    Ok(list.challenges)
}

async fn idle(waiters: usize) {
    const DEVICES: usize = 100;
    println!(
        "# Idle long-polls — {} on {}\n\n{waiters} long-polls over {DEVICES} devices; each lasts \
         60 s and is asked again at once.\n",
        date(),
        machine()
    );
    println!(
        "| database | nodes | waiting | server RSS before | server RSS waiting | per waiter | \
         server CPU while waiting | sign-in to device p50 | p99 | max | poll errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut configs: Vec<(&str, Option<String>, usize)> = vec![("SQLite", None, 1)];
    if let Some(url) = server::postgres_url() {
        configs.push(("PostgreSQL", Some(url), 2));
    }
    for (name, url, nodes) in configs {
        let database_url = match url {
            Some(_) => Some(server::fresh_postgres().await),
            None => None,
        };
        let (_dir, procs) = start_nodes(database_url, nodes).await;
        let procs = Arc::new(procs);
        // Devices, each at home on one node; one HTTP client per device (its own connections).
        let mut devices = Vec::new();
        for i in 0..DEVICES {
            let node = &procs[i % nodes].endpoint;
            let email = format!("idle{i}@example.org");
            let (_, device) = server::enrolled(node, &email, PIN).await;
            devices.push((email, Arc::new(device)));
        }
        let rss_before: f64 = procs.iter().map(|p| rss_mib(p.child.id())).sum();
        // Woken devices report here: (device index, when).
        let (woke_tx, mut woke_rx) = mpsc::unbounded_channel::<(usize, Instant)>();
        let errors = Arc::new(AtomicU64::new(0));
        let in_flight = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for w in 0..waiters {
            let d = w % DEVICES;
            let device = devices[d].1.clone();
            let (woke_tx, errors, in_flight) = (woke_tx.clone(), errors.clone(), in_flight.clone());
            tasks.push(tokio::spawn(async move {
                // Spread the first requests over two seconds, as devices coming online would.
                tokio::time::sleep(Duration::from_millis((w as u64 * 2000) / waiters as u64)).await;
                loop {
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let result = long_poll(&device).await;
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    match result {
                        Ok(ids) if ids.is_empty() => {}
                        Ok(ids) => {
                            let _ = woke_tx.send((d, Instant::now()));
                            // Answer it (deny), as a device would, so it stops being pending.
                            if let Ok(signed) = device.fetch(ids[0]).await.map_err(|_| ()) {
                                let _ = device.deny(&signed, false).await;
                            }
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            }));
        }
        // Wait until they all wait.
        let start = Instant::now();
        while in_flight.load(Ordering::Relaxed) < waiters as u64
            && start.elapsed() < Duration::from_secs(120)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rss_waiting: f64 = procs.iter().map(|p| rss_mib(p.child.id())).sum();
        let cpu_start: f64 = procs.iter().map(Proc::cpu_seconds).sum();
        let minute = Instant::now();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let cpu_minute = procs.iter().map(Proc::cpu_seconds).sum::<f64>() - cpu_start;
        let cpu_share = cpu_minute / minute.elapsed().as_secs_f64() * 100.0;
        // Sign-ins created on one node reach a device waiting (through the other node, with two).
        let mut latencies = Vec::new();
        for k in 0..40 {
            let d = (k * 7) % DEVICES;
            let (email, _) = &devices[d];
            while woke_rx.try_recv().is_ok() {}
            let creator = &procs[(d + 1) % nodes];
            let t0 = Instant::now();
            let _ = creator.signin(email).await;
            let woke = loop {
                let (who, at) = tokio::time::timeout(Duration::from_secs(30), woke_rx.recv())
                    .await
                    .expect("a device woke within 30 s")
                    .expect("woken");
                if who == d {
                    break at;
                }
            };
            latencies.push(woke.saturating_duration_since(t0));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        latencies.sort();
        let ms = |p: f64| {
            latencies[((latencies.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
        };
        println!(
            "| {name} | {nodes} | {waiters} | {rss_before:.0} MiB | {rss_waiting:.0} MiB | {:.1} KiB | \
             {cpu_share:.1} % of a core ({:.1} CPU s/min) | {:.1} ms | {:.1} ms | {:.1} ms | {} |",
            (rss_waiting - rss_before) * 1024.0 / waiters as f64,
            cpu_minute,
            ms(0.5),
            ms(0.99),
            ms(1.0),
            errors.load(Ordering::Relaxed)
        );
        for t in tasks {
            t.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Soak.

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// The database's size on disk, MiB (SQLite: the file, its WAL and shared memory).
async fn database_mib(data_dir: &std::path::Path, postgres: Option<&str>) -> f64 {
    match postgres {
        Some(url) => {
            let Ok(pool) = sqlx::PgPool::connect(url).await else {
                return f64::NAN;
            };
            let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
            pool.close().await;
            bytes as f64 / 1_048_576.0
        }
        None => {
            ["latchkey.db", "latchkey.db-wal", "latchkey.db-shm"]
                .iter()
                .filter_map(|f| std::fs::metadata(data_dir.join(f)).ok())
                .map(|m| m.len() as f64)
                .sum::<f64>()
                / 1_048_576.0
        }
    }
}

async fn soak(minutes: u64, postgres: bool, idle_only: bool) {
    let fcm = server::fcm::FcmFake::start().await;
    let files = tempfile::tempdir().expect("tempdir");
    let account = files.path().join("fcm-account.json");
    let ca = files.path().join("fcm-ca.pem");
    std::fs::write(
        &account,
        serde_json::to_vec(&fcm.service_account).expect("json"),
    )
    .expect("account");
    std::fs::write(&ca, &fcm.ca_pem).expect("CA");
    // The server processes inherit these (set before any of them starts).
    std::env::set_var("LATCHKEY_BENCH_FCM_ACCOUNT", &account);
    std::env::set_var("LATCHKEY_BENCH_FCM_URL", &fcm.url);
    std::env::set_var("LATCHKEY_BENCH_FCM_CA", &ca);
    let database_url = if postgres {
        Some(server::fresh_postgres().await)
    } else {
        None
    };
    let (waiters, workers) = if idle_only { (10_000, 0) } else { (200, 8) };
    println!(
        "# Soak — {} on {}: {} for {minutes} min, {workers} sign-in workers, {waiters} long-polls, \
         pushes through a loopback FCM fake\n",
        date(),
        machine(),
        if postgres { "PostgreSQL" } else { "SQLite" },
    );
    let setup = Arc::new(setup(database_url.clone(), 1, workers.max(1)).await);
    let proc = &setup.procs[0];
    let pid = proc.child.id();
    for (i, person) in setup.people.iter().enumerate() {
        let target = latchkey_protocol::wire::PushTarget {
            kind: latchkey_protocol::wire::PushKind::Fcm,
            token: format!("soak-token-{i}"),
            p256dh: None,
            auth: None,
        };
        person
            .core
            .set_push_target(&person.account, Some(&target))
            .await
            .expect("push target");
    }
    // Long-polls over 100 devices of their own.
    let mut devices = Vec::new();
    for i in 0..100 {
        let (_, device) =
            server::enrolled(&proc.endpoint, &format!("soak{i}@example.org"), PIN).await;
        devices.push(Arc::new(device));
    }
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..waiters {
        let device = devices[w % devices.len()].clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis((w as u64 * 5000) / waiters as u64)).await;
            loop {
                match long_poll(&device).await {
                    Ok(ids) if !ids.is_empty() => {
                        if let Ok(signed) = device.fetch(ids[0]).await {
                            let _ = device.deny(&signed, false).await;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }));
    }
    // Round times of the current minute.
    let times: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    for w in 0..workers {
        let (setup, times, errors) = (setup.clone(), times.clone(), errors.clone());
        let person = setup.people[w].clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let t = Instant::now();
                match round(&setup, &person, Kind::Protocol).await {
                    Ok(_) => times.lock().unwrap().push(t.elapsed()),
                    Err(e) => {
                        eprintln!("round failed: {e}");
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    println!(
        "| minute | server RSS MiB | open fds | database MiB | rounds | p99 ms | pushes sent | \
         sign-in to waiting device ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let data_dir = proc.endpoint.data_dir.clone();
    let mut pushes_before = 0;
    for minute in 1..=minutes {
        tokio::time::sleep(Duration::from_secs(60)).await;
        // A sign-in to a waiting device, timed until that device's waiter answered it (the
        // device's list is empty again).
        let d = (minute as usize * 7) % devices.len();
        let t0 = Instant::now();
        let _ = proc.signin(&format!("soak{d}@example.org")).await;
        let mut wake_ms = f64::NAN;
        for _ in 0..300 {
            if devices[d].pending(0).await.is_empty() {
                wake_ms = t0.elapsed().as_secs_f64() * 1e3;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut minute_times = std::mem::take(&mut *times.lock().unwrap());
        minute_times.sort();
        let p99 = minute_times
            .get(((minute_times.len().max(1) - 1) as f64 * 0.99).round() as usize)
            .map_or(f64::NAN, |t| t.as_secs_f64() * 1e3);
        let pushes = fcm.sends();
        fcm.forget_accepted();
        println!(
            "| {minute} | {:.0} | {} | {:.1} | {} | {p99:.1} | {} | {wake_ms:.1} | {} |",
            rss_mib(pid),
            open_fds(pid),
            database_mib(&data_dir, database_url.as_deref()).await,
            minute_times.len(),
            pushes - pushes_before,
            errors.load(Ordering::Relaxed),
        );
        pushes_before = pushes;
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }
    for t in tasks {
        t.abort();
    }
}
