//! Usage: `usage_batches` remembers each batch with the account's totals around it;
//! `usage_totals` counts per owner and window: calls of `account:…` or `key:…` per
//! period, units of `meter:<account>:<meter>` per the meter's window; `credits_spent`
//! counts credits per owner, and micro-units taken from `balance:<account>`. A batch is
//! added in one transaction.

use crate::Sqlite;
use crate::api_keys::{load, store};
use rusqlite::{Connection, OptionalExtension, params};
use tollgate_app::ports::api_keys::StoredKey;
use tollgate_app::ports::usage::{KeyUsage, MeterTotals, RecordedBatch, Usage, UsageError};
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::UsageBatch;
use tollgate_core::meters::MeterName;
use tollgate_core::money::Micros;
use tollgate_core::time::Timestamp;
use tollgate_core::usage::{BatchTotals, take_back_now};

fn failed(error: crate::DbError) -> UsageError {
    UsageError(error.into())
}

pub(crate) fn calls(db: &Connection, owner: &str, period_start: i64) -> rusqlite::Result<u64> {
    db.query_row(
        "SELECT calls FROM usage_totals WHERE owner = ?1 AND period_start = ?2",
        params![owner, period_start],
        |row| row.get(0),
    )
    .optional()
    .map(Option::unwrap_or_default)
}

pub(crate) fn credits(db: &Connection, owner: &str) -> rusqlite::Result<u64> {
    db.query_row("SELECT credits FROM credits_spent WHERE owner = ?1", [owner], |row| row.get(0))
        .optional()
        .map(Option::unwrap_or_default)
}

/// Adds in Rust, checked: SQLite's own `+` turns an overflowing integer into a float.
fn add(db: &Connection, owner: &str, batch: &UsageBatch) -> rusqlite::Result<()> {
    let calls = crate::checked_count(calls(db, owner, batch.period_start.0)?, batch.calls, "usage calls")?;
    db.execute(
        "INSERT INTO usage_totals (owner, period_start, calls) VALUES (?1, ?2, ?3)
         ON CONFLICT (owner, period_start) DO UPDATE SET calls = excluded.calls",
        params![owner, batch.period_start.0, calls],
    )?;
    let credits = crate::checked_count(credits(db, owner)?, batch.credits, "credits spent")?;
    set_credits(db, owner, credits)
}

/// Sets `owner`'s spent count (credits, or micro-units of a balance).
pub(crate) fn set_credits(db: &Connection, owner: &str, spent: u64) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO credits_spent (owner, credits) VALUES (?1, ?2)
         ON CONFLICT (owner) DO UPDATE SET credits = excluded.credits",
        params![owner, spent],
    )
    .map(drop)
}

pub(crate) fn set_total(db: &Connection, owner: &str, window_start: i64, total: u64) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO usage_totals (owner, period_start, calls) VALUES (?1, ?2, ?3)
         ON CONFLICT (owner, period_start) DO UPDATE SET calls = excluded.calls",
        params![owner, window_start, total],
    )
    .map(drop)
}

pub(crate) fn meter_owner(account: &AccountId, meter: &MeterName) -> String {
    format!("meter:{account}:{meter}")
}

pub(crate) fn balance_owner(account: &AccountId) -> String {
    format!("balance:{account}")
}

/// Adds the batch's units to the account's meter totals and its spending to the balance spent.
fn add_meters(db: &Connection, batch: &UsageBatch) -> rusqlite::Result<Vec<MeterTotals>> {
    let mut totals = Vec::with_capacity(batch.units.len());
    for units in &batch.units {
        let owner = meter_owner(&batch.account_id, &units.meter);
        let before = calls(db, &owner, units.window_start.0)?;
        let after = crate::checked_count(before, units.units, "meter units")?;
        set_total(db, &owner, units.window_start.0, after)?;
        totals.push(MeterTotals { meter: units.meter.clone(), window_start: units.window_start, before, after });
    }
    let spent = u64::try_from(batch.balance_spent.0).unwrap_or(0);
    if spent > 0 {
        let owner = balance_owner(&batch.account_id);
        let total = crate::checked_count(credits(db, &owner)?, spent, "balance spent")?;
        set_credits(db, &owner, total)?;
    }
    Ok(totals)
}

fn account_owner(account: &AccountId) -> String {
    format!("account:{account}")
}

fn key_owner(key: &KeyId) -> String {
    format!("key:{key}")
}

impl Usage for Sqlite {
    async fn add_batch(&self, batch: &UsageBatch, now: Timestamp) -> Result<RecordedBatch, UsageError> {
        let batch = batch.clone();
        self.call(move |db| {
            let stored = db
                .query_row(
                    "SELECT before_calls, after_calls, reported, meter_totals FROM usage_batches WHERE id = ?1",
                    [&batch.id],
                    |row| {
                        let meters: String = row.get(3)?;
                        Ok(RecordedBatch {
                            totals: BatchTotals { before: row.get(0)?, after: row.get(1)? },
                            reported: row.get(2)?,
                            meters: serde_json::from_str(&meters).map_err(|error| {
                                rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, error.into())
                            })?,
                        })
                    },
                )
                .optional()?;
            if let Some(stored) = stored {
                return Ok(stored);
            }
            let account = account_owner(&batch.account_id);
            let before = calls(db, &account, batch.period_start.0)?;
            add(db, &account, &batch)?;
            add(db, &key_owner(&batch.key_id), &batch)?;
            let totals = BatchTotals { before, after: crate::checked_count(before, batch.calls, "usage calls")? };
            let meters = add_meters(db, &batch)?;
            db.execute(
                "INSERT INTO usage_batches (id, before_calls, after_calls, meter_totals) VALUES (?1, ?2, ?3, ?4)",
                params![
                    batch.id,
                    totals.before,
                    totals.after,
                    serde_json::to_string(&meters).expect("meter totals always serialise")
                ],
            )?;
            if let Some(key) = load(db, batch.key_id.as_str())? {
                store(db, &StoredKey { last_used_at: Some(now), ..key })?;
            }
            Ok(RecordedBatch { totals, reported: false, meters })
        })
        .await
        .map_err(failed)
    }

    async fn mark_reported(&self, batch_id: &str) -> Result<(), UsageError> {
        let batch_id = batch_id.to_owned();
        self.call(move |db| db.execute("UPDATE usage_batches SET reported = 1 WHERE id = ?1", [batch_id]).map(drop))
            .await
            .map_err(failed)
    }

    async fn key_usage(
        &self,
        account: &AccountId,
        key: Option<&KeyId>,
        period_start: Timestamp,
    ) -> Result<KeyUsage, UsageError> {
        let (account, key) = (account_owner(account), key.map(key_owner));
        self.call(move |db| {
            let mut usage = KeyUsage {
                account_calls: calls(db, &account, period_start.0)?,
                account_credits: credits(db, &account)?,
                ..KeyUsage::default()
            };
            if let Some(key) = key {
                usage.key_calls = calls(db, &key, period_start.0)?;
                usage.key_credits = credits(db, &key)?;
            }
            Ok(usage)
        })
        .await
        .map_err(failed)
    }

    async fn meter_usage(
        &self,
        account: &AccountId,
        meter: &MeterName,
        window_start: Timestamp,
    ) -> Result<u64, UsageError> {
        let owner = meter_owner(account, meter);
        self.call(move |db| calls(db, &owner, window_start.0)).await.map_err(failed)
    }

    async fn balance_spent(&self, account: &AccountId) -> Result<Micros, UsageError> {
        let owner = balance_owner(account);
        self.call(move |db| credits(db, &owner))
            .await
            .map_err(failed)
            .map(|spent| Micros(i64::try_from(spent).unwrap_or(i64::MAX)))
    }

    async fn take_back(
        &self,
        account: &AccountId,
        payment_ref: &str,
        target: Micros,
        left: Micros,
    ) -> Result<Micros, UsageError> {
        let (account, payment_ref) = (account.to_string(), payment_ref.to_owned());
        self.call(move |db| {
            let reached: i64 = db
                .query_row(
                    "SELECT target FROM balance_take_backs WHERE account_id = ?1 AND payment_ref = ?2",
                    params![account, payment_ref],
                    |row| row.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let taken = take_back_now(target, Micros(reached), left).0;
            if target.0 > reached {
                db.execute(
                    "INSERT INTO balance_take_backs (account_id, payment_ref, target, taken) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (account_id, payment_ref) DO UPDATE SET target = excluded.target, taken = taken + excluded.taken",
                    params![account, payment_ref, target.0, taken],
                )?;
            }
            Ok(Micros(taken))
        })
        .await
        .map_err(failed)
    }

    async fn taken_back(&self, account: &AccountId) -> Result<Micros, UsageError> {
        let account = account.to_string();
        self.call(move |db| {
            db.query_row(
                "SELECT COALESCE(SUM(taken), 0) FROM balance_take_backs WHERE account_id = ?1",
                [account],
                |row| row.get(0),
            )
        })
        .await
        .map_err(failed)
        .map(Micros)
    }
}
