//! SQLite adapters for tollgate's ports, and a durable local queue.
//!
//! One database file under the data directory holds every table, so the local stack
//! survives a restart (or a SIGKILL) with nothing lost: a write returns only once
//! SQLite has committed it with `synchronous=FULL`.
//!
//! Committing durably costs an fsync, so commits are shared ("group commit"): one
//! writer thread owns the connection, runs every operation waiting for it inside one
//! transaction, each in a savepoint of its own (a failing operation rolls back alone),
//! and answers the callers once the shared commit is on disk.

mod accounts;
mod alerts;
mod api_keys;
mod cursors;
mod customer_runs;
mod event_log;
mod first_keys;
mod intake;
mod ledger;
mod migrations;
mod payees;
mod premium_choices;
mod probes;
mod purchases;
mod queue;
mod rate_limits;
mod records;
mod runs;
mod tallies;
mod usage;
mod webhook_deliveries;
mod webhook_endpoints;
mod workflow_subscriptions;
mod workflows;

use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use tollgate_app::ports::error::{ErrorKind, PortError};

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

/// Operations sharing one commit, at most: enough to amortise an fsync, few enough
/// that no caller waits long behind the others.
const MAX_GROUP: usize = 64;

/// The answer to one operation, sent once the transaction it ran in is committed
/// (`None`) or has failed to commit (`Some(reason)`).
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;
/// One operation, run by the writer thread inside the open transaction.
type Job = Box<dyn FnOnce(&mut Connection) -> Reply + Send>;

/// Every port on one SQLite database. Cheap to clone; clones share the writer.
#[derive(Clone)]
pub struct Sqlite {
    writer: mpsc::Sender<Job>,
    queue: QueueSettings,
    arrivals: std::sync::Arc<queue::Arrivals>,
}

impl Sqlite {
    pub fn open(path: &Path, queue: QueueSettings) -> Result<Self, DbError> {
        make_private(path)?;
        let mut connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        migrations::to_latest(&mut connection)?;
        Ok(Self { writer: spawn_writer(connection)?, queue, arrivals: Default::default() })
    }

    /// Runs `work` on the writer thread, off the async runtime, and returns its result
    /// once it is durably committed.
    async fn call<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let result = in_savepoint(connection, work).map_err(DbError::from);
            Box::new(move |commit_failure| {
                let result = match commit_failure {
                    None => result,
                    Some(reason) => Err(DbError::NotCommitted(format!("the commit failed: {reason}"))),
                };
                let _ = answer.send(result);
            })
        });
        let not_run = || DbError::NotCommitted("the database did not run the operation (see the log)".into());
        self.writer.send(job).map_err(|_| not_run())?;
        answered.await.unwrap_or_else(|_| Err(not_run()))
    }
}

/// The database and its `-wal` and `-shm` files are readable by their owner only (0600):
/// created so, and made so if an earlier version left them readable by others. SQLite
/// gives the files it creates the database file's mode.
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot start the database writer: {0}")]
    Writer(#[from] std::io::Error),
    #[error("upgrading the database: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The operation ran but its transaction did not commit, or it could not be run.
    #[error("{0}")]
    NotCommitted(String),
}

/// A busy or unwritable database can pass; a row that does not read back as what the
/// code expects is corrupt; a refused constraint is a conflict.
impl From<DbError> for PortError {
    fn from(error: DbError) -> Self {
        use rusqlite::ErrorCode;
        let kind = match &error {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => match failure.code {
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure => ErrorKind::Transient,
                ErrorCode::ConstraintViolation => ErrorKind::Conflict,
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => ErrorKind::Corrupt,
                _ => ErrorKind::Invalid,
            },
            DbError::Sqlite(
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::Utf8Error(_)
                | rusqlite::Error::IntegralValueOutOfRange(..),
            ) => ErrorKind::Corrupt,
            DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows) => ErrorKind::NotFound,
            DbError::Sqlite(_) => ErrorKind::Invalid,
            DbError::Writer(_) | DbError::NotCommitted(_) => ErrorKind::Transient,
            DbError::Migration(_) => ErrorKind::Corrupt,
        };
        PortError::caused_by(kind, format!("SQLite: {error}"), error)
    }
}

/// `total + amount`, or an error naming `what`, never a wrapped or floating total.
pub(crate) fn checked_sum(total: i64, amount: i64, what: &str) -> rusqlite::Result<i64> {
    total.checked_add(amount).ok_or_else(|| overflow(what))
}

/// A count stored as SQLite's signed integer: `total + amount` within `i64::MAX`.
pub(crate) fn checked_count(total: u64, amount: u64, what: &str) -> rusqlite::Result<u64> {
    total.checked_add(amount).filter(|&sum| i64::try_from(sum).is_ok()).ok_or_else(|| overflow(what))
}

fn overflow(what: &str) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(format!("{what} would overflow").into())
}

/// Runs `work` so that its writes stay only if it succeeds. A panic in `work` is caught
/// and becomes its caller's error: the writer thread, which every caller shares, goes on.
fn in_savepoint<T>(
    connection: &mut Connection,
    work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    connection.execute_batch("SAVEPOINT operation")?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(connection)))
        .unwrap_or_else(|_| Err(rusqlite::Error::ToSqlConversionFailure("the operation panicked".into())));
    let end = if result.is_ok() { "RELEASE operation" } else { "ROLLBACK TO operation; RELEASE operation" };
    connection.execute_batch(end)?;
    result
}

fn spawn_writer(connection: Connection) -> Result<mpsc::Sender<Job>, DbError> {
    let (writer, jobs) = mpsc::channel::<Job>();
    std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || write_in_groups(connection, jobs))?;
    Ok(writer)
}

/// The writer thread: takes whatever operations are waiting, runs them in one
/// transaction, commits once, then answers each. It ends when every `Sqlite` is dropped.
fn write_in_groups(mut connection: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let group: Vec<Job> = std::iter::once(first).chain(jobs.try_iter().take(MAX_GROUP - 1)).collect();
        if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the group unrun answers each caller that it was not run.
            tracing::error!(%error, operations = group.len(), "could not begin a transaction");
            continue;
        }
        let replies: Vec<Reply> = group.into_iter().map(|job| job(&mut connection)).collect();
        let committed = connection.execute_batch("COMMIT");
        if committed.is_err() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        let reason = committed.err().map(|e| e.to_string());
        for reply in replies {
            reply(reason.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_writer_survives_a_job_that_panics_and_its_caller_gets_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open(&dir.path().join("panic.sqlite3"), QueueSettings::default()).unwrap();
        let panicked = store
            .call(|db| {
                db.execute("INSERT INTO counters (name, value) VALUES ('half-done', 1)", [])?;
                let overflowing: i64 = std::hint::black_box(i64::MAX);
                Ok(overflowing.checked_add(1).expect("a job that panics"))
            })
            .await;
        assert!(matches!(panicked, Err(DbError::Sqlite(_))), "{panicked:?}");
        let counted = store
            .call(|db| {
                db.execute("INSERT INTO counters (name, value) VALUES ('after', 1)", [])?;
                db.query_row("SELECT COUNT(*) FROM counters", [], |row| row.get::<_, i64>(0))
            })
            .await
            .unwrap();
        assert_eq!(counted, 1, "the writer goes on, and the panicking job's write was rolled back");
    }

    #[test]
    fn sums_that_would_overflow_are_errors_not_floats() {
        assert_eq!(checked_sum(1, 2, "x").unwrap(), 3);
        assert!(checked_sum(i64::MAX, 1, "x").is_err());
        assert!(checked_count(u64::try_from(i64::MAX).unwrap(), 1, "x").is_err());
    }
}
