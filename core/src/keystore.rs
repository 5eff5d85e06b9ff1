//! Where wrapping keys live: the OS keystore (P1's outer layer, P3's software device key).
//!
//! [`KeyStore`] is the one interface: put, get and delete a 32-byte [`WrappingKey`] by a
//! random [`KeyId`]. Implementations: [`KeyringKeyStore`] on the `keyring` ecosystem
//! (keyring-core with a platform store), [`MemoryKeyStore`] for tests, and (later) the
//! shells' Android Keystore / iOS Keychain / Windows Credential Locker through UniFFI.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use rand_core::CryptoRngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use latchkey_protocol::b64;

/// A random keystore entry name. Never derived from any key.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct KeyId(String);

impl KeyId {
    /// A fresh random id (`lk-` and 16 random bytes in base64url).
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(format!("lk-{}", b64::encode(&bytes)))
    }

    /// The entry name as the keystore sees it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Restores an id read from storage; `None` if malformed.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("lk-")?;
        (b64::decode(rest)?.len() == 16).then(|| Self(text.to_owned()))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 32-byte AES-256 key kept in the OS keystore.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct WrappingKey(Box<[u8; 32]>);

impl WrappingKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut key = Box::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Wraps bytes read from a keystore; `None` unless exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut key = Box::new([0u8; 32]);
        if bytes.len() != 32 {
            return None;
        }
        key.copy_from_slice(bytes);
        Some(Self(key))
    }

    /// The key bytes.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WrappingKey(..)")
    }
}

/// Why a keystore operation failed. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// No keystore is reachable (locked, not running, no session keyring).
    #[error("the system keystore is not available ({detail}); {advice}")]
    Unavailable {
        /// What the platform said, without secrets.
        detail: String,
        /// What the person can do about it.
        advice: String,
    },
    /// The keystore refused or failed the operation.
    #[error("the system keystore failed: {0}")]
    Failure(String),
}

/// Stores 32-byte wrapping keys by id. Implementations must be safe to share between threads.
pub trait KeyStore: Send + Sync {
    /// Stores (or replaces) a key.
    ///
    /// # Errors
    /// [`KeyStoreError`] if the keystore is unreachable or refuses.
    fn put(&self, id: &KeyId, key: &WrappingKey) -> Result<(), KeyStoreError>;

    /// Reads a key; `Ok(None)` if there is none under this id.
    ///
    /// # Errors
    /// [`KeyStoreError`] if the keystore is unreachable or refuses.
    fn get(&self, id: &KeyId) -> Result<Option<WrappingKey>, KeyStoreError>;

    /// Deletes a key; deleting a missing key succeeds.
    ///
    /// # Errors
    /// [`KeyStoreError`] if the keystore is unreachable or refuses.
    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError>;
}

/// An in-memory keystore for tests (and for showing what an attacker holding the keystore's
/// contents has, in the P1 test).
#[derive(Default)]
pub struct MemoryKeyStore {
    keys: Mutex<HashMap<String, WrappingKey>>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Every key it holds (the keystore contents an attacker might dump).
    pub fn dump(&self) -> Vec<(String, WrappingKey)> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// A copy holding the same keys (a device restarted with the same keystore).
    pub fn clone_store(&self) -> Arc<Self> {
        let store = Self::default();
        *store.keys.lock().unwrap_or_else(|e| e.into_inner()) = self.dump().into_iter().collect();
        Arc::new(store)
    }
}

impl KeyStore for MemoryKeyStore {
    fn put(&self, id: &KeyId, key: &WrappingKey) -> Result<(), KeyStoreError> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.insert(id.0.clone(), key.clone());
        Ok(())
    }

    fn get(&self, id: &KeyId) -> Result<Option<WrappingKey>, KeyStoreError> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        Ok(keys.get(&id.0).cloned())
    }

    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.remove(&id.0);
        Ok(())
    }
}

/// A keystore on the `keyring` ecosystem: any keyring-core credential store (Linux kernel
/// keyutils or Secret Service, macOS/iOS Keychain, Windows Credential Manager, Android).
pub struct KeyringKeyStore {
    store: Arc<keyring_core::CredentialStore>,
    service: String,
    /// Modifiers for every entry (Windows: keys never roam with the profile).
    modifiers: &'static [(&'static str, &'static str)],
}

impl KeyringKeyStore {
    /// Uses `store`, naming entries `service` / key id.
    pub fn new(store: Arc<keyring_core::CredentialStore>, service: impl Into<String>) -> Self {
        Self {
            store,
            service: service.into(),
            modifiers: &[],
        }
    }

    /// The Linux kernel keyutils store (the session keyring, linked to the persistent one).
    ///
    /// # Errors
    /// [`KeyStoreError::Unavailable`] if the store cannot be created.
    #[cfg(all(target_os = "linux", feature = "keyutils"))]
    pub fn linux_keyutils(service: impl Into<String>) -> Result<Self, KeyStoreError> {
        let store = linux_keyutils_keyring_store::Store::new().map_err(map_error)?;
        Ok(Self::new(store, service))
    }

    /// The freedesktop Secret Service (GNOME Keyring, KWallet) over zbus: keys survive a
    /// reboot.
    ///
    /// # Errors
    /// [`KeyStoreError::Unavailable`], with the fix, if no Secret Service answers on the
    /// session bus.
    #[cfg(all(target_os = "linux", feature = "secret-service"))]
    pub fn secret_service(service: impl Into<String>) -> Result<Self, KeyStoreError> {
        let store = zbus_secret_service_keyring_store::Store::new().map_err(|e| {
            let detail = match e {
                keyring_core::Error::PlatformFailure(p)
                | keyring_core::Error::NoStorageAccess(p) => platform_detail(&*p),
                _ => "no Secret Service on the session bus".into(),
            };
            KeyStoreError::Unavailable {
                detail,
                advice: SECRET_SERVICE_ADVICE.into(),
            }
        })?;
        refuse_session_collection()?;
        Ok(Self::new(store, service))
    }

    /// The Windows Credential Manager.
    ///
    /// # Errors
    /// [`KeyStoreError::Unavailable`] if the store cannot be created.
    #[cfg(all(windows, feature = "windows-store"))]
    pub fn windows_credentials(service: impl Into<String>) -> Result<Self, KeyStoreError> {
        let store = windows_native_keyring_store::Store::new().map_err(map_error)?;
        // The store's default is Enterprise persistence, which roams with the profile to other
        // machines: the keys stay on this one.
        Ok(Self {
            modifiers: &[("persistence", "Local")],
            ..Self::new(store, service)
        })
    }

    /// How long the underlying store keeps keys (a kernel keyring forgets them at reboot).
    pub fn persistence(&self) -> keyring_core::api::CredentialPersistence {
        self.store.persistence()
    }

    fn entry(&self, id: &KeyId) -> Result<keyring_core::Entry, KeyStoreError> {
        let modifiers: std::collections::HashMap<&str, &str> =
            self.modifiers.iter().copied().collect();
        self.store
            .build(
                &self.service,
                id.as_str(),
                (!modifiers.is_empty()).then_some(&modifiers),
            )
            .map_err(map_error)
    }
}

impl KeyStore for KeyringKeyStore {
    fn put(&self, id: &KeyId, key: &WrappingKey) -> Result<(), KeyStoreError> {
        self.entry(id)?
            // EXPOSE: the OS keystore stores the wrapping key itself.
            .set_secret(key.expose_secret())
            .map_err(map_error)
    }

    fn get(&self, id: &KeyId) -> Result<Option<WrappingKey>, KeyStoreError> {
        match self.entry(id)?.get_secret() {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                WrappingKey::from_bytes(&bytes)
                    .map(Some)
                    .ok_or_else(|| KeyStoreError::Failure("stored key has the wrong length".into()))
            }
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
        match self.entry(id)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_error(e)),
        }
    }
}

/// What to do when the Secret Service cannot be reached.
#[cfg(all(target_os = "linux", feature = "secret-service"))]
const SECRET_SERVICE_ADVICE: &str = "start and unlock a Secret Service (GNOME Keyring or \
     KWallet; a desktop session starts one at login), or choose the kernel keyring \
     (`--keystore kernel-keyring` or LATCHKEY_KEYSTORE=kernel-keyring), which forgets keys at reboot";

/// GNOME Keyring's *session* collection lives in memory only: keys written there are gone at
/// logout. When the Secret Service's default collection is that one (no login keyring, or an
/// alias set so), the store is refused with the fix, never used to lose keys silently.
#[cfg(all(target_os = "linux", feature = "secret-service"))]
fn refuse_session_collection() -> Result<(), KeyStoreError> {
    use secret_service::{blocking::SecretService, EncryptionType};
    // Plain: this connection only reads two aliases, no secret crosses it.
    let Ok(service) = SecretService::connect(EncryptionType::Plain) else {
        // The store above connected; a failure here is reported by the store's first use.
        return Ok(());
    };
    let Ok(default) = service.get_default_collection() else {
        return Ok(());
    };
    let session = service
        .get_collection_by_alias("session")
        .ok()
        .map(|c| c.collection_path);
    let path = default.collection_path.as_str();
    // The alias where the service has one (GNOME Keyring); the path GNOME gives it otherwise
    // (a KeePassXC database named "session" has no such alias and is kept on disk).
    let is_session = match session.as_deref() {
        Some(session) => session.as_str() == path,
        None => path.ends_with("/collection/session"),
    };
    if is_session {
        return Err(KeyStoreError::Unavailable {
            detail: "the Secret Service's default keyring is the session keyring, which \
                     forgets everything at logout"
                .into(),
            advice: SESSION_COLLECTION_ADVICE.into(),
        });
    }
    Ok(())
}

#[cfg(all(target_os = "linux", feature = "secret-service"))]
const SESSION_COLLECTION_ADVICE: &str = "make a keyring that is kept on disk the default one \
     (GNOME: Passwords and Keys, right-click the Login keyring, Set as Default; or log in to a \
     desktop session, which creates it), then try again; or choose the kernel keyring \
     (`--keystore kernel-keyring` or LATCHKEY_KEYSTORE=kernel-keyring), which forgets keys at \
     reboot";

/// Maps keyring errors without ever formatting their payloads (some carry secret bytes).
fn map_error(error: keyring_core::Error) -> KeyStoreError {
    use keyring_core::Error as E;
    match error {
        E::NoStorageAccess(platform) => KeyStoreError::Unavailable {
            detail: platform_detail(&*platform),
            advice: "unlock the keyring (logging in to the desktop unlocks GNOME Keyring and \
                     KWallet); for the kernel keyring, run the command inside \
                     `keyctl session -` (package keyutils)"
                .into(),
        },
        E::NoDefaultStore => KeyStoreError::Unavailable {
            detail: "no credential store configured".into(),
            advice: "configure a keystore for this platform".into(),
        },
        E::PlatformFailure(platform) => KeyStoreError::Failure(platform_detail(&*platform)),
        E::NoEntry => KeyStoreError::Failure("no such entry".into()),
        E::BadEncoding(mut bytes) | E::BadDataFormat(mut bytes, _) => {
            bytes.zeroize();
            KeyStoreError::Failure("the stored entry is not in the expected format".into())
        }
        E::TooLong(name, limit) => KeyStoreError::Failure(format!("{name} longer than {limit}")),
        E::Invalid(name, reason) => KeyStoreError::Failure(format!("invalid {name}: {reason}")),
        E::Ambiguous(_) => KeyStoreError::Failure("more than one entry matches".into()),
        _ => KeyStoreError::Failure("unexpected keystore error".into()),
    }
}

/// A platform error's own text; platform errors describe the failure, not the secret.
fn platform_detail(error: &(dyn std::error::Error + Send + Sync)) -> String {
    let text = error.to_string();
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_put_get_delete() {
        let store = MemoryKeyStore::new();
        let id = KeyId::random(&mut rand_core::OsRng);
        assert!(store.get(&id).expect("get").is_none());
        let key = WrappingKey::generate(&mut rand_core::OsRng);
        store.put(&id, &key).expect("put");
        let got = store.get(&id).expect("get").expect("present");
        assert_eq!(got.expose_secret(), key.expose_secret());
        store.delete(&id).expect("delete");
        store.delete(&id).expect("delete twice");
        assert!(store.get(&id).expect("get").is_none());
    }

    #[test]
    fn key_id_parse() {
        let id = KeyId::random(&mut rand_core::OsRng);
        assert_eq!(KeyId::parse(id.as_str()), Some(id));
        assert_eq!(KeyId::parse("lk-short"), None);
        assert_eq!(KeyId::parse("../../etc/passwd"), None);
    }

    #[test]
    fn keyring_store_roundtrip_with_mock_store() {
        let store = keyring_core::mock::Store::new().expect("mock store");
        roundtrip(&KeyringKeyStore::new(store, "latchkey-test"));
    }

    /// The real kernel keyring. Needs a session keyring: `test.sh` runs the tests inside
    /// `keyctl session`; elsewhere (no keyutils) the test says so and checks the error is
    /// the actionable "unavailable" one rather than passing silently.
    #[cfg(target_os = "linux")]
    #[test]
    fn keyring_store_roundtrip_with_linux_keyutils() {
        let store = KeyringKeyStore::linux_keyutils("latchkey-test").expect("store");
        let id = KeyId::random(&mut rand_core::OsRng);
        let key = WrappingKey::generate(&mut rand_core::OsRng);
        match store.put(&id, &key) {
            Ok(()) => {
                store.delete(&id).expect("delete");
                roundtrip(&store);
            }
            Err(e @ KeyStoreError::Unavailable { .. }) => {
                assert!(e.to_string().contains("keyctl session"), "{e}");
                assert!(
                    std::env::var_os("LATCHKEY_REQUIRE_KEYUTILS").is_none(),
                    "keyutils required but unavailable: {e}"
                );
            }
            Err(e) => panic!("unexpected keyutils failure: {e}"),
        }
    }

    fn roundtrip(store: &dyn KeyStore) {
        let id = KeyId::random(&mut rand_core::OsRng);
        let key = WrappingKey::generate(&mut rand_core::OsRng);
        assert!(store.get(&id).expect("get").is_none());
        store.put(&id, &key).expect("put");
        let got = store.get(&id).expect("get").expect("present");
        assert_eq!(got.expose_secret(), key.expose_secret());
        store.delete(&id).expect("delete");
        assert!(store.get(&id).expect("get").is_none());
        store.delete(&id).expect("delete missing");
    }
}
