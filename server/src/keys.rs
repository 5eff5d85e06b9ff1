//! The server's long-lived keys: the challenge-signing key (pinned by every device from the
//! QR) and a master key that seals per-device secrets (OPRF keys, PIN checks) in the
//! database, so a database dump alone does not hold them.
//!
//! Both live in `DATA/server-keys.json` (0600, written atomically, created on first start).

use crate::error::{ErrorKind, ServerError};
use std::fmt;
use std::io::Write as _;
use std::path::Path;

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use latchkey_protocol::b64;
use latchkey_protocol::types::{PublicKey, Signature};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::SigningKey;
use rand_core::{OsRng, RngCore as _};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The server's keys.
pub struct ServerKeys {
    challenge: SigningKey,
    /// The same key in ring, which signs every challenge: its P-256 is assembly with
    /// precomputed tables (a signature in a fifth of p256's time). Hedged nonces (random mixed
    /// with the key and the message), so a weak RNG alone does not leak the key.
    challenge_ring: EcdsaKeyPair,
    rng: SystemRandom,
    master: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKeys")
            .field("challenge_public", &self.challenge_public())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    challenge_key: String,
    master_key: String,
}

impl ServerKeys {
    /// Loads the keys from `DATA/server-keys.json`, creating them on first start.
    ///
    /// # Errors
    /// A sentence saying which file is unreadable or damaged.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, ServerError> {
        let path = data_dir.join("server-keys.json");
        if path.exists() {
            let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
                ServerError::of(
                    ErrorKind::Keys,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?);
            let damaged = || {
                ServerError::of(
                    ErrorKind::Keys,
                    format!("{} is damaged; restore it from a backup", path.display()),
                )
            };
            let file: KeyFile = serde_json::from_str(&text).map_err(|_| damaged())?;
            if file.format != 1 {
                return Err(ServerError::of(
                    ErrorKind::Keys,
                    format!("{} has unknown format {}", path.display(), file.format),
                ));
            }
            let challenge_bytes =
                Zeroizing::new(b64::decode(&file.challenge_key).ok_or_else(damaged)?);
            let challenge = SigningKey::from_slice(&challenge_bytes).map_err(|_| damaged())?;
            let master_bytes = Zeroizing::new(b64::decode(&file.master_key).ok_or_else(damaged)?);
            let master: [u8; 32] = master_bytes.as_slice().try_into().map_err(|_| damaged())?;
            return Self::new(challenge, Zeroizing::new(master)).ok_or_else(damaged);
        }
        let challenge = SigningKey::random(&mut OsRng);
        let mut master = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(master.as_mut());
        let file = KeyFile {
            format: 1,
            challenge_key: b64::encode(&challenge.to_bytes()),
            master_key: b64::encode(master.as_ref()),
        };
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&file)
                .map_err(|e| ServerError::of(ErrorKind::Keys, e.to_string()))?,
        );
        write_private(&path, text.as_bytes())?;
        Self::new(challenge, master)
            .ok_or_else(|| ServerError::of(ErrorKind::Keys, "could not load the new challenge key"))
    }

    fn new(challenge: SigningKey, master: Zeroizing<[u8; 32]>) -> Option<Self> {
        let rng = SystemRandom::new();
        let secret = Zeroizing::new(challenge.to_bytes());
        let public = challenge.verifying_key().to_encoded_point(false);
        let challenge_ring = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &secret[..],
            public.as_bytes(),
            &rng,
        )
        .ok()?;
        Some(Self {
            challenge,
            challenge_ring,
            rng,
            master,
        })
    }

    /// The challenge-signing public key (goes into every enrolment link).
    pub fn challenge_public(&self) -> PublicKey {
        PublicKey::from(self.challenge.verifying_key())
    }

    /// Signs canonical challenge bytes.
    pub fn sign_challenge(&self, bytes: &[u8]) -> Signature {
        let signature = self
            .challenge_ring
            .sign(&self.rng, bytes)
            .ok()
            .and_then(|fixed| p256::ecdsa::Signature::from_slice(fixed.as_ref()).ok())
            // Should the system RNG ever fail: p256's deterministic (RFC 6979) signature.
            .unwrap_or_else(|| self.challenge.sign(bytes));
        // ring leaves S as it comes; `from_ecdsa` puts it in the low-S form devices require.
        Signature::from_ecdsa(&signature)
    }

    /// Seals a per-device secret for the database; `purpose` and `owner` are bound as AAD.
    pub fn seal(&self, purpose: &str, owner: &str, secret: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let aad = format!("latchkey-server/v1/{purpose}/{owner}");
        let cipher = Aes256Gcm::new(self.master.as_ref().into());
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_else(|_| unreachable!("AES-GCM encryption of a short message"));
        format!("{}.{}", b64::encode(&nonce), b64::encode(&ciphertext))
    }

    /// Opens what [`ServerKeys::seal`] made; `None` if damaged or bound to another owner.
    pub fn open(&self, purpose: &str, owner: &str, sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
        let (nonce, ciphertext) = sealed.split_once('.')?;
        let nonce: [u8; 12] = b64::decode(nonce)?.try_into().ok()?;
        let ciphertext = b64::decode(ciphertext)?;
        let aad = format!("latchkey-server/v1/{purpose}/{owner}");
        let cipher = Aes256Gcm::new(self.master.as_ref().into());
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

/// Writes a private file atomically (temp, fsync, rename, fsync dir; 0600).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    let fail = |e: std::io::Error| {
        ServerError::of(
            ErrorKind::Keys,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(fail)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_and_seal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = ServerKeys::load_or_create(dir.path()).expect("create");
        let again = ServerKeys::load_or_create(dir.path()).expect("load");
        assert_eq!(keys.challenge_public(), again.challenge_public());
        let sealed = keys.seal("oprf", "device-1", b"secret");
        assert_eq!(
            again
                .open("oprf", "device-1", &sealed)
                .expect("open")
                .as_slice(),
            b"secret"
        );
        assert!(again.open("oprf", "device-2", &sealed).is_none());
        assert!(!format!("{keys:?}").contains(&b64::encode(&keys.challenge.to_bytes())));
    }

    #[test]
    fn challenge_signatures_verify_on_devices_and_stay_low_s() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = ServerKeys::load_or_create(dir.path()).expect("create");
        let public = keys.challenge_public();
        // ring's S is above n/2 about half the time; 64 signatures all but surely include
        // such a case, and devices refuse a high S.
        for i in 0u8..64 {
            let message = [i; 40];
            let signature = keys.sign_challenge(&message);
            assert!(public.verify(&message, &signature), "signature {i}");
            assert!(
                !public.verify(&[i ^ 1; 40], &signature),
                "bound to its message"
            );
        }
        // Another server's key does not verify it.
        let other = tempfile::tempdir().expect("tempdir");
        let other = ServerKeys::load_or_create(other.path()).expect("create");
        assert!(!other
            .challenge_public()
            .verify(b"challenge", &keys.sign_challenge(b"challenge")));
    }
}
