//! P2, the PIN attempt counter of each device — in this module and nowhere else.
//!
//! Every operation that tests a PIN raises the device's counter by one, in one conditional
//! statement, **before** anything is evaluated, so parallel requests can never pass the limit.
//! At the limit (policy: 5, at most 10) the device is locked: no evaluation is made for it any
//! more. Only a proven PIN resets the counter: a valid approval-key signature (an answer, a
//! removal), a committed PIN change or reset, or a finished enrolment (whose key was just made
//! behind the PIN). Other modules read the counter only to show it, through [`Attempts`].

use latchkey_protocol::types::DeviceId;
use sqlx::Row as _;

use crate::config::Policy;
use crate::error::ServerError;

/// A device's counter, as read with its row, judged by the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempts {
    /// Failed (or not yet proven) PIN uses since the last proven one.
    pub failures: i64,
    /// The policy's limit.
    pub max: i64,
}

impl Attempts {
    /// The counter `failures` under `policy`.
    pub fn new(failures: i64, policy: &Policy) -> Self {
        Self {
            failures,
            max: i64::from(policy.max_failures),
        }
    }

    /// Locked: no more evaluations until "Forgot PIN".
    pub fn locked(self) -> bool {
        self.failures >= self.max
    }

    /// Attempts left before the lock.
    pub fn left(self) -> u8 {
        u8::try_from((self.max - self.failures).max(0)).unwrap_or(0)
    }
}

/// Raises the counter of `device` by one unless it is locked, inside the caller's transaction
/// (which must commit before anything is evaluated). `None` when the device is locked.
pub async fn raise(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    device: &DeviceId,
    policy: &Policy,
) -> Result<Option<Attempts>, ServerError> {
    let row = sqlx::query(
        "UPDATE devices SET failures = failures + 1 WHERE id = $1 AND failures < $2 \
         RETURNING failures",
    )
    .bind(device.to_string())
    .bind(i64::from(policy.max_failures))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(row) => Some(Attempts::new(row.try_get("failures")?, policy)),
        None => None,
    })
}

/// Resets the counter of `device` after a proven PIN, inside the transaction that records the
/// proof (so the reset commits exactly when the proof does).
pub async fn reset(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    device: &DeviceId,
) -> Result<(), ServerError> {
    sqlx::query("UPDATE devices SET failures = 0 WHERE id = $1")
        .bind(device.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The counter of `device` now.
pub async fn current(
    db: &sqlx::AnyPool,
    device: &DeviceId,
    policy: &Policy,
) -> Result<Attempts, ServerError> {
    let failures: i64 = sqlx::query("SELECT failures FROM devices WHERE id = $1")
        .bind(device.to_string())
        .fetch_one(db)
        .await?
        .try_get("failures")?;
    Ok(Attempts::new(failures, policy))
}
