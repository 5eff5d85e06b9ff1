//! iOS App Attest objects made here, shaped as Apple's (server/tests/data/app_attest holds
//! real ones): a root (P-384, self-signed CA), a CA ("Apple App Attestation CA 1"-like, P-384),
//! and a leaf for the App Attest key carrying the nonce extension, in the CBOR object
//! `{fmt, attStmt: {x5c, receipt}, authData}`. The test's root replaces Apple's; tests change
//! one part of [`Shape`] at a time.

use latchkey_protocol::wire::AppAttestation;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};
use sha2::{Digest as _, Sha256};

/// The nonce extension's OID (1.2.840.113635.100.8.2).
pub const NONCE_OID: &[u64] = &[1, 2, 840, 113_635, 100, 8, 2];

/// The production environment's AAGUID.
pub const PRODUCTION: [u8; 16] = *b"appattest\0\0\0\0\0\0\0";
/// The development environment's AAGUID.
pub const DEVELOPMENT: [u8; 16] = *b"appattestdevelop";

/// What an object says; [`Shape::good`] is what a genuine app sends.
#[derive(Clone, Debug)]
pub struct Shape {
    /// `TEAMID.bundle.id`, hashed into `authData`.
    pub app_id: String,
    /// The client data hash the app passed.
    pub client_data_hash: Vec<u8>,
    /// `authData`'s AAGUID.
    pub aaguid: [u8; 16],
    /// `authData`'s counter.
    pub counter: u32,
    /// `authData`'s flags.
    pub flags: u8,
    /// The object's `fmt`.
    pub fmt: String,
    /// Replaces the nonce the leaf carries (else SHA-256(authData ‖ client data hash)).
    pub nonce: Option<[u8; 32]>,
    /// Replaces `authData`'s credential id (else the key id).
    pub credential_id: Option<[u8; 32]>,
    /// Replaces the key id sent beside the object (else SHA-256 of the leaf's key).
    pub key_id: Option<[u8; 32]>,
    /// Leaves the CA out of `x5c`.
    pub leaf_only: bool,
    /// Adds a field to the object.
    pub extra_field: bool,
}

impl Shape {
    /// A genuine app's object for `app_id` and `client_data_hash`, production.
    pub fn good(app_id: &str, client_data_hash: &[u8]) -> Self {
        Self {
            app_id: app_id.into(),
            client_data_hash: client_data_hash.to_vec(),
            aaguid: PRODUCTION,
            counter: 0,
            flags: 0x40,
            fmt: "apple-appattest".into(),
            nonce: None,
            credential_id: None,
            key_id: None,
            leaf_only: false,
            extra_field: false,
        }
    }
}

/// A made root and CA.
pub struct Authority {
    root: Certificate,
    ca: Certificate,
    ca_key: KeyPair,
    now: i64,
}

fn time(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).expect("time")
}

fn ca_params(name: &str, not_before: i64, not_after: i64) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Apple Inc.");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    params.not_before = time(not_before);
    params.not_after = time(not_after);
    params
}

impl Authority {
    /// A root valid for ten years around `now` and a CA valid for a year; leaves are valid
    /// three days from a day before `now`, as Apple's were in 2021 and 2024.
    pub fn new(now: i64) -> Self {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
        let root = ca_params(
            "Test App Attestation Root CA",
            now - 86_400,
            now + 3650 * 86_400,
        )
        .self_signed(&root_key)
        .expect("root");
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
        let ca = ca_params(
            "Test App Attestation CA 1",
            now - 86_400,
            now + 365 * 86_400,
        )
        .signed_by(&ca_key, &root, &root_key)
        .expect("ca");
        Self {
            root,
            ca,
            ca_key,
            now,
        }
    }

    /// The root, PEM (what the server is told to trust).
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// An object as `DCAppAttestService.attestKey` returns it for a new App Attest key.
    pub fn attest(&self, shape: &Shape) -> AppAttestation {
        let key = SigningKey::random(&mut OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let key_id: [u8; 32] = Sha256::digest(point.as_bytes()).into();
        let credential_id = shape.credential_id.unwrap_or(key_id);
        let mut auth_data = Sha256::digest(shape.app_id.as_bytes()).to_vec();
        auth_data.push(shape.flags);
        auth_data.extend_from_slice(&shape.counter.to_be_bytes());
        auth_data.extend_from_slice(&shape.aaguid);
        auth_data.extend_from_slice(&32u16.to_be_bytes());
        auth_data.extend_from_slice(&credential_id);
        let cose = ciborium::Value::Map(vec![
            (1.into(), 2.into()),
            (3.into(), (-7).into()),
            ((-1).into(), 1.into()),
            (
                (-2).into(),
                ciborium::Value::Bytes(point.x().expect("x").to_vec()),
            ),
            (
                (-3).into(),
                ciborium::Value::Bytes(point.y().expect("y").to_vec()),
            ),
        ]);
        ciborium::into_writer(&cose, &mut auth_data).expect("cose");
        let nonce: [u8; 32] = shape.nonce.unwrap_or_else(|| {
            Sha256::new()
                .chain_update(&auth_data)
                .chain_update(&shape.client_data_hash)
                .finalize()
                .into()
        });
        let extension = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next()
                    .write_tagged(yasna::Tag::context(1), |w| w.write_bytes(&nonce));
            });
        });
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, hex::encode(key_id));
        params.not_before = time(self.now - 86_400);
        params.not_after = time(self.now + 2 * 86_400);
        params.custom_extensions = vec![CustomExtension::from_oid_content(NONCE_OID, extension)];
        let leaf = params
            .signed_by(&crate::attest::key_pair(&key), &self.ca, &self.ca_key)
            .expect("leaf");
        let mut x5c = vec![ciborium::Value::Bytes(leaf.der().to_vec())];
        if !shape.leaf_only {
            x5c.push(ciborium::Value::Bytes(self.ca.der().to_vec()));
        }
        let mut fields = vec![
            ("fmt".into(), shape.fmt.as_str().into()),
            (
                "attStmt".into(),
                ciborium::Value::Map(vec![
                    ("x5c".into(), ciborium::Value::Array(x5c)),
                    ("receipt".into(), ciborium::Value::Bytes(vec![0x30, 0x00])),
                ]),
            ),
            ("authData".into(), ciborium::Value::Bytes(auth_data)),
        ];
        if shape.extra_field {
            fields.push(("extra".into(), 1.into()));
        }
        let mut object = Vec::new();
        ciborium::into_writer(&ciborium::Value::Map(fields), &mut object).expect("cbor");
        AppAttestation {
            key_id: shape.key_id.unwrap_or(key_id),
            object,
        }
    }
}
