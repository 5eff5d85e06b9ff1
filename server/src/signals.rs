//! Wake-ups for long-polls and live pages: "a challenge arrived for this device", "this
//! sign-in was answered", "this enrolment finished". In-process; the database stays the
//! source of truth, so a missed wake-up only costs the poll's re-check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Named notifiers.
#[derive(Default)]
pub struct Signals {
    map: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Signals {
    fn get(&self, key: &str) -> Arc<Notify> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, n| Arc::strong_count(n) > 1);
        }
        map.entry(key.to_owned()).or_default().clone()
    }

    /// Wakes everyone waiting on `key`.
    pub fn notify(&self, key: &str) {
        self.get(key).notify_waiters();
    }

    /// Runs `check` until it yields a value or `timeout` passes, sleeping on `key` between
    /// checks (registered before each check, so no wake-up is lost).
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
            // Re-check at least once a second in case a wake-up came from another process.
            let step = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
            if tokio::time::timeout_at(step, notified).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return check().await;
            }
        }
    }
}
