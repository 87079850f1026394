//! The sample events in `events/`, and an app set up the way they expect: its clock
//! held at the time they were signed, with the secrets that signed them.

use std::path::PathBuf;
use std::sync::Arc;
use tollgate_app::{App, Clock, DEFAULT_MAX_RECEIVES};
use tollgate_core::catalog::Catalog;
use tollgate_core::time::Timestamp;

pub const SAMPLE_TIME: Timestamp = Timestamp(1_795_500_000);
pub const SAMPLE_WEBHOOK_SECRET: &str = "whsec_sample_events_only";
pub const SAMPLE_JWT_SECRET: &str = "jwt-sample-events-only";

/// The text of `events/{name}`.
pub fn read(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A clock that never moves.
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

pub fn app_at_sample_time<S>(store: S) -> App<S> {
    App {
        store,
        catalog: Catalog::default_catalog(),
        clock: Arc::new(FixedClock(SAMPLE_TIME)),
        max_receives: DEFAULT_MAX_RECEIVES,
    }
}
