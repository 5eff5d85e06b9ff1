//! Android key attestation (issue 21): the server verifies the chain a device sends at
//! enrolment and records *verified* hardware only when every check passes. Real chains from
//! real phones (server/tests/data/attestation, sources in its README) and chains made here
//! with the same structure under a test root, one defect at a time.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

use latchkey_protocol::types::{Assurance, PublicKey};
use latchkey_server::attestation::{verify, Refused, Roots};
use latchkey_test_support::attest::{self, Authority, Description};
use latchkey_test_support::*;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

const NOW: i64 = 1_790_000_000; // 2026-09

fn public(key: &SigningKey) -> PublicKey {
    PublicKey::from(key.verifying_key())
}

/// A good chain verifies, at the level it states; each defect alone is refused with its
/// reason.
#[test]
fn attestation_made_chains_verify_and_each_defect_is_refused() {
    let ca = Authority::remote(NOW);
    let roots = Roots::from_pems(&[&ca.root_pem()]).unwrap();
    let key = SigningKey::random(&mut OsRng);
    let challenge = [5u8; 32];
    let check = |chain: &[Vec<u8>]| verify(chain, &public(&key), &challenge, &roots, NOW);

    let tee = ca.chain(&key, &Description::tee(&challenge));
    assert_eq!(check(&tee).unwrap().assurance, Assurance::Hardware);
    let strongbox = ca.chain(&key, &Description::strongbox(&challenge));
    assert_eq!(
        check(&strongbox).unwrap().assurance,
        Assurance::SecureElement
    );

    // The challenge of another enrolment; another key.
    assert_eq!(
        verify(&tee, &public(&key), &[6u8; 32], &roots, NOW),
        Err(Refused::WrongChallenge)
    );
    let other = SigningKey::random(&mut OsRng);
    assert_eq!(
        verify(&tee, &public(&other), &challenge, &roots, NOW),
        Err(Refused::WrongKey)
    );
    // Not Google's root (nor the test's): untrusted.
    assert_eq!(
        verify(&tee, &public(&key), &challenge, &Roots::google(), NOW),
        Err(Refused::UntrustedRoot)
    );
    // Every property of the key, one at a time.
    let refused = |change: fn(&mut Description)| {
        let mut d = Description::tee(&challenge);
        change(&mut d);
        check(&ca.chain(&key, &d))
    };
    assert!(matches!(
        refused(|d| d.attestation_level = 0),
        Err(Refused::NotHardware(_))
    ));
    assert!(matches!(
        refused(|d| d.keymint_level = 0),
        Err(Refused::NotHardware(_))
    ));
    assert!(
        matches!(
            refused(|d| {
                d.attestation_level = 2;
            }),
            Err(Refused::NotHardware(_))
        ),
        "attestation and key levels differ"
    );
    assert!(
        matches!(refused(|d| d.origin = 2), Err(Refused::NotHardware(_))),
        "imported"
    );
    assert!(
        matches!(
            refused(|d| d.purposes = vec![2, 0]),
            Err(Refused::NotHardware(_))
        ),
        "may also encrypt"
    );
    assert!(
        matches!(
            refused(|d| d.purposes = vec![3]),
            Err(Refused::NotHardware(_))
        ),
        "may not sign"
    );
    assert!(
        refused(|d| d.purposes = vec![2, 3]).is_ok(),
        "sign and verify, as some phones say"
    );
    assert!(
        matches!(refused(|d| d.curve = 2), Err(Refused::NotHardware(_))),
        "P-384"
    );
    assert!(
        matches!(refused(|d| d.algorithm = 1), Err(Refused::NotHardware(_))),
        "RSA"
    );
    assert!(
        matches!(
            refused(|d| d.in_software_list = true),
            Err(Refused::NotHardware(_))
        ),
        "the properties are only claimed by software"
    );
    assert_eq!(
        refused(|d| d.device_locked = false),
        Err(Refused::BootNotVerified),
        "unlocked bootloader"
    );
    assert_eq!(
        refused(|d| d.boot_state = 2),
        Err(Refused::BootNotVerified),
        "unverified boot"
    );
    assert!(
        refused(|d| d.boot_state = 1).is_ok(),
        "the owner's own verified OS"
    );

    // A signature broken anywhere.
    for i in 0..tee.len() {
        let mut broken = tee.clone();
        let last = broken[i].len() - 3;
        broken[i][last] ^= 1;
        assert!(
            matches!(
                check(&broken),
                Err(Refused::BadSignature | Refused::Malformed(_))
            ),
            "certificate {i}"
        );
    }
    // Missing links, a shuffled chain, too many, garbage.
    assert_eq!(
        check(&[tee[0].clone(), tee[3].clone()]),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check(&[
            tee[1].clone(),
            tee[0].clone(),
            tee[2].clone(),
            tee[3].clone()
        ]),
        Err(Refused::BadSignature)
    );
    assert!(matches!(
        check(&vec![tee[0].clone(); 9]),
        Err(Refused::Malformed(_))
    ));
    assert!(matches!(check(&[]), Err(Refused::Malformed(_))));
    assert!(matches!(
        check(&[vec![0x30, 0x03, 1, 2, 3]]),
        Err(Refused::Malformed(_))
    ));
    let mut trailing = tee.clone();
    trailing[0].push(0);
    assert!(matches!(check(&trailing), Err(Refused::Malformed(_))));

    // An attestation certificate that says TEE vouches for TEE keys, never for StrongBox.
    let tee_ca = Authority::remote_tee(NOW);
    let tee_roots = Roots::from_pems(&[&tee_ca.root_pem()]).unwrap();
    let by_tee = |d: Description| {
        verify(
            &tee_ca.chain(&key, &d),
            &public(&key),
            &challenge,
            &tee_roots,
            NOW,
        )
    };
    assert_eq!(
        by_tee(Description::tee(&challenge)).unwrap().assurance,
        Assurance::Hardware
    );
    assert!(matches!(
        by_tee(Description::strongbox(&challenge)),
        Err(Refused::NotHardware(_))
    ));
    // A self-signed leaf: nothing vouches for it.
    let alone = attest::self_signed_leaf(&key, &Description::tee(&challenge));
    assert_eq!(check(&[alone]), Err(Refused::UntrustedRoot));

    // Intermediates past their validity: refused when remotely provisioned (they last days);
    // a factory chain's are not held against the phone (Google's rule: they cannot rotate).
    assert_eq!(
        verify(&tee, &public(&key), &challenge, &roots, NOW + 31 * 86_400),
        Err(Refused::Expired)
    );
    let factory = Authority::factory(NOW);
    let factory_roots = Roots::from_pems(&[&factory.root_pem()]).unwrap();
    let old = factory.chain(&key, &Description::tee(&challenge));
    assert!(verify(
        &old,
        &public(&key),
        &challenge,
        &factory_roots,
        NOW + 31 * 86_400
    )
    .is_ok());
    // A chain sent without its root (as some do) ends at a certificate the root signed.
    assert!(check(&tee[..3]).is_ok());
    // Revoked by Google's status list: the attestation certificate's serial.
    let serial = x509_serial(&tee[1]);
    let revoked = Roots::from_pems(&[&ca.root_pem()])
        .unwrap()
        .with_status_list(
            format!(r#"{{"entries": {{"{serial}": {{"status": "REVOKED"}}}}}}"#).as_bytes(),
        )
        .unwrap();
    assert!(matches!(
        verify(&tee, &public(&key), &challenge, &revoked, NOW),
        Err(Refused::Revoked(_))
    ));
}

/// The attack key attestation must stop: a key made in a real phone's Keystore can sign
/// anything, so its owner can sign a "leaf" describing a software key of theirs and put it
/// under the real chain. Only the first key description is trusted.
#[test]
fn attestation_chain_extended_under_a_device_key_is_refused() {
    let ca = Authority::remote(NOW);
    let roots = Roots::from_pems(&[&ca.root_pem()]).unwrap();
    let keystore_key = SigningKey::random(&mut OsRng);
    let real = ca.chain(&keystore_key, &Description::tee(&[1u8; 32]));
    let software_key = SigningKey::random(&mut OsRng);
    let challenge = [5u8; 32];
    // The real leaf as issuer: rcgen needs it as a certificate it made, so it is re-made with
    // the same key and name (the bytes the attacker signs with are the keystore key's).
    let issuer = attest::leaf(
        &keystore_key,
        &Description::tee(&[1u8; 32]),
        &rcgen_self(&keystore_key),
        &attest::key_pair(&keystore_key),
    );
    let forged = attest::leaf(
        &software_key,
        &Description::strongbox(&challenge),
        &issuer,
        &attest::key_pair(&keystore_key),
    );
    let mut chain = vec![forged.der().to_vec()];
    chain.extend(real);
    assert_eq!(
        verify(&chain, &public(&software_key), &challenge, &roots, NOW),
        Err(Refused::ExtendedUnderKey)
    );
}

/// A throwaway self-signed certificate for `key` (an issuer for rcgen).
fn rcgen_self(key: &SigningKey) -> rcgen::Certificate {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Android Keystore Key");
    params.self_signed(&attest::key_pair(key)).unwrap()
}

/// A certificate's serial as Google's status list writes it.
fn x509_serial(der: &[u8]) -> String {
    use x509_parser::prelude::FromDer as _;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    hex::encode(cert.raw_serial())
        .trim_start_matches('0')
        .to_owned()
}

on_both_backends! {
    attested_enrolment_is_shown_as_verified_hardware => enrolment;
}

/// Through the server: a verified chain makes the device's key "verified"; a refused one
/// enrols the device with the app's claim, shown as claimed, and the reason in the trail.
async fn enrolment(backend: Backend) {
    let ca = Authority::remote(now() as i64);
    let root = ca.root_pem();
    let files = tempfile::tempdir().unwrap();
    let status = files.path().join("attestation-status.json");
    std::fs::write(&status, r#"{"entries": {}}"#).unwrap();
    let status_path = status.clone();
    let server = TestServer::start_config(backend, |config| {
        config.attestation_extra_roots = vec![root];
        config.attestation_status = Some(status_path);
    })
    .await;
    let browser = Browser::register(&server, "droid@example.org", "correct horse battery").await;
    let (_, link) = browser.add_device("Pixel", "4831").await;
    Device::enrol_attested(&server, &link, "4831", |key, challenge| {
        ca.chain(key, &Description::strongbox(challenge))
    })
    .await
    .expect("enrolled");
    // P7: a second device needs a confirmation (here the mailed code).
    browser.confirm_by_mail(&server).await;
    let (_, link) = browser.add_device("Old phone", "4831").await;
    Device::enrol_attested(&server, &link, "4831", |key, _| {
        // Made for another enrolment's challenge.
        ca.chain(key, &Description::tee(&[0u8; 32]))
    })
    .await
    .expect("enrolled all the same");
    let (_, page) = browser.get("/account").await;
    assert!(
        page.contains("secure element (verified by Android)"),
        "{page}"
    );
    assert!(
        page.contains("software (encrypted on the device)"),
        "the refused chain leaves the claim (software here): {page}"
    );
    assert!(page.contains("Device key verified as held in secure hardware"));
    assert!(
        page.contains(
            "hardware attestation not accepted (the attestation is for another enrolment)"
        ),
        "{page}"
    );
    let recorded: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT assurance, attestation FROM devices WHERE state = 'active' ORDER BY created_at, name")
            .fetch_all(&server.state.db)
            .await
            .unwrap();
    assert!(recorded.contains(&("secure_element".into(), Some("android:strongbox".into()))));
    assert!(recorded.contains(&("software".into(), None)));

    // Google revokes the attestation certificate (the operator's cron rewrites the file): the
    // next sweep withdraws the "verified", says why, and the chain no longer verifies.
    let key = SigningKey::random(&mut OsRng);
    let serial = x509_serial(&ca.chain(&key, &Description::tee(&[0u8; 32]))[1]);
    std::fs::write(
        &status,
        format!(
            r#"{{"entries": {{"{serial}": {{"status": "REVOKED", "reason": "KEY_COMPROMISE"}}}}}}"#
        ),
    )
    .unwrap();
    latchkey_server::sweep_expired_enrolments(&server.state)
        .await
        .unwrap();
    let (_, page) = browser.get("/account").await;
    assert!(page.contains("secure element (as the app says)"), "{page}");
    assert!(
        page.contains("Google revoked a certificate of its attestation"),
        "{page}"
    );
    let verified: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE attestation IS NOT NULL")
            .fetch_one(&server.state.db)
            .await
            .unwrap();
    assert_eq!(verified, 0);
    browser.confirm_by_mail(&server).await;
    let (_, link) = browser.add_device("Newer phone", "4831").await;
    Device::enrol_attested(&server, &link, "4831", |key, challenge| {
        ca.chain(key, &Description::strongbox(challenge))
    })
    .await
    .expect("enrolled, as claimed");
    let (_, page) = browser.get("/account").await;
    assert!(page.contains("is revoked"), "{page}");
    server.stop().await;
}

/// A chain from `server/tests/data/attestation`.
fn real(name: &str) -> Vec<Vec<u8>> {
    let path = format!(
        "{}/tests/data/attestation/{name}.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read(&path).unwrap();
    x509_parser::pem::Pem::iter_from_buffer(&text)
        .map(|pem| pem.unwrap().contents)
        .collect()
}

/// The leaf's key as a device key (a P-256 leaf), or a stranger's (any other kind).
fn leaf_key(chain: &[Vec<u8>]) -> PublicKey {
    use x509_parser::prelude::FromDer as _;
    let (_, leaf) = x509_parser::certificate::X509Certificate::from_der(&chain[0]).unwrap();
    PublicKey::from_sec1(&leaf.public_key().subject_public_key.data)
        .unwrap_or_else(|| public(&SigningKey::random(&mut OsRng)))
}

/// Edits of the parts of a certificate nothing signs: the outer `signatureAlgorithm`'s OID
/// retagged as an OCTET STRING, that algorithm's SEQUENCE tag given another class, the
/// certificate's length written in a longer form, the signature BIT STRING claiming an
/// unused bit.
fn unsigned_edits(der: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    // A DER header at `at`: (header length, content length).
    let header = |at: usize| -> (usize, usize) {
        let first = usize::from(der[at + 1]);
        if first < 0x80 {
            return (2, first);
        }
        let n = first & 0x7f;
        let len = der[at + 2..at + 2 + n]
            .iter()
            .fold(0, |acc, &b| (acc << 8) | usize::from(b));
        (2 + n, len)
    };
    let (outer, outer_len) = header(0);
    let (tbs_header, tbs_len) = header(outer);
    let algorithm = outer + tbs_header + tbs_len;
    let (alg_header, alg_len) = header(algorithm);
    let signature = algorithm + alg_header + alg_len;
    let (sig_header, _) = header(signature);
    assert_eq!(
        der[algorithm + alg_header],
        0x06,
        "an OID starts the algorithm"
    );
    let mut retagged = der.to_vec();
    retagged[algorithm + alg_header] = 0x04;
    let mut classed = der.to_vec();
    classed[algorithm] = 0x70;
    let mut longer = vec![0x30, 0x84];
    longer.extend_from_slice(&u32::try_from(outer_len).unwrap().to_be_bytes());
    longer.extend_from_slice(&der[outer..]);
    let mut unused = der.to_vec();
    assert_eq!(der[signature + sig_header], 0, "no unused bits");
    unused[signature + sig_header] = 1;
    vec![
        ("outer algorithm OID retagged", retagged),
        ("outer algorithm in another class", classed),
        ("a longer length form", longer),
        ("an unused bit claimed", unused),
    ]
}

/// A real chain's file, its challenge, a time inside its validity, and its verdict.
type Case = (&'static str, Vec<u8>, i64, Result<Assurance, Refused>);

/// Real phones' chains (sources in the data folder's README): each gets the verdict its
/// publisher states, at a time inside the chain's validity.
#[test]
fn attestation_real_chains_give_the_published_verdicts() {
    let roots = Roots::google();
    let uuid = |s: &str| s.as_bytes().to_vec();
    let hex = |s: &str| hex::decode(s).unwrap();
    let (sep_2025, mar_2026, jan_2025, sep_2024, may_2026) = (
        1_759_017_600,
        1_772_323_200,
        1_737_331_200,
        1_726_790_400,
        1_777_593_600,
    );
    let cases: Vec<Case> = vec![
        ("ak_caiman_sdk36_tee_ec_rkp", uuid("d688d763-6118-4ca6-94b2-e6cd9ed7e4e4"), sep_2025, Ok(Assurance::Hardware)),
        ("ak_caiman_sdk36_sb_ec_rkp", uuid("7ccac1ea-4845-482e-858d-f6fa9aa8c295"), sep_2025, Ok(Assurance::SecureElement)),
        ("ak_tegu_sdk36_tee_ec_2026_root", uuid("6417f92c-daef-4cc1-8828-5bb39338ffd5"), mar_2026, Ok(Assurance::Hardware)),
        ("ak_tegu_sdk36_sb_ec_2026_root", uuid("90578e1d-f5bf-4ccf-a27f-a4f4d89ee21f"), mar_2026, Ok(Assurance::SecureElement)),
        ("aosp_attestationverificationtest_with_root_certs", uuid("player456"), NOW, Ok(Assurance::Hardware)),
        ("swa_webauthn_pixel8a_2025_tee_ec", hex("5652e2dc45549a96f96afa225502f87fadc08a60bc021392c0be8c5062fd5f5e"), jan_2025, Ok(Assurance::Hardware)),
        ("swa_webauthn_samsung_s9plus_android10_tee_ec", hex("ad0cf00aa4c67d84c6d838ed5723037ebff81530e4c60230de7ebae806c8f6f9"), NOW, Ok(Assurance::Hardware)),
        ("ak_sonyxperia10iii_sdk33_tee_ec", hex("3eafe4d5dd0090de5a42b432b42481af5ce29963656b2584c59a492de16d00c9"), NOW, Ok(Assurance::Hardware)),
        ("ak_invalid_malformed_rot_device_locked", hex("019b115a17fdf26b371309467080d0aec1b5a0c1c6a7a3350b920560659fa79b97a21a751a9bf9f031323b99253619dcc4c31a4a8aba0335006321620f2c70b3e80f0c504f6474b5f487898fe5877cf2d9d7c2cd255e235fa7"), NOW, Ok(Assurance::Hardware)),
        ("ak_akita_sdk34_tee_ec_none", uuid("challenge"), sep_2024, Err(Refused::BootNotVerified)),
        ("ak_blueline_sdk28_tee_ec_none", uuid("challenge"), NOW, Err(Refused::BootNotVerified)),
        ("ak_marlin_sdk29_tee_ec_none", uuid("challenge"), NOW, Err(Refused::UntrustedRoot)),
        ("gkat_ec_strongbox", uuid("abc"), NOW, Err(Refused::BadSignature)),
        ("ak_invalid_tags_not_in_ascending_order", uuid("challenge"), NOW, Err(Refused::BadSignature)),
        ("ak_akita_sdk34_sb_rsa_none", uuid("challenge"), sep_2024, Err(Refused::WrongKey)),
        ("ak_tokay_sdk37_tee_mldsa_rkp", uuid("challenge"), may_2026, Err(Refused::WrongKey)),
    ];
    for (name, challenge, at, expected) in cases {
        let chain = real(name);
        let got = verify(&chain, &leaf_key(&chain), &challenge, &roots, at).map(|v| v.assurance);
        assert_eq!(got, expected, "{name}");
        if expected.is_ok() {
            // The same chain for another enrolment, or another key: refused.
            assert_eq!(
                verify(&chain, &leaf_key(&chain), b"another", &roots, at),
                Err(Refused::WrongChallenge),
                "{name}"
            );
            assert_eq!(
                verify(
                    &chain,
                    &public(&SigningKey::random(&mut OsRng)),
                    &challenge,
                    &roots,
                    at
                ),
                Err(Refused::WrongKey),
                "{name}"
            );
            // What is outside a certificate's signed part, edited (libFuzzer found the first
            // one verifying): refused, so a chain has one encoding (up to ECDSA's s).
            for i in 0..chain.len() {
                for (what, edit) in unsigned_edits(&chain[i]) {
                    let mut edited = chain.clone();
                    edited[i] = edit;
                    let got = verify(&edited, &leaf_key(&chain), &challenge, &roots, at)
                        .map(|v| v.assurance);
                    assert!(
                        matches!(got, Err(Refused::BadSignature | Refused::Malformed(_))),
                        "{name}: certificate {i}, {what}: {got:?}"
                    );
                }
            }
            // A certificate twice (the root repeated): refused.
            let mut twice = chain.clone();
            twice.push(chain[chain.len() - 1].clone());
            assert_eq!(
                verify(&twice, &leaf_key(&chain), &challenge, &roots, at).map(|v| v.assurance),
                Err(Refused::Malformed("a certificate appears twice")),
                "{name}"
            );
        }
    }
    // A remotely provisioned chain after its intermediates expired; with its root gone
    // (chains sent without it) it still ends at Google's.
    let caiman = real("ak_caiman_sdk36_tee_ec_rkp");
    let challenge = uuid("d688d763-6118-4ca6-94b2-e6cd9ed7e4e4");
    assert_eq!(
        verify(
            &caiman,
            &leaf_key(&caiman),
            &challenge,
            &roots,
            1_893_456_000
        ),
        Err(Refused::Expired)
    );
    assert!(verify(
        &caiman[..caiman.len() - 1],
        &leaf_key(&caiman),
        &challenge,
        &roots,
        sep_2025
    )
    .is_ok());
}
