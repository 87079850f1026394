//! SQLite adapters for tollgate's ports, and a durable local queue.
//!
//! One database file under the data directory holds every table, so the local stack
//! survives a restart (or a SIGKILL) with nothing lost: a write returns only once
//! SQLite has committed it with `synchronous=FULL`.

mod accounts;
mod event_log;
mod ledger;
mod queue;

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS event_log (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    detail TEXT,
    enqueued INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS event_log_by_received ON event_log (received_at);
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_by_visibility ON queue (dead, visible_at_ms);
CREATE TABLE IF NOT EXISTS profiles (
    account_id TEXT PRIMARY KEY,
    stripe_customer_id TEXT,
    referred_by TEXT
);
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    event_created INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_account ON subscriptions (account_id);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    payment_ref TEXT NOT NULL,
    event_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_account ON ledger (account_id);
CREATE INDEX IF NOT EXISTS ledger_by_payment ON ledger (payment_ref);
";

/// How the local queue redelivers.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// How long a received message stays hidden before it is delivered again.
    pub visibility_timeout: Duration,
    /// Receives before a message is dead-lettered.
    pub max_receives: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self { visibility_timeout: Duration::from_secs(30), max_receives: tollgate_app::DEFAULT_MAX_RECEIVES }
    }
}

/// Every port on one SQLite database. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Sqlite {
    connection: Arc<Mutex<Connection>>,
    queue: QueueSettings,
}

impl Sqlite {
    pub fn open(path: &Path, queue: QueueSettings) -> rusqlite::Result<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)), queue })
    }

    /// A private database in memory, for tests.
    pub fn in_memory(queue: QueueSettings) -> rusqlite::Result<Self> {
        let connection = Connection::open_in_memory()?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)), queue })
    }

    /// Runs `work` on the connection off the async runtime: SQLite blocks on fsync.
    async fn call<T, F>(&self, work: F) -> rusqlite::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut connection)
        })
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
    }
}
