//! The push outbox: jobs written with their challenge, claimed with a lease, finished with
//! their outcome.

use rand_core::{OsRng, RngCore as _};
use sqlx::Row as _;

use crate::error::ServerError;
use crate::AppState;

/// Job states.
pub mod job_states {
    /// Waiting to be sent (or retried).
    pub const PENDING: &str = "pending";
    /// The provider accepted it.
    pub const SENT: &str = "sent";
    /// The provider refused it for good.
    pub const REFUSED: &str = "refused";
    /// The provider said the token is gone; the target was dropped.
    pub const GONE: &str = "gone";
    /// The challenge expired before a provider accepted it.
    pub const EXPIRED: &str = "expired";
    /// The device has no target (anymore), or no sender serves its kind.
    pub const UNTARGETED: &str = "untargeted";
}

/// How long a claimed job is leased to its sender (a sender that dies mid-send leaves it to
/// another after this).
pub const LEASE_MS: i64 = 30_000;

/// A claimed job.
#[derive(Clone, Debug)]
pub struct Job {
    /// The job.
    pub id: String,
    /// The challenge the push names.
    pub challenge: String,
    /// The device to wake.
    pub device: String,
    /// The challenge's expiry (unix seconds).
    pub expires_at: i64,
    /// Tries so far.
    pub attempts: i64,
    /// This claim (a sender whose lease ran out cannot record over the next holder).
    pub claim: String,
}

/// Queues a push of `challenge` to `device` inside the transaction creating the challenge,
/// if the device has a target. Returns whether a job was queued.
///
/// # Errors
/// Storage (the caller's transaction then rolls back: no challenge without its job).
pub async fn enqueue_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    device: &str,
    challenge: &str,
    expires_at: i64,
    now_ms: i64,
) -> Result<bool, ServerError> {
    let targeted = sqlx::query("SELECT device_id FROM push_targets WHERE device_id = $1")
        .bind(device)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    if !targeted {
        return Ok(false);
    }
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    sqlx::query(
        "INSERT INTO push_jobs (id, challenge_id, device_id, created_ms, expires_at, next_ms, \
         attempts, state, outcome) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, '')",
    )
    .bind(latchkey_protocol::b64::encode(&id))
    .bind(challenge)
    .bind(device)
    .bind(now_ms)
    .bind(expires_at)
    .bind(now_ms)
    .bind(job_states::PENDING)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Claims up to `limit` due jobs by leasing them forward; on PostgreSQL the row locks are
/// skipped by other senders, so each job goes to one of them.
///
/// # Errors
/// Storage.
pub async fn claim(state: &AppState, now_ms: i64, limit: i64) -> Result<Vec<Job>, ServerError> {
    let mut claim = [0u8; 16];
    OsRng.fill_bytes(&mut claim);
    let claim = latchkey_protocol::b64::encode(&claim);
    let lock = if state.postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE push_jobs SET next_ms = $1, claim = $5 WHERE id IN (SELECT id FROM push_jobs \
         WHERE state = $2 AND next_ms <= $3 ORDER BY next_ms LIMIT $4{lock}) \
         RETURNING id, challenge_id, device_id, expires_at, attempts"
    );
    let rows = sqlx::query(&sql)
        .bind(now_ms + LEASE_MS)
        .bind(job_states::PENDING)
        .bind(now_ms)
        .bind(limit)
        .bind(&claim)
        .fetch_all(&state.db)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Job {
                id: r.try_get("id")?,
                challenge: r.try_get("challenge_id")?,
                device: r.try_get("device_id")?,
                expires_at: r.try_get("expires_at")?,
                attempts: r.try_get("attempts")?,
                claim: claim.clone(),
            })
        })
        .collect()
}

/// Ends a job in `final_state` with the provider's `outcome`.
///
/// # Errors
/// Storage.
pub async fn finish(
    state: &AppState,
    job: &Job,
    final_state: &str,
    outcome: &str,
    now_ms: i64,
) -> Result<(), ServerError> {
    finish_on(&state.db, job, final_state, outcome, now_ms).await
}

/// [`finish`] on a given connection or transaction.
///
/// # Errors
/// Storage.
pub async fn finish_on<'c, E>(
    db: E,
    job: &Job,
    final_state: &str,
    outcome: &str,
    now_ms: i64,
) -> Result<(), ServerError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE push_jobs SET state = $1, outcome = $2, done_ms = $3, attempts = $4 \
         WHERE id = $5 AND claim = $6 AND state = $7",
    )
    .bind(final_state)
    .bind(outcome)
    .bind(now_ms)
    .bind(job.attempts + 1)
    .bind(&job.id)
    .bind(&job.claim)
    .bind(job_states::PENDING)
    .execute(db)
    .await?;
    Ok(())
}

/// Schedules another try of a job at `next_ms`.
///
/// # Errors
/// Storage.
pub async fn retry(
    state: &AppState,
    job: &Job,
    next_ms: i64,
    outcome: &str,
) -> Result<(), ServerError> {
    sqlx::query(
        "UPDATE push_jobs SET next_ms = $1, attempts = $2, outcome = $3 \
         WHERE id = $4 AND claim = $5 AND state = $6",
    )
    .bind(next_ms)
    .bind(job.attempts + 1)
    .bind(outcome)
    .bind(&job.id)
    .bind(&job.claim)
    .bind(job_states::PENDING)
    .execute(&state.db)
    .await?;
    Ok(())
}

/// Deletes finished jobs older than `before_ms` (their outcomes are for operators, for a while).
///
/// # Errors
/// Storage.
pub async fn sweep(state: &AppState, before_ms: i64) -> Result<u64, ServerError> {
    let done = sqlx::query("DELETE FROM push_jobs WHERE state <> $1 AND done_ms < $2")
        .bind(job_states::PENDING)
        .bind(before_ms)
        .execute(&state.db)
        .await?;
    Ok(done.rows_affected())
}

/// When the next pending job is due (unix ms), if any.
///
/// # Errors
/// Storage.
pub async fn next_due(state: &AppState) -> Result<Option<i64>, ServerError> {
    let row = sqlx::query("SELECT MIN(next_ms) AS next FROM push_jobs WHERE state = $1")
        .bind(job_states::PENDING)
        .fetch_one(&state.db)
        .await?;
    Ok(row.try_get::<Option<i64>, _>("next").ok().flatten())
}
