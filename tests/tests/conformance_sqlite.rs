//! The port conformance suite on the SQLite adapters (a fresh file database per test).

use std::time::Duration;
use tollgate_embedded::{QueueSettings, Sqlite};
use tollgate_tests::conformance::{TEST_MAX_RECEIVES, TEST_VISIBILITY_SECONDS};
use tollgate_tests::conformance_suite;

async fn fresh() -> Sqlite {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let settings = QueueSettings {
        visibility_timeout: Duration::from_secs(u64::from(TEST_VISIBILITY_SECONDS)),
        max_receives: TEST_MAX_RECEIVES,
    };
    // The directory is leaked on purpose: the database lives as long as the test process.
    Sqlite::open(&dir.keep().join("conformance.sqlite3"), settings).expect("the database opens")
}

conformance_suite!(fresh());
