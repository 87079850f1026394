//! The SQLite schema as numbered migrations (`rusqlite_migration`, kept in `PRAGMA
//! user_version`). A data directory made by an earlier release is upgraded in place when
//! `tollgate dev` opens it. Add a migration at the end; never edit one that has shipped.

use rusqlite::{Connection, Transaction};
use rusqlite_migration::{HookResult, M, Migrations};

/// 1: every table, as the releases before numbered migrations made them. Those releases set
/// no `user_version`, so their databases start at 0 and run this too: `IF NOT EXISTS`
/// leaves what they have.
const TABLES: &str = "
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
    name TEXT NOT NULL DEFAULT 'events',
    message_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    dead INTEGER NOT NULL DEFAULT 0
);
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
CREATE TABLE IF NOT EXISTS workflows (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    next_run INTEGER,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS workflows_due ON workflows (state, enabled, next_run);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_status_deadline ON runs (status, deadline);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow_id, created_at);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS purchases (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    payment_ref TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS purchases_by_account ON purchases (account_id);
CREATE INDEX IF NOT EXISTS purchases_by_payment ON purchases (payment_ref);
CREATE TABLE IF NOT EXISTS rate_windows (
    account_id TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (account_id, window_start)
);
CREATE TABLE IF NOT EXISTS alerts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_keys_by_account ON api_keys (account_id);
CREATE TABLE IF NOT EXISTS usage_batches (
    id TEXT PRIMARY KEY,
    before_calls INTEGER NOT NULL,
    after_calls INTEGER NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS usage_totals (
    owner TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (owner, period_start)
);
CREATE TABLE IF NOT EXISTS credits_spent (
    owner TEXT PRIMARY KEY,
    credits INTEGER NOT NULL
);
";

/// 2: one local queue became several (`name`), read in order by name. Databases older than
/// that have the column added, their messages being Stripe events.
fn named_queues(tx: &Transaction) -> HookResult {
    let has_names: bool =
        tx.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('queue') WHERE name = 'name'", [], |row| row.get(0))?;
    if !has_names {
        tx.execute_batch("ALTER TABLE queue ADD COLUMN name TEXT NOT NULL DEFAULT 'events'")?;
    }
    tx.execute_batch(
        "DROP INDEX IF EXISTS queue_in_order;
         CREATE INDEX IF NOT EXISTS queue_by_name_in_order ON queue (name, dead, seq);",
    )?;
    Ok(())
}

/// 3: named cursors jobs resume from (reconciliation's place in Stripe's event list).
const CURSORS: &str = "CREATE TABLE cursors (name TEXT PRIMARY KEY, at INTEGER NOT NULL);";

/// 4: partners' connected accounts (Stripe Connect), one per account.
const PAYEES: &str = "CREATE TABLE payees (
    account_id TEXT PRIMARY KEY,
    connect_account TEXT NOT NULL,
    payouts_enabled INTEGER NOT NULL DEFAULT 0,
    as_of INTEGER NOT NULL DEFAULT 0
);";

/// 5: when each ledger entry happened (earnings are held before they are paid out; entries
/// written before this read as long past), and a payee's last refused payout.
const PAYOUTS: &str = "ALTER TABLE ledger ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payees ADD COLUMN failed_period TEXT;
ALTER TABLE payees ADD COLUMN failed_reason TEXT;";

/// 6: where each payment came from (a subscription or a sale), and the ledger by time, for
/// the console's revenue by day and by source.
const REVENUE: &str = "ALTER TABLE ledger ADD COLUMN source TEXT;
CREATE INDEX ledger_by_time ON ledger (at);";

/// 7: each batch's totals on the meters other than `requests`, around it (JSON), so a
/// redelivered batch bills and alerts the same.
const METERS: &str = "ALTER TABLE usage_batches ADD COLUMN meter_totals TEXT NOT NULL DEFAULT '[]';";

/// 8: what refunds of balance top-ups took back: per payment, the refunds' target so far
/// and what was taken (at most what was left of the balance).
const TAKE_BACKS: &str = "CREATE TABLE balance_take_backs (
    account_id TEXT NOT NULL,
    payment_ref TEXT NOT NULL,
    target INTEGER NOT NULL,
    taken INTEGER NOT NULL,
    PRIMARY KEY (account_id, payment_ref)
);";

/// 9: what the monitor knows of each health-checked endpoint, between its ticks.
const PROBES: &str = "CREATE TABLE health_probes (
    url TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    failing_since INTEGER,
    down INTEGER NOT NULL,
    probed_at INTEGER NOT NULL
);";

/// 10: distinct members per business day (checkouts started and completed, active accounts).
const TALLIES: &str = "CREATE TABLE tallies (
    name TEXT NOT NULL,
    day TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (name, day, member)
) WITHOUT ROWID;";

/// 11: each account's webhook endpoint and the secret its deliveries are signed with.
const ENDPOINTS: &str = "CREATE TABLE webhook_endpoints (
    account_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
);";

/// 12: customers' runs of sold workflows: whose run it is and where it stands in the
/// customer pool (`waiting`, `holding`, `left`), the turn it was given a slot in, and the
/// `Idempotency-Key`s that name runs for a day.
const CUSTOMER_RUNS: &str = "ALTER TABLE runs ADD COLUMN account_id TEXT;
ALTER TABLE runs ADD COLUMN pool TEXT;
ALTER TABLE runs ADD COLUMN turn INTEGER;
CREATE INDEX runs_of_account ON runs (account_id, created_at) WHERE account_id IS NOT NULL;
CREATE INDEX runs_in_pool ON runs (pool, account_id, created_at) WHERE pool IN ('waiting', 'holding');
CREATE INDEX runs_by_turn ON runs (account_id, turn) WHERE turn IS NOT NULL;
CREATE TABLE run_idempotency (
    account_id TEXT NOT NULL,
    key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
);";

/// 13: deliveries of events to customers' endpoints, by when each is due and by account.
const DELIVERIES: &str = "CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    next_attempt_at INTEGER,
    attempts INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_of_account ON webhook_deliveries (account_id, created_at);";

/// 14: the premium workflows each member chose (a JSON array of ids, in the order chosen).
const PREMIUM_CHOICES: &str = "CREATE TABLE premium_choices (
    account_id TEXT PRIMARY KEY,
    workflows TEXT NOT NULL,
    chosen_at INTEGER NOT NULL
);";

/// 15: first API keys made by a subscription and not yet shown (what they derive from).
const FIRST_KEYS: &str = "CREATE TABLE first_keys (
    account_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);";

/// 16: workflow subscriptions: the parameters kept with a Checkout Session, and the
/// instances its completion makes (due ones found by `next_run`).
const WORKFLOW_SUBSCRIPTIONS: &str = "CREATE TABLE kept_params (
    session_id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE workflow_instances (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    due_at INTEGER,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX workflow_instances_by_account ON workflow_instances (account_id, id);
CREATE INDEX workflow_instances_by_due ON workflow_instances (due_at) WHERE due_at IS NOT NULL;";

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(TABLES),
        M::up_with_hook("", named_queues),
        M::up(CURSORS),
        M::up(PAYEES),
        M::up(PAYOUTS),
        M::up(REVENUE),
        M::up(METERS),
        M::up(TAKE_BACKS),
        M::up(PROBES),
        M::up(TALLIES),
        M::up(ENDPOINTS),
        M::up(CUSTOMER_RUNS),
        M::up(DELIVERIES),
        M::up(PREMIUM_CHOICES),
        M::up(FIRST_KEYS),
        M::up(WORKFLOW_SUBSCRIPTIONS),
    ])
}

/// Brings the database up to the latest schema.
pub(crate) fn to_latest(connection: &mut Connection) -> Result<(), rusqlite_migration::Error> {
    migrations().to_latest(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    #[test]
    fn a_database_of_the_last_unnumbered_release_opens_as_it_is() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(TABLES).unwrap();
        connection.execute_batch("CREATE INDEX queue_by_name_in_order ON queue (name, dead, seq);").unwrap();
        connection.execute("INSERT INTO profiles (account_id) VALUES ('user_kept')", []).unwrap();
        to_latest(&mut connection).unwrap();
        let kept: String = connection.query_row("SELECT account_id FROM profiles", [], |row| row.get(0)).unwrap();
        assert_eq!(kept, "user_kept");
    }

    #[test]
    fn a_database_from_before_named_queues_is_upgraded_in_place() {
        let mut connection = Connection::open_in_memory().unwrap();
        // As the first release left it: no user_version, one unnamed queue with a message waiting.
        connection
            .execute_batch(
                "CREATE TABLE queue (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    message_id TEXT NOT NULL UNIQUE,
                    body TEXT NOT NULL,
                    visible_at_ms INTEGER NOT NULL,
                    receive_count INTEGER NOT NULL DEFAULT 0,
                    receipt TEXT,
                    dead INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX queue_in_order ON queue (dead, seq);
                INSERT INTO queue (message_id, body, visible_at_ms) VALUES ('m1', '{}', 0);",
            )
            .unwrap();
        to_latest(&mut connection).unwrap();
        let (name, body): (String, String) = connection
            .query_row("SELECT name, body FROM queue WHERE message_id = 'm1'", [], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap();
        assert_eq!((name.as_str(), body.as_str()), ("events", "{}"));
        let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, 16, "upgraded to the latest schema");
        to_latest(&mut connection).unwrap();
        let indexes: Vec<String> = connection
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'queue' AND name LIKE 'queue_%'",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(indexes, ["queue_by_name_in_order"], "a second open changes nothing");
    }

    #[test]
    fn ledger_entries_from_before_their_times_were_kept_read_as_long_past() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrations().to_version(&mut connection, 4).unwrap();
        connection
            .execute_batch(
                "INSERT INTO ledger (id, account_id, kind, amount, currency, payment_ref, event_id)
                 VALUES ('commission:pi_1:bob', 'bob', 'commission', 599, 'usd', 'pi_1', 'evt_1');
                 INSERT INTO payees (account_id, connect_account) VALUES ('bob', 'acct_1');",
            )
            .unwrap();
        to_latest(&mut connection).unwrap();
        let at: i64 = connection.query_row("SELECT at FROM ledger", [], |row| row.get(0)).unwrap();
        assert_eq!(at, 0, "held for no one: paid out on the next run");
        let failed: Option<String> =
            connection.query_row("SELECT failed_reason FROM payees", [], |row| row.get(0)).unwrap();
        assert_eq!(failed, None);
    }
}
