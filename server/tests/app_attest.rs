//! iOS App Attest (issue 21): the server verifies the object an iPhone sends at enrolment
//! and records the device as enrolled by the genuine app only when every check passes. Real
//! objects from real iPhones and Apple's documentation (server/tests/data/app_attest, sources
//! in its README) under Apple's real root, and objects made here with the same structure
//! under a test root, one defect at a time.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_protocol::types::{Assurance, PublicKey};
use latchkey_protocol::wire::{AppAttestation, EnrolBeginRequest};
use latchkey_server::attestation::apple::{verify, AppAttestPolicy, LABEL};
use latchkey_server::attestation::Refused;
use latchkey_test_support::app_attest::{Authority, Shape, DEVELOPMENT};
use latchkey_test_support::*;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

const NOW: i64 = 1_790_000_000; // 2026-09
const APP: &str = "ABCDE12345.org.latchkey.app";

struct Sample {
    name: String,
    object: AppAttestation,
    client_data_hash: Vec<u8>,
    app_id: String,
    development: bool,
    time: i64,
}

/// The real objects of `server/tests/data/app_attest/samples.json`.
fn samples() -> Vec<Sample> {
    let path = format!(
        "{}/tests/data/app_attest/samples.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    list.iter()
        .map(|s| {
            use base64::Engine as _;
            let text = |k: &str| s[k].as_str().unwrap().to_owned();
            Sample {
                name: text("name"),
                object: AppAttestation {
                    key_id: hex::decode(text("key_id")).unwrap().try_into().unwrap(),
                    object: base64::engine::general_purpose::STANDARD
                        .decode(text("object"))
                        .unwrap(),
                },
                client_data_hash: hex::decode(text("client_data_hash")).unwrap(),
                app_id: text("app_id"),
                development: text("environment") == "development",
                time: s["time"].as_i64().unwrap(),
            }
        })
        .collect()
}

fn apple(app_id: &str, development: bool) -> AppAttestPolicy {
    AppAttestPolicy::new(&[], vec![app_id.into()], development).unwrap()
}

/// Real objects (an iPhone on iOS 14.2 and 14.4, development builds; a production build;
/// Apple's own example) verify under Apple's real root at their time, for their app and
/// client data only, and every edit of what they hold is refused.
#[test]
fn app_attest_real_objects_verify_and_edits_are_refused() {
    let samples = samples();
    assert_eq!(samples.len(), 4);
    for s in &samples {
        let name = &s.name;
        let policy = apple(&s.app_id, s.development);
        let verified = verify(&s.object, &s.client_data_hash, &policy, s.time).expect(name);
        assert_eq!(verified.assurance, Assurance::SecureElement, "{name}");
        assert_eq!(verified.label, LABEL, "{name}");
        assert_eq!(verified.serials.len(), 2, "{name}");
        // Another enrolment's client data; another key id; another app.
        assert_eq!(
            verify(&s.object, &[7u8; 32], &policy, s.time),
            Err(Refused::WrongChallenge),
            "{name}"
        );
        let mut other_key = s.object.clone();
        other_key.key_id[0] ^= 1;
        assert_eq!(
            verify(&other_key, &s.client_data_hash, &policy, s.time),
            Err(Refused::WrongKey),
            "{name}"
        );
        assert_eq!(
            verify(
                &s.object,
                &s.client_data_hash,
                &apple("ABCDE12345.org.example.other", s.development),
                s.time
            ),
            Err(Refused::WrongApp),
            "{name}"
        );
        if s.development {
            assert_eq!(
                verify(
                    &s.object,
                    &s.client_data_hash,
                    &apple(&s.app_id, false),
                    s.time
                ),
                Err(Refused::Development),
                "{name}: a development build on a production server"
            );
        }
        // No app configured: nothing verifies.
        let nobody = AppAttestPolicy::new(&[], Vec::new(), true).unwrap();
        assert_eq!(
            verify(&s.object, &s.client_data_hash, &nobody, s.time),
            Err(Refused::WrongApp),
            "{name}"
        );
        // Too late (the leaf lives days to months), too early.
        for at in [s.time + 400 * 86_400, s.time - 40 * 86_400] {
            assert_eq!(
                verify(&s.object, &s.client_data_hash, &policy, at),
                Err(Refused::Expired),
                "{name} at {at}"
            );
        }
        // Each certificate's signature, and each byte of authData (the nonce covers it).
        let (leaf, ca, auth_data) = parts(&s.object.object);
        for (what, edited) in [
            ("leaf signature", rebuild(&s.object, |l, _, _| flip_last(l))),
            ("CA signature", rebuild(&s.object, |_, c, _| flip_last(c))),
            (
                "leaf and CA swapped",
                rebuild(&s.object, |l, c, _| std::mem::swap(l, c)),
            ),
            (
                "the CA twice",
                rebuild(&s.object, |l, c, _| l.clone_from(c)),
            ),
        ] {
            assert!(
                verify(&edited, &s.client_data_hash, &policy, s.time).is_err(),
                "{name}: {what}"
            );
        }
        assert!(!leaf.is_empty() && !ca.is_empty());
        for at in [0, 32, 33, 36, 37, 52, 55, auth_data.len() - 1] {
            let edited = rebuild(&s.object, |_, _, a| a[at] ^= 1);
            assert_eq!(
                verify(&edited, &s.client_data_hash, &policy, s.time),
                Err(Refused::WrongChallenge),
                "{name}: authData byte {at}"
            );
        }
        // Truncated objects: refused, never a panic.
        for len in [
            0,
            1,
            10,
            s.object.object.len() / 2,
            s.object.object.len() - 1,
        ] {
            let cut = AppAttestation {
                key_id: s.object.key_id,
                object: s.object.object[..len].to_vec(),
            };
            assert!(
                matches!(
                    verify(&cut, &s.client_data_hash, &policy, s.time),
                    Err(Refused::Malformed(_))
                ),
                "{name}: cut at {len}"
            );
        }
    }
}

/// The leaf, the CA and authData of an object.
fn parts(object: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut parts = (Vec::new(), Vec::new(), Vec::new());
    rebuild(
        &AppAttestation {
            key_id: [0; 32],
            object: object.to_vec(),
        },
        |l, c, a| parts = (l.clone(), c.clone(), a.clone()),
    );
    parts
}

/// The object with its leaf, CA and authData changed by `edit`.
fn rebuild(
    object: &AppAttestation,
    edit: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>, &mut Vec<u8>),
) -> AppAttestation {
    use ciborium::Value;
    let value: Value = ciborium::from_reader(object.object.as_slice()).unwrap();
    let mut map = value.into_map().unwrap();
    let mut leaf = Vec::new();
    let mut ca = Vec::new();
    let mut auth_data = Vec::new();
    for (k, v) in &map {
        match k.as_text().unwrap() {
            "authData" => auth_data = v.as_bytes().unwrap().clone(),
            "attStmt" => {
                for (k, v) in v.as_map().unwrap() {
                    if k.as_text() == Some("x5c") {
                        let x5c = v.as_array().unwrap();
                        leaf = x5c[0].as_bytes().unwrap().clone();
                        ca = x5c[1].as_bytes().unwrap().clone();
                    }
                }
            }
            _ => {}
        }
    }
    edit(&mut leaf, &mut ca, &mut auth_data);
    for (k, v) in &mut map {
        match k.as_text().unwrap() {
            "authData" => *v = Value::Bytes(auth_data.clone()),
            "attStmt" => {
                for (k, v) in v.as_map_mut().unwrap() {
                    if k.as_text() == Some("x5c") {
                        *v = Value::Array(vec![
                            Value::Bytes(leaf.clone()),
                            Value::Bytes(ca.clone()),
                        ]);
                    }
                }
            }
            _ => {}
        }
    }
    let mut bytes = Vec::new();
    ciborium::into_writer(&Value::Map(map), &mut bytes).unwrap();
    AppAttestation {
        key_id: object.key_id,
        object: bytes,
    }
}

/// Flips a bit of the certificate's last byte (inside its signature).
fn flip_last(der: &mut [u8]) {
    let last = der.len() - 1;
    der[last] ^= 1;
}

/// A good object verifies; each defect alone is refused with its reason.
#[test]
fn app_attest_made_objects_verify_and_each_defect_is_refused() {
    let authority = Authority::new(NOW);
    let policy = AppAttestPolicy::new(&[authority.root_pem()], vec![APP.into()], false).unwrap();
    let data = [9u8; 32];
    let check = |shape: &Shape| verify(&authority.attest(shape), &data, &policy, NOW);
    let good = Shape::good(APP, &data);
    assert_eq!(check(&good).unwrap().assurance, Assurance::SecureElement);
    // Not Apple's root, nor a configured one.
    assert_eq!(
        verify(&authority.attest(&good), &data, &apple(APP, false), NOW),
        Err(Refused::UntrustedRoot)
    );
    let with = |change: fn(&mut Shape)| {
        let mut shape = good.clone();
        change(&mut shape);
        check(&shape)
    };
    assert_eq!(
        with(|s| s.client_data_hash = vec![1; 32]),
        Err(Refused::WrongChallenge)
    );
    assert_eq!(
        with(|s| s.nonce = Some([0; 32])),
        Err(Refused::WrongChallenge)
    );
    assert_eq!(
        with(|s| s.app_id = "ABCDE12345.org.example.other".into()),
        Err(Refused::WrongApp)
    );
    assert_eq!(with(|s| s.key_id = Some([3; 32])), Err(Refused::WrongKey));
    assert_eq!(
        with(|s| s.credential_id = Some([3; 32])),
        Err(Refused::WrongKey)
    );
    assert_eq!(with(|s| s.aaguid = DEVELOPMENT), Err(Refused::Development));
    let development =
        AppAttestPolicy::new(&[authority.root_pem()], vec![APP.into()], true).unwrap();
    let mut dev = good.clone();
    dev.aaguid = DEVELOPMENT;
    assert!(verify(&authority.attest(&dev), &data, &development, NOW).is_ok());
    for (what, change) in [
        (
            "a used key (counter 1)",
            (|s| s.counter = 1) as fn(&mut Shape),
        ),
        ("another environment", |s| s.aaguid = *b"appattestother\0\0"),
        ("no attested-data flag", |s| s.flags = 0),
        ("another format", |s| s.fmt = "packed".into()),
        ("the CA left out", |s| s.leaf_only = true),
        ("another field", |s| s.extra_field = true),
    ] {
        assert!(
            matches!(with(change), Err(Refused::Malformed(_))),
            "{what}: {:?}",
            with(change)
        );
    }
    // Outside the leaf's three days.
    assert_eq!(
        verify(&authority.attest(&good), &data, &policy, NOW + 3 * 86_400),
        Err(Refused::Expired)
    );
    // Bytes after the object: refused (one encoding per object).
    let mut padded = authority.attest(&good);
    padded.object.push(0);
    assert!(matches!(
        verify(&padded, &data, &policy, NOW),
        Err(Refused::Malformed(_))
    ));
    // Oversized: refused before it is read.
    let mut big = authority.attest(&good);
    big.object
        .resize(latchkey_protocol::wire::MAX_APP_ATTESTATION_BYTES + 1, 0);
    assert!(matches!(
        verify(&big, &data, &policy, NOW),
        Err(Refused::Malformed(_))
    ));
}

on_both_backends! {
    app_attested_enrolment_is_shown_as_the_genuine_app => enrolment;
}

/// Through the server: an object for this enrolment and this device key makes the device
/// "genuine app, verified by Apple"; one made for another key enrols the device with the
/// app's claim, shown as claimed, and the reason in the trail.
async fn enrolment(backend: Backend) {
    let authority = Authority::new(now() as i64);
    let root = authority.root_pem();
    let server = TestServer::start_config(backend, |config| {
        config.attestation_extra_roots = vec![root];
        config.app_links.apple_app_ids = vec![APP.into()];
    })
    .await;
    let browser = Browser::register(&server, "ios@example.org", "correct horse battery").await;
    let (_, link) = browser.add_device("iPhone", "4831").await;
    Device::enrol_attested(&server, &link, "4831", |key, challenge| {
        let data = EnrolBeginRequest::app_attest_client_data_hash(
            challenge,
            &PublicKey::from(key.verifying_key()),
        );
        authority.attest(&Shape::good(APP, &data))
    })
    .await
    .expect("enrolled");
    browser.confirm_by_mail(&server).await;
    let (_, link) = browser.add_device("Old iPhone", "4831").await;
    Device::enrol_attested(&server, &link, "4831", |_, challenge| {
        // Apple's attestation names another device key.
        let stranger = PublicKey::from(SigningKey::random(&mut OsRng).verifying_key());
        let data = EnrolBeginRequest::app_attest_client_data_hash(challenge, &stranger);
        authority.attest(&Shape::good(APP, &data))
    })
    .await
    .expect("enrolled all the same");
    let (_, page) = browser.get("/account").await;
    assert!(
        page.contains("secure element (genuine app, verified by Apple)"),
        "{page}"
    );
    assert!(
        page.contains("secure element (as the app says)"),
        "the refused object leaves the claim: {page}"
    );
    assert!(
        page.contains("Device enrolled by the genuine app, verified by Apple"),
        "{page}"
    );
    assert!(
        page.contains("not accepted (the attestation is for another enrolment)"),
        "{page}"
    );
    let recorded: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT assurance, attestation FROM devices WHERE state = 'active' ORDER BY created_at, name",
    )
    .fetch_all(&server.state.db)
    .await
    .unwrap();
    assert!(recorded.contains(&("secure_element".into(), Some(LABEL.into()))));
    assert!(recorded.contains(&("secure_element".into(), None)));
    // A genuine object never upgrades another claim: Apple vouches for the app, not the key.
    browser.confirm_by_mail(&server).await;
    let (_, link) = browser.add_device("Software iPhone", "4831").await;
    Device::enrol_attested(&server, &link, "4831", |key, challenge| {
        let data = EnrolBeginRequest::app_attest_client_data_hash(
            challenge,
            &PublicKey::from(key.verifying_key()),
        );
        Attest::AppClaiming(
            Assurance::Software,
            authority.attest(&Shape::good(APP, &data)),
        )
    })
    .await
    .expect("enrolled as claimed");
    let (_, page) = browser.get("/account").await;
    assert!(
        page.contains("software (encrypted on the device)"),
        "{page}"
    );
    assert!(
        page.contains("does not claim the Secure Enclave"),
        "the reason is in the activity: {page}"
    );
    let verified: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE attestation IS NOT NULL")
            .fetch_one(&server.state.db)
            .await
            .unwrap();
    assert_eq!(verified, 1, "only the first iPhone");
    // Both kinds at once: a malformed request; the code is kept for a proper one.
    browser.confirm_by_mail(&server).await;
    let (_, link) = browser.add_device("Two kinds", "4831").await;
    let both = Device::begin_attested(&server, &link, "4831", |key, challenge| {
        let data = EnrolBeginRequest::app_attest_client_data_hash(
            challenge,
            &PublicKey::from(key.verifying_key()),
        );
        Attest::Both(
            vec![vec![0x30, 0x00]],
            authority.attest(&Shape::good(APP, &data)),
        )
    })
    .await;
    let Err(refused) = both else {
        panic!("both kinds at once were taken")
    };
    assert_eq!(refused.status.as_u16(), 400);
    Device::enrol(&server, &link, "4831")
        .await
        .expect("the code still enrols");
    server.stop().await;
}
