//! Android key attestation chains made here, shaped as real ones: a root (P-384, self-signed
//! CA), a provisioning intermediate ("Droid CA2"-like, CA), the device's attestation
//! certificate ("TEE" or "StrongBox", CA), and the key's leaf ("Android Keystore Key", valid
//! 1970–2048, digital signature only) carrying the `KeyDescription` extension. Used where no
//! real device can produce one: the shape follows the published samples in
//! server/tests/data/attestation; the test's root replaces Google's.

use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey as _;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};
use yasna::Tag;

/// The attestation extension's OID (1.3.6.1.4.1.11129.2.1.17).
pub const KEY_DESCRIPTION_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 1, 17];

/// What a `KeyDescription` says; [`Description::strongbox`] and [`Description::tee`] are
/// what a good device sends, and tests change one field at a time.
#[derive(Clone, Debug)]
pub struct Description {
    pub attestation_level: i64,
    pub keymint_level: i64,
    pub challenge: Vec<u8>,
    pub purposes: Vec<u32>,
    pub algorithm: u32,
    pub curve: u32,
    pub origin: u32,
    pub device_locked: bool,
    pub boot_state: i64,
    /// Put the key's properties in `softwareEnforced` instead (hardware says nothing).
    pub in_software_list: bool,
}

impl Description {
    /// A P-256 signing key made in the TEE of a locked, verified device.
    pub fn tee(challenge: &[u8]) -> Self {
        Self {
            attestation_level: 1,
            keymint_level: 1,
            challenge: challenge.to_vec(),
            purposes: vec![2],
            algorithm: 3,
            curve: 1,
            origin: 0,
            device_locked: true,
            boot_state: 0,
            in_software_list: false,
        }
    }

    /// The same in StrongBox.
    pub fn strongbox(challenge: &[u8]) -> Self {
        Self {
            attestation_level: 2,
            keymint_level: 2,
            ..Self::tee(challenge)
        }
    }

    /// The extension's DER.
    pub fn der(&self) -> Vec<u8> {
        let list = |w: yasna::DERWriter<'_>, filled: bool| {
            w.write_sequence(|w| {
                if !filled {
                    return;
                }
                w.next().write_tagged(Tag::context(1), |w| {
                    w.write_set(|w| {
                        for p in &self.purposes {
                            w.next().write_u32(*p);
                        }
                    });
                });
                w.next()
                    .write_tagged(Tag::context(2), |w| w.write_u32(self.algorithm));
                w.next().write_tagged(Tag::context(3), |w| w.write_u32(256));
                w.next().write_tagged(Tag::context(5), |w| {
                    w.write_set(|w| w.next().write_u32(4));
                });
                w.next()
                    .write_tagged(Tag::context(10), |w| w.write_u32(self.curve));
                w.next().write_tagged(Tag::context(503), |w| w.write_null());
                w.next()
                    .write_tagged(Tag::context(702), |w| w.write_u32(self.origin));
                w.next().write_tagged(Tag::context(704), |w| {
                    w.write_sequence(|w| {
                        w.next().write_bytes(&[7u8; 32]);
                        w.next().write_bool(self.device_locked);
                        w.next().write_enum(self.boot_state);
                        w.next().write_bytes(&[8u8; 32]);
                    });
                });
                w.next()
                    .write_tagged(Tag::context(705), |w| w.write_u32(150_000));
            });
        };
        yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_u32(300);
                w.next().write_enum(self.attestation_level);
                w.next().write_u32(300);
                w.next().write_enum(self.keymint_level);
                w.next().write_bytes(&self.challenge);
                w.next().write_bytes(&[]);
                list(w.next(), self.in_software_list);
                list(w.next(), !self.in_software_list);
            });
        })
    }
}

/// A made root and the certificates under it.
pub struct Authority {
    root: Certificate,
    root_key: KeyPair,
    intermediate: Certificate,
    intermediate_key: KeyPair,
    attestation: Certificate,
    attestation_key: KeyPair,
}

fn ca_params(name: &str, not_before: i64, not_after: i64) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    params.not_before = time(not_before);
    params.not_after = time(not_after);
    params
}

fn time(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).expect("time")
}

impl Authority {
    /// A remotely provisioned chain's authorities ("Droid CA2" and an attestation
    /// certificate valid from a day before `now` for 30 days, as provisioned ones are).
    pub fn remote(now: i64) -> Self {
        Self::named(now, "Droid CA2", "0123456789abcdef", None)
    }

    /// [`Authority::remote`] whose attestation certificate names its hardware, as real ones
    /// do (`O=TEE`): it may vouch for TEE keys only.
    pub fn remote_tee(now: i64) -> Self {
        Self::named(now, "Droid CA2", "0123456789abcdef", Some("TEE"))
    }

    /// A factory-provisioned chain's authorities (a batch intermediate, also valid 30 days
    /// here: their expiry is not held against a device).
    pub fn factory(now: i64) -> Self {
        Self::named(now, "e18c4f2ca699739a", "a0b63a35743673b7", None)
    }

    fn named(
        now: i64,
        intermediate_name: &str,
        attestation_name: &str,
        hardware: Option<&str>,
    ) -> Self {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
        let root = ca_params(
            "Test Key Attestation Root",
            now - 86_400,
            now + 3650 * 86_400,
        )
        .self_signed(&root_key)
        .expect("root");
        let intermediate_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let intermediate = ca_params(intermediate_name, now - 86_400, now + 30 * 86_400)
            .signed_by(&intermediate_key, &root, &root_key)
            .expect("intermediate");
        let attestation_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = ca_params(attestation_name, now - 86_400, now + 30 * 86_400);
        if let Some(hardware) = hardware {
            params
                .distinguished_name
                .push(DnType::OrganizationName, hardware);
        }
        let attestation = params
            .signed_by(&attestation_key, &intermediate, &intermediate_key)
            .expect("attestation");
        Self {
            root,
            root_key,
            intermediate,
            intermediate_key,
            attestation,
            attestation_key,
        }
    }

    /// The root, PEM (what the server is told to trust).
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// The chain Keystore would return for `key` described by `description`, leaf first.
    pub fn chain(&self, key: &SigningKey, description: &Description) -> Vec<Vec<u8>> {
        let leaf = leaf(key, description, &self.attestation, &self.attestation_key);
        vec![
            leaf.der().to_vec(),
            self.attestation.der().to_vec(),
            self.intermediate.der().to_vec(),
            self.root.der().to_vec(),
        ]
    }
}

/// A leaf for `key` as Keystore makes it, signed by `issuer`.
pub fn leaf(
    key: &SigningKey,
    description: &Description,
    issuer: &Certificate,
    issuer_key: &KeyPair,
) -> Certificate {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "Android Keystore Key");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = time(0);
    params.not_after = time(2_461_449_600); // 2048-01-01
    params.custom_extensions = vec![CustomExtension::from_oid_content(
        KEY_DESCRIPTION_OID,
        description.der(),
    )];
    params
        .signed_by(&key_pair(key), issuer, issuer_key)
        .expect("leaf")
}

/// `key` as rcgen holds it (to sign, or to be certified).
pub fn key_pair(key: &SigningKey) -> KeyPair {
    let der = key.to_pkcs8_der().expect("pkcs8");
    KeyPair::try_from(der.as_bytes()).expect("key pair")
}

/// Self-signs `leaf`'s shape for `key` (a chain that ends nowhere trusted).
pub fn self_signed_leaf(key: &SigningKey, description: &Description) -> Vec<u8> {
    let pair = key_pair(key);
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "Android Keystore Key");
    params.custom_extensions = vec![CustomExtension::from_oid_content(
        KEY_DESCRIPTION_OID,
        description.der(),
    )];
    params
        .self_signed(&pair)
        .expect("self-signed")
        .der()
        .to_vec()
}
