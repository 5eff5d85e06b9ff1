//! The fuzz targets inside `cargo test`: every committed corpus file and seed replayed, then a
//! bounded number of random inputs and mutations of the seeds (bytes and JSON values). The
//! same targets run for hours with `scripts/fuzz.sh TARGET MINUTES`. A failure prints the input;
//! commit it to `fuzz/corpus/TARGET/` as a regression once fixed.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

/// Random inputs per target and run (a few seconds in all in a debug build).
const CASES: u32 = 2048;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// The committed corpus of `target`.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    files
        .iter()
        .filter(|p| p.is_file())
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

/// Replaces the `pick`-th JSON value (depth first) of `seed` with one of a few hostile values.
fn json_mutate(seed: &[u8], pick: usize, kind: u8, text: &str) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(seed).ok()?;
    let replacement = match kind % 9 {
        0 => Value::Null,
        1 => Value::from(-1),
        2 => Value::from(u64::MAX),
        3 => Value::from(1e308),
        4 => Value::from(text),
        5 => Value::from("A".repeat(4096)),
        6 => Value::Array(vec![Value::from(text)]),
        7 => serde_json::json!({ "kind": text }),
        _ => Value::from(""),
    };
    fn visit(v: &mut Value, pick: &mut usize, replacement: &Value) -> bool {
        if *pick == 0 {
            *v = replacement.clone();
            return true;
        }
        *pick -= 1;
        match v {
            Value::Object(map) => map.values_mut().any(|c| visit(c, pick, replacement)),
            Value::Array(list) => list.iter_mut().any(|c| visit(c, pick, replacement)),
            _ => false,
        }
    }
    let mut pick = pick % 64;
    visit(&mut value, &mut pick, &replacement);
    serde_json::to_vec(&value).ok()
}

/// Random bytes, byte-level mutations of the seeds, and JSON-level mutations.
fn inputs(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let mut seeds = latchkey_fuzz::seeds(target);
    seeds.extend(corpus(target));
    assert!(!seeds.is_empty(), "no seed for {target}");
    let seeds = Arc::new(seeds);
    let bytes = Arc::clone(&seeds);
    let json = Arc::clone(&seeds);
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..700),
        4 => (
            any::<Index>(),
            proptest::collection::vec((0u8..5, any::<Index>(), any::<Index>(), "\\PC{0,12}"), 1..6),
        )
            .prop_map(move |(seed, edits)| {
                let mut data = bytes[seed.index(bytes.len())].clone();
                for (op, at, to, text) in edits {
                    let len = data.len();
                    let k = if len == 0 { 0 } else { at.index(len) };
                    match op {
                        // Overwrite one byte with one of the text's.
                        0 if len > 0 => data[k] = text.bytes().next().unwrap_or(0),
                        // Insert text (appending when at the end).
                        1 => {
                            let k = at.index(len + 1);
                            data.splice(k..k, text.bytes());
                        }
                        // Delete a range.
                        2 if len > 0 => {
                            let end = (k + 1 + to.index(16)).min(len);
                            data.drain(k..end);
                        }
                        // Truncate.
                        3 => data.truncate(k),
                        // Duplicate a chunk somewhere else.
                        _ if len > 0 => {
                            let end = (k + 1 + to.index(32)).min(len);
                            let chunk: Vec<u8> = data[k..end].to_vec();
                            let at = to.index(len + 1);
                            data.splice(at..at, chunk);
                        }
                        _ => data.extend_from_slice(text.as_bytes()),
                    }
                }
                data
            }),
        2 => (any::<Index>(), any::<usize>(), any::<u8>(), "\\PC{0,24}").prop_map(
            move |(seed, pick, kind, text)| {
                let seed = &json[seed.index(json.len())];
                json_mutate(seed, pick, kind, &text).unwrap_or_else(|| seed.clone())
            }
        ),
    ]
}

fn replay(target: &str) {
    for (i, data) in latchkey_fuzz::seeds(target)
        .iter()
        .chain(corpus(target).iter())
        .enumerate()
    {
        let outcome = std::panic::catch_unwind(|| latchkey_fuzz::run(target, data));
        assert!(
            outcome.is_ok(),
            "{target} input {i} panicked: {}",
            String::from_utf8_lossy(&data[..data.len().min(400)])
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_link_parser_never_panics(data in inputs("link")) {
        latchkey_fuzz::link(&data);
    }

    #[test]
    fn fuzz_wire_messages_never_panic(data in inputs("wire")) {
        latchkey_fuzz::wire(&data);
    }

    #[test]
    fn fuzz_vault_files_never_panic(data in inputs("vault")) {
        latchkey_fuzz::vault(&data);
    }

    #[test]
    fn fuzz_signer_files_never_panic(data in inputs("signer_file")) {
        latchkey_fuzz::signer_file(&data);
    }

    #[test]
    fn fuzz_scan_frame_never_panics(data in inputs("scan")) {
        latchkey_fuzz::scan(&data);
    }

    #[test]
    fn fuzz_attestation_chains_never_verify_but_the_real_one(data in inputs("attestation")) {
        latchkey_fuzz::attestation(&data);
    }

    #[test]
    fn fuzz_pem_and_pin_never_panic(pem in inputs("pem"), pin in inputs("pin")) {
        latchkey_fuzz::pem(&pem);
        latchkey_fuzz::pin(&pin);
    }
}

/// Every seed and committed corpus file (crashes found earlier among them) still passes.
#[test]
fn fuzz_corpus_replays_clean() {
    for target in latchkey_fuzz::TARGETS {
        replay(target);
    }
}

/// The seeds are what they claim: the valid examples parse (so mutations start deep).
#[test]
fn fuzz_seeds_are_valid() {
    let links = latchkey_fuzz::seeds("link");
    let valid = links
        .iter()
        .filter(|l| latchkey_protocol::link::parse(std::str::from_utf8(l).unwrap()).is_ok())
        .count();
    assert!(valid >= 2, "valid link seeds: {valid}");
    let wire = latchkey_fuzz::seeds("wire");
    assert!(
        wire.len() >= 20,
        "every PROTOCOL.md example: {}",
        wire.len()
    );
    assert!(wire
        .iter()
        .all(|w| serde_json::from_slice::<Value>(w).is_ok()));
    let scan = &latchkey_fuzz::seeds("scan")[0];
    let side = usize::from(u16::from_le_bytes([scan[0], scan[1]]));
    let found = latchkey_core::read_codes(&scan[6..], side, side, side).unwrap();
    assert_eq!(found, vec!["https://login.example.org/e#v=1".to_owned()]);
}
