//! P9: secrets never appear in Debug output, error texts or any byte written to disk.
//!
//! Runs enrolment, unlocks (right and wrong PIN) and a full PIN change with canary PINs, then
//! scans every file in the data directory and every Debug/Display string produced for the
//! PINs, the OPRF outputs, the approval and device private keys, and the keystore's keys, in
//! raw, hex and base64 forms.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on failure

mod common;

use common::{contains, enrol, read_tree, stage_change, unlock, Device, ServerHalf};
use latchkey_core::keystore::{KeyStoreError, MemoryKeyStore};
use latchkey_core::signer::SignerError;
use latchkey_core::Error;
use latchkey_protocol::secret::{EnrolmentCode, OneTimeCode, Password, Pin, PinCheck};

const OLD_PIN: &str = "917364";
const NEW_PIN: &str = "582019";

fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
        latchkey_protocol::b64::encode(secret).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .into_bytes(),
    ]
}

#[test]
fn p9_no_secret_in_debug_or_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = Device::open(dir.path(), MemoryKeyStore::new());
    let mut server = ServerHalf::new();
    let (old, new) = (Pin::new(OLD_PIN), Pin::new(NEW_PIN));

    let mut secrets: Vec<(&str, Vec<u8>)> =
        vec![("old PIN", OLD_PIN.into()), ("new PIN", NEW_PIN.into())];
    let mut texts: Vec<String> = Vec::new();

    let record = enrol(&device.vault, &device.signer, &mut server, &old).expect("enrol");
    texts.push(format!("{record:?}"));
    let output = server.harden(&old);
    secrets.push(("OPRF output (old)", output.expose_secret().to_vec()));
    texts.push(format!("{output:?} {old:?} {:?}", server.oprf_key));
    secrets.push(("server OPRF key", server.oprf_key.expose_secret().to_vec()));

    let key = unlock(&device.vault, &record.id, &mut server, &old).expect("unlock");
    secrets.push(("approval key (old)", key.scalar_for_tests().to_vec()));
    texts.push(format!("{key:?}"));
    let device_scalar = device
        .signer
        .scalar_for_tests(&record.device_key.alias)
        .expect("device key");
    secrets.push(("device key", device_scalar.to_vec()));

    let wrong =
        unlock(&device.vault, &record.id, &mut server, &Pin::new("000000")).expect_err("wrong PIN");
    texts.push(format!("{wrong} {wrong:?}"));

    let (staged, _) =
        stage_change(&device.vault, &record.id, &mut server, &old, &new).expect("stage");
    texts.push(format!("{staged:?}"));
    let staged_output = server.harden_staged(&new);
    secrets.push(("OPRF output (new)", staged_output.expose_secret().to_vec()));
    let staged_slot = staged.staged.clone().expect("staged").slot;
    let fresh = staged_slot
        .open(
            &staged_output,
            &new,
            record.identity.account,
            record.identity.device,
        )
        .expect("open staged");
    secrets.push(("approval key (new)", fresh.scalar_for_tests().to_vec()));
    server.commit_staged(fresh.public_key());
    let promoted = device.vault.promote(&record.id).expect("promote");
    texts.push(format!("{promoted:?}"));
    device.vault.next_counter(&record.id).expect("counter");

    for (id, key) in device.keystore.dump() {
        secrets.push(("keystore key", key.expose_secret().to_vec()));
        texts.push(format!("{id} {key:?}"));
    }

    // Other secret types' Debug, and error texts that sit near secrets.
    let code = EnrolmentCode::from_bytes(b"enrolment-canary".to_vec()).expect("code");
    secrets.push(("enrolment code", b"enrolment-canary".to_vec()));
    let check = PinCheck::from_bytes(vec![0x5A; 32]).expect("check");
    secrets.push(("pin check", vec![0x5A; 32]));
    texts.push(format!(
        "{code:?} {check:?} {:?} {:?}",
        Password::new("password-canary-1"),
        OneTimeCode::new("otc-canary-2")
    ));
    secrets.push(("password", b"password-canary-1".to_vec()));
    secrets.push(("one-time code", b"otc-canary-2".to_vec()));
    let errors = [
        Error::WrongPin {
            attempts_left: Some(2),
        },
        Error::Decryption,
        Error::KeyStore(KeyStoreError::Failure("x".into())),
        Error::Signer(SignerError::Missing("dk-x".into())),
    ];
    for e in &errors {
        texts.push(format!("{e} {e:?}"));
    }

    let mut files = Vec::new();
    read_tree(dir.path(), &mut files);
    assert!(files.len() >= 2, "expected account and key files");
    for (what, secret) in &secrets {
        for form in forms(secret) {
            for (name, bytes) in &files {
                assert!(!contains(bytes, &form), "{what} found in {name}");
            }
            for text in &texts {
                assert!(!contains(text.as_bytes(), &form), "{what} found in: {text}");
            }
        }
    }
}

/// A staged PIN change keeps its commit request (approval-key signatures and the new public
/// key) for re-sending; Debug of the staged slot and of the record shows none of it.
#[test]
fn p9_staged_debug_hides_the_commit() {
    use latchkey_protocol::signed;
    use latchkey_protocol::types::{PublicKey, Signature};
    use latchkey_protocol::wire::PinChangeCommit;

    let dir = tempfile::tempdir().expect("tempdir");
    let device = Device::open(dir.path(), MemoryKeyStore::new());
    let mut server = ServerHalf::new();
    let (old, new) = (Pin::new("4831"), Pin::new("5038"));
    let record = enrol(&device.vault, &device.signer, &mut server, &old).expect("enrol");
    let (staged, fresh_public) =
        stage_change(&device.vault, &record.id, &mut server, &old, &new).expect("stage");
    let operation = staged.staged.as_ref().expect("staged").operation;
    let signer = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let sign = |bytes: &[u8]| -> Signature {
        let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&signer, bytes);
        Signature::from_ecdsa(&sig)
    };
    let (a, d) = (record.identity.account, record.identity.device);
    let bytes = signed::pin_change_proof(&a, &d, &operation, &fresh_public, 2);
    let commit = PinChangeCommit {
        operation,
        new_approval_key: fresh_public,
        old_proof: sign(&bytes),
        new_proof: sign(&bytes[1..]),
    };
    let json = serde_json::to_string(&commit).expect("json");
    let with_commit = device
        .vault
        .set_commit(&record.id, json.clone())
        .expect("set commit");
    let staged = with_commit.staged.clone().expect("staged");
    assert_eq!(staged.commit.as_deref(), Some(json.as_str()));

    let texts = [
        format!("{staged:?}"),
        format!("{staged:#?}"),
        format!("{with_commit:?}"),
        format!("{:?}", device.vault.load(&record.id).expect("load")),
    ];
    let value: serde_json::Value = serde_json::from_str(&json).expect("value");
    let mut parts: Vec<String> = vec![json.clone()];
    for field in ["new_approval_key", "old_proof", "new_proof"] {
        let text = value[field].as_str().expect("string field").to_owned();
        parts.push(text[..16].to_owned());
        parts.push(text);
    }
    let key: &PublicKey = &commit.new_approval_key;
    for secret in [
        commit.old_proof.as_bytes().to_vec(),
        commit.new_proof.as_bytes().to_vec(),
        key.to_sec1().to_vec(),
    ] {
        for form in forms(&secret) {
            parts.push(String::from_utf8_lossy(&form).into_owned());
        }
    }
    for text in &texts {
        for part in &parts {
            assert!(!text.contains(part.as_str()), "the commit shows in: {text}");
        }
        assert!(
            !text.contains("old_proof") && !text.contains("new_proof"),
            "{text}"
        );
    }
    // What it does show: which operation, of which kind, and that a commit is kept.
    assert!(texts[0].starts_with("Staged { operation: "), "{}", texts[0]);
    assert!(texts[0].contains("kind: Change"), "{}", texts[0]);
    assert!(
        texts[0].contains("commit: Some(<redacted>)"),
        "{}",
        texts[0]
    );
}
