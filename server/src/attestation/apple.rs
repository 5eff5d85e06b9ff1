//! iOS App Attest (issue 21): Apple vouches that an enrolment comes from a genuine instance of
//! the operator's app on a genuine Apple device, and that app names the device key.
//!
//! App Attest attests the app's own App Attest key, never the device key: the app passes
//! [`EnrolBeginRequest::app_attest_client_data_hash`] (this enrolment's challenge and the
//! device key) as the client data, so Apple's certificate names both. The genuine app makes
//! its device keys only in the Secure Enclave; that is what "verified" means here (ADR 0012),
//! a weaker statement than Android's, where the hardware describes the key itself.
//!
//! Checked as Apple's "Validating apps that connect to your server" lists, steps 1–9:
//! - the object is CBOR `{fmt: "apple-appattest", attStmt: {x5c: [leaf, CA], receipt},
//!   authData}`, each certificate in canonical DER;
//! - the leaf is signed by the CA, the CA by Apple's App Attestation Root CA, both within
//!   their validity now, never SHA-1;
//! - the leaf's nonce extension (`1.2.840.113635.100.8.2`) is SHA-256(authData ‖ client data
//!   hash);
//! - the SHA-256 of the leaf's public key (uncompressed point) is the key id, and so is the
//!   credential id in `authData`;
//! - `authData`'s RP id hash is the SHA-256 of a configured `TEAMID.bundle.id`
//!   (`--apple-app-id`), its counter 0, its AAGUID the production environment's
//!   (`appattest` and seven zero bytes) — the development environment's (`appattestdevelop`)
//!   only where development builds are allowed (`--dev`).
//!
//! [`EnrolBeginRequest::app_attest_client_data_hash`]: latchkey_protocol::wire::EnrolBeginRequest::app_attest_client_data_hash

use ciborium::Value;
use latchkey_protocol::types::Assurance;
use latchkey_protocol::wire::{AppAttestation, MAX_APP_ATTESTATION_BYTES};
use sha2::{Digest as _, Sha256};
use x509_parser::asn1_rs::{Any, Class, FromDer as _, Tag};
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::{ASN1Time, X509Certificate};

use super::{canonical, extension, items, normal_serial, signed_by, Refused, Verified};

/// Apple's App Attestation Root CA, as Apple publishes it
/// (<https://www.apple.com/certificateauthority/private/>; SHA-256 fingerprint
/// `1CB9823B…6242C932`).
const APPLE_ROOT: &str = include_str!("apple_app_attestation_root_ca.pem");

/// The leaf's nonce extension.
const NONCE: &str = "1.2.840.113635.100.8.2";

/// `authData`'s AAGUID in the production environment.
const PRODUCTION: &[u8; 16] = b"appattest\0\0\0\0\0\0\0";
/// `authData`'s AAGUID in the development environment (apps run from Xcode).
const DEVELOPMENT: &[u8; 16] = b"appattestdevelop";

/// Where App Attest objects are accepted from.
#[derive(Clone, Debug)]
pub struct AppAttestPolicy {
    /// Trusted roots, DER: Apple's, and the configuration's extra attestation roots (set by
    /// tests only; no command-line flag sets them).
    pub roots: Vec<Vec<u8>>,
    /// The apps, `TEAMID.bundle.id` (`--apple-app-id`); none: every object is refused.
    pub app_ids: Vec<String>,
    /// Whether the development environment counts (only on a `--dev` server).
    pub development: bool,
}

impl AppAttestPolicy {
    /// Apple's root, `extra_roots` (PEM), the `app_ids`; development builds if `development`.
    ///
    /// # Errors
    /// An extra root that is not a PEM certificate.
    pub fn new(
        extra_roots: &[String],
        app_ids: Vec<String>,
        development: bool,
    ) -> Result<Self, String> {
        let mut roots = vec![apple_root()];
        for pem in extra_roots {
            let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
                .map_err(|e| format!("not PEM: {e}"))?;
            pem.parse_x509().map_err(|e| format!("not X.509: {e}"))?;
            roots.push(pem.contents);
        }
        Ok(Self {
            roots,
            app_ids,
            development,
        })
    }
}

/// The label the devices table records for an App Attest verification.
pub const LABEL: &str = "ios:app-attest";

/// Verifies `attestation` for `client_data_hash` (for Latchkey's enrolments,
/// [`EnrolBeginRequest::app_attest_client_data_hash`] of the enrolment's challenge and device
/// key) at `now` (Unix seconds).
///
/// # Errors
/// Why the object was refused.
///
/// [`EnrolBeginRequest::app_attest_client_data_hash`]: latchkey_protocol::wire::EnrolBeginRequest::app_attest_client_data_hash
pub fn verify(
    attestation: &AppAttestation,
    client_data_hash: &[u8],
    policy: &AppAttestPolicy,
    now: i64,
) -> Result<Verified, Refused> {
    if attestation.object.len() > MAX_APP_ATTESTATION_BYTES {
        return Err(Refused::Malformed("the App Attest object is too large"));
    }
    let (x5c, auth_data) = read_object(&attestation.object)?;
    let [leaf_der, ca_der] = x5c.as_slice() else {
        return Err(Refused::Malformed(
            "App Attest needs exactly two certificates",
        ));
    };
    if leaf_der == ca_der {
        return Err(Refused::Malformed("a certificate appears twice"));
    }
    let mut certs = Vec::with_capacity(2);
    for der in [leaf_der, ca_der] {
        match X509Certificate::from_der(der) {
            Ok(([], cert)) => certs.push(cert),
            _ => return Err(Refused::Malformed("a certificate does not parse")),
        }
        canonical(der)?;
    }
    let (leaf, ca) = (&certs[0], &certs[1]);
    // Step 1: leaf ← CA ← a trusted root (Apple's), both in date. The root is not sent.
    signed_by(leaf, ca)?;
    let trusted = policy.roots.iter().any(|root| {
        X509Certificate::from_der(root).is_ok_and(|(_, root)| {
            root.public_key().raw != ca.public_key().raw && signed_by(ca, &root).is_ok()
        })
    });
    if !trusted {
        return Err(Refused::UntrustedRoot);
    }
    let at = ASN1Time::from_timestamp(now).map_err(|_| Refused::Malformed("time out of range"))?;
    if !leaf.validity().is_valid_at(at) || !ca.validity().is_valid_at(at) {
        return Err(Refused::Expired);
    }
    // Steps 2–4: the nonce binds authData and the client data (this enrolment, this key).
    let nonce: [u8; 32] = Sha256::new()
        .chain_update(&auth_data)
        .chain_update(client_data_hash)
        .finalize()
        .into();
    let nonce_oid: Oid<'static> = NONCE.parse().map_err(|_| Refused::Malformed("oid"))?;
    let ext = extension(leaf, &nonce_oid)?
        .ok_or(Refused::Malformed("the leaf has no App Attest nonce"))?;
    if read_nonce(ext.value)? != nonce {
        return Err(Refused::WrongChallenge);
    }
    // Step 5: the key id is the SHA-256 of the leaf's key (the uncompressed point).
    let point = &leaf.public_key().subject_public_key.data;
    if point.len() != 65 || point[0] != 4 {
        return Err(Refused::Malformed("the attested key is not a P-256 point"));
    }
    let key_id: [u8; 32] = Sha256::digest(point.as_ref()).into();
    if key_id != attestation.key_id {
        return Err(Refused::WrongKey);
    }
    // Steps 6–9: authData names the app, a fresh key (counter 0), the environment and the key.
    let data = read_auth_data(&auth_data)?;
    if !policy
        .app_ids
        .iter()
        .any(|id| <[u8; 32]>::from(Sha256::digest(id.as_bytes())) == data.rp_id_hash)
    {
        return Err(Refused::WrongApp);
    }
    if data.counter != 0 {
        return Err(Refused::Malformed("the App Attest counter is not zero"));
    }
    if data.aaguid == DEVELOPMENT {
        if !policy.development {
            return Err(Refused::Development);
        }
    } else if data.aaguid != PRODUCTION {
        return Err(Refused::Malformed("unknown App Attest environment"));
    }
    if data.credential_id != key_id {
        return Err(Refused::WrongKey);
    }
    Ok(Verified {
        // What the genuine app does with its device keys: the Secure Enclave.
        assurance: Assurance::SecureElement,
        label: LABEL,
        serials: certs
            .iter()
            .map(|cert| normal_serial(&hex::encode(cert.raw_serial())))
            .collect(),
    })
}

/// Apple's root, DER (empty, so nothing verifies, if it ever failed to parse: a test reads it).
fn apple_root() -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(APPLE_ROOT.as_bytes())
        .map(|(_, pem)| pem.contents)
        .unwrap_or_default()
}

/// The object's certificates (`x5c`) and `authData`, refusing any other shape or format.
fn read_object(object: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<u8>), Refused> {
    let mut rest = object;
    let value: Value = ciborium::from_reader(&mut rest)
        .map_err(|_| Refused::Malformed("the App Attest object is not CBOR"))?;
    if !rest.is_empty() {
        return Err(Refused::Malformed(
            "the App Attest object has trailing bytes",
        ));
    }
    let map = value
        .into_map()
        .map_err(|_| Refused::Malformed("the App Attest object is not a map"))?;
    let (mut fmt, mut statement, mut auth_data) = (None, None, None);
    for (key, value) in map {
        let slot = match key.as_text() {
            Some("fmt") => &mut fmt,
            Some("attStmt") => &mut statement,
            Some("authData") => &mut auth_data,
            _ => {
                return Err(Refused::Malformed(
                    "the App Attest object has another field",
                ))
            }
        };
        if slot.replace(value).is_some() {
            return Err(Refused::Malformed(
                "a field of the App Attest object repeats",
            ));
        }
    }
    if fmt.as_ref().and_then(Value::as_text) != Some("apple-appattest") {
        return Err(Refused::Malformed("not an apple-appattest object"));
    }
    let auth_data = auth_data
        .and_then(|v| v.into_bytes().ok())
        .ok_or(Refused::Malformed("authData is missing"))?;
    let statement = statement
        .and_then(|v| v.into_map().ok())
        .ok_or(Refused::Malformed("attStmt is missing"))?;
    let mut x5c = None;
    for (key, value) in statement {
        match key.as_text() {
            Some("x5c") if x5c.is_none() => {
                let list = value
                    .into_array()
                    .map_err(|_| Refused::Malformed("x5c is not a list"))?;
                let certs: Option<Vec<Vec<u8>>> =
                    list.into_iter().map(|c| c.into_bytes().ok()).collect();
                x5c = Some(certs.ok_or(Refused::Malformed("x5c holds a non-certificate"))?);
            }
            // The receipt is for Apple's fraud metric, which this server does not ask for.
            Some("receipt") => {}
            _ => return Err(Refused::Malformed("attStmt has another field")),
        }
    }
    Ok((x5c.ok_or(Refused::Malformed("x5c is missing"))?, auth_data))
}

/// `SEQUENCE { [1] EXPLICIT OCTET STRING nonce }`.
fn read_nonce(der: &[u8]) -> Result<[u8; 32], Refused> {
    let bad = || Refused::Malformed("the App Attest nonce does not parse");
    let (rest, sequence) = Any::from_der(der).map_err(|_| bad())?;
    if !rest.is_empty() || sequence.header.tag() != Tag::Sequence {
        return Err(bad());
    }
    let [tagged] = items(sequence.data)?.try_into().map_err(|_| bad())?;
    if tagged.header.class() != Class::ContextSpecific || tagged.header.tag() != Tag(1) {
        return Err(bad());
    }
    let (rest, octets) = Any::from_der(tagged.data).map_err(|_| bad())?;
    if !rest.is_empty() {
        return Err(bad());
    }
    let octets = octets.as_octetstring().map_err(|_| bad())?;
    octets.as_ref().try_into().map_err(|_| bad())
}

/// The parts of `authData` App Attest fills in.
struct AuthData<'a> {
    rp_id_hash: &'a [u8],
    counter: u32,
    aaguid: &'a [u8],
    credential_id: &'a [u8],
}

/// `rpIdHash (32) ‖ flags (1) ‖ counter (4, big-endian) ‖ aaguid (16) ‖ credentialId length
/// (2) ‖ credentialId ‖ credential public key (COSE)`, with the attested-data flag set.
fn read_auth_data(data: &[u8]) -> Result<AuthData<'_>, Refused> {
    const ATTESTED: u8 = 0x40;
    let bad = Refused::Malformed("authData is too short");
    let (rp_id_hash, rest) = data.split_at_checked(32).ok_or(bad.clone())?;
    let (&flags, rest) = rest.split_first().ok_or(bad.clone())?;
    let (counter, rest) = rest.split_at_checked(4).ok_or(bad.clone())?;
    let (aaguid, rest) = rest.split_at_checked(16).ok_or(bad.clone())?;
    let (length, rest) = rest.split_at_checked(2).ok_or(bad.clone())?;
    let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
    let (credential_id, _) = rest.split_at_checked(length).ok_or(bad)?;
    if flags & ATTESTED == 0 {
        return Err(Refused::Malformed("authData carries no attested key"));
    }
    Ok(AuthData {
        rp_id_hash,
        counter: u32::from_be_bytes([counter[0], counter[1], counter[2], counter[3]]),
        aaguid,
        credential_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apple_root_parses() {
        let der = apple_root();
        let (_, root) = X509Certificate::from_der(&der).expect("Apple's root parses");
        assert_eq!(
            hex::encode(Sha256::digest(&der)),
            "1cb9823ba28ba6ad2d33a006941de2ae4f513ef1d4e831b9f7e0fa7b6242c932"
        );
        assert!(signed_by(&root, &root).is_ok());
    }
}
