//! The vault's behaviour: enrol, unlock, wrong PIN, two-phase PIN change, counters, and what
//! happens to damaged or foreign files.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on failure

mod common;

use std::sync::Arc;

use common::{enrol, stage_change, unlock, Device, ServerHalf};
use latchkey_core::keystore::MemoryKeyStore;
use latchkey_core::vault::{RecordId, RecordState, Vault};
use latchkey_core::{Error, ErrorKind};
use latchkey_protocol::secret::Pin;

fn device() -> (tempfile::TempDir, Device) {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = Device::open(dir.path(), MemoryKeyStore::new());
    (dir, device)
}

#[test]
fn enrol_then_unlock_with_the_pin_only() {
    let (_dir, d) = device();
    let mut server = ServerHalf::new();
    let record = enrol(&d.vault, &d.signer, &mut server, &Pin::new("4831")).expect("enrol");
    assert_eq!(record.state, RecordState::Active);
    assert_eq!(d.vault.list().expect("list"), vec![record.id.clone()]);
    let key = unlock(&d.vault, &record.id, &mut server, &Pin::new("4831")).expect("unlock");
    assert_eq!(Some(key.public_key()), server.approval_key);
    let wrong = unlock(&d.vault, &record.id, &mut server, &Pin::new("4832"));
    assert!(matches!(wrong, Err(Error::WrongPin { .. })));
    assert_eq!(wrong.err().map(|e| e.kind()), Some(ErrorKind::WrongPin));
}

#[test]
fn wrong_server_key_cannot_open() {
    let (_dir, d) = device();
    let mut server = ServerHalf::new();
    let record = enrol(&d.vault, &d.signer, &mut server, &Pin::new("4831")).expect("enrol");
    let mut impostor = ServerHalf::new();
    let result = unlock(&d.vault, &record.id, &mut impostor, &Pin::new("4831"));
    assert!(matches!(result, Err(Error::WrongPin { .. })));
}

#[test]
fn pin_change_is_two_phase_with_a_fresh_key() {
    let (_dir, d) = device();
    let mut server = ServerHalf::new();
    let (old, new) = (Pin::new("4831"), Pin::new("5038"));
    let record = enrol(&d.vault, &d.signer, &mut server, &old).expect("enrol");
    let old_public = server.approval_key.expect("approval key");

    let (staged, new_public) =
        stage_change(&d.vault, &record.id, &mut server, &old, &new).expect("stage");
    assert_ne!(
        new_public, old_public,
        "a PIN change must make a fresh approval key"
    );
    let staged_slot = staged.staged.expect("staged slot");
    assert_eq!(staged_slot.slot.epoch, 2);
    assert_ne!(staged_slot.slot.key_id, record.active.key_id);
    // Before the commit the old PIN still opens the active key.
    unlock(&d.vault, &record.id, &mut server, &old).expect("old PIN still works");
    // A second operation cannot be staged over the first.
    let again = stage_change(&d.vault, &record.id, &mut server, &old, &Pin::new("7292"));
    assert!(matches!(again, Err(Error::AlreadyStaged)));

    server.commit_staged(new_public);
    d.vault.promote(&record.id).expect("promote");
    let key = unlock(&d.vault, &record.id, &mut server, &new).expect("new PIN");
    assert_eq!(key.public_key(), new_public);
    assert!(matches!(
        unlock(&d.vault, &record.id, &mut server, &old),
        Err(Error::WrongPin { .. })
    ));
    assert!(matches!(
        d.vault.promote(&record.id),
        Err(Error::NothingStaged)
    ));
}

#[test]
fn discard_keeps_the_old_pin() {
    let (_dir, d) = device();
    let mut server = ServerHalf::new();
    let (old, new) = (Pin::new("4831"), Pin::new("5038"));
    let record = enrol(&d.vault, &d.signer, &mut server, &old).expect("enrol");
    stage_change(&d.vault, &record.id, &mut server, &old, &new).expect("stage");
    server.staged_key = None;
    let after = d.vault.discard(&record.id).expect("discard");
    assert!(after.staged.is_none());
    unlock(&d.vault, &record.id, &mut server, &old).expect("old PIN");
}

#[test]
fn counter_increases_durably() {
    let (dir, d) = device();
    let mut server = ServerHalf::new();
    let record = enrol(&d.vault, &d.signer, &mut server, &Pin::new("4831")).expect("enrol");
    assert_eq!(d.vault.next_counter(&record.id).expect("counter"), 1);
    assert_eq!(d.vault.next_counter(&record.id).expect("counter"), 2);
    // Reserved in a block, durably: the file holds the mark, not each value.
    let block = latchkey_core::vault::COUNTER_BLOCK;
    assert_eq!(d.vault.load(&record.id).expect("load").counter, block);
    for expected in 3..=block + 1 {
        assert_eq!(d.vault.next_counter(&record.id).expect("counter"), expected);
    }
    assert_eq!(d.vault.load(&record.id).expect("load").counter, 2 * block);
    // A restart (say a crash after value 65) resumes above the mark: never a value twice.
    let reopened = Vault::open(dir.path(), d.keystore.clone()).expect("reopen");
    assert_eq!(
        reopened.next_counter(&record.id).expect("counter"),
        2 * block + 1
    );
}

/// An enrolled account and a second vault on the same directory. Two vaults stand for two
/// `latchkey` processes (say `latchkey wait` and a `latchkey approve` in another terminal): the
/// advisory locks are per open file, so they exclude each other exactly as two processes do.
fn two_processes() -> (tempfile::TempDir, Device, Vault, RecordId) {
    let (dir, d) = device();
    let mut server = ServerHalf::new();
    let record = enrol(&d.vault, &d.signer, &mut server, &Pin::new("4831")).expect("enrol");
    let other = Vault::open(dir.path(), d.keystore.clone()).expect("second process");
    (dir, d, other, record.id)
}

#[test]
fn counters_stay_above_each_other_across_processes() {
    let (_dir, d, other, id) = two_processes();
    let a1 = d.vault.next_counter(&id).expect("counter");
    let b1 = other.next_counter(&id).expect("counter");
    // The first vault still holds values below b1 in its block; the server would refuse
    // them, so it must move above b1.
    let a2 = d.vault.next_counter(&id).expect("counter");
    let b2 = other.next_counter(&id).expect("counter");
    assert!(a1 < b1 && b1 < a2 && a2 < b2, "{a1} {b1} {a2} {b2}");
    // Undisturbed, each keeps using its block without writing.
    let stored = d.vault.load(&id).expect("load").counter;
    assert_eq!(other.next_counter(&id).expect("counter"), b2 + 1);
    assert_eq!(d.vault.load(&id).expect("load").counter, stored);
}

#[test]
fn concurrent_writers_in_two_processes_lose_nothing() {
    let (_dir, d, other, id) = two_processes();
    let per_writer = 150;
    let handed: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let writers: Vec<_> = [&d.vault, &other]
            .into_iter()
            .map(|vault| {
                let id = &id;
                scope.spawn(move || {
                    (0..per_writer)
                        .map(|_| vault.next_counter(id).expect("counter"))
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect()
    });
    let mut all: Vec<u64> = handed.iter().flatten().copied().collect();
    for values in &handed {
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "each writer counts up"
        );
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len(),
        2 * per_writer,
        "no counter value handed out twice"
    );
    let stored = d.vault.load(&id).expect("load").counter;
    assert!(
        all.iter().all(|&v| v <= stored),
        "every value was reserved durably"
    );
}

#[test]
fn an_operation_claim_is_exclusive_until_dropped() {
    let (dir, d, other, id) = two_processes();
    let claim = d.vault.claim_operation(&id).expect("claim");
    assert!(claim.is_some());
    assert!(other.claim_operation(&id).expect("try").is_none());
    // Even the same handle cannot claim it twice (a settle inside a running change).
    assert!(d.vault.claim_operation(&id).expect("try").is_none());
    drop(claim);
    assert!(other.claim_operation(&id).expect("claim").is_some());
    // Removing the account leaves no lock file behind.
    d.vault.remove(&id).expect("remove");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("accounts"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn accounts_are_isolated() {
    let (_dir, d) = device();
    let mut a = ServerHalf::new();
    let mut b = ServerHalf::new();
    let ra = enrol(&d.vault, &d.signer, &mut a, &Pin::new("4831")).expect("enrol a");
    let rb = enrol(&d.vault, &d.signer, &mut b, &Pin::new("4831")).expect("enrol b");
    assert_ne!(ra.device_key.alias, rb.device_key.alias);
    assert_ne!(ra.active.key_id, rb.active.key_id);
    // Same PIN, different servers: each key opens only with its own server's evaluation.
    assert!(unlock(&d.vault, &ra.id, &mut b, &Pin::new("4831")).is_err());
    assert!(unlock(&d.vault, &rb.id, &mut b, &Pin::new("4831")).is_ok());
    d.vault.remove(&ra.id).expect("remove");
    assert_eq!(d.vault.list().expect("list"), vec![rb.id.clone()]);
    assert!(matches!(d.vault.load(&ra.id), Err(Error::NotFound(_))));
}

#[test]
fn corrupt_and_unknown_files_are_reported_and_left_untouched() {
    let (dir, d) = device();
    let mut server = ServerHalf::new();
    let record = enrol(&d.vault, &d.signer, &mut server, &Pin::new("4831")).expect("enrol");
    let path = dir
        .path()
        .join("accounts")
        .join(format!("{}.json", record.id.as_str()));
    let good = std::fs::read(&path).expect("read");

    let cases: Vec<(Vec<u8>, ErrorKind)> = vec![
        (b"{ not json".to_vec(), ErrorKind::Corrupt),
        (good[..good.len() / 2].to_vec(), ErrorKind::Corrupt),
        (
            String::from_utf8(good.clone())
                .expect("utf8")
                .replacen("\"format\": 2", "\"format\": 99", 1)
                .into_bytes(),
            ErrorKind::Corrupt,
        ),
        (
            String::from_utf8(good.clone())
                .expect("utf8")
                .replacen("\"counter\": 0", "\"counter\": \"x\"", 1)
                .into_bytes(),
            ErrorKind::Corrupt,
        ),
    ];
    for (bytes, kind) in cases {
        std::fs::write(&path, &bytes).expect("write");
        let err = d.vault.load(&record.id).expect_err("must fail");
        assert_eq!(err.kind(), kind, "{err}");
        // Every mutation refuses too, and the file stays byte for byte as it was.
        assert!(d.vault.next_counter(&record.id).is_err());
        assert!(d.vault.activate(&record.id).is_err());
        assert!(d.vault.discard(&record.id).is_err());
        assert_eq!(std::fs::read(&path).expect("read"), bytes);
    }
    let newer = String::from_utf8(good.clone()).expect("utf8").replacen(
        "\"format\": 2",
        "\"format\": 3",
        1,
    );
    std::fs::write(&path, &newer).expect("write");
    let err = d.vault.load(&record.id).expect_err("newer format");
    assert!(
        matches!(err, Error::UnsupportedFormat { found: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("update the app"));
    assert_eq!(std::fs::read(&path).expect("read"), newer.as_bytes());
    // Format 1 (before the clear fields were authenticated) is not migrated: damaged, with
    // the advice to enrol again.
    let older = String::from_utf8(good.clone()).expect("utf8").replacen(
        "\"format\": 2",
        "\"format\": 1",
        1,
    );
    std::fs::write(&path, &older).expect("write");
    let err = d.vault.load(&record.id).expect_err("older format");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("enrol again"), "{err}");

    // A flipped byte inside the sealed key fails authentication: damage, not a wrong PIN.
    let text = String::from_utf8(good.clone()).expect("utf8");
    let at = text.find("\"ciphertext\": \"").expect("ciphertext") + 16;
    let mut tampered = text.into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&path, &tampered).expect("write");
    assert_eq!(
        d.vault.load(&record.id).expect_err("tampered").kind(),
        ErrorKind::Corrupt
    );

    std::fs::write(&path, &good).expect("restore");
    d.vault.load(&record.id).expect("restored file loads");
}

#[test]
fn missing_keystore_key_is_reported() {
    let (dir, d) = device();
    let mut server = ServerHalf::new();
    let record = enrol(&d.vault, &d.signer, &mut server, &Pin::new("4831")).expect("enrol");
    let wiped: Arc<MemoryKeyStore> = MemoryKeyStore::new();
    let vault = Vault::open(dir.path(), wiped).expect("open");
    let err = vault.load(&record.id).expect_err("no key");
    assert_eq!(err.kind(), ErrorKind::KeyStore);
    assert!(err.to_string().contains("keystore"), "{err}");
}

#[test]
fn stale_temp_files_are_ignored_and_removed_on_open() {
    let (dir, d) = device();
    let mut server = ServerHalf::new();
    let record = enrol(&d.vault, &d.signer, &mut server, &Pin::new("4831")).expect("enrol");
    let accounts = dir.path().join("accounts");
    let stale = [
        // What this version's writer leaves after a crash, and what an older one left.
        accounts.join(format!(".{}.json.AAAAAAAAAAAAAAAA.tmp", record.id.as_str())),
        accounts.join(format!("{}.json.tmp", record.id.as_str())),
    ];
    for path in &stale {
        std::fs::write(path, b"torn").expect("write");
    }
    assert_eq!(d.vault.list().expect("list"), vec![record.id.clone()]);
    d.vault
        .next_counter(&record.id)
        .expect("a write beside the stale temp files");
    assert!(
        stale.iter().all(|p| p.exists()),
        "a running vault leaves them"
    );
    // The next start removes them (no writer runs while it holds the write lock).
    let reopened = Vault::open(dir.path(), d.keystore.clone()).expect("reopen");
    assert!(stale.iter().all(|p| !p.exists()), "removed on open");
    assert_eq!(reopened.list().expect("list"), vec![record.id.clone()]);
    reopened.load(&record.id).expect("the record is untouched");
}

/// Every field a record keeps in clear is authenticated under the keystore key: an edit of
/// any of them on disk (re-pointing the server, swapping the pinned key, rolling the counter
/// back, …) makes the record refuse to load as damaged, and the file is left as it was.
#[test]
fn every_clear_field_of_a_record_is_bound() {
    use serde_json::Value;
    let (dir, d) = device();
    let mut server = ServerHalf::new();
    let pin = Pin::new("4831");
    let record = enrol(&d.vault, &d.signer, &mut server, &pin).expect("enrol");
    // A second record on the same device supplies well-formed values of every field.
    let mut other_server = ServerHalf::new();
    let other = enrol(&d.vault, &d.signer, &mut other_server, &pin).expect("enrol");
    d.vault.next_counter(&other.id).expect("counter");
    // A staged operation, so its fields are on disk too.
    stage_change(&d.vault, &record.id, &mut server, &pin, &Pin::new("5038")).expect("stage");
    d.vault
        .set_commit(&record.id, "{\"commit\":1}".into())
        .expect("commit");
    stage_change(
        &d.vault,
        &other.id,
        &mut other_server,
        &pin,
        &Pin::new("5038"),
    )
    .expect("stage");

    let file = |id: &RecordId| {
        dir.path()
            .join("accounts")
            .join(format!("{}.json", id.as_str()))
    };
    let path = file(&record.id);
    let good = std::fs::read(&path).expect("read");
    let mine: Value = serde_json::from_slice(&good).expect("json");
    let theirs: Value =
        serde_json::from_slice(&std::fs::read(file(&other.id)).expect("read")).expect("json");

    let pointer_edits: Vec<(&str, Value)> = vec![
        ("/identity/server", Value::from("https://evil.example/")),
        (
            "/identity/server",
            Value::from("https://login.example.org/x/"),
        ),
        ("/identity/account", theirs["identity"]["account"].clone()),
        ("/identity/device", theirs["identity"]["device"].clone()),
        (
            "/identity/label",
            Value::from("Example Corp — mallory@example.org"),
        ),
        (
            "/identity/server_key",
            theirs["identity"]["server_key"].clone(),
        ),
        ("/identity/pin_digits", Value::from(6)),
        ("/device_key/alias", theirs["device_key"]["alias"].clone()),
        (
            "/device_key/public_key",
            theirs["device_key"]["public_key"].clone(),
        ),
        ("/device_key/assurance", Value::from("secure_element")),
        ("/state", Value::from("enrolling")),
        ("/counter", Value::from(64)),
        ("/active/epoch", Value::from(2)),
        ("/active/key_id", theirs["active"]["key_id"].clone()),
        ("/staged/operation", theirs["staged"]["operation"].clone()),
        ("/staged/kind", Value::from("reset")),
        ("/staged/commit", Value::from("{\"commit\":2}")),
        ("/staged/commit", Value::Null),
        ("/staged/slot/epoch", Value::from(3)),
        (
            "/staged/slot/key_id",
            theirs["staged"]["slot"]["key_id"].clone(),
        ),
        // Another record's sealed key, moved in whole.
        ("/active/sealed", theirs["active"]["sealed"].clone()),
        ("/staged", Value::Null),
    ];
    let mut edits: Vec<(String, Value)> = pointer_edits
        .into_iter()
        .map(|(pointer, value)| {
            let mut edited = mine.clone();
            let slot = edited
                .pointer_mut(pointer)
                .unwrap_or_else(|| panic!("{pointer}"));
            assert_ne!(*slot, value, "{pointer} must change");
            *slot = value;
            (pointer.to_owned(), edited)
        })
        .collect();
    // The two slots swapped.
    let mut swapped = mine.clone();
    let active = swapped["active"].clone();
    swapped["active"] = swapped["staged"]["slot"].clone();
    swapped["staged"]["slot"] = active;
    edits.push(("active <-> staged".into(), swapped));
    // Another record's wrapping key entry (it exists in the keystore).
    let mut rewrapped = mine.clone();
    rewrapped["wrap_key"] = theirs["wrap_key"].clone();
    edits.push(("/wrap_key".into(), rewrapped));

    for (what, edited) in &edits {
        let bytes = serde_json::to_vec_pretty(edited).expect("json");
        std::fs::write(&path, &bytes).expect("write");
        let err = d.vault.load(&record.id).expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
        assert!(d.vault.next_counter(&record.id).is_err(), "{what}");
        assert!(d.vault.promote(&record.id).is_err(), "{what}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            bytes,
            "{what}: left as it was"
        );
    }
    // The same JSON, re-serialised but unchanged, still loads: only the edits were refused.
    std::fs::write(&path, serde_json::to_vec_pretty(&mine).expect("json")).expect("write");
    d.vault.load(&record.id).expect("unchanged record loads");
    std::fs::write(&path, &good).expect("restore");
    let loaded = d.vault.load(&record.id).expect("restored");
    assert_eq!(loaded.identity, record.identity);
}

/// A record that exists but cannot be read is a storage error, never "no such account" (which
/// would let a shell offer to enrol again over it).
#[test]
fn an_unreadable_record_is_a_storage_error_not_a_missing_one() {
    let (dir, d) = device();
    let mut server = ServerHalf::new();
    let record = enrol(&d.vault, &d.signer, &mut server, &Pin::new("4831")).expect("enrol");
    let path = dir
        .path()
        .join("accounts")
        .join(format!("{}.json", record.id.as_str()));
    std::fs::remove_file(&path).expect("remove the file");
    std::fs::create_dir(&path).expect("a directory in its place");
    match d.vault.load(&record.id) {
        Err(Error::Storage { op, .. }) => assert_eq!(op, "read"),
        other => panic!("expected a storage error, got {other:?}"),
    }
    std::fs::remove_dir(&path).expect("remove the directory");
    assert!(matches!(d.vault.load(&record.id), Err(Error::NotFound(_))));
}
