//! Push delivery through the outbox, against a loopback FCM as strict as Google's
//! (`latchkey_test_support::fcm`): what a push carries, what a failing provider can and cannot
//! do to a sign-in, dropped tokens, retries until expiry, the access-token cache, and one send
//! per job with two server processes on one PostgreSQL database.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_server::keys::KeySource;
use std::time::{Duration, Instant};

use latchkey_protocol::wire::{PushKind, PushTarget, SetPushTarget};
use latchkey_server::config::PushConfig;
use latchkey_test_support::fcm::{FcmFake, Scripted};
use latchkey_test_support::*;
use sqlx::Row as _;

const PASSWORD: &str = "correct horse battery";

async fn server_with(fake: &FcmFake, backend: Backend) -> TestServer {
    let push = fake.push_config();
    TestServer::start_config(backend, move |config| config.push = push).await
}

fn fcm_target(token: &str) -> SetPushTarget {
    SetPushTarget {
        target: Some(PushTarget {
            kind: PushKind::Fcm,
            token: token.into(),
            p256dh: None,
            auth: None,
        }),
    }
}

/// Waits (10 s at most) until `test` holds.
async fn until(what: &str, mut test: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !test() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn jobs(server: &TestServer) -> Vec<(String, String, i64)> {
    sqlx::query("SELECT state, outcome, attempts FROM push_jobs ORDER BY created_ms")
        .fetch_all(&server.state.db)
        .await
        .expect("jobs")
        .iter()
        .map(|r| (r.get("state"), r.get("outcome"), r.get("attempts")))
        .collect()
}

async fn wait_jobs(
    server: &TestServer,
    what: &str,
    test: impl Fn(&[(String, String, i64)]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = jobs(server).await;
        if test(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_payload_is_only_the_challenge_id() {
    let fake = FcmFake::start().await;
    let server = server_with(&fake, Backend::Sqlite).await;
    let (_, device) = enrolled(&server, "push@example.org", "4831").await;
    let answer = device
        .call(fcm_target("fcm-token-1"))
        .await
        .expect("register");
    assert!(answer.registered);
    Browser::sign_in(&server, "push@example.org", PASSWORD).await;
    until("the push", || fake.accepted().len() == 1).await;
    let listed = device.pending(0).await;
    let message = &fake.accepted()[0];
    assert_eq!(message["token"], "fcm-token-1");
    assert_eq!(
        message["data"],
        serde_json::json!({ "challenge": listed[0].to_string() }),
        "the push names the challenge the device lists, and nothing else"
    );
    let ttl: u64 = message["android"]["ttl"]
        .as_str()
        .and_then(|t| t.strip_suffix('s'))
        .and_then(|t| t.parse().ok())
        .expect("ttl");
    assert!(
        (100..=120).contains(&ttl),
        "the TTL is the time the challenge has left: {ttl}"
    );
    // Nothing of the sign-in (service, browser, code) anywhere in the message.
    let text = message.to_string();
    for secret in ["Latchkey demo", "Firefox", "push@example.org"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
    wait_jobs(&server, "the job sent", |j| {
        j.len() == 1 && j[0].0 == "sent"
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_failure_never_blocks_the_challenge() {
    let fake = FcmFake::start().await;
    let server = server_with(&fake, Backend::Sqlite).await;
    let (_, device) = enrolled(&server, "down@example.org", "4831").await;
    device
        .call(fcm_target("fcm-token-2"))
        .await
        .expect("register");
    // The provider is down.
    fake.stop();
    Browser::sign_in(&server, "down@example.org", PASSWORD).await;
    let listed = device.pending(0).await;
    assert_eq!(
        listed.len(),
        1,
        "long-poll has the challenge whatever the provider does"
    );
    wait_jobs(&server, "a retry", |j| {
        j.len() == 1 && j[0].0 == "pending" && j[0].2 >= 1
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_token_gone_is_dropped() {
    let fake = FcmFake::start().await;
    let server = server_with(&fake, Backend::Sqlite).await;
    let (_, device) = enrolled(&server, "gone@example.org", "4831").await;
    device
        .call(fcm_target("fcm-token-3"))
        .await
        .expect("register");
    fake.script([Scripted::Error(404, "UNREGISTERED", None)]);
    Browser::sign_in(&server, "gone@example.org", PASSWORD).await;
    wait_jobs(&server, "the job gone", |j| {
        j.len() == 1 && j[0].0 == "gone"
    })
    .await;
    let targets: i64 = sqlx::query("SELECT COUNT(*) AS n FROM push_targets")
        .fetch_one(&server.state.db)
        .await
        .expect("count")
        .get("n");
    assert_eq!(targets, 0, "the gone token is dropped");
    // The next sign-in queues no push (long-poll only) until the device registers again.
    Browser::sign_in(&server, "gone@example.org", PASSWORD).await;
    assert_eq!(jobs(&server).await.len(), 1);
    assert_eq!(fake.sends(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_retries_until_expiry_then_stops() {
    let fake = FcmFake::start().await;
    let server = server_with(&fake, Backend::Sqlite).await;
    let (_, device) = enrolled(&server, "retry@example.org", "4831").await;
    device
        .call(fcm_target("fcm-token-4"))
        .await
        .expect("register");
    fake.script((0..50).map(|_| Scripted::Error(503, "UNAVAILABLE", Some(1))));
    Browser::sign_in(&server, "retry@example.org", PASSWORD).await;
    until("two tries", || fake.sends() >= 2).await;
    wait_jobs(&server, "retrying", |j| j[0].0 == "pending" && j[0].2 >= 2).await;
    // The challenge expires (server clock): the job ends and no more sends are made.
    server.state.clock.advance(200);
    wait_jobs(&server, "expired", |j| j[0].0 == "expired").await;
    let sends = fake.sends();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fake.sends(), sends, "no send after expiry");
    assert!(fake.accepted().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fcm_token_cached_and_refreshed_once() {
    let fake = FcmFake::start().await;
    let server = server_with(&fake, Backend::Sqlite).await;
    let (_, device) = enrolled(&server, "token@example.org", "4831").await;
    device
        .call(fcm_target("fcm-token-5"))
        .await
        .expect("register");
    for n in 1..=2 {
        Browser::sign_in(&server, "token@example.org", PASSWORD).await;
        until("the push", || fake.accepted().len() == n).await;
    }
    assert_eq!(fake.token_requests(), 1, "the access token is cached");
    // Revoked: one refresh, then the push goes through.
    fake.script([Scripted::RevokeTokens]);
    Browser::sign_in(&server, "token@example.org", PASSWORD).await;
    until("the push after a refresh", || fake.accepted().len() == 3).await;
    assert_eq!(fake.token_requests(), 2, "refreshed once");
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_targets_are_checked_and_dropped_on_request() {
    let fake = FcmFake::start().await;
    let server = server_with(&fake, Backend::Sqlite).await;
    let (_, device) = enrolled(&server, "shape@example.org", "4831").await;
    for (target, why) in [
        (
            PushTarget {
                kind: PushKind::Apns,
                token: "ab".repeat(32),
                p256dh: None,
                auth: None,
            },
            "does not push through apns",
        ),
        (
            PushTarget {
                kind: PushKind::Fcm,
                token: String::new(),
                p256dh: None,
                auth: None,
            },
            "empty",
        ),
        (
            PushTarget {
                kind: PushKind::Fcm,
                token: "t".into(),
                p256dh: Some(vec![4; 65]),
                auth: None,
            },
            "only Web Push targets carry keys",
        ),
        (
            PushTarget {
                kind: PushKind::Webpush,
                token: "http://push.example/x".into(),
                p256dh: Some(vec![4; 65]),
                auth: Some(vec![1; 16]),
            },
            "https",
        ),
    ] {
        let err = device
            .call(SetPushTarget {
                target: Some(target),
            })
            .await
            .expect_err("refused");
        assert!(format!("{err:?}").contains(why), "{why}: {err:?}");
    }
    device
        .call(fcm_target("fcm-token-6"))
        .await
        .expect("register");
    let answer = device
        .call(SetPushTarget { target: None })
        .await
        .expect("drop");
    assert!(!answer.registered);
    Browser::sign_in(&server, "shape@example.org", PASSWORD).await;
    assert!(jobs(&server).await.is_empty(), "no target, no push");
    server.stop().await;
}

/// Two server processes on one PostgreSQL database, each signing in its share: every
/// challenge is pushed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_sent_once_with_two_server_processes() {
    // postgres_url() fails when LATCHKEY_REQUIRE_POSTGRES is set, and says it skipped.
    if postgres_url().is_none() {
        return;
    }
    let fake = FcmFake::start().await;
    let first = server_with(&fake, Backend::Postgres).await;
    let url = first
        .state
        .config
        .database_url
        .clone()
        .expect("database url");
    let push = fake.push_config();
    let keys = first.dir.path().join("server-keys.json");
    let second = TestServer::start_config(Backend::Sqlite, move |config| {
        config.database_url = Some(url);
        config.server_keys = Some(KeySource::File(keys));
        config.push = push;
    })
    .await;
    let mut devices = Vec::new();
    for n in 0..4 {
        let email = format!("pg{n}@example.org");
        let (_, device) = enrolled(&first, &email, "4831").await;
        device
            .call(fcm_target(&format!("fcm-token-pg-{n}")))
            .await
            .expect("register");
        devices.push(email);
    }
    // A backlog both senders see at once (as after a provider outage): 200 due jobs for the
    // registered devices, then a sign-in on each server wakes both senders together.
    let device_ids: Vec<String> = sqlx::query("SELECT device_id FROM push_targets")
        .fetch_all(&first.state.db)
        .await
        .expect("targets")
        .iter()
        .map(|r| r.get("device_id"))
        .collect();
    let now_ms = i64::try_from(now()).unwrap() * 1000;
    for n in 0..200u32 {
        let mut challenge = [0u8; 16];
        challenge[..4].copy_from_slice(&n.to_be_bytes());
        sqlx::query(
            "INSERT INTO push_jobs (id, challenge_id, device_id, created_ms, expires_at, \
             next_ms, attempts, state, outcome) VALUES ($1, $2, $3, $4, $5, $6, 0, 'pending', '')",
        )
        .bind(format!("backlog-{n}"))
        .bind(latchkey_protocol::b64::encode(&challenge))
        .bind(&device_ids[n as usize % device_ids.len()])
        .bind(now_ms)
        .bind(now_ms / 1000 + 600)
        .bind(now_ms)
        .execute(&first.state.db)
        .await
        .expect("backlog");
    }
    let mut signins = Vec::new();
    for round in 0..2 {
        for (n, email) in devices.iter().enumerate() {
            let server = if (n + round) % 2 == 0 {
                &first
            } else {
                &second
            };
            signins.push(Browser::sign_in(server, email, PASSWORD));
        }
    }
    futures_util::future::join_all(signins).await;
    let challenges: i64 = sqlx::query("SELECT COUNT(*) AS n FROM challenges")
        .fetch_one(&first.state.db)
        .await
        .expect("count")
        .get("n");
    assert_eq!(challenges, 8, "eight sign-ins, one device each");
    wait_jobs(&first, "every push", |j| {
        j.len() == 208 && j.iter().all(|(state, _, _)| state == "sent")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accepted = fake.accepted();
    let mut ids: Vec<String> = accepted
        .iter()
        .map(|m| m["data"]["challenge"].to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 208);
    assert_eq!(accepted.len(), 208, "each challenge pushed once");
    second.stop().await;
    first.stop().await;
}

/// Jobs pending when the server stops are sent, once, by the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_outbox_survives_a_restart() {
    let down = FcmFake::start().await;
    let first = server_with(&down, Backend::Sqlite).await;
    let (_, device) = enrolled(&first, "restart@example.org", "4831").await;
    device
        .call(fcm_target("fcm-token-7"))
        .await
        .expect("register");
    down.stop();
    Browser::sign_in(&first, "restart@example.org", PASSWORD).await;
    wait_jobs(&first, "a failed try", |j| j.len() == 1 && j[0].2 >= 1).await;
    let url = latchkey_server::db::sqlite_url(first.dir.path());
    // The first process stops (its data directory stays until the end of the test).
    let mut first = first;
    first.running.take().expect("running").shutdown().await;

    let up = FcmFake::start().await;
    let push = up.push_config();
    let keys = first.dir.path().join("server-keys.json");
    let second = TestServer::start_config(Backend::Sqlite, move |config| {
        config.database_url = Some(url);
        config.server_keys = Some(KeySource::File(keys));
        config.push = push;
    })
    .await;
    // The lease of the failed try runs out, then the new process sends it.
    second.state.clock.advance(1);
    wait_jobs(&second, "sent after the restart", |j| {
        j.len() == 1 && j[0].0 == "sent"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.accepted().len(), 1, "sent once");
    second.stop().await;
    drop(first);
}

async fn webpush_server(fake: &latchkey_test_support::webpush::WebPushFake) -> TestServer {
    webpush_server_allowing(fake, vec!["localhost".into()]).await
}

async fn webpush_server_allowing(
    fake: &latchkey_test_support::webpush::WebPushFake,
    allow_hosts: Vec<String>,
) -> TestServer {
    let ca = fake.ca_pem.clone();
    let mut vapid = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut vapid);
    vapid[0] = 0x3f; // below the group order
    TestServer::start_config(Backend::Sqlite, move |config| {
        config.push = PushConfig {
            webpush: Some(latchkey_server::config::WebPushConfig {
                vapid_private: zeroize::Zeroizing::new(vapid.to_vec()),
                subject: "mailto:ops@example.org".into(),
                // The fake is on loopback; everything else internal stays refused.
                allow_hosts,
            }),
            extra_ca_pem: Some(ca),
            ..PushConfig::default()
        };
    })
    .await
}

fn webpush_target(sub: &latchkey_test_support::webpush::Subscribed) -> SetPushTarget {
    SetPushTarget {
        target: Some(PushTarget {
            kind: PushKind::Webpush,
            token: sub.endpoint.clone(),
            p256dh: Some(sub.p256dh.clone()),
            auth: Some(sub.auth.clone()),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webpush_body_decrypts_with_subscription_keys() {
    let fake = latchkey_test_support::webpush::WebPushFake::start().await;
    let server = webpush_server(&fake).await;
    let (_, device) = enrolled(&server, "wp@example.org", "4831").await;
    let sub = fake.subscribe();
    device.call(webpush_target(&sub)).await.expect("register");
    Browser::sign_in(&server, "wp@example.org", PASSWORD).await;
    until("the push", || fake.accepted().len() == 1).await;
    let listed = device.pending(0).await;
    assert_eq!(
        fake.accepted()[0],
        serde_json::json!({ "challenge": listed[0].to_string() }),
        "decrypted with the subscription's keys: the challenge id, nothing else"
    );
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
    // 410: the subscription is gone and dropped.
    fake.script([(410, None)]);
    Browser::sign_in(&server, "wp@example.org", PASSWORD).await;
    wait_jobs(&server, "gone", |j| j.len() == 2 && j[1].0 == "gone").await;
    server.stop().await;
}

/// An endpoint that resolves inside the server's network is never contacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webpush_endpoints_inside_the_network_are_refused() {
    let fake = latchkey_test_support::webpush::WebPushFake::start().await;
    let server = webpush_server(&fake).await;
    let (_, device) = enrolled(&server, "ssrf@example.org", "4831").await;
    let sub = fake.subscribe();
    // The same fake by address, or with credentials in the URL: refused when registered.
    for endpoint in [
        sub.endpoint.replace("localhost", "127.0.0.1"),
        sub.endpoint.replace("localhost", "[::1]"),
        sub.endpoint
            .replace("https://localhost", "https://a:b@localhost"),
        "https://169.254.169.254/latest/meta-data/".into(),
    ] {
        let mut target = webpush_target(&sub);
        if let Some(t) = target.target.as_mut() {
            t.token = endpoint.clone();
        }
        let err = device.call(target).await.expect_err("refused");
        assert!(
            format!("{err:?}").contains("does not push to that webpush address"),
            "{endpoint}: {err:?}"
        );
    }
    server.stop().await;

    // A name that resolves inside the network (`localhost`, on a server that does not allow
    // it): accepted as a name, refused when resolved at send time, never contacted.
    let server = webpush_server_allowing(&fake, Vec::new()).await;
    let (_, device) = enrolled(&server, "ssrf2@example.org", "4831").await;
    device.call(webpush_target(&sub)).await.expect("register");
    Browser::sign_in(&server, "ssrf2@example.org", PASSWORD).await;
    wait_jobs(&server, "refused", |j| j.len() == 1 && j[0].0 == "refused").await;
    assert_eq!(fake.posts(), 0, "never contacted");
    server.stop().await;
}

async fn apns_server(fake: &latchkey_test_support::apns::ApnsFake) -> TestServer {
    let credentials = latchkey_server::push::apns::ApnsCredentials {
        key_id: fake.key_id.into(),
        team_id: fake.team_id.into(),
        private_key_pem: zeroize::Zeroizing::new(fake.private_pem.clone()),
        topic: latchkey_test_support::apns::TOPIC.into(),
    };
    let (endpoint, ca) = (fake.url.clone(), fake.ca_pem.clone());
    TestServer::start_config(Backend::Sqlite, move |config| {
        config.push = PushConfig {
            apns: Some(latchkey_server::config::ApnsConfig {
                credentials,
                endpoint,
            }),
            extra_ca_pem: Some(ca),
            ..PushConfig::default()
        };
    })
    .await
}

fn apns_target(token: &str) -> SetPushTarget {
    SetPushTarget {
        target: Some(PushTarget {
            kind: PushKind::Apns,
            token: token.into(),
            p256dh: None,
            auth: None,
        }),
    }
}

/// The APNs push over HTTP/2: a visible alert that names nothing, and the challenge id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apns_push_is_an_alert_and_the_challenge_id() {
    let fake = latchkey_test_support::apns::ApnsFake::start().await;
    let server = apns_server(&fake).await;
    let (_, device) = enrolled(&server, "ios@example.org", "4831").await;
    device
        .call(apns_target(&"ab".repeat(32)))
        .await
        .expect("register");
    Browser::sign_in(&server, "ios@example.org", PASSWORD).await;
    until("the push", || fake.accepted().len() == 1).await;
    let (headers, payload) = &fake.accepted()[0];
    let listed = device.pending(0).await;
    assert_eq!(payload["challenge"], listed[0].to_string());
    assert_eq!(headers["apns-collapse-id"], "latchkey-signin");
    let expiration: u64 = headers["apns-expiration"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(expiration <= now() + 120, "expires with the challenge");
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
    // Unregistered after the token was registered: gone.
    fake.script([(
        410,
        "Unregistered",
        Some(i64::try_from(now()).unwrap() * 1000 + 1000),
    )]);
    Browser::sign_in(&server, "ios@example.org", PASSWORD).await;
    wait_jobs(&server, "gone", |j| j.len() == 2 && j[1].0 == "gone").await;
    server.stop().await;
}

/// Provider tokens are re-minted after 40 minutes, not per push; a refused one is replaced
/// once, and only if it is at least 20 minutes old.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apns_jwt_not_reminted_too_often() {
    let fake = latchkey_test_support::apns::ApnsFake::start().await;
    let server = apns_server(&fake).await;
    let (_, device) = enrolled(&server, "jwt@example.org", "4831").await;
    device
        .call(apns_target(&"cd".repeat(32)))
        .await
        .expect("register");
    for (done, advance) in [0, 60, 600, 1500, 900].into_iter().enumerate() {
        // The server's clock and Apple's move together.
        server.state.clock.advance(advance);
        fake.set_now(server.state.clock.now());
        Browser::sign_in(&server, "jwt@example.org", PASSWORD).await;
        until("the push", || fake.accepted().len() == done + 1).await;
    }
    // 0, +1 min, +11 min, +36 min: one token; +51 min: a second.
    assert_eq!(fake.tokens(), 2, "one token per 40 minutes");
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
    server.stop().await;
}

async fn wns_server(fake: &latchkey_test_support::wns::WnsFake) -> TestServer {
    use latchkey_test_support::wns::{CLIENT_ID, CLIENT_SECRET, SCOPE};
    let credentials = latchkey_server::push::wns::WnsCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: zeroize::Zeroizing::new(CLIENT_SECRET.into()),
        token_uri: format!("{}/accesstoken.srf", fake.url),
        scope: SCOPE.into(),
    };
    let ca = fake.ca_pem.clone();
    TestServer::start_config(Backend::Sqlite, move |config| {
        config.push = PushConfig {
            wns: Some(latchkey_server::config::WnsConfig {
                credentials,
                // The fake's host stands in for notify.windows.com.
                channel_hosts: vec!["localhost".into()],
            }),
            extra_ca_pem: Some(ca),
            ..PushConfig::default()
        };
    })
    .await
}

fn wns_target(channel: &str) -> SetPushTarget {
    SetPushTarget {
        target: Some(PushTarget {
            kind: PushKind::Wns,
            token: channel.into(),
            p256dh: None,
            auth: None,
        }),
    }
}

/// Channel URIs are pushed to only on WNS's hosts: another host is refused when a device
/// registers it, and never contacted if one is in the database anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wns_channel_host_allow_list() {
    let fake = latchkey_test_support::wns::WnsFake::start().await;
    let server = wns_server(&fake).await;
    let (_, device) = enrolled(&server, "win@example.org", "4831").await;
    for (channel, why) in [
        (
            "https://169.254.169.254/latest/meta-data/".to_owned(),
            "does not push to that wns address",
        ),
        (
            "https://localhost.evil.example/w/1".to_owned(),
            "does not push to that wns address",
        ),
        (
            fake.channel().replace("https://", "http://"),
            "must be an https URL",
        ),
    ] {
        let err = device
            .call(wns_target(&channel))
            .await
            .expect_err("refused");
        assert!(format!("{err:?}").contains(why), "{channel}: {err:?}");
    }
    // A good channel: a raw notification with the challenge id only.
    device
        .call(wns_target(&fake.channel()))
        .await
        .expect("register");
    Browser::sign_in(&server, "win@example.org", PASSWORD).await;
    until("the push", || fake.accepted().len() == 1).await;
    let listed = device.pending(0).await;
    assert_eq!(
        fake.accepted()[0],
        serde_json::json!({ "challenge": listed[0].to_string() })
    );
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
    // A channel outside the list that reached the database (an older allow-list): refused at
    // send time, the host never contacted.
    let posts = fake.posts();
    sqlx::query("UPDATE push_targets SET token = $1")
        .bind("https://127.0.0.1:9/w/1")
        .execute(&server.state.db)
        .await
        .expect("update");
    Browser::sign_in(&server, "win@example.org", PASSWORD).await;
    wait_jobs(&server, "refused", |j| j.len() == 2 && j[1].0 == "refused").await;
    assert_eq!(fake.posts(), posts);
    // 410: the channel expired and is dropped; the access token was fetched once.
    device
        .call(wns_target(&fake.channel()))
        .await
        .expect("register");
    fake.script([410]);
    Browser::sign_in(&server, "win@example.org", PASSWORD).await;
    wait_jobs(&server, "gone", |j| j.len() == 3 && j[2].0 == "gone").await;
    assert_eq!(fake.token_requests(), 1, "the access token is cached");
    server.stop().await;
}

/// A token of another Firebase project: refused, never retried, in the account's security
/// events; and devices learn which services the server pushes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sender_id_mismatch_is_audited_not_retried() {
    let fake = FcmFake::start().await;
    let server = server_with(&fake, Backend::Sqlite).await;
    let config: latchkey_protocol::wire::PushConfigResponse = server
        .client()
        .get(format!("{}api/v1/push/config", server.url))
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
    assert_eq!(config.services, vec![PushKind::Fcm]);
    assert_eq!(config.webpush_vapid_key, None);
    let (_, device) = enrolled(&server, "other@example.org", "4831").await;
    device
        .call(fcm_target("fcm-token-other-project"))
        .await
        .expect("register");
    fake.script([Scripted::Error(403, "SENDER_ID_MISMATCH", None)]);
    Browser::sign_in(&server, "other@example.org", PASSWORD).await;
    wait_jobs(&server, "refused", |j| j.len() == 1 && j[0].0 == "refused").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.sends(), 1, "not retried");
    let events: Vec<String> = sqlx::query("SELECT detail FROM audit WHERE event = 'push_refused'")
        .fetch_all(&server.state.db)
        .await
        .expect("audit")
        .iter()
        .map(|r| r.get("detail"))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    // Fixed words in the person's security events: the provider's own text stays in the log.
    assert_eq!(events[0], "fcm");
    server.stop().await;
}

/// A removed device is never pushed again: its target goes with its keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_device_loses_its_push_target() {
    let fake = FcmFake::start().await;
    let server = server_with(&fake, Backend::Sqlite).await;
    let (_, mut device) = enrolled(&server, "removed@example.org", "4831").await;
    device
        .call(fcm_target("fcm-token-removed"))
        .await
        .expect("register");
    device.remove("4831").await.expect("remove");
    let targets: i64 = sqlx::query("SELECT COUNT(*) AS n FROM push_targets")
        .fetch_one(&server.state.db)
        .await
        .expect("count")
        .get("n");
    assert_eq!(targets, 0);
    server.stop().await;
}

/// APNs closes connections with GOAWAY now and then: the sender opens a new one, and no push
/// is lost or sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apns_goaway_mid_run_loses_nothing() {
    let fake = latchkey_test_support::apns::ApnsFake::start().await;
    let server = apns_server(&fake).await;
    let (_, device) = enrolled(&server, "goaway@example.org", "4831").await;
    device
        .call(apns_target(&"ef".repeat(32)))
        .await
        .expect("register");
    Browser::sign_in(&server, "goaway@example.org", PASSWORD).await;
    until("the first push", || fake.accepted().len() == 1).await;
    fake.goaway().await;
    for n in 2..=3 {
        Browser::sign_in(&server, "goaway@example.org", PASSWORD).await;
        until("a push after GOAWAY", || fake.accepted().len() == n).await;
    }
    wait_jobs(&server, "all sent", |j| {
        j.len() == 3 && j.iter().all(|(s, _, _)| s == "sent")
    })
    .await;
    let mut ids: Vec<String> = fake
        .accepted()
        .iter()
        .map(|(_, p)| p["challenge"].to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "none doubled");
    server.stop().await;
}

/// A provider slow to answer (2 s) is waited for, within the send timeout: the push is sent
/// once, and a sign-in meanwhile is not held up behind it for longer than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_provider_is_waited_for_and_sent_once() {
    let fake = FcmFake::start().await;
    let server = server_with(&fake, Backend::Sqlite).await;
    let (_, device) = enrolled(&server, "slow@example.org", "4831").await;
    device
        .call(fcm_target("fcm-token-slow"))
        .await
        .expect("register");
    fake.script([Scripted::Slow(Duration::from_secs(2))]);
    let started = Instant::now();
    Browser::sign_in(&server, "slow@example.org", PASSWORD).await;
    Browser::sign_in(&server, "slow@example.org", PASSWORD).await;
    until("both pushes", || fake.accepted().len() == 2).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the slow answer was scripted"
    );
    wait_jobs(&server, "sent once each", |j| {
        j.len() == 2 && j.iter().all(|(s, _, n)| s == "sent" && *n == 1)
    })
    .await;
    assert_eq!(fake.sends(), 2, "no send repeated while the first was slow");
    server.stop().await;
}
