//! The server's clock. Expiry is always judged by it (P4); tests move it forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock seconds plus an offset that only tests change.
#[derive(Debug, Default)]
pub struct Clock {
    offset: AtomicU64,
}

impl Clock {
    /// Unix seconds now.
    pub fn now(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        wall + self.offset.load(Ordering::SeqCst)
    }

    /// [`Clock::now`] as the database's integer type.
    pub fn now_i64(&self) -> i64 {
        i64::try_from(self.now()).unwrap_or(i64::MAX)
    }

    /// Unix milliseconds now (orders events within a second, such as sign-ins).
    pub fn now_millis(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let offset = u128::from(self.offset.load(Ordering::SeqCst)) * 1000;
        i64::try_from(wall + offset).unwrap_or(i64::MAX)
    }

    /// Moves the clock forward (tests of expiry).
    pub fn advance(&self, seconds: u64) {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
    }
}
