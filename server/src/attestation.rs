//! Android key attestation (issue 21): an Android device proves that its device key was made
//! inside its TEE or StrongBox, cannot leave it, and signs only — so the devices page can say
//! *verified* hardware rather than what the app claimed.
//!
//! The app makes the key with [`EnrolBeginRequest::attestation_challenge`] of the enrolment
//! code as its attestation challenge and sends the certificate chain Keystore returns. The
//! chain is accepted only when:
//! - every certificate is signed by the next (no SHA-1), and the last one is a Google hardware
//!   attestation root or signed by one ([`Roots`]; compared by key, as Google advises: its
//!   re-issued roots keep the key);
//! - no certificate above the leaf carries the attestation extension (a key made in Keystore
//!   can sign anything, including a forged "leaf" under its own certificate: Google's advice
//!   is to trust the first description only), and a remotely provisioned chain's
//!   intermediates are within their validity (factory ones are not checked: Google ignores
//!   their expiry, since those keys cannot be rotated);
//! - no certificate in it is on the revocation list the operator gives
//!   (`--attestation-revocations`, Google's status file);
//! - the leaf's key is the device key, its challenge is this enrolment's, and the key's
//!   description, as the secure hardware enforces it, says: EC P-256, generated inside
//!   (not imported), purpose SIGN, made in a TEE or StrongBox (the attestation's own
//!   security level too), on a device whose bootloader is locked with verified boot.
//!
//! Anything else is refused with the reason, and the device keeps the assurance its app
//! claimed, shown as claimed.
//!
//! [`EnrolBeginRequest::attestation_challenge`]: latchkey_protocol::wire::EnrolBeginRequest::attestation_challenge

use std::collections::HashSet;

pub mod apple;

use latchkey_protocol::types::{Assurance, PublicKey};
use latchkey_protocol::wire::{MAX_ATTESTATION_CERTS, MAX_ATTESTATION_CERT_BYTES};
use x509_parser::asn1_rs::{Any, Class, FromDer as _, Tag};
use x509_parser::oid_registry::{Oid, OID_PKCS1_SHA1WITHRSA, OID_SHA1_WITH_RSA};
use x509_parser::prelude::{ASN1Time, X509Certificate, X509Extension};

/// The attestation extension (`KeyDescription`).
const KEY_DESCRIPTION: &str = "1.3.6.1.4.1.11129.2.1.17";

/// Google's hardware attestation roots, as Google publishes them (docs/adr/0012).
const GOOGLE_ROOTS: [&str; 5] = [
    include_str!("attestation/google_root_2016_rsa4096.pem"),
    include_str!("attestation/google_root_2019_rsa4096.pem"),
    include_str!("attestation/google_root_2021_rsa4096.pem"),
    include_str!("attestation/google_root_2022_rsa4096.pem"),
    include_str!("attestation/google_root_2025_ecdsa_p384.pem"),
];

/// Why a chain was not accepted. The text is for the audit trail and the operator's log
/// (nothing in it is secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a certificate chain this verifier can read.
    #[error("the attestation is malformed: {0}")]
    Malformed(&'static str),
    /// A certificate is not signed by the next one.
    #[error("a certificate of the attestation chain is not signed by the next one")]
    BadSignature,
    /// The chain does not end at a trusted root.
    #[error("the attestation chain does not end at a trusted root")]
    UntrustedRoot,
    /// A certificate above the leaf carries the attestation extension.
    #[error("the attestation chain is extended under a device key")]
    ExtendedUnderKey,
    /// An intermediate certificate is outside its validity.
    #[error("an intermediate certificate of the attestation chain is expired")]
    Expired,
    /// A certificate of the chain is on the revocation list.
    #[error("a certificate of the attestation chain is revoked ({0})")]
    Revoked(String),
    /// The attested key is not the device key.
    #[error("the attestation is for another key")]
    WrongKey,
    /// The challenge is not this enrolment's.
    #[error("the attestation is for another enrolment")]
    WrongChallenge,
    /// The key was not made and kept in secure hardware, or may do more than sign.
    #[error("the key is not a hardware-held P-256 signing key: {0}")]
    NotHardware(&'static str),
    /// An App Attest object made for another app than the configured ones.
    #[error("the App Attest attestation is for another app (see --apple-app-id)")]
    WrongApp,
    /// An App Attest object of the development environment, on a production server.
    #[error(
        "the App Attest attestation comes from a development build (accepted only with --dev)"
    )]
    Development,
    /// The device's bootloader is unlocked or its boot not verified.
    #[error("the device's boot is not verified (unlocked bootloader or modified system)")]
    BootNotVerified,
}

/// An attestation that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Where the key lives: [`Assurance::Hardware`] (Android's TEE) or
    /// [`Assurance::SecureElement`] (StrongBox; the Secure Enclave of a genuine iOS app).
    pub assurance: Assurance,
    /// What verified it, as the devices table records it (`devices.attestation`):
    /// `android:tee`, `android:strongbox` or `ios:app-attest`.
    pub label: &'static str,
    /// The serial numbers of the chain's certificates (lower-case hex), kept with the device:
    /// a later revocation of any of them withdraws the "verified".
    pub serials: Vec<String>,
}

impl Verified {
    /// What the devices table records (`devices.attestation`).
    pub fn label(&self) -> &'static str {
        self.label
    }
}

/// The trusted root keys and the revoked certificates.
#[derive(Clone, Debug)]
pub struct Roots {
    /// Each trusted root certificate, DER.
    certs: Vec<Vec<u8>>,
    /// SubjectPublicKeyInfo DER of each trusted root.
    keys: Vec<Vec<u8>>,
    /// Revoked certificate serial numbers, lower-case hex without leading zeros.
    revoked: HashSet<String>,
}

impl Roots {
    /// Google's roots, nothing revoked.
    ///
    /// # Panics
    /// Never: the roots are compiled in and parsed by a test.
    pub fn google() -> Self {
        Self::from_pems(&GOOGLE_ROOTS).unwrap_or_else(|e| {
            // The embedded roots are checked by `google_roots_parse`.
            unreachable!("embedded attestation roots: {e}")
        })
    }

    /// Trusts the keys of these root certificates (PEM) only: tests' own roots.
    ///
    /// # Errors
    /// A certificate that does not parse.
    pub fn from_pems(pems: &[&str]) -> Result<Self, String> {
        let (mut certs, mut keys) = (Vec::new(), Vec::new());
        for pem in pems {
            let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
                .map_err(|e| format!("not PEM: {e}"))?;
            let cert = pem.parse_x509().map_err(|e| format!("not X.509: {e}"))?;
            keys.push(cert.public_key().raw.to_vec());
            certs.push(pem.contents.clone());
        }
        Ok(Self {
            certs,
            keys,
            revoked: HashSet::new(),
        })
    }

    /// Adds the revoked serials of Google's status file
    /// (`https://android.googleapis.com/attestation/status`: `{"entries": {"<serial hex>":
    /// {"status": "REVOKED" | "SUSPENDED", …}}}`); both statuses refuse.
    ///
    /// # Errors
    /// A file not in that shape.
    pub fn with_status_list(mut self, json: &[u8]) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        let entries = value
            .get("entries")
            .and_then(serde_json::Value::as_object)
            .ok_or("no \"entries\" object")?;
        for (serial, entry) in entries {
            let status = entry
                .get("status")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            if matches!(status, "REVOKED" | "SUSPENDED") {
                self.revoked.insert(normal_serial(serial));
            }
        }
        Ok(self)
    }

    /// These roots and `other`'s.
    #[must_use]
    pub fn with(mut self, other: Self) -> Self {
        self.certs.extend(other.certs);
        self.keys.extend(other.keys);
        self.revoked.extend(other.revoked);
        self
    }

    /// How many serials are revoked.
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }
}

/// What a server checks chains against: its roots and Google's revocation list, the list read
/// again whenever its file changes (the operator's cron fetches
/// `https://android.googleapis.com/attestation/status` into it, daily as Google advises).
pub struct Trust {
    base: Roots,
    status: Option<std::path::PathBuf>,
    current: std::sync::RwLock<(std::sync::Arc<Roots>, Vec<u8>)>,
}

impl Trust {
    /// `base` (roots, nothing revoked) and the status file at `status`, read now; `quiet`:
    /// no warning without a status file (dev mode, tests).
    ///
    /// # Errors
    /// A status file that cannot be read or is not Google's format.
    pub fn new(
        base: Roots,
        status: Option<std::path::PathBuf>,
        quiet: bool,
    ) -> Result<Self, String> {
        let trust = Self {
            current: std::sync::RwLock::new((std::sync::Arc::new(base.clone()), Vec::new())),
            base,
            status,
        };
        match &trust.status {
            None if quiet => {}
            None => tracing::warn!(
                "no attestation status file (--attestation-status): Android keys attested by \
                 a leaked and since revoked factory key would be shown as verified hardware"
            ),
            Some(_) => {
                trust.refresh()?;
            }
        }
        Ok(trust)
    }

    /// The current roots and revocations.
    pub fn roots(&self) -> std::sync::Arc<Roots> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::sync::Arc::clone(&current.0)
    }

    /// Reads the status file again if its content changed; returns the serials it revokes that
    /// the previous one did not (devices attested through them lose their "verified").
    ///
    /// # Errors
    /// The file cannot be read or is not Google's format (the previous list stays).
    pub fn refresh(&self) -> Result<Vec<String>, String> {
        let Some(path) = &self.status else {
            return Ok(Vec::new());
        };
        let json =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if let Ok(age) = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map(|modified| modified.elapsed().unwrap_or_default())
        {
            if age > std::time::Duration::from_secs(48 * 3600) {
                tracing::warn!(
                    file = %path.display(),
                    hours = age.as_secs() / 3600,
                    "the attestation status file is stale: fetch it daily"
                );
            }
        }
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.1 == json {
            return Ok(Vec::new());
        }
        let roots = self.base.clone().with_status_list(&json)?;
        let mut newly: Vec<String> = roots
            .revoked
            .difference(&current.0.revoked)
            .cloned()
            .collect();
        newly.sort();
        tracing::info!(
            revoked = roots.revoked.len(),
            new = newly.len(),
            "attestation status read"
        );
        *current = (std::sync::Arc::new(roots), json);
        Ok(newly)
    }
}

/// Serial numbers as the status file writes them: lower-case hex, no leading zeros.
fn normal_serial(hex: &str) -> String {
    let lower = hex.trim().to_ascii_lowercase();
    let trimmed = lower.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.to_owned()
    }
}

/// Verifies an Android key attestation chain (DER, leaf first) for `device_key` and
/// `challenge` (module docs list what is checked).
///
/// # Errors
/// Why the chain was refused.
pub fn verify(
    chain: &[Vec<u8>],
    device_key: &PublicKey,
    challenge: &[u8],
    roots: &Roots,
    now: i64,
) -> Result<Verified, Refused> {
    if chain.is_empty() || chain.len() > MAX_ATTESTATION_CERTS {
        return Err(Refused::Malformed("too many or no certificates"));
    }
    let mut certs = Vec::with_capacity(chain.len());
    for der in chain {
        if der.len() > MAX_ATTESTATION_CERT_BYTES {
            return Err(Refused::Malformed("a certificate is too large"));
        }
        match X509Certificate::from_der(der) {
            Ok(([], cert)) => certs.push(cert),
            _ => return Err(Refused::Malformed("a certificate does not parse")),
        }
        canonical(der)?;
    }
    if chain
        .iter()
        .enumerate()
        .any(|(i, der)| chain[..i].contains(der))
    {
        return Err(Refused::Malformed("a certificate appears twice"));
    }
    let key_description: Oid<'static> = KEY_DESCRIPTION
        .parse()
        .map_err(|_| Refused::Malformed("oid"))?;
    let serials: Vec<String> = certs
        .iter()
        .map(|cert| normal_serial(&hex::encode(cert.raw_serial())))
        .collect();
    if let Some(serial) = serials.iter().find(|s| roots.revoked.contains(*s)) {
        return Err(Refused::Revoked(serial.clone()));
    }
    // Remotely provisioned chains (under Google's "Droid CA2") have intermediates that live
    // days to weeks: their validity is checked. Factory-provisioned ones cannot be rotated,
    // so Google ignores their expiry (many ended with the 2016 root in May 2026), as here.
    let provisioned = certs.iter().any(|c| {
        c.subject()
            .iter_common_name()
            .any(|cn| cn.as_str().is_ok_and(|name| name == "Droid CA2"))
    });
    let at = ASN1Time::from_timestamp(now).map_err(|_| Refused::Malformed("time out of range"))?;
    let last = certs.len() - 1;
    let is_root = |cert: &X509Certificate<'_>| {
        roots
            .keys
            .iter()
            .any(|k| k.as_slice() == cert.public_key().raw)
    };
    // Each certificate signed by the next, the last by a trusted root (itself, when the
    // chain includes the root, as Keystore's does).
    for (i, cert) in certs.iter().enumerate() {
        if i > 0 && extension(cert, &key_description)?.is_some() {
            // Only the first description can be trusted: above it, a key signed a "leaf".
            return Err(Refused::ExtendedUnderKey);
        }
        let intermediate = i > 0 && !(i == last && is_root(cert));
        if provisioned && intermediate && !cert.validity().is_valid_at(at) {
            return Err(Refused::Expired);
        }
        match certs.get(i + 1) {
            Some(signer) => signed_by(cert, signer)?,
            None => {
                if is_root(cert) {
                    signed_by(cert, cert)?;
                } else if !roots.certs.iter().any(|root| {
                    X509Certificate::from_der(root)
                        .is_ok_and(|(_, root)| signed_by(cert, &root).is_ok())
                }) {
                    return Err(Refused::UntrustedRoot);
                }
            }
        }
    }
    let leaf = &certs[0];
    let attested = PublicKey::from_sec1(&leaf.public_key().subject_public_key.data)
        .ok_or(Refused::WrongKey)?;
    if attested.to_sec1() != device_key.to_sec1() {
        return Err(Refused::WrongKey);
    }
    let description = extension(leaf, &key_description)?
        .ok_or(Refused::Malformed("the leaf has no key description"))?;
    let assurance = check_description(description.value, challenge)?;
    // The attestation certificate names the hardware that signed (`O=TEE`/`O=StrongBox` when
    // remotely provisioned, `title=TEE`/`title=StrongBox` from the factory): a TEE's key may
    // not vouch for StrongBox (a leaked TEE key would otherwise claim the stronger level).
    if let Some(attester) = certs.get(1) {
        let named: Vec<&str> = attester
            .subject()
            .iter_organization()
            .chain(
                attester
                    .subject()
                    .iter_by_oid(&x509_parser::oid_registry::OID_X509_TITLE),
            )
            .filter_map(|a| a.as_str().ok())
            .collect();
        let says_tee = named.contains(&"TEE");
        let says_strongbox = named.contains(&"StrongBox");
        let mismatch = match assurance {
            Assurance::SecureElement => says_tee,
            _ => says_strongbox,
        };
        if mismatch {
            return Err(Refused::NotHardware(
                "the attesting certificate is of another security level",
            ));
        }
    }
    let label = match assurance {
        Assurance::SecureElement => "android:strongbox",
        _ => "android:tee",
    };
    Ok(Verified {
        assurance,
        label,
        serials,
    })
}

/// One encoding per certificate: the bytes must be the DER the parts give, written back with
/// the shortest lengths: the certificate and the outer signature algorithm as SEQUENCEs, the
/// outer algorithm equal to the signed one inside the TBSCertificate (RFC 5280 §4.1.1.2), the
/// signature a BIT STRING with no unused bits. Nothing outside the TBSCertificate is signed,
/// and the parser reads tags by number and lengths in any form: without this, an edited copy
/// (found by fuzzing: the outer algorithm's OID retagged as an OCTET STRING) still verified.
/// ECDSA's (r, n − s) remains a second valid signature; devices produce either.
fn canonical(der: &[u8]) -> Result<(), Refused> {
    let (_, outer) =
        Any::from_der(der).map_err(|_| Refused::Malformed("a certificate does not parse"))?;
    let parts = items(outer.data)?;
    let [tbs, _, signature] = parts.as_slice() else {
        return Err(Refused::Malformed("a certificate is not three parts"));
    };
    let fields = items(tbs.data)?;
    // TBSCertificate ::= SEQUENCE { version [0] EXPLICIT (v2, v3), serialNumber, signature, … }
    let version =
        usize::from(fields.first().is_some_and(|f| {
            f.header.class() == Class::ContextSpecific && f.header.tag() == Tag(0)
        }));
    let inside = fields.get(version + 1).ok_or(Refused::Malformed(
        "a certificate has no signature algorithm",
    ))?;
    let mut body = Vec::with_capacity(der.len());
    tlv(0x30, tbs.data, &mut body);
    tlv(0x30, inside.data, &mut body);
    tlv(0x03, signature.data, &mut body);
    let mut rebuilt = Vec::with_capacity(der.len());
    tlv(0x30, &body, &mut rebuilt);
    if rebuilt != der || signature.data.first() != Some(&0) {
        return Err(Refused::BadSignature);
    }
    Ok(())
}

/// Appends a DER element: `tag`, the shortest length, `content`.
fn tlv(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = content.len();
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        // At most 8 length bytes: 0x81..=0x88.
        _ => {
            out.push(0x80 | u8::try_from(bytes.len() - skip).unwrap_or(8));
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    out.extend_from_slice(content);
}

/// `cert` names `signer` as its issuer and carries its signature (never a SHA-1 one).
fn signed_by(cert: &X509Certificate<'_>, signer: &X509Certificate<'_>) -> Result<(), Refused> {
    let algorithm = &cert.signature_algorithm.algorithm;
    if *algorithm == OID_PKCS1_SHA1WITHRSA || *algorithm == OID_SHA1_WITH_RSA {
        return Err(Refused::BadSignature);
    }
    if cert.issuer().as_raw() != signer.subject().as_raw()
        || cert.verify_signature(Some(signer.public_key())).is_err()
    {
        return Err(Refused::BadSignature);
    }
    Ok(())
}

/// The extension `oid` of `cert`, refusing a certificate that has it twice.
fn extension<'a>(
    cert: &'a X509Certificate<'a>,
    oid: &Oid<'_>,
) -> Result<Option<&'a X509Extension<'a>>, Refused> {
    let mut found = cert.extensions().iter().filter(|e| e.oid == *oid);
    let first = found.next();
    if found.next().is_some() {
        return Err(Refused::Malformed("an extension appears twice"));
    }
    Ok(first)
}

/// Security levels of `KeyDescription`.
const SOFTWARE: u32 = 0;
const TRUSTED_ENVIRONMENT: u32 = 1;
const STRONG_BOX: u32 = 2;

/// `KeyDescription ::= SEQUENCE { attestationVersion INTEGER, attestationSecurityLevel
/// SecurityLevel, keyMintVersion INTEGER, keyMintSecurityLevel SecurityLevel,
/// attestationChallenge OCTET STRING, uniqueId OCTET STRING, softwareEnforced
/// AuthorizationList, hardwareEnforced AuthorizationList }`.
fn check_description(der: &[u8], challenge: &[u8]) -> Result<Assurance, Refused> {
    let (rest, sequence) = Any::from_der(der).map_err(malformed)?;
    if !rest.is_empty() || sequence.header.tag() != Tag::Sequence {
        return Err(Refused::Malformed(
            "the key description is not one sequence",
        ));
    }
    let fields = items(sequence.data)?;
    let [_, attestation_level, _, keymint_level, attested_challenge, _, _, hardware] =
        fields.as_slice()
    else {
        return Err(Refused::Malformed(
            "the key description has the wrong fields",
        ));
    };
    let attestation_level = attestation_level.as_enumerated().map_err(malformed)?.0;
    let keymint_level = keymint_level.as_enumerated().map_err(malformed)?.0;
    let attested_challenge = attested_challenge.as_octetstring().map_err(malformed)?;
    if attested_challenge.as_ref() != challenge {
        return Err(Refused::WrongChallenge);
    }
    let assurance = match (attestation_level, keymint_level) {
        (STRONG_BOX, STRONG_BOX) => Assurance::SecureElement,
        (TRUSTED_ENVIRONMENT, TRUSTED_ENVIRONMENT) => Assurance::Hardware,
        (SOFTWARE, _) | (_, SOFTWARE) => {
            return Err(Refused::NotHardware("attested in software"));
        }
        _ => return Err(Refused::NotHardware("unknown security level")),
    };
    // What the secure hardware enforces; the software-enforced list is not trusted.
    if hardware.header.tag() != Tag::Sequence {
        return Err(Refused::Malformed("hardwareEnforced is not a sequence"));
    }
    let mut purposes = Vec::new();
    let (mut algorithm, mut curve, mut origin, mut boot) = (None, None, None, None);
    // A tag given twice must say the same (a SET given twice adds up, as Google reads it).
    let once = |slot: &mut Option<u32>, value: u32| match slot {
        Some(before) if *before != value => Err(Refused::Malformed("an authorization repeats")),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    };
    for item in items(hardware.data)? {
        if item.header.class() != Class::ContextSpecific {
            return Err(Refused::Malformed("an authorization is not tagged"));
        }
        let inner = || -> Result<Any<'_>, Refused> {
            let (rest, inner) = Any::from_der(item.data).map_err(malformed)?;
            if rest.is_empty() {
                Ok(inner)
            } else {
                Err(Refused::Malformed("an authorization has trailing bytes"))
            }
        };
        match item.header.tag().0 {
            1 => {
                let set = inner()?;
                if set.header.tag() != Tag::Set {
                    return Err(Refused::Malformed("purpose is not a set"));
                }
                for purpose in items(set.data)? {
                    purposes.push(purpose.as_u32().map_err(malformed)?);
                }
            }
            2 => once(&mut algorithm, inner()?.as_u32().map_err(malformed)?)?,
            10 => once(&mut curve, inner()?.as_u32().map_err(malformed)?)?,
            702 => once(&mut origin, inner()?.as_u32().map_err(malformed)?)?,
            704 => {
                if boot.is_some() {
                    return Err(Refused::Malformed("an authorization repeats"));
                }
                boot = Some(root_of_trust(&inner()?)?);
            }
            // Everything else (sizes, digests, dates, the OS version, device ids, tags newer
            // than this code) says nothing against the key.
            _ => {}
        }
    }
    const SIGN: u32 = 2;
    const EC: u32 = 3;
    const P_256: u32 = 1;
    const GENERATED: u32 = 0;
    if algorithm != Some(EC) || curve != Some(P_256) {
        return Err(Refused::NotHardware("not an EC P-256 key"));
    }
    if origin != Some(GENERATED) {
        return Err(Refused::NotHardware(
            "the key was imported, not made inside",
        ));
    }
    // Sign, and on some phones also verify (a public-key operation): nothing else.
    const VERIFY: u32 = 3;
    if !purposes.contains(&SIGN) || purposes.iter().any(|p| *p != SIGN && *p != VERIFY) {
        return Err(Refused::NotHardware("the key may do more than sign"));
    }
    if boot != Some(true) {
        return Err(Refused::BootNotVerified);
    }
    Ok(assurance)
}

/// `RootOfTrust ::= SEQUENCE { verifiedBootKey OCTET STRING, deviceLocked BOOLEAN,
/// verifiedBootState VerifiedBootState, … }`: whether the device is locked and its boot
/// verified (by Google's key or the owner's own, `Verified` or `SelfSigned`).
fn root_of_trust(any: &Any<'_>) -> Result<bool, Refused> {
    if any.header.tag() != Tag::Sequence {
        return Err(Refused::Malformed("the root of trust is not a sequence"));
    }
    let fields = items(any.data)?;
    let (Some(locked), Some(state)) = (fields.get(1), fields.get(2)) else {
        return Err(Refused::Malformed("the root of trust has too few fields"));
    };
    const VERIFIED: u32 = 0;
    const SELF_SIGNED: u32 = 1;
    // Read as BER: some phones write TRUE as 01, not FF (their hardware signed it so).
    if locked.header.tag() != Tag::Boolean || locked.data.len() != 1 {
        return Err(Refused::Malformed("deviceLocked is not a boolean"));
    }
    let locked = locked.data[0] != 0;
    let state = state.as_enumerated().map_err(malformed)?.0;
    Ok(locked && matches!(state, VERIFIED | SELF_SIGNED))
}

/// Any ASN.1 error, as a refusal.
fn malformed<E>(_: E) -> Refused {
    Refused::Malformed("the key description does not parse")
}

/// The DER elements one after another in `data`.
fn items(mut data: &[u8]) -> Result<Vec<Any<'_>>, Refused> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (rest, any) =
            Any::from_der(data).map_err(|_| Refused::Malformed("an element does not parse"))?;
        out.push(any);
        data = rest;
        if out.len() > 128 {
            return Err(Refused::Malformed("too many elements"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_roots_parse() {
        let roots = Roots::from_pems(&GOOGLE_ROOTS).expect("the embedded roots parse");
        assert_eq!(roots.keys.len(), 5);
        // The 2016, 2019, 2021 and 2022 certificates re-issue one RSA key.
        let distinct: HashSet<&Vec<u8>> = roots.keys.iter().collect();
        assert_eq!(distinct.len(), 2, "one RSA key and one P-384 key");
    }

    #[test]
    fn status_list_serials_are_normalised() {
        let roots = Roots::google()
            .with_status_list(
                br#"{"entries": {"00A1B2": {"status": "REVOKED", "reason": "KEY_COMPROMISE"},
                     "c3": {"status": "SUSPENDED"}, "d4": {"status": "OK"}}}"#,
            )
            .unwrap();
        assert_eq!(roots.revoked_count(), 2);
        assert!(roots.revoked.contains("a1b2"));
        assert!(Roots::google().with_status_list(b"[]").is_err());
    }
}
