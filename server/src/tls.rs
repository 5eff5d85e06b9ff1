//! HTTPS only (P5): there is no plain-HTTP listener. In dev mode the server makes its own
//! local CA and a loopback certificate (rcgen) in the data directory; in production it loads
//! a certificate chain and key.

use crate::error::{ErrorKind, ServerError};
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// Paths of the dev CA and the loopback certificate.
#[derive(Clone, Debug)]
pub struct DevCa {
    /// The CA certificate people (and tests) trust.
    pub ca_cert: PathBuf,
    /// The server certificate chain (leaf then CA).
    pub cert: PathBuf,
    /// The server private key.
    pub key: PathBuf,
}

/// Creates the dev CA and loopback certificate in `DATA/tls/` unless they exist.
///
/// # Errors
/// A sentence naming what could not be generated or written.
pub fn ensure_dev_ca(data_dir: &Path) -> Result<DevCa, ServerError> {
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).map_err(|e| {
        ServerError::of(
            ErrorKind::Network,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let paths = DevCa {
        ca_cert: dir.join("dev-ca.pem"),
        cert: dir.join("server-chain.pem"),
        key: dir.join("server-key.pem"),
    };
    if paths.ca_cert.exists() && paths.cert.exists() && paths.key.exists() {
        return Ok(paths);
    }
    let err = |e: rcgen::Error| {
        ServerError::of(
            ErrorKind::Network,
            format!("cannot generate the dev certificates: {e}"),
        )
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Latchkey development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;

    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let mut leaf_params = CertificateParams::new(names).map_err(err)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().map_err(err)?;
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .map_err(err)?;

    crate::keys::write_private(&paths.key, leaf_key.serialize_pem().as_bytes())?;
    crate::keys::write_private(
        &paths.cert,
        format!("{}{}", leaf.pem(), ca.pem()).as_bytes(),
    )?;
    crate::keys::write_private(&paths.ca_cert, ca.pem().as_bytes())?;
    Ok(paths)
}
