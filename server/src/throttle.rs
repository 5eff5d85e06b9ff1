//! Fixed-window throttles (sign-ins, registrations, resets, mailed codes), in the database so
//! every node counts the same.

use sqlx::Row as _;

use crate::error::ServerError;
use crate::AppState;

/// Fixed-window throttle: at most `limit` events per `window` seconds for `key`.
///
/// # Errors
/// `rate_limited` with the seconds to wait.
pub(crate) async fn count(
    state: &AppState,
    key: &str,
    limit: i64,
    window: i64,
) -> Result<(), ServerError> {
    let now = state.clock.now_i64();
    let row = sqlx::query(
        "INSERT INTO throttle (key, count, window_start) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN throttle.window_start <= $3 THEN 1 ELSE throttle.count + 1 END, \
           window_start = CASE WHEN throttle.window_start <= $3 THEN $2 ELSE throttle.window_start END \
         RETURNING count, window_start",
    )
    .bind(key)
    .bind(now)
    .bind(now - window)
    .fetch_one(&state.db)
    .await?;
    let count: i64 = row.try_get("count")?;
    let start: i64 = row.try_get("window_start")?;
    if count > limit {
        let wait = u64::try_from((start + window - now).max(1)).unwrap_or(60);
        return Err(ServerError::rate_limited(wait));
    }
    Ok(())
}

/// Gives back one event counted by [`count`] under `key` at `counted_at` (unix seconds), if
/// the window that counted it is still the current one. Sign-ins use it once they complete
/// (approved on a device, a mailed code, or a brand-new account's password): a person who
/// signs in often is not throttled, while attempts that never complete — wrong passwords, and
/// a password holder who only starts sign-ins — keep counting.
pub(crate) async fn refund(
    state: &AppState,
    key: &str,
    counted_at: i64,
) -> Result<(), ServerError> {
    sqlx::query(
        "UPDATE throttle SET count = count - 1 WHERE key = $1 AND count > 0 AND window_start <= $2",
    )
    .bind(key)
    .bind(counted_at)
    .execute(&state.db)
    .await?;
    Ok(())
}
