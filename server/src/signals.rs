//! Wake-ups for long-polls and live pages: "a challenge arrived for this device", "this
//! sign-in was answered", "this enrolment finished". Woken in-process by this node's events
//! and, on PostgreSQL, by other nodes' (`events::Postgres`). The database stays the source of
//! truth: a wake-up is a hint, the waiter re-reads; a missed one costs at most the slow
//! safety re-check ([`SAFETY_RECHECK`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// How long a waiter sleeps without a wake-up before it re-reads the database anyway. Only a
/// safety net (every change publishes an event, and a listener reconnect wakes everyone), so
/// it is slow: 10,000 waiting devices cost a few hundred queries a minute, not 10,000 a
/// second.
pub const SAFETY_RECHECK: Duration = Duration::from_secs(20);

/// Named notifiers: one per key somebody waits on.
#[derive(Default)]
pub struct Signals {
    map: Mutex<Notifiers>,
}

#[derive(Default)]
struct Notifiers {
    by_key: HashMap<String, Arc<Notify>>,
    /// Forgotten keys (nobody waiting) are dropped when the map grows past this.
    prune_at: usize,
}

impl Signals {
    fn lock(&self) -> std::sync::MutexGuard<'_, Notifiers> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &str) -> Arc<Notify> {
        let mut map = self.lock();
        if map.by_key.len() >= map.prune_at {
            // Waiters hold their notifier; one held only here has nobody waiting. Pruning
            // when the map doubled keeps 10,000 waiters from costing a scan per wait.
            map.by_key.retain(|_, n| Arc::strong_count(n) > 1);
            map.prune_at = (map.by_key.len() * 2).max(1024);
        }
        map.by_key.entry(key.to_owned()).or_default().clone()
    }

    /// Wakes everyone waiting on `key` (nobody waiting: nothing to do).
    pub fn notify(&self, key: &str) {
        if let Some(notify) = self.lock().by_key.get(key) {
            notify.notify_waiters();
        }
    }

    /// Wakes every waiter, whatever its key (after the cross-node listener reconnected, when
    /// wake-ups may have been missed).
    pub fn notify_all(&self) {
        for notify in self.lock().by_key.values() {
            notify.notify_waiters();
        }
    }

    /// Runs `check` until it yields a value or `timeout` passes, sleeping on `key` between
    /// checks (registered before each check, so no wake-up is lost). Without a wake-up it
    /// re-checks every [`SAFETY_RECHECK`] until the deadline, then returns `None` (the last
    /// check is at most that old).
    pub async fn wait_for<T, F, Fut>(&self, key: &str, timeout: Duration, mut check: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let notify = self.get(key);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(value) = check().await {
                return Some(value);
            }
            let checked = tokio::time::Instant::now();
            let recheck = checked + SAFETY_RECHECK;
            if tokio::time::timeout_at(deadline.min(recheck), notified)
                .await
                .is_err()
                && recheck > deadline
            {
                // The deadline passed unwoken, and the last check is recent enough.
                return None;
            }
        }
    }
}
