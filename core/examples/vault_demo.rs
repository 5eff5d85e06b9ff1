//! The foundation's main job, until the server and CLI issues land: one device enrols with
//! the **in-process server half** (the server's real OPRF and signing keys, no network yet),
//! approves a sign-in with its PIN, shows a wrong PIN being counted, and changes the PIN in
//! two phases. Everything below is the real construction of docs/PROTOCOL.md.
//!
//! Run: `cargo run --release -p latchkey-core --example vault_demo`
#![allow(clippy::expect_used, clippy::unwrap_used)] // a demo stops loudly on failure

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{enrol, stage_change, unlock, Device, ServerHalf};
use latchkey_core::keystore::{KeyStore, KeyringKeyStore, MemoryKeyStore};
use latchkey_protocol::link::{self, EnrolmentLink};
use latchkey_protocol::pin::PinPolicy;
use latchkey_protocol::secret::{EnrolmentCode, Pin};
use latchkey_protocol::signed::{self, Decision};
use latchkey_protocol::types::{ChallengeId, PublicKey};
use latchkey_protocol::wire::{Challenge, PinSource, SignedChallenge};
use p256::ecdsa::signature::Signer as _;
use rand_core::OsRng;

fn main() {
    let dir = tempfile::tempdir().expect("temporary data directory");
    println!(
        "Latchkey foundation demo (data directory {})",
        dir.path().display()
    );
    println!("The server half runs in this process: real keys, no network (that comes next).\n");

    // The keystore: the real kernel keyring when reachable, otherwise say so.
    let probe = keyring_probe();
    println!("1. Keystore: {probe}");

    let mut server = ServerHalf::new();
    let server_key = PublicKey::from(server.challenge_key.verifying_key());
    let link = EnrolmentLink::new(
        "https://login.example.org/",
        EnrolmentCode::generate(&mut OsRng),
        server_key,
        PinSource::App,
        4,
        "Example Corp — alice@example.org",
    )
    .expect("link");
    let text = link.render();
    let parsed = link::parse(&text).expect("the device accepts the server's link");
    println!(
        "2. Scanned the \"Add a device\" code: {} at {} (the one-time code is not shown)",
        parsed.label,
        parsed.origin()
    );
    for foreign in [
        "otpauth://totp/Example:bob?secret=JBSWY3DPEHPK3PXP",
        "WIFI:S:Home;T:WPA;P:x;;",
    ] {
        let error = link::parse(foreign).expect_err("foreign code");
        println!("   A different code is refused: {error}");
    }

    let policy = PinPolicy {
        digits: parsed.pin_digits,
    };
    for weak in ["1234", "1987", "2580"] {
        let refusal = policy.check(&Pin::new(weak)).expect_err("weak PIN");
        println!("3. PIN {weak} refused: {refusal}");
    }
    let pin = Pin::new("4831");
    policy.check(&pin).expect("a good PIN");
    println!("   PIN accepted.");

    let device = Device::open(dir.path(), MemoryKeyStore::new());
    let started = Instant::now();
    let record = enrol(&device.vault, &device.signer, &mut server, &pin).expect("enrol");
    println!(
        "4. Enrolled in {:.1} ms: device key (software, sealed at rest), fresh approval key sealed \
         under the server-hardened PIN; record {}",
        started.elapsed().as_secs_f64() * 1e3,
        record.id.as_str()
    );

    // A sign-in: the server signs the challenge; the device checks it with the pinned key.
    let challenge = Challenge {
        v: 1,
        id: ChallengeId::random(&mut OsRng),
        account: record.identity.account,
        device: record.identity.device,
        service: "Example Corp".into(),
        browser: "Firefox 140 on Linux".into(),
        ip: "198.51.100.7".into(),
        location: Some("Brussels, BE".into()),
        created_at: 1_767_225_600,
        expires_at: 1_767_225_720,
        code_digits: 2,
    };
    let server_signature: p256::ecdsa::Signature =
        server.challenge_key.sign(&challenge.signed_bytes());
    let signed_challenge = SignedChallenge {
        challenge: challenge.clone(),
        signature: latchkey_protocol::types::Signature::from_ecdsa(&server_signature),
        server_time: 1_767_225_630,
    };
    assert!(signed_challenge.verify(&record.identity.server_key));
    println!(
        "5. Sign-in request verified with the pinned server key: {} from {} ({})",
        challenge.service, challenge.browser, challenge.ip
    );
    let started = Instant::now();
    let key = unlock(&device.vault, &record.id, &mut server, &pin).expect("unlock");
    let counter = device.vault.next_counter(&record.id).expect("counter");
    let answer = signed::answer(
        &challenge.account,
        &challenge.device,
        &challenge.id,
        &challenge.digest(),
        "47",
        Decision::Approve,
        counter,
    );
    let signature = key.sign(&answer);
    drop(key);
    let approved = server
        .approval_key
        .expect("registered")
        .verify(&answer, &signature);
    println!(
        "   Approved with PIN + code 47 in {:.1} ms; server accepts the signature: {approved}",
        started.elapsed().as_secs_f64() * 1e3
    );

    let before = server.evaluations;
    let wrong = unlock(&device.vault, &record.id, &mut server, &Pin::new("4832"));
    println!(
        "6. Wrong PIN: {}. The server counted {} evaluation before the device could even try \
         it; five failures in a row will lock the key (the reference server enforces it)",
        wrong.expect_err("wrong PIN"),
        server.evaluations - before
    );

    let new_pin = Pin::new("5038");
    let (_, new_public) =
        stage_change(&device.vault, &record.id, &mut server, &pin, &new_pin).expect("stage");
    println!("7. PIN change, phase one: fresh approval key sealed under the new PIN, staged");
    server.commit_staged(new_public);
    device.vault.promote(&record.id).expect("promote");
    let reopened = unlock(&device.vault, &record.id, &mut server, &new_pin).expect("new PIN");
    let old_refused = unlock(&device.vault, &record.id, &mut server, &pin).is_err();
    println!(
        "   phase two after the server's commit: new PIN opens the new key ({}), old PIN refused \
         ({old_refused})",
        reopened.public_key() == new_public
    );

    let mut files = Vec::new();
    common::read_tree(dir.path(), &mut files);
    println!(
        "8. On disk ({} files, each 0600, written atomically):",
        files.len()
    );
    for (name, bytes) in &files {
        let short = name
            .strip_prefix(&dir.path().display().to_string())
            .unwrap_or(name);
        println!("   {short} ({} bytes)", bytes.len());
    }
    println!(
        "   Without the server's OPRF key, none of it lets anyone test a PIN guess \
         (test p1_no_offline_pin_oracle)."
    );
}

fn keyring_probe() -> String {
    #[cfg(target_os = "linux")]
    {
        let id = latchkey_core::keystore::KeyId::random(&mut OsRng);
        let key = latchkey_core::keystore::WrappingKey::generate(&mut OsRng);
        match KeyringKeyStore::linux_keyutils("latchkey-demo").map(Arc::new) {
            Ok(store) => match store.put(&id, &key) {
                Ok(()) => {
                    let _ = store.delete(&id);
                    return "the kernel keyring works here; this demo still keeps its keys in \
                            memory so it leaves nothing behind"
                        .into();
                }
                Err(e) => {
                    return format!(
                        "{e}\n   This demo keeps its keys in memory instead (demo only)."
                    )
                }
            },
            Err(e) => return format!("{e}"),
        }
    }
    #[allow(unreachable_code)]
    "no OS keystore on this platform in the demo; keys stay in memory".into()
}
