//! Wire messages: JSON round trips, and every signed field really is covered by its signature.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on failure

use latchkey_protocol::oprf;
use latchkey_protocol::secret::{EnrolmentCode, Password, Pin};
use latchkey_protocol::signed::{self, Decision};
use latchkey_protocol::types::*;
use latchkey_protocol::wire::*;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

fn sign(key: &SigningKey, bytes: &[u8]) -> Signature {
    let sig: p256::ecdsa::Signature = key.sign(bytes);
    Signature::from_ecdsa(&sig)
}

fn element() -> Element {
    oprf::blind(&Pin::new("4831"), &mut OsRng).expect("blind").1
}

fn header() -> RequestHeader {
    RequestHeader::new(
        AccountId::random(&mut OsRng),
        DeviceId::random(&mut OsRng),
        RequestId::random(&mut OsRng),
        1_767_225_600,
    )
}

fn signed_request<B: RequestBody + Clone>(key: &SigningKey, body: B) -> DeviceRequest<B> {
    let header = header();
    let signature = sign(key, &DeviceRequest::signed_bytes(&header, &body));
    DeviceRequest {
        header,
        body,
        signature,
    }
}

#[test]
fn answer_envelope_covers_every_field() {
    let key = SigningKey::random(&mut OsRng);
    let public = PublicKey::from(key.verifying_key());
    let answer = Answer {
        challenge: ChallengeId::random(&mut OsRng),
        challenge_digest: Digest::of(b"challenge"),
        decision: Decision::Approve,
        typed_code: "47".into(),
        counter: 7,
        approval_signature: Some(sign(&key, b"x")),
    };
    let request = signed_request(&key, answer);
    assert!(request.verify(&public));

    // Through JSON and back, still valid.
    let json = serde_json::to_string(&request).expect("serialise");
    let back: DeviceRequest<Answer> = serde_json::from_str(&json).expect("parse");
    assert!(back.verify(&public));

    type Tamper = Box<dyn Fn(&mut DeviceRequest<Answer>)>;
    let tamper: Vec<Tamper> = vec![
        Box::new(|r| r.header.v = 2),
        Box::new(|r| r.header.account = AccountId::random(&mut OsRng)),
        Box::new(|r| r.header.device = DeviceId::random(&mut OsRng)),
        Box::new(|r| r.header.request_id = RequestId::random(&mut OsRng)),
        Box::new(|r| r.header.issued_at += 1),
        Box::new(|r| r.body.challenge = ChallengeId::random(&mut OsRng)),
        Box::new(|r| r.body.challenge_digest = Digest::of(b"other")),
        Box::new(|r| r.body.decision = Decision::Deny),
        Box::new(|r| r.body.typed_code = "48".into()),
        Box::new(|r| r.body.counter = 8),
        Box::new(|r| r.body.approval_signature = None),
    ];
    for (i, change) in tamper.iter().enumerate() {
        let mut copy = back.clone();
        change(&mut copy);
        assert!(!copy.verify(&public), "tampered field {i} still verifies");
    }
    let other = PublicKey::from(SigningKey::random(&mut OsRng).verifying_key());
    assert!(!back.verify(&other));
}

#[test]
fn envelope_kinds_are_domain_separated() {
    let op = OperationId::random(&mut OsRng);
    let header = header();
    // Same fields, different request kinds: different bytes.
    let status = DeviceRequest::signed_bytes(&header, &OperationStatus { operation: op });
    let start = DeviceRequest::signed_bytes(
        &header,
        &PinResetStart {
            operation: op,
            password: Password::new("pw"),
        },
    );
    assert_ne!(status, start);
    // The password is not part of the signed bytes.
    let start2 = DeviceRequest::signed_bytes(
        &header,
        &PinResetStart {
            operation: op,
            password: Password::new("other"),
        },
    );
    assert_eq!(start, start2);
}

#[test]
fn challenge_signature_is_pinned() {
    let server = SigningKey::random(&mut OsRng);
    let server_public = PublicKey::from(server.verifying_key());
    let challenge = Challenge {
        v: 1,
        id: ChallengeId::random(&mut OsRng),
        account: AccountId::random(&mut OsRng),
        device: DeviceId::random(&mut OsRng),
        service: "Example".into(),
        browser: "Firefox on Linux".into(),
        ip: "198.51.100.7".into(),
        location: None,
        created_at: 10,
        expires_at: 130,
        code_digits: 2,
    };
    let signed_challenge = SignedChallenge {
        signature: sign(&server, &challenge.signed_bytes()),
        challenge: challenge.clone(),
        server_time: 1_767_225_630,
    };
    assert!(signed_challenge.verify(&server_public));
    let mut moved = signed_challenge.clone();
    moved.challenge.ip = "203.0.113.9".into();
    assert!(!moved.verify(&server_public));
    let mut longer = signed_challenge.clone();
    longer.challenge.expires_at = 10_000;
    assert!(!longer.verify(&server_public));
    let mut located = signed_challenge.clone();
    located.challenge.location = Some(String::new());
    assert!(
        !located.verify(&server_public),
        "None and Some(\"\") must differ"
    );
    let rogue = SigningKey::random(&mut OsRng);
    let forged = SignedChallenge {
        signature: sign(&rogue, &challenge.signed_bytes()),
        challenge,
        server_time: 1_767_225_630,
    };
    assert!(!forged.verify(&server_public));
}

#[test]
fn enrol_begin_proves_possession_and_binds_code() {
    let key = SigningKey::random(&mut OsRng);
    let device_key = PublicKey::from(key.verifying_key());
    let code = EnrolmentCode::generate(&mut OsRng);
    let blinded = element();
    let bytes = EnrolBeginRequest::signed_bytes(
        &code,
        &device_key,
        Assurance::Software,
        "Pixel 8",
        &blinded,
    );
    let request = EnrolBeginRequest {
        v: 1,
        code,
        device_key,
        assurance: Assurance::Software,
        device_model: "Pixel 8".into(),
        blinded_pin: blinded,
        signature: sign(&key, &bytes),
        attestation: Vec::new(),
        app_attest: None,
    };
    assert!(request.verify());
    assert!(
        !serde_json::to_string(&request)
            .unwrap()
            .contains("attestation"),
        "no chain, no field (older servers read the request as before)"
    );
    let mut attested = request.clone();
    attested.attestation = vec![vec![0x30, 0x82, 1, 2], vec![0x30, 3]];
    let back: EnrolBeginRequest =
        serde_json::from_str(&serde_json::to_string(&attested).unwrap()).unwrap();
    assert_eq!(
        back.attestation, attested.attestation,
        "the chain round-trips"
    );
    assert!(
        back.verify(),
        "the chain is not part of the proof of possession"
    );
    let challenge = EnrolBeginRequest::attestation_challenge(&request.code);
    assert_ne!(
        challenge,
        EnrolBeginRequest::attestation_challenge(&EnrolmentCode::generate(&mut OsRng)),
        "each code its own challenge"
    );
    assert_eq!(
        challenge,
        EnrolBeginRequest::attestation_challenge(&request.code)
    );
    let json = serde_json::to_string(&request).expect("serialise");
    let mut back: EnrolBeginRequest = serde_json::from_str(&json).expect("parse");
    assert!(back.verify());
    back.code = EnrolmentCode::generate(&mut OsRng);
    assert!(!back.verify(), "the code is bound");
    let mut hw = request.clone();
    hw.assurance = Assurance::SecureElement;
    assert!(!hw.verify(), "the assurance claim is bound");
}

#[test]
fn proofs_are_not_interchangeable() {
    let key = SigningKey::random(&mut OsRng);
    let public = PublicKey::from(key.verifying_key());
    let (a, d, o) = (
        AccountId::random(&mut OsRng),
        DeviceId::random(&mut OsRng),
        OperationId::random(&mut OsRng),
    );
    let change = signed::pin_change_proof(&a, &d, &o, &public, 2);
    let sig = sign(&key, &change);
    assert!(public.verify(&change, &sig));
    assert!(!public.verify(&signed::pin_reset_proof(&a, &d, &o, &public, 2), &sig));
    assert!(!public.verify(&signed::pin_change_proof(&a, &d, &o, &public, 3), &sig));
    assert!(!public.verify(&signed::enrol_proof(&a, &d, &public, &public), &sig));
}

#[test]
fn json_rejects_bad_values() {
    assert!(serde_json::from_str::<PublicKey>("\"AAAA\"").is_err());
    assert!(serde_json::from_str::<Signature>("\"AAAA\"").is_err());
    assert!(serde_json::from_str::<AccountId>("\"AAAA\"").is_err());
    assert!(serde_json::from_str::<EnrolmentCode>("\"AAECAwQFBgcICQoLDA\"").is_err());
    // Padding and the standard alphabet are refused: one text form per value.
    assert!(serde_json::from_str::<AccountId>("\"AAECAwQFBgcICQoLDA0ODw==\"").is_err());
    assert!(serde_json::from_str::<AccountId>("\"AAECAwQFBgcICQoLDA0ODw\"").is_ok());
    let error: ErrorBody =
        serde_json::from_str(r#"{"error":"wrong_pin","message":"wrong PIN","attempts_left":3}"#)
            .expect("error body");
    assert_eq!(error.error, ErrorCode::WrongPin);
    assert_eq!(error.attempts_left, Some(3));
}
