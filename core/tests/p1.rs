//! P1: no offline PIN oracle. The attacker gets every byte on disk, the keystore's contents,
//! 100 approval signatures and the approval public key. Without the server's OPRF key,
//! nothing they compute over all 10^4 PINs opens or distinguishes the sealed key; with it, the
//! same loop finds the PIN (so the test has teeth).
//!
//! This one checks the construction on a record built by the test helpers; the end-to-end
//! `tests/tests/p1.rs` (same test name) runs the attack on a device enrolled, used and
//! re-keyed through `Latchkey` and the real server, over everything the core wrote.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on failure

mod common;

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use common::{contains, enrol, read_tree, unlock, Device, ServerHalf};
use hkdf::Hkdf;
use latchkey_core::keystore::{KeyId, KeyStore, MemoryKeyStore};
use latchkey_core::vault::Vault;
use latchkey_protocol::oprf;
use latchkey_protocol::secret::{OprfKey, Pin};
use latchkey_protocol::signed::{self, Canonical, Decision};
use latchkey_protocol::types::{ChallengeId, Digest};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand_core::OsRng;
use sha2::{Digest as _, Sha256};

const SECRET_PIN: &str = "7292";

fn all_pins() -> impl Iterator<Item = Pin> {
    (0..10_000).map(|n| Pin::new(format!("{n:04}")))
}

#[test]
fn p1_no_offline_pin_oracle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = Device::open(dir.path(), MemoryKeyStore::new());
    let mut server = ServerHalf::new();
    let pin = Pin::new(SECRET_PIN);
    let record = enrol(&device.vault, &device.signer, &mut server, &pin).expect("enrol");
    let (account, dev) = (record.identity.account, record.identity.device);

    // 100 approvals: the signatures and the public key are the attacker's.
    let key = unlock(&device.vault, &record.id, &mut server, &pin).expect("unlock");
    let approval_public = key.public_key();
    let challenge = ChallengeId::random(&mut OsRng);
    let signatures: Vec<_> = (1..=100u64)
        .map(|counter| {
            let bytes = signed::answer(
                &account,
                &dev,
                &challenge,
                &Digest::of(b"c"),
                "47",
                Decision::Approve,
                counter,
            );
            (bytes.clone(), key.sign(&bytes))
        })
        .collect();
    drop(key);
    for (bytes, sig) in &signatures {
        assert!(approval_public.verify(bytes, sig));
    }

    // The attacker's haul: every file, the keystore, and the inner ciphertext they can reach
    // by removing the outer layer with the keystore's keys.
    let mut files = Vec::new();
    read_tree(dir.path(), &mut files);
    let dump = device.keystore.dump();
    let stolen = MemoryKeyStore::new();
    for (id, key) in &dump {
        stolen
            .put(&KeyId::parse(id).expect("id"), key)
            .expect("put");
    }
    let attacker_vault = Vault::open(dir.path(), stolen).expect("open with stolen keystore");
    let slot = attacker_vault
        .load(&record.id)
        .expect("outer layer removed")
        .active;
    let inner = slot.sealed.to_bytes();
    let (nonce, ciphertext) = inner.split_at(12);

    // No stored byte is derived from the approval public key (key ids are random).
    let point = p256::PublicKey::from_sec1_bytes(&approval_public.to_sec1()).expect("point");
    let encodings = [
        approval_public.to_sec1().to_vec(),
        point.to_encoded_point(false).as_bytes().to_vec(),
        approval_public.to_sec1()[1..].to_vec(),
    ];
    let mut derived = Vec::new();
    for e in &encodings {
        derived.push(e.clone());
        derived.push(Sha256::digest(e).to_vec());
    }
    let mut needles = Vec::new();
    for d in &derived {
        needles.push(d.clone());
        needles.push(hex::encode(d).into_bytes());
        needles.push(latchkey_protocol::b64::encode(d).into_bytes());
        needles.push(d[..8].to_vec());
    }
    for (name, bytes) in &files {
        for needle in &needles {
            assert!(
                !contains(bytes, needle),
                "{name} holds a value derived from the approval key"
            );
        }
    }
    for (_, key) in &dump {
        assert!(!derived.iter().any(|d| d.as_slice() == key.expose_secret()));
    }

    // Attacker strategy 1: the library's own open path with OPRF outputs from keys they
    // choose (they do not have the server's key).
    let guessed_key = OprfKey::generate(&mut OsRng);
    // Attacker strategy 2: derive the PIN key from the PIN alone (the construction without
    // the server), with several plausible input key materials, and try the AES-GCM tag.
    let info = Canonical::new("approval-key")
        .bytes(account.as_bytes())
        .bytes(dev.as_bytes())
        .u64(u64::from(slot.epoch))
        .str(slot.key_id.as_str())
        .finish();
    let aad = Canonical::new("approval-key-inner")
        .bytes(account.as_bytes())
        .bytes(dev.as_bytes())
        .u64(u64::from(slot.epoch))
        .str(slot.key_id.as_str())
        .finish();
    let try_key = |ikm: &[u8]| -> bool {
        let hkdf = Hkdf::<Sha256>::new(Some(b"latchkey/v1/approval-key"), ikm);
        let mut k = [0u8; 32];
        hkdf.expand(&info, &mut k).expect("hkdf");
        let nonce: [u8; 12] = nonce.try_into().expect("nonce");
        Aes256Gcm::new(&k.into())
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .is_ok()
    };
    let mut opened_without_server = 0;
    for guess in all_pins() {
        let p = guess.expose_secret().as_bytes();
        let output = oprf::evaluate(&guessed_key, &guess).expect("evaluate");
        if slot.open(&output, &guess, account, dev).is_ok() {
            opened_without_server += 1;
        }
        let sha = Sha256::digest(p);
        let candidates: [Vec<u8>; 4] = [
            p.to_vec(),
            [&[0u8; 32][..], p].concat(),
            [&sha[..], p].concat(),
            [&approval_public.to_sec1()[1..], p].concat(),
        ];
        opened_without_server += candidates.iter().filter(|ikm| try_key(ikm)).count();
    }
    assert_eq!(
        opened_without_server, 0,
        "a PIN guess was testable without the server"
    );

    // With the server's OPRF key (server and device both breached) the search succeeds:
    // exactly one PIN opens, and it yields the approval key that made the signatures.
    let mut found = Vec::new();
    for guess in all_pins() {
        let output = oprf::evaluate(&server.oprf_key, &guess).expect("evaluate");
        if let Ok(key) = slot.open(&output, &guess, account, dev) {
            assert_eq!(key.public_key(), approval_public);
            found.push(guess.expose_secret().to_owned());
        }
    }
    assert_eq!(found, vec![SECRET_PIN.to_owned()]);
}
