//! Fuzz targets for every parser of untrusted input (issue 23). Each target takes arbitrary
//! bytes and must return without panicking; where a parse succeeds it also checks what must
//! then hold (round trips, deterministic signed bytes). The same functions run:
//!
//! - inside `cargo test` (`tests/fuzz.rs`): the committed corpus plus a bounded number of
//!   random and mutated inputs, on stable Rust, on every CI run;
//! - for hours under libFuzzer: `scripts/fuzz.sh TARGET MINUTES` (`fuzz/cargo-fuzz`, nightly).
//!
//! Targets: [`link`], [`wire`], [`vault`], [`signer_file`], [`scan`], [`pem`], [`pin`],
//! [`attestation`]. The
//! server's form handlers are fuzzed against the running server in `server/tests/fuzz_forms.rs`.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a fuzz target stops loudly on a broken invariant

use std::path::PathBuf;
use std::sync::Arc;

use latchkey_core::keystore::MemoryKeyStore;
use latchkey_core::signer::{DeviceSigner, KeyAlias, SoftwareSigner};
use latchkey_core::vault::approval::ApprovalKey;
use latchkey_core::vault::{AccountIdentity, DeviceKeyRef, RecordId, Slot, Vault};
use latchkey_protocol::link::{self, LinkPolicy};
use latchkey_protocol::oprf;
use latchkey_protocol::pin::PinPolicy;
use latchkey_protocol::secret::{OprfKey, Pin};
use latchkey_protocol::types::{AccountId, DeviceId, PublicKey};
use latchkey_protocol::wire::*;
use rand_core::OsRng;

/// The names `scripts/fuzz.sh` and the corpus directories use.
pub const TARGETS: &[&str] = &[
    "link",
    "wire",
    "vault",
    "signer_file",
    "scan",
    "pem",
    "pin",
    "attestation",
];

/// Runs target `name` on `data`.
///
/// # Panics
/// On an unknown name, and wherever the target finds a bug.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "link" => link(data),
        "wire" => wire(data),
        "vault" => vault(data),
        "signer_file" => signer_file(data),
        "scan" => scan(data),
        "pem" => pem(data),
        "pin" => pin(data),
        "attestation" => attestation(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// The enrolment link parser (QR payloads, App Links): any text, under the default and a
/// restrictive policy. A link that parses renders to a link that parses to the same.
pub fn link(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let strict = LinkPolicy {
        allowed_hosts: Some(vec!["login.example.org".into()]),
    };
    let _ = link::parse_with(text, &strict);
    if let Ok(parsed) = link::parse(text) {
        let again = link::parse(&parsed.render()).expect("a parsed link renders to a valid link");
        assert_eq!(again.render(), parsed.render(), "render is stable");
    }
}

/// One wire type: parse; when it parses, serialise and parse again to the same JSON.
fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned>(data: &[u8]) -> Option<T> {
    let parsed: T = serde_json::from_slice(data).ok()?;
    let json = serde_json::to_value(&parsed).expect("a parsed message serialises");
    let again: T = serde_json::from_value(json.clone()).expect("what we write we read");
    assert_eq!(
        serde_json::to_value(&again).expect("serialises"),
        json,
        "round trip of {}",
        std::any::type_name::<T>()
    );
    Some(again)
}

/// A signed device request of kind `B`: its canonical signed bytes are deterministic and
/// survive a JSON round trip; its response type parses too.
fn request<B: RequestBody>(data: &[u8]) {
    if let Some(request) = roundtrip::<DeviceRequest<B>>(data) {
        let bytes = DeviceRequest::signed_bytes(&request.header, &request.body);
        assert_eq!(
            bytes,
            DeviceRequest::signed_bytes(&request.header, &request.body),
            "signed bytes are deterministic"
        );
        let reparsed: DeviceRequest<B> =
            serde_json::from_slice(&serde_json::to_vec(&request).expect("serialises"))
                .expect("reparses");
        assert_eq!(
            DeviceRequest::signed_bytes(&reparsed.header, &reparsed.body),
            bytes,
            "the signed bytes survive a round trip"
        );
        let _ = request.verify(&some_key(7));
    }
    let _ = roundtrip::<B::Response>(data);
}

/// A fixed public key (a parse must never make a verification panic, whatever the key).
fn some_key(seed: u8) -> PublicKey {
    PublicKey::from(
        p256::ecdsa::SigningKey::from_slice(&[seed; 32])
            .expect("scalar")
            .verifying_key(),
    )
}

/// Every message the server accepts and every answer the core accepts (JSON → typed), with
/// the signed-bytes encoders' round trip.
pub fn wire(data: &[u8]) {
    if let Some(begin) = roundtrip::<EnrolBeginRequest>(data) {
        let _ = begin.verify();
    }
    request::<EnrolFinish>(data);
    request::<Evaluate>(data);
    request::<ListChallenges>(data);
    request::<FetchChallenge>(data);
    request::<Answer>(data);
    request::<PinChangeStart>(data);
    request::<PinChangeCommit>(data);
    request::<PinResetStart>(data);
    request::<PinResetVerify>(data);
    request::<PinResetCommit>(data);
    request::<RemoveDevice>(data);
    request::<OperationStatus>(data);
    request::<SetPushTarget>(data);
    let _ = roundtrip::<EnrolBeginResponse>(data);
    if let Some(signed) = roundtrip::<SignedChallenge>(data) {
        let _ = signed.challenge.signed_bytes();
        let _ = signed.challenge.digest();
        let _ = signed.verify(&some_key(9));
    }
    let _ = roundtrip::<ErrorBody>(data);
    let _ = roundtrip::<PushConfigResponse>(data);
}

/// A vault with one real account, for the file targets.
struct Bed {
    _dir: tempfile::TempDir,
    vault: Vault,
    id: RecordId,
    path: PathBuf,
    signer: SoftwareSigner,
    alias: KeyAlias,
    key_path: PathBuf,
    pem_dir: PathBuf,
}

thread_local! {
    static BED: Bed = Bed::new();
}

impl Bed {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let keystore = MemoryKeyStore::new();
        let vault = Vault::open(dir.path().join("vault"), keystore.clone()).expect("vault");
        let signer = SoftwareSigner::new(dir.path().join("keys"), keystore);
        let alias = KeyAlias::random(&mut OsRng);
        let public_key = signer.generate(&alias).expect("device key");
        let pin = Pin::new("4831");
        let oprf_key = OprfKey::generate(&mut OsRng);
        let (state, blinded) = oprf::blind(&pin, &mut OsRng).expect("blind");
        let evaluated = oprf::blind_evaluate(&oprf_key, &blinded).expect("evaluate");
        let output = state.finalize(&pin, &evaluated).expect("finalize");
        let server_key = p256::ecdsa::SigningKey::random(&mut OsRng);
        let identity = AccountIdentity {
            server: "https://login.example.org/".into(),
            account: AccountId::random(&mut OsRng),
            device: DeviceId::random(&mut OsRng),
            label: "Example Corp — alice@example.org".into(),
            server_key: PublicKey::from(server_key.verifying_key()),
            pin_digits: 4,
        };
        let slot = Slot::seal(
            &ApprovalKey::generate(&mut OsRng),
            &output,
            &pin,
            identity.account,
            identity.device,
            1,
        );
        let device_key = DeviceKeyRef {
            alias: alias.clone(),
            public_key,
            assurance: signer.assurance(),
        };
        let record = vault.create(identity, device_key, slot).expect("record");
        let path = dir
            .path()
            .join("vault")
            .join("accounts")
            .join(format!("{}.json", record.id.as_str()));
        let key_path = dir
            .path()
            .join("keys")
            .join(format!("{}.json", alias.as_str()));
        let pem_dir = dir.path().join("pem");
        Self {
            id: record.id,
            pem_dir,
            _dir: dir,
            vault,
            path,
            signer,
            alias,
            key_path,
        }
    }
}

/// A valid account record file as the vault writes it (a seed for the corpus).
pub fn valid_record() -> Vec<u8> {
    BED.with(|bed| std::fs::read(&bed.path).expect("record"))
}

/// A valid software-signer key file (a seed for the corpus).
pub fn valid_key_file() -> Vec<u8> {
    BED.with(|bed| std::fs::read(&bed.key_path).expect("key file"))
}

/// The vault's account record file replaced by `data`: loading, listing and the counter read
/// report a typed error or a record, never a panic; the file is never changed by reading.
pub fn vault(data: &[u8]) {
    BED.with(|bed| {
        let original = std::fs::read(&bed.path).expect("record");
        std::fs::write(&bed.path, data).expect("write");
        let _ = bed.vault.load(&bed.id);
        let _ = bed.vault.list();
        assert!(
            std::fs::read(&bed.path).expect("read") == data,
            "reading never writes"
        );
        // Reserving counters writes (a new block) when the file is a valid record.
        let _ = bed.vault.next_counter(&bed.id).map(|_| ());
        std::fs::write(&bed.path, original).expect("restore");
    });
}

/// The software signer's key file replaced by `data`: signing reports a typed error or signs.
pub fn signer_file(data: &[u8]) {
    BED.with(|bed| {
        let original = std::fs::read(&bed.key_path).expect("key file");
        std::fs::write(&bed.key_path, data).expect("write");
        let _ = bed.signer.sign(&bed.alias, b"message");
        std::fs::write(&bed.key_path, original).expect("restore");
    });
}

/// `scan_frame` on arbitrary planes: the first bytes choose width, height and stride (which may
/// disagree with the buffer's length), the rest is the plane.
pub fn scan(data: &[u8]) {
    if data.len() < 6 {
        return;
    }
    let width = usize::from(u16::from_le_bytes([data[0], data[1]]) % 320);
    let height = usize::from(u16::from_le_bytes([data[2], data[3]]) % 320);
    let pad = usize::from(data[4] % 16);
    let stride = if data[5] & 1 == 0 {
        width + pad
    } else {
        width.saturating_sub(pad)
    };
    let plane = &data[6..];
    let _ = latchkey_core::scan_frame(plane, width, height, stride, &LinkPolicy::default());
    // The same bytes as a full-size plane when there are enough.
    if width > 0 && height > 0 && plane.len() >= width * height {
        let _ = latchkey_core::scan_frame(plane, width, height, width, &LinkPolicy::default());
    }
    // Strips and large frames (the downscale path, sides up to 4000, either side possibly 1),
    // from the bytes repeated, through the still reader and three frames of the camera's.
    if data[5] & 2 != 0 && !plane.is_empty() {
        let long = 1 + usize::from(u16::from_le_bytes([data[0], data[1]])) % 4000;
        let short = 1 + usize::from(data[2]) % 8;
        let (width, height) = if data[5] & 4 == 0 {
            (long, short)
        } else {
            (short, long)
        };
        let big: Vec<u8> = plane.iter().copied().cycle().take(width * height).collect();
        let _ = latchkey_core::scan_frame(&big, width, height, width, &LinkPolicy::default());
        let mut camera = latchkey_core::FrameScanner::new();
        for _ in 0..3 {
            let _ = camera.scan(&big, width, height, width, &LinkPolicy::default());
        }
    }
}

/// PEM input: a deployment's extra trust anchor, as the core takes it when it opens.
pub fn pem(data: &[u8]) {
    BED.with(|bed| {
        let mut options = latchkey_core::Options::new(
            bed.pem_dir.clone(),
            MemoryKeyStore::new(),
            Arc::new(latchkey_core::StaticPlatform {
                screen_lock: true,
                model: "Fuzz".into(),
            }),
        );
        options.extra_ca_pem = Some(data.to_vec());
        let _ = latchkey_core::Latchkey::open(options);
    });
}

/// The PIN policy on any text, at both lengths.
pub fn pin(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pin = Pin::new(text);
    for digits in [4u8, 6] {
        if (PinPolicy { digits }).check(&pin).is_ok() {
            assert_eq!(
                text.len(),
                usize::from(digits),
                "an accepted PIN has the policy's length"
            );
            assert!(
                text.bytes().all(|b| b.is_ascii_digit()),
                "an accepted PIN is digits"
            );
        }
    }
}

/// A real Pixel 9 Pro StrongBox chain (server/tests/data/attestation), its challenge and a time
/// inside its validity: the one input that verifies.
const PIXEL_CHAIN: &str =
    include_str!("../../server/tests/data/attestation/ak_caiman_sdk36_sb_ec_rkp.pem");
const PIXEL_CHALLENGE: &[u8] = b"7ccac1ea-4845-482e-858d-f6fa9aa8c295";
const PIXEL_TIME: i64 = 1_759_017_600;

/// A chain as the fuzzer writes it: each certificate as a 2-byte little-endian length and its
/// bytes, at most 8 (the server's limit).
fn chain_of(data: &[u8]) -> Vec<Vec<u8>> {
    let mut chain = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 && chain.len() < 8 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let take = len.min(rest.len() - 2);
        chain.push(rest[2..2 + take].to_vec());
        rest = &rest[2 + take..];
    }
    chain
}

/// The chain `data` encodes, as [`chain_of`] reads it.
fn chain_bytes(chain: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for cert in chain {
        let len = u16::try_from(cert.len()).expect("certificates under 64 KiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(cert);
    }
    out
}

fn pem_chain(text: &str) -> Vec<Vec<u8>> {
    text.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|block| block.split("-----END CERTIFICATE-----").next())
        .map(|b64| {
            use base64::Engine as _;
            let clean: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .expect("test data is base64")
        })
        .collect()
}

/// What the attestation target checks against: Google's roots, the real chain, its leaf key;
/// and Apple's example App Attest object with what it was made for.
struct AttestationBed {
    roots: latchkey_server::attestation::Roots,
    real: Vec<Vec<u8>>,
    leaf_key: PublicKey,
    apple: AppleSample,
}

/// Apple's documented App Attest example (server/tests/data/app_attest/samples.json).
struct AppleSample {
    object: Vec<u8>,
    key_id: [u8; 32],
    client_data_hash: Vec<u8>,
    policy: latchkey_server::attestation::apple::AppAttestPolicy,
    time: i64,
    serials: Vec<String>,
}

fn apple_sample() -> AppleSample {
    use base64::Engine as _;
    let samples: serde_json::Value = serde_json::from_str(include_str!(
        "../../server/tests/data/app_attest/samples.json"
    ))
    .expect("samples are JSON");
    let sample = &samples[0];
    let text = |k: &str| sample[k].as_str().expect("a text field");
    let hex = |t: &str| -> Vec<u8> {
        (0..t.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&t[i..i + 2], 16).expect("hex"))
            .collect()
    };
    let object = base64::engine::general_purpose::STANDARD
        .decode(text("object"))
        .expect("base64");
    let key_id: [u8; 32] = hex(text("key_id")).try_into().expect("32 bytes");
    let client_data_hash = hex(text("client_data_hash"));
    let policy = latchkey_server::attestation::apple::AppAttestPolicy::new(
        &[],
        vec![text("app_id").to_owned()],
        false,
    )
    .expect("policy");
    let time = sample["time"].as_i64().expect("time");
    let verified = latchkey_server::attestation::apple::verify(
        &latchkey_protocol::wire::AppAttestation {
            key_id,
            object: object.clone(),
        },
        &client_data_hash,
        &policy,
        time,
    )
    .expect("Apple's example verifies (else this target tests nothing)");
    AppleSample {
        object,
        key_id,
        client_data_hash,
        policy,
        time,
        serials: verified.serials,
    }
}

thread_local! {
    static ATTESTATION: AttestationBed = {
        let real = pem_chain(PIXEL_CHAIN);
        // The leaf's P-256 point: the 65 bytes after the SubjectPublicKeyInfo's BIT STRING
        // header (03 42 00).
        let at = real[0]
            .windows(3)
            .position(|w| w == [0x03, 0x42, 0x00])
            .expect("the leaf has a P-256 key");
        let leaf_key = PublicKey::from_sec1(&real[0][at + 3..at + 3 + 65]).expect("a point");
        let roots = latchkey_server::attestation::Roots::google();
        latchkey_server::attestation::verify(&real, &leaf_key, PIXEL_CHALLENGE, &roots, PIXEL_TIME)
            .expect("the seed chain verifies (else this target tests nothing)");
        AttestationBed { roots, real, leaf_key, apple: apple_sample() }
    };
}

/// Android key attestation chains (issue 21), as the server verifies them at enrolment, under
/// Google's roots. Nothing may panic; and since the server takes only the canonical DER of
/// each certificate, a chain that verifies must be the real one byte for byte, with or without
/// its root (no malleability; ECDSA's (r, n − s), which mutation cannot reach, aside).
pub fn attestation(data: &[u8]) {
    let chain = chain_of(data);
    ATTESTATION.with(|bed| {
        for (challenge, at) in [(PIXEL_CHALLENGE, PIXEL_TIME), (&b"another"[..], PIXEL_TIME)] {
            let verified = latchkey_server::attestation::verify(
                &chain,
                &bed.leaf_key,
                challenge,
                &bed.roots,
                at,
            );
            if verified.is_ok() {
                let rootless = &bed.real[..bed.real.len() - 1];
                assert!(
                    chain == bed.real || chain == rootless,
                    "only the real chain verifies"
                );
                assert_eq!(challenge, PIXEL_CHALLENGE, "only for its own challenge");
            }
        }
        // The same bytes as an iOS App Attest object: one that verifies holds Apple's
        // certificates of the example, for its own client data only.
        let apple = &bed.apple;
        let object = latchkey_protocol::wire::AppAttestation {
            key_id: apple.key_id,
            object: data.to_vec(),
        };
        for (client_data, at) in [
            (&apple.client_data_hash[..], apple.time),
            (&b"another"[..], apple.time),
        ] {
            if let Ok(verified) =
                latchkey_server::attestation::apple::verify(&object, client_data, &apple.policy, at)
            {
                assert_eq!(verified.serials, apple.serials, "only Apple's certificates");
                assert_eq!(
                    client_data,
                    &apple.client_data_hash[..],
                    "only for its own data"
                );
            }
        }
    });
}

/// Every JSON block of docs/PROTOCOL.md: one example of each wire message (generated from the
/// code and checked by a protocol test, so they stay current).
fn protocol_examples() -> Vec<Vec<u8>> {
    let doc = include_str!("../../docs/PROTOCOL.md");
    doc.split("```json\n")
        .skip(1)
        .filter_map(|block| block.split("\n```").next())
        .map(|json| json.as_bytes().to_vec())
        .collect()
}

/// Valid inputs to start from, per target (the committed corpus adds what fuzzing found).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "link" => {
            let doc = include_str!("../../docs/PROTOCOL.md");
            let mut seeds: Vec<Vec<u8>> = doc
                .lines()
                .filter(|l| l.starts_with("https://") && l.contains("/e#"))
                .map(|l| l.as_bytes().to_vec())
                .collect();
            seeds.push(
                b"https://login.example.org:8443/sso/e#v=1&c=AAECAwQFBgcICQoLDA0ODw&k=A1GnWAgziY6hsYPL1zUKQJkHjG7xweGOlwzXaDA18l59&p=app&n=6&l=Intranet%20%E2%80%94%20Alice".to_vec(),
            );
            seeds.push(b"otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP".to_vec());
            seeds
        }
        "wire" => protocol_examples(),
        "vault" => vec![valid_record()],
        "signer_file" => vec![valid_key_file()],
        "scan" => {
            // A small QR code of a valid link, as a luma plane with its header bytes.
            let text = "https://login.example.org/e#v=1";
            let code = qr_plane(text);
            let mut seed = Vec::new();
            let side = u16::try_from(code.0).unwrap_or(0);
            seed.extend_from_slice(&side.to_le_bytes());
            seed.extend_from_slice(&side.to_le_bytes());
            seed.extend_from_slice(&[0, 0]);
            seed.extend_from_slice(&code.1);
            vec![seed]
        }
        "pem" => vec![
            b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUfH\n-----END CERTIFICATE-----\n"
                .to_vec(),
            b"not a certificate".to_vec(),
        ],
        "attestation" => {
            let real = pem_chain(PIXEL_CHAIN);
            vec![
                chain_bytes(&real),
                chain_bytes(&real[..real.len() - 1]),
                chain_bytes(&real[1..]),
                apple_sample().object,
            ]
        }
        "pin" => vec![
            b"4831".to_vec(),
            b"1234".to_vec(),
            b"735194".to_vec(),
            "٤٨٣١".as_bytes().to_vec(),
        ],
        _ => Vec::new(),
    }
}

/// A QR code of `text` as a square luma plane (2 px modules, quiet zone): side and pixels.
fn qr_plane(text: &str) -> (usize, Vec<u8>) {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("encodable");
    let modules = code.width();
    let side = (modules + 8) * 2;
    let mut plane = vec![255u8; side * side];
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = ((i % modules + 4) * 2, (i / modules + 4) * 2);
            for dy in 0..2 {
                plane[(y + dy) * side + x..(y + dy) * side + x + 2].fill(0);
            }
        }
    }
    (side, plane)
}
