//! P4 across the FFI boundary: a sign-in request the shell hands back to `approve` or `deny`
//! is checked again against the server key pinned at enrolment. A request that was changed or
//! made up is refused with `ServerUntrusted` before any network use — the server sees no PIN
//! evaluation and its failure counter does not move.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_core::{ChallengeView, ErrorKind};
use latchkey_e2e::*;
use latchkey_protocol::secret::Pin;
use latchkey_protocol::types::{ChallengeId, Signature};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p4_forged_challenge_spends_no_pin_attempt() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let mut accounts = Vec::new();
    for email in ["forged@example.org", "second@example.org"] {
        let browser = Browser::register(&server, email, PASSWORD).await;
        let (html, _) = browser.add_device("Phone", "4831").await;
        accounts.push(
            core.enrol(&scan_page(&html), &Pin::new("4831"), None)
                .await
                .expect("enrol"),
        );
    }
    let account = &accounts[0];
    let device = phone.record(&account.id).identity.device;
    let (browser, code, view) =
        sign_in_and_wait(&server, &core, &account.id, "forged@example.org").await;
    let id = view.challenge.id;

    let rogue = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let sign_with_rogue = |v: &ChallengeView| -> Signature {
        let sig: p256::ecdsa::Signature =
            p256::ecdsa::signature::Signer::sign(&rogue, &v.challenge.signed_bytes());
        Signature::from_ecdsa(&sig)
    };
    let mut forgeries: Vec<(&str, ChallengeView)> = Vec::new();
    let mut add = |what: &'static str, change: &dyn Fn(&mut ChallengeView)| {
        let mut forged = view.clone();
        change(&mut forged);
        assert_ne!(forged, view, "{what}");
        forgeries.push((what, forged));
    };
    add("service", &|v| v.challenge.service = "Your bank".into());
    add("browser", &|v| {
        v.challenge.browser = "Safari on macOS".into()
    });
    add("ip", &|v| v.challenge.ip = "192.0.2.1".into());
    add("location", &|v| v.challenge.location = Some("Home".into()));
    add("expiry", &|v| v.challenge.expires_at += 3600);
    add("code digits", &|v| v.challenge.code_digits = 6);
    add("id", &|v| {
        v.challenge.id = ChallengeId::random(&mut rand_core::OsRng)
    });
    add("record", &|v| v.account = accounts[1].id.clone());
    add("signature", &|v| {
        let mut bytes = *v.signature.as_bytes();
        bytes[10] ^= 1;
        v.signature = Signature::from_bytes(&bytes).unwrap_or_else(|| v.signature.clone());
    });
    // Made up and signed by a key other than the pinned one.
    add("rogue signer", &|v| {
        v.challenge.service = "Your bank".into();
        v.signature = sign_with_rogue(v);
    });

    for (what, forged) in &forgeries {
        let e = core
            .approve(forged, &code, &Pin::new("4831"))
            .await
            .expect_err(what);
        assert_eq!(e.kind(), ErrorKind::ServerUntrusted, "{what}: {e}");
        let e = core.deny(forged, true).await.expect_err(what);
        assert_eq!(e.kind(), ErrorKind::ServerUntrusted, "{what}: {e}");
    }
    // The server saw nothing: no evaluation for the request, no failure counted.
    assert_eq!(challenge_evaluations(&server, &id).await, 0);
    assert_eq!(device_row(&server, &device).await.failures, 0);

    // The genuine request is still open and approves.
    core.approve(&view, &code, &Pin::new("4831"))
        .await
        .expect("the request as the server signed it");
    assert_eq!(
        browser.get_raw("/login/approve").await.headers()["location"],
        "/account"
    );
    server.stop().await;
}
