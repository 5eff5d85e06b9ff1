//! Account passwords: argon2id hashing and verification on blocking threads, and the dummy hash
//! that makes an unknown address cost the same work as a wrong password. Used by sign-in,
//! registration and "Forgot PIN" alike.

use crate::error::{ErrorKind, ServerError};
use rand_core::OsRng;
use zeroize::Zeroizing;

/// Hashes a password with argon2id (on a blocking thread).
pub async fn hash_password(password: Zeroizing<String>) -> Result<String, ServerError> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHasher as _, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ServerError::of(ErrorKind::Internal, e.to_string()))
    })
    .await
    .map_err(|e| ServerError::of(ErrorKind::Internal, e.to_string()))?
}

/// Verifies a password against its argon2id hash (on a blocking thread).
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let password = Zeroizing::new(password.to_owned());
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
        PasswordHash::new(&hash)
            .map(|parsed| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Computes the dummy hash now (at start), so the first unknown address costs no more than
/// the next ones.
pub async fn warm_dummy_hash() -> bool {
    !dummy_hash().await.is_empty()
}

/// A real argon2id hash of a random password, so unknown addresses take as long as known ones.
pub async fn dummy_hash() -> String {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_init(|| async {
            let mut random = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut OsRng, &mut random);
            let password = Zeroizing::new(latchkey_protocol::b64::encode(&random));
            hash_password(password).await.unwrap_or_default()
        })
        .await
        .clone()
}
