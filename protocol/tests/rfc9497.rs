//! RFC 9497 P256-SHA256 OPRF-mode test vectors, through Latchkey's own OPRF wrappers.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on failure

use latchkey_protocol::oprf;
use latchkey_protocol::secret::OprfKey;
use latchkey_protocol::types::Element;
use rand_core::{CryptoRng, RngCore};
use serde::Deserialize;

#[derive(Deserialize)]
struct Suite {
    seed: String,
    key_info: String,
    sk_sm: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    input: String,
    blind: String,
    blinded_element: String,
    evaluation_element: String,
    output: String,
}

#[derive(Deserialize)]
struct Invalid {
    elements: Vec<InvalidElement>,
}

#[derive(Deserialize)]
struct InvalidElement {
    why: String,
    hex: String,
}

/// An RNG that hands out fixed bytes: feeds the RFC's blind into `blind()` unchanged.
struct FixedRng(Vec<u8>);

impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        unimplemented!("only fill_bytes is used")
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!("only fill_bytes is used")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(self.0.len() >= dest.len(), "fixed RNG exhausted");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for FixedRng {}

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex")
}

fn suite() -> Suite {
    let text = include_str!("vectors/rfc9497-p256-sha256-oprf.json");
    serde_json::from_str(text).expect("vector file parses")
}

#[test]
fn rfc9497_p256_vectors() {
    let suite = suite();
    let key = OprfKey::from_bytes(&h(&suite.sk_sm)).expect("skSm is a valid scalar");
    // DeriveKeyPair(seed, info) gives skSm: the seeded server evaluates exactly like skSm.
    let seeded =
        voprf::OprfServer::<p256::NistP256>::new_from_seed(&h(&suite.seed), &h(&suite.key_info))
            .expect("derive key pair");
    assert_eq!(suite.vectors.len(), 2);
    for v in &suite.vectors {
        let input = h(&v.input);
        let mut rng = FixedRng(h(&v.blind));
        let (state, blinded) = oprf::blind_input(&input, &mut rng).expect("blind");
        assert_eq!(
            blinded.as_bytes().to_vec(),
            h(&v.blinded_element),
            "{}: blind",
            v.name
        );
        let evaluated = oprf::blind_evaluate(&key, &blinded).expect("blind evaluate");
        assert_eq!(
            evaluated.as_bytes().to_vec(),
            h(&v.evaluation_element),
            "{}: blind evaluate",
            v.name
        );
        let output = state.finalize_input(&input, &evaluated).expect("finalize");
        assert_eq!(
            output.expose_secret().to_vec(),
            h(&v.output),
            "{}: finalize",
            v.name
        );
        let direct = oprf::evaluate_input(&key, &input).expect("evaluate");
        assert_eq!(
            direct.expose_secret().to_vec(),
            h(&v.output),
            "{}: evaluate",
            v.name
        );
        let from_seed = seeded.evaluate(&input).expect("seeded evaluate");
        assert_eq!(from_seed.to_vec(), h(&v.output), "{}: seed to key", v.name);
    }
}

#[test]
fn rfc9497_tampered_evaluation_changes_output() {
    let suite = suite();
    let key = OprfKey::from_bytes(&h(&suite.sk_sm)).expect("valid scalar");
    let other = OprfKey::generate(&mut rand_core::OsRng);
    let v = &suite.vectors[0];
    let input = h(&v.input);
    let (state, blinded) = oprf::blind_input(&input, &mut FixedRng(h(&v.blind))).expect("blind");
    let wrong = oprf::blind_evaluate(&other, &blinded).expect("evaluate");
    let output = state.finalize_input(&input, &wrong).expect("finalize");
    assert_ne!(output.expose_secret().to_vec(), h(&v.output));
    let _ = key;
}

#[test]
fn rfc9497_invalid_elements_refused() {
    let invalid: Invalid = serde_json::from_str(include_str!(
        "vectors/rfc9497-p256-sha256-oprf-invalid.json"
    ))
    .expect("invalid-vector file parses");
    assert!(!invalid.elements.is_empty());
    for e in &invalid.elements {
        assert!(
            Element::from_bytes(&h(&e.hex)).is_none(),
            "accepted: {}",
            e.why
        );
        let json = format!("\"{}\"", base64_url(&h(&e.hex)));
        assert!(
            serde_json::from_str::<Element>(&json).is_err(),
            "deserialised: {}",
            e.why
        );
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
