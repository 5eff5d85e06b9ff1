//! The outbox sender: claims due jobs, sends each through its provider, records the outcome,
//! retries with exponential backoff and jitter (or the provider's `Retry-After`) until the
//! challenge expires. It sleeps until the next job is due or a new one is queued.

use std::sync::{Arc, Weak};
use std::time::Duration;

use rand_core::{OsRng, RngCore as _};
use tokio::sync::Notify;

use super::outbox::{self, job_states, Job};
use super::{targets, Delivery, Outcome, Providers};
use crate::AppState;

/// The longest a provider may take over one push (well inside the outbox lease).
const SEND_TIMEOUT: Duration = Duration::from_millis(outbox::LEASE_MS as u64 / 2);

/// Jobs claimed per round.
const BATCH: i64 = 64;
/// The longest sleep between looks at the outbox (jobs another process queued).
const IDLE_LOOK: Duration = Duration::from_secs(30);

/// The longest pause between tries. A challenge lives two minutes: a push that waits a minute
/// between tries gets two more chances; capped at 10 s it gets a dozen (with a provider
/// failing 30 % of sends, the benchmark lost one push in four runs at 60 s and none at 10 s).
const MAX_BACKOFF_MS: u64 = 10_000;

/// The delay before try `attempts + 1`: 1 s doubling to 10 s, with jitter (half to all of it),
/// so retries from many jobs do not arrive together.
pub fn backoff(attempts: i64) -> Duration {
    let base_ms = 1000u64 << attempts.clamp(0, 6);
    let base_ms = base_ms.min(MAX_BACKOFF_MS);
    let jitter = OsRng.next_u64() % (base_ms / 2 + 1);
    Duration::from_millis(base_ms / 2 + jitter)
}

/// Runs the sender until the server state is gone.
pub fn spawn(
    state: Weak<AppState>,
    providers: Arc<Providers>,
    wake: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Some(strong) = state.upgrade() else {
                return;
            };
            let pause = match round(&strong, &providers).await {
                Ok(true) => Duration::ZERO,
                Ok(false) => {
                    let now = strong.clock.now_millis();
                    match outbox::next_due(&strong).await {
                        Ok(Some(next)) => {
                            Duration::from_millis(u64::try_from(next - now).unwrap_or(0))
                                .min(IDLE_LOOK)
                        }
                        Ok(None) => IDLE_LOOK,
                        Err(e) => {
                            tracing::error!(error = %e, "push outbox: cannot read");
                            Duration::from_secs(1)
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "push outbox: cannot claim jobs");
                    Duration::from_secs(1)
                }
            };
            drop(strong);
            if !pause.is_zero() {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    })
}

/// One round: claims due jobs and sends them concurrently. `Ok(true)` if the batch was full
/// (more may be due at once).
async fn round(
    state: &Arc<AppState>,
    providers: &Arc<Providers>,
) -> Result<bool, crate::error::ServerError> {
    let now = state.clock.now_millis();
    let jobs = outbox::claim(state, now, BATCH).await?;
    let full = i64::try_from(jobs.len()).unwrap_or(0) >= BATCH;
    let mut sends = tokio::task::JoinSet::new();
    for job in jobs {
        let (state, providers) = (Arc::clone(state), Arc::clone(providers));
        sends.spawn(async move {
            if let Err(e) = deliver(&state, &providers, &job).await {
                tracing::error!(error = %e, job = %job.id, "push outbox: cannot record an outcome");
            }
        });
    }
    while sends.join_next().await.is_some() {}
    Ok(full)
}

/// Sends one job and records what happened.
async fn deliver(
    state: &AppState,
    providers: &Providers,
    job: &Job,
) -> Result<(), crate::error::ServerError> {
    let now_ms = state.clock.now_millis();
    let now = now_ms / 1000;
    if now >= job.expires_at {
        return outbox::finish(
            state,
            job,
            job_states::EXPIRED,
            "the challenge expired",
            now_ms,
        )
        .await;
    }
    let Some((target, registered_at)) = targets::get(state, &job.device).await? else {
        return outbox::finish(state, job, job_states::UNTARGETED, "no push target", now_ms).await;
    };
    let Some(provider) = providers.get(target.kind) else {
        let why = format!("no {} sender configured", target.kind.as_str());
        return outbox::finish(state, job, job_states::UNTARGETED, &why, now_ms).await;
    };
    let Some(challenge) = latchkey_protocol::types::ChallengeId::parse(&job.challenge) else {
        return outbox::finish(state, job, job_states::REFUSED, "bad challenge id", now_ms).await;
    };
    // A send that hangs must not outlive the lease (another process would send it again).
    let outcome = tokio::time::timeout(
        SEND_TIMEOUT,
        provider.send(Delivery {
            target: &target,
            challenge: &challenge,
            ttl_secs: u64::try_from(job.expires_at - now).unwrap_or(0),
            now: u64::try_from(now).unwrap_or(0),
            registered_at,
        }),
    )
    .await
    .unwrap_or_else(|_| Outcome::Retry {
        after: None,
        reason: "the push service did not answer in time".into(),
    });
    let done_ms = state.clock.now_millis();
    let kind = target.kind.as_str();
    match outcome {
        Outcome::Sent => {
            tracing::info!(job = %job.id, device = %job.device, kind, "push sent");
            outbox::finish(state, job, job_states::SENT, "sent", done_ms).await
        }
        Outcome::Gone(why) => {
            tracing::info!(job = %job.id, device = %job.device, kind, why, "push target gone: dropped");
            // The outcome and the drop in one transaction: nobody sees the job gone with the
            // target still there, and a failure leaves both as they were (the job is tried
            // again after its lease).
            let mut tx = state.db.begin().await?;
            outbox::finish_on(&mut *tx, job, job_states::GONE, &why, done_ms).await?;
            targets::drop_gone(&mut *tx, &job.device, &target.token).await?;
            tx.commit().await?;
            Ok(())
        }
        Outcome::Refused(why) => {
            tracing::error!(job = %job.id, device = %job.device, kind, why, "push refused; not retried");
            outbox::finish(state, job, job_states::REFUSED, &why, done_ms).await?;
            // In the account's security events too, in fixed words: the provider's own text
            // (a host name, a status) would let the account's owner probe the server's network.
            if let Some(account) = targets::account_of(state, &job.device).await? {
                let device = latchkey_protocol::types::DeviceId::parse(&job.device);
                crate::audit::record(state, &account, device.as_ref(), "push_refused", kind).await;
            }
            Ok(())
        }
        Outcome::AuthRefused(reason) => {
            retry_or_expire(state, job, kind, None, &reason, done_ms).await
        }
        Outcome::Retry { after, reason } => {
            retry_or_expire(state, job, kind, after, &reason, done_ms).await
        }
    }
}

/// Schedules the next try (backoff with jitter, or the provider's wish), or ends the job when
/// that would be after the challenge expires.
async fn retry_or_expire(
    state: &AppState,
    job: &Job,
    kind: &str,
    after: Option<Duration>,
    reason: &str,
    done_ms: i64,
) -> Result<(), crate::error::ServerError> {
    let wait = after
        .unwrap_or_else(|| backoff(job.attempts))
        .max(backoff(job.attempts) / 4);
    let next = done_ms + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
    if next / 1000 >= job.expires_at {
        tracing::warn!(job = %job.id, kind, reason, "push not delivered before the challenge expired");
        outbox::finish(state, job, job_states::EXPIRED, reason, done_ms).await
    } else {
        tracing::warn!(job = %job.id, kind, reason, retry_in_ms = wait.as_millis() as u64, "push failed; retrying");
        outbox::retry(state, job, next, reason).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        for attempts in 0..10 {
            let base = (1000u64 << attempts.min(6)).min(MAX_BACKOFF_MS);
            for _ in 0..50 {
                let d = u64::try_from(backoff(attempts).as_millis()).unwrap_or(u64::MAX);
                assert!(
                    (base / 2..=base).contains(&d),
                    "{attempts}: {d} outside {}..={base}",
                    base / 2
                );
            }
        }
    }
}
