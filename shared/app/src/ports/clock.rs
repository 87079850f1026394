use tollgate_core::time::Timestamp;

/// The time now. A port so that tests can hold time still.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// Milliseconds, for the rate limit's sliding window. Clocks held still in tests
    /// move in whole seconds.
    fn now_ms(&self) -> u64 {
        self.now().0.max(0) as u64 * 1000
    }
}

pub struct SystemClock;

fn since_epoch() -> std::time::Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(since_epoch().as_secs() as i64)
    }

    fn now_ms(&self) -> u64 {
        since_epoch().as_millis() as u64
    }
}
