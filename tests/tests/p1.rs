//! P1 end to end: no offline PIN oracle on a device enrolled, used and re-keyed through the
//! real core and the real server.
//!
//! The attacker gets every byte the core wrote in its data directory, everything the keystore
//! holds, what the keystore's keys decrypt (the inner sealed approval key, the device key) and
//! the approval public key. For all 10^4 PINs, no value one can compute from a PIN alone
//! (its bytes, hashes, the construction's HKDF without the server's OPRF output …) appears in
//! any of it, and none of those derivations opens the sealed key. With the server's OPRF key as
//! well (server and device both breached) the same search finds exactly the PIN: the test sees
//! what it needs to.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use std::collections::HashSet;
use std::path::Path;

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use hkdf::Hkdf;
use latchkey_core::signer::SoftwareSigner;
use latchkey_e2e::*;
use latchkey_protocol::b64;
use latchkey_protocol::oprf;
use latchkey_protocol::secret::{OprfKey, Pin};
use latchkey_protocol::signed::Canonical;
use sha2::{Digest as _, Sha256, Sha512};

const FIRST_PIN: &str = "7292";
const PIN: &str = "3905";

fn read_tree(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            read_tree(&path, out);
        } else {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
}

/// Every base64url string value in a JSON document, decoded (what the core stores as text),
/// each replaced by "" in the document.
fn decoded_strings(value: &mut serde_json::Value, out: &mut Vec<Vec<u8>>) {
    match value {
        serde_json::Value::String(s) => {
            if let Some(bytes) = b64::decode(s) {
                out.push(bytes);
                s.clear();
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| decoded_strings(v, out)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| decoded_strings(v, out)),
        _ => {}
    }
}

/// All windows of `len` bytes of every blob.
fn windows(blobs: &[Vec<u8>], len: usize) -> HashSet<Vec<u8>> {
    blobs
        .iter()
        .flat_map(|b| b.windows(len).map(<[u8]>::to_vec))
        .collect()
}

fn hkdf(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, &mut out)
        .expect("hkdf");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p1_no_offline_pin_oracle() {
    let server = TestServer::start(Backend::Sqlite).await;
    let email = "p1@example.org";
    let browser = Browser::register(&server, email, PASSWORD).await;
    let (html, _) = browser.add_device("Phone", FIRST_PIN).await;
    let phone = Phone::new(&server);
    let core = phone.open();
    let account = core
        .enrol(&scan_page(&html), &Pin::new(FIRST_PIN), None)
        .await
        .expect("enrol");
    // Used: an approval, a wrong PIN, a PIN change, approvals with the new PIN.
    let (_, code, view) = sign_in_and_wait(&server, &core, &account.id, email).await;
    core.approve(&view, &code, &Pin::new(FIRST_PIN))
        .await
        .expect("approve");
    let (_, code, view) = sign_in_and_wait(&server, &core, &account.id, email).await;
    assert!(core.approve(&view, &code, &Pin::new("5038")).await.is_err());
    core.approve(&view, &code, &Pin::new(FIRST_PIN))
        .await
        .expect("approve");
    core.change_pin(&account.id, &Pin::new(FIRST_PIN), &Pin::new(PIN))
        .await
        .expect("change");
    let (_, code, view) = sign_in_and_wait(&server, &core, &account.id, email).await;
    core.approve(&view, &code, &Pin::new(PIN))
        .await
        .expect("approve");
    drop(core);

    // The attacker's haul.
    let mut files = Vec::new();
    read_tree(phone.data(), &mut files);
    assert!(
        files.len() >= 3,
        "records, device key, lock files: {files:?}"
    );
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    // The same without base64 text, in which four given digits can occur by chance.
    let mut binary: Vec<Vec<u8>> = Vec::new();
    for (_, bytes) in &files {
        blobs.push(bytes.clone());
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(mut json) => {
                let mut decoded = Vec::new();
                decoded_strings(&mut json, &mut decoded);
                binary.push(serde_json::to_vec(&json).expect("json"));
                binary.extend(decoded.iter().cloned());
                blobs.extend(decoded);
            }
            Err(_) => binary.push(bytes.clone()),
        }
    }
    for (id, key) in phone.keystore.dump() {
        blobs.push(id.into_bytes());
        blobs.push(key.expose_secret().to_vec());
        binary.push(key.expose_secret().to_vec());
    }
    let record = phone.record(&account.id);
    let (a, d) = (record.identity.account, record.identity.device);
    let slot = record.active.clone();
    let inner = slot.sealed.to_bytes();
    blobs.push(inner.to_vec());
    binary.push(inner.to_vec());
    let device_key = SoftwareSigner::new(phone.data().join("device-keys"), phone.keystore.clone())
        .scalar_for_tests(&record.device_key.alias)
        .expect("device key");
    blobs.push(device_key.to_vec());
    binary.push(device_key.to_vec());
    let approval_public = latchkey_e2e::device_row(&server, &d)
        .await
        .approval_key
        .and_then(|k| b64::decode(&k))
        .expect("approval public key");
    blobs.push(approval_public.clone());

    // Everything computable from a PIN alone, in the forms the core writes.
    let info = Canonical::new("approval-key")
        .bytes(a.as_bytes())
        .bytes(d.as_bytes())
        .u64(u64::from(slot.epoch))
        .str(slot.key_id.as_str())
        .finish();
    let aad = Canonical::new("approval-key-inner")
        .bytes(a.as_bytes())
        .bytes(d.as_bytes())
        .u64(u64::from(slot.epoch))
        .str(slot.key_id.as_str())
        .finish();
    let derivations = |pin: &[u8]| -> Vec<Vec<u8>> {
        let sha = Sha256::digest(pin).to_vec();
        let ikms: [Vec<u8>; 5] = [
            pin.to_vec(),
            [&[0u8; 32][..], pin].concat(),
            [&sha[..], pin].concat(),
            [&approval_public[..], pin].concat(),
            [&approval_public[1..], pin].concat(),
        ];
        let mut out = vec![
            sha.clone(),
            Sha512::digest(pin).to_vec(),
            Sha256::digest(&sha).to_vec(),
            Sha256::digest([a.as_bytes(), pin].concat()).to_vec(),
            Sha256::digest([d.as_bytes(), pin].concat()).to_vec(),
            Sha256::digest([pin, d.as_bytes()].concat()).to_vec(),
        ];
        for ikm in &ikms {
            out.push(hkdf(Some(b"latchkey/v1/approval-key"), ikm, &info).to_vec());
            out.push(hkdf(None, ikm, &info).to_vec());
            out.push(hkdf(None, ikm, b"").to_vec());
        }
        out
    };
    let (raw16, text20, text32) = (
        windows(&blobs, 16),
        windows(&blobs, 20),
        windows(&blobs, 32),
    );
    let (nonce, ciphertext) = inner.split_at(12);
    let try_key = |k: &[u8]| -> bool {
        let nonce: [u8; 12] = nonce.try_into().expect("nonce");
        Aes256Gcm::new_from_slice(&k[..32])
            .expect("key")
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .is_ok()
    };
    let guessed_key = OprfKey::generate(&mut rand_core::OsRng);
    let mut found_offline = Vec::new();
    for n in 0..10_000u32 {
        let text = format!("{n:04}");
        let guess = Pin::new(text.as_str());
        for derived in derivations(text.as_bytes()) {
            let hits = raw16.contains(&derived[..16])
                || text32.contains(&hex::encode(&derived).as_bytes()[..32])
                || text32.contains(&hex::encode_upper(&derived).as_bytes()[..32])
                || text20.contains(&b64::encode(&derived).as_bytes()[..20])
                || try_key(&derived);
            if hits {
                found_offline.push(text.clone());
            }
        }
        // The library's own open path with an OPRF key the attacker made up.
        let output = oprf::evaluate(&guessed_key, &guess).expect("evaluate");
        if slot.open(&output, &guess, a, d).is_ok() {
            found_offline.push(text.clone());
        }
    }
    assert!(
        found_offline.is_empty(),
        "PIN guesses testable without the server: {found_offline:?}"
    );
    // Neither PIN in clear either, outside base64 text (where four given digits can occur by
    // chance); only the two real PINs are looked for.
    let raw4 = windows(&binary, 4);
    for pin in [FIRST_PIN, PIN] {
        assert!(
            !raw4.contains(pin.as_bytes()),
            "the PIN {pin} is stored in clear"
        );
    }

    // With the server's OPRF key too, the same search finds exactly the PIN.
    let row = latchkey_e2e::device_row(&server, &d).await;
    let sealed = server
        .state
        .keys
        .open("oprf", &d.to_string(), &row.oprf_key)
        .expect("server OPRF key");
    let server_key = OprfKey::from_bytes(&sealed).expect("OPRF key");
    let mut found = Vec::new();
    for n in 0..10_000u32 {
        let guess = Pin::new(format!("{n:04}"));
        let output = oprf::evaluate(&server_key, &guess).expect("evaluate");
        if let Ok(key) = slot.open(&output, &guess, a, d) {
            assert_eq!(key.public_key().to_sec1().to_vec(), approval_public);
            found.push(guess.expose_secret().to_owned());
        }
    }
    assert_eq!(found, vec![PIN.to_owned()]);
    server.stop().await;
}
