//! The server's long-lived keys: the challenge-signing key (pinned by every device from the
//! QR) and a master key that seals per-device secrets (OPRF keys, PIN checks) in the
//! database, so a database dump alone does not hold them.
//!
//! Both live in `DATA/server-keys.json` (0600, written atomically, created on first start).

use crate::error::{ErrorKind, ServerError};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

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

/// What the master key seals in the database to show which keys set it up.
const IDENTITY_CHECK: &[u8] = b"latchkey server identity v1";

/// A short, non-secret name for a public key: the start of its SHA-256.
fn fingerprint(public_b64: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(public_b64.as_bytes())[..6])
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    challenge_key: String,
    master_key: String,
}

/// Where a server's keys come from. Every node of one deployment must use the same keys: the
/// challenge key is pinned by every device, and the master key seals secrets in the shared
/// database.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// `DATA/server-keys.json`, created on first start (0600) if missing: one node.
    DataDir(PathBuf),
    /// A key file shared by the nodes; it must exist (a missing mount or a typo must not
    /// make a node with new keys). Made once with `--create-server-keys`.
    File(PathBuf),
    /// The key file's text itself, from a secret store or an environment variable; never
    /// created.
    Text(crate::config::SecretText),
}

impl KeySource {
    /// `DATA/server-keys.json`, the single-node default.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::DataDir(data_dir.join("server-keys.json"))
    }
}

impl ServerKeys {
    /// Loads the keys from `DATA/server-keys.json`, creating them on first start.
    ///
    /// # Errors
    /// A sentence saying which file is unreadable or damaged.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, ServerError> {
        Self::load(&KeySource::in_data_dir(data_dir))
    }

    /// Loads the keys from `source`, creating a missing key file in the data directory.
    ///
    /// # Errors
    /// A sentence saying which file is missing, unreadable, readable by others, or damaged.
    pub fn load(source: &KeySource) -> Result<Self, ServerError> {
        let path = match source {
            KeySource::Text(text) => {
                // EXPOSE: the configured key text is parsed into the keys it holds.
                return Self::parse(text.expose_secret(), "the configured server keys");
            }
            KeySource::DataDir(path) => {
                if !path.exists() {
                    Self::create(path)?;
                }
                path
            }
            KeySource::File(path) => {
                if !path.exists() {
                    return Err(ServerError::of(
                        ErrorKind::Keys,
                        format!(
                            "the server key file {} does not exist: create it once with \
                             `latchkey-server --create-server-keys {}` and give every node \
                             the same file",
                            path.display(),
                            path.display()
                        ),
                    ));
                }
                path
            }
        };
        check_private(path)?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            ServerError::of(
                ErrorKind::Keys,
                format!("cannot read {}: {e}", path.display()),
            )
        })?);
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a key file's text; `origin` names it in errors.
    fn parse(text: &str, origin: &str) -> Result<Self, ServerError> {
        let damaged = || {
            ServerError::of(
                ErrorKind::Keys,
                format!("{origin} is damaged; restore it from a backup"),
            )
        };
        let file: KeyFile = serde_json::from_str(text).map_err(|_| damaged())?;
        if file.format != 1 {
            return Err(ServerError::of(
                ErrorKind::Keys,
                format!("{origin} has unknown format {}", file.format),
            ));
        }
        let challenge_bytes = Zeroizing::new(b64::decode(&file.challenge_key).ok_or_else(damaged)?);
        let challenge = SigningKey::from_slice(&challenge_bytes).map_err(|_| damaged())?;
        let master_bytes = Zeroizing::new(b64::decode(&file.master_key).ok_or_else(damaged)?);
        let master: [u8; 32] = master_bytes.as_slice().try_into().map_err(|_| damaged())?;
        Self::new(challenge, Zeroizing::new(master)).ok_or_else(damaged)
    }

    /// Writes new keys to `path` unless a file is already there (another node may have
    /// created it a moment ago: its keys win).
    ///
    /// # Errors
    /// A sentence saying what could not be written.
    pub fn create(path: &Path) -> Result<(), ServerError> {
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
        let mut name = [0u8; 8];
        OsRng.fill_bytes(&mut name);
        let tmp = path.with_extension(format!("{}.tmp", hex::encode(name)));
        write_private(&tmp, text.as_bytes())?;
        // A hard link never replaces an existing file: the first writer wins.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        // The link (and the temp file's removal) must survive a power cut before anything
        // is sealed under these keys.
        if let Some(dir) = path.parent() {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(ServerError::of(
                ErrorKind::Keys,
                format!("cannot create {}: {e}", path.display()),
            )),
        }
    }

    /// Checks that `db` was set up with these keys, recording them on first use: a node
    /// started with other keys (a forgotten `--server-keys`, a lost key file) would sign
    /// challenges no device accepts and could not open the secrets it sealed, so it refuses
    /// to start instead. Stores the challenge public key and a value sealed under the master
    /// key, never a key.
    ///
    /// # Errors
    /// A sentence naming the mismatch and the fix, or the database error.
    pub async fn check_database(&self, db: &sqlx::AnyPool) -> Result<(), ServerError> {
        use sqlx::Row as _;
        let public = b64::encode(&self.challenge_public().to_sec1());
        let recorded_before: Option<String> =
            sqlx::query_scalar("SELECT value FROM server_identity WHERE name = 'challenge_key'")
                .fetch_optional(db)
                .await?;
        if recorded_before.is_none() {
            // A database from before this record: devices' sealed OPRF keys say whether these
            // are the keys that set it up (a node with new keys must not record itself).
            let sealed_device: Option<(String, String)> =
                sqlx::query_as("SELECT id, oprf_key FROM devices LIMIT 1")
                    .fetch_optional(db)
                    .await?;
            if let Some((device, sealed)) = sealed_device {
                if self.open("oprf", &device, &sealed).is_none() {
                    return Err(ServerError::of(
                        ErrorKind::Keys,
                        format!(
                            "these server keys (challenge key {}) cannot open the secrets in \
                             this database: start with the key file that set it up \
                             (--server-keys), or restore it from a backup",
                            fingerprint(&public)
                        ),
                    ));
                }
            }
        }
        let sealed = self.seal("identity", "master", IDENTITY_CHECK);
        sqlx::query(
            "INSERT INTO server_identity (name, value) VALUES ('challenge_key', $1), \
             ('master_check', $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&public)
        .bind(&sealed)
        .execute(db)
        .await?;
        let rows = sqlx::query("SELECT name, value FROM server_identity")
            .fetch_all(db)
            .await?;
        let value = |name: &str| {
            rows.iter()
                .find(|r| r.get::<String, _>(0) == name)
                .map(|r| r.get::<String, _>(1))
                .unwrap_or_default()
        };
        let recorded = value("challenge_key");
        let master_ok = self
            .open("identity", "master", &value("master_check"))
            .is_some_and(|v| v.as_slice() == IDENTITY_CHECK);
        if recorded != public || !master_ok {
            return Err(ServerError::of(
                ErrorKind::Keys,
                format!(
                    "this database was set up with other server keys (challenge key {}, these \
                     keys {}): start every node with the same key file (--server-keys), or \
                     restore the original one from a backup",
                    fingerprint(&recorded),
                    fingerprint(&public)
                ),
            ));
        }
        Ok(())
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

/// Refuses a key file others may read or write (as ssh does): whoever can read it can sign
/// challenges; whoever can replace it chooses the keys.
fn check_private(path: &Path) -> Result<(), ServerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).map_err(|e| {
            ServerError::of(
                ErrorKind::Keys,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        if meta.mode() & 0o077 != 0 {
            return Err(ServerError::of(
                ErrorKind::Keys,
                format!(
                    "{} can be read or written by other users (mode {:o}): `chmod 600` it and \
                     check who had access",
                    path.display(),
                    meta.mode() & 0o777
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
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

    /// A database remembers which keys set it up: a node with other keys (a forgotten
    /// `--server-keys`, a lost key file) is refused with the fix; the same keys, from a
    /// file or as text, are accepted.
    #[tokio::test]
    async fn a_database_refuses_other_server_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::db::connect(&crate::db::sqlite_url(dir.path()))
            .await
            .expect("db");
        let keys = ServerKeys::load_or_create(dir.path()).expect("create");
        keys.check_database(&db).await.expect("first use records");
        keys.check_database(&db).await.expect("same keys again");
        let text = std::fs::read_to_string(dir.path().join("server-keys.json")).expect("file");
        let same =
            ServerKeys::load(&KeySource::Text(crate::config::SecretText::new(text))).expect("text");
        same.check_database(&db).await.expect("same keys as text");

        let other_dir = tempfile::tempdir().expect("tempdir");
        let other = ServerKeys::load_or_create(other_dir.path()).expect("other");
        let refused = other.check_database(&db).await.expect_err("other keys");
        assert!(refused.to_string().contains("--server-keys"), "{refused}");

        // The same challenge key with another master key is refused too.
        let mixed =
            ServerKeys::new(keys.challenge.clone(), Zeroizing::new([7u8; 32])).expect("keys");
        mixed
            .check_database(&db)
            .await
            .expect_err("other master key");
    }

    /// A missing key file is created once: a second creator keeps the first one's keys. A
    /// configured file must exist (a node never invents keys for a deployment) and be private.
    #[test]
    fn key_file_creation_never_replaces_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shared-keys.json");
        let missing = ServerKeys::load(&KeySource::File(path.clone())).expect_err("missing");
        assert!(
            missing.to_string().contains("--create-server-keys"),
            "{missing}"
        );
        ServerKeys::create(&path).expect("create");
        let first = ServerKeys::load(&KeySource::File(path.clone())).expect("load");
        ServerKeys::create(&path).expect("second creator");
        let again = ServerKeys::load(&KeySource::File(path.clone())).expect("load");
        assert_eq!(first.challenge_public(), again.challenge_public());
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            1,
            "no temp left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let open = ServerKeys::load(&KeySource::File(path)).expect_err("readable by others");
            assert!(open.to_string().contains("chmod 600"), "{open}");
        }
    }

    /// A database from before the identity record is claimed only by keys that open its
    /// devices' sealed secrets.
    #[tokio::test]
    async fn an_old_database_is_claimed_only_by_its_own_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::db::connect(&crate::db::sqlite_url(dir.path()))
            .await
            .expect("db");
        let keys = ServerKeys::load_or_create(dir.path()).expect("create");
        sqlx::query("INSERT INTO accounts (id, email, password_hash, created_at) VALUES ('a', 'a@example.org', 'x', 0)")
            .execute(&db)
            .await
            .expect("account");
        sqlx::query(
            "INSERT INTO devices (id, account_id, name, state, pin_source, oprf_key, created_at, \
             code_expires_at) VALUES ('d1', 'a', 'Phone', 'active', 'web', $1, 0, 0)",
        )
        .bind(keys.seal("oprf", "d1", &[1u8; 32]))
        .execute(&db)
        .await
        .expect("device");
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other = ServerKeys::load_or_create(other_dir.path()).expect("other");
        let refused = other.check_database(&db).await.expect_err("new keys");
        assert!(refused.to_string().contains("cannot open"), "{refused}");
        keys.check_database(&db).await.expect("its own keys");
    }
}
