//! Customers' runs on SQLite: rows of `runs` with an `account_id`, their place in the pool
//! (`pool`, `turn`), their charge counted on the account's meter totals (`usage_totals`)
//! and balance spent (`credits_spent`), and `run_idempotency`. Each operation is one
//! savepoint on the one writer thread, so a charge, a slot or a give-back is exact.

use crate::Sqlite;
use crate::runs::{add, counter, load_run, runs_where, store_run};
use crate::usage::{balance_owner, calls, credits, meter_owner, set_credits, set_total};
use rusqlite::{Connection, OptionalExtension, params};
use tollgate_app::ports::customer_runs::{
    Cancelled, CustomerRuns, CustomerRunsError, Enqueued, NewRun, PastQuota, RunFilter,
};
use tollgate_core::customer_run::{Waiting, next_turn};
use tollgate_core::ids::{AccountId, RunId};
use tollgate_core::money::Micros;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::Run;

/// The last turn handed out, in `counters`.
const TURNS: &str = "customer_turns";

fn failed(error: crate::DbError) -> CustomerRunsError {
    CustomerRunsError(error.into())
}

fn enqueue_in(db: &Connection, new: &NewRun, now: Timestamp) -> rusqlite::Result<Enqueued> {
    let mut run = new.run.clone();
    let customer = run.customer.as_deref_mut().expect("only customer runs are enqueued");
    let account = customer.account_id.as_str().to_owned();
    if let Some(key) = &customer.idempotency_key {
        let earlier: Option<String> = db
            .query_row(
                "SELECT run_id FROM run_idempotency WHERE account_id = ?1 AND key = ?2 AND expires_at > ?3",
                params![account, key, now.0],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(earlier) = earlier
            && let Some(run) = load_run(db, &earlier)?
        {
            return Ok(Enqueued::Replayed(run));
        }
    }
    if new.refuse_when_busy {
        let in_flight: i64 = db.query_row(
            "SELECT COUNT(*) FROM runs WHERE account_id = ?1 AND pool IN ('waiting', 'holding')",
            [&account],
            |row| row.get(0),
        )?;
        if in_flight >= i64::from(customer.concurrent_runs) {
            return Ok(Enqueued::ConcurrencyLimit);
        }
    }
    let charged = &mut customer.charged;
    let owner = meter_owner(&customer.account_id, &charged.meter);
    let used = calls(db, &owner, charged.window_start.0)?;
    let beyond = match new.quota {
        Some(quota) => used.saturating_add(charged.units).saturating_sub(quota.max(used)).min(charged.units),
        None => 0,
    };
    if beyond > 0 {
        match new.past_quota {
            PastQuota::Refused => return Ok(Enqueued::QuotaExceeded { quota: new.quota.unwrap_or(0) }),
            PastQuota::Billed => charged.overage = beyond,
            PastQuota::Balance { price, granted } => {
                let balance = balance_owner(&customer.account_id);
                let spent = credits(db, &balance)?;
                let left = granted.0.saturating_sub(i64::try_from(spent).unwrap_or(i64::MAX)).max(0);
                let Some(amount) = price.checked_times(beyond).filter(|amount| amount.0 <= left) else {
                    return Ok(Enqueued::InsufficientBalance { left: Micros(left) });
                };
                set_credits(db, &balance, crate::checked_count(spent, amount.0.unsigned_abs(), "balance spent")?)?;
                charged.overage = beyond;
                charged.paid = amount;
            }
        }
    }
    set_total(db, &owner, charged.window_start.0, crate::checked_count(used, charged.units, "meter units")?)?;
    if let Some(key) = &customer.idempotency_key {
        db.execute(
            "INSERT INTO run_idempotency (account_id, key, run_id, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account_id, key) DO UPDATE SET run_id = excluded.run_id, expires_at = excluded.expires_at",
            params![account, key, run.id.as_str(), new.idempotent_until.0],
        )?;
    }
    store_run(db, &run)?;
    Ok(Enqueued::Accepted(run))
}

/// Gives back what an ended or cancelled run did not earn: its units on the meter and
/// what they took from the balance. Once: the run is marked, and stored by the caller.
pub(crate) fn give_back(db: &Connection, run: &mut Run) -> rusqlite::Result<()> {
    let Some(charged) = run.units_to_give_back() else { return Ok(()) };
    let account = run.account().expect("only customer runs are charged").clone();
    let owner = meter_owner(&account, &charged.meter);
    let used = calls(db, &owner, charged.window_start.0)?;
    set_total(db, &owner, charged.window_start.0, used.saturating_sub(charged.units))?;
    if charged.paid.0 > 0 {
        let balance = balance_owner(&account);
        let spent = credits(db, &balance)?;
        set_credits(db, &balance, spent.saturating_sub(charged.paid.0.unsigned_abs()))?;
    }
    Ok(())
}

fn take_turn_in(db: &Connection, pool: u32, now: Timestamp) -> rusqlite::Result<Option<Run>> {
    let holding: i64 = db.query_row("SELECT COUNT(*) FROM runs WHERE pool = 'holding'", [], |row| row.get(0))?;
    let holding = u32::try_from(holding).unwrap_or(u32::MAX);
    if holding >= pool {
        return Ok(None);
    }
    let mut statement =
        db.prepare("SELECT account_id, MIN(created_at) FROM runs WHERE pool = 'waiting' GROUP BY account_id")?;
    let accounts: Vec<(String, i64)> =
        statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?;
    let mut waiting = Vec::with_capacity(accounts.len());
    for (account, oldest) in accounts {
        let (held, last_turn): (i64, Option<i64>) = db.query_row(
            "SELECT (SELECT COUNT(*) FROM runs WHERE pool = 'holding' AND account_id = ?1),
                    (SELECT MAX(turn) FROM runs WHERE account_id = ?1 AND turn IS NOT NULL)",
            [&account],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let Some(first) = oldest_waiting(db, &account)? else { continue };
        let limit = first.customer.as_ref().map_or(1, |customer| customer.concurrent_runs);
        let Ok(account_id) = AccountId::parse(&account) else { continue };
        waiting.push(Waiting {
            account_id,
            holding: u32::try_from(held).unwrap_or(u32::MAX),
            limit,
            last_turn: last_turn.map(|turn| turn.unsigned_abs()),
            oldest: Timestamp(oldest),
        });
    }
    let Some(account) = next_turn(&waiting, holding, pool) else { return Ok(None) };
    let Some(mut run) = oldest_waiting(db, account.as_str())? else { return Ok(None) };
    let turn = counter(db, TURNS)?.saturating_add(1);
    if !run.take_slot(turn.unsigned_abs(), now) {
        return Ok(None);
    }
    add(db, TURNS, 1)?;
    store_run(db, &run)?;
    Ok(Some(run))
}

fn oldest_waiting(db: &Connection, account: &str) -> rusqlite::Result<Option<Run>> {
    let id: Option<String> = db
        .query_row(
            "SELECT id FROM runs WHERE pool = 'waiting' AND account_id = ?1 ORDER BY created_at, id LIMIT 1",
            [account],
            |row| row.get(0),
        )
        .optional()?;
    match id {
        Some(id) => load_run(db, &id),
        None => Ok(None),
    }
}

fn cancel_in(db: &Connection, account: &AccountId, id: &RunId, now: Timestamp) -> rusqlite::Result<Cancelled> {
    let Some(mut run) = load_run(db, id.as_str())?.filter(|run| run.account() == Some(account)) else {
        return Ok(Cancelled::Unknown);
    };
    if !run.cancel(now) {
        return Ok(Cancelled::TooLate(run));
    }
    give_back(db, &mut run)?;
    store_run(db, &run)?;
    Ok(Cancelled::Done(run))
}

fn account_runs_in(db: &Connection, account: &AccountId, filter: &RunFilter) -> rusqlite::Result<Vec<Run>> {
    let after = match &filter.starting_after {
        Some(id) => {
            let created_at = db
                .query_row(
                    "SELECT created_at FROM runs WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    |row| row.get::<_, i64>(0),
                )
                .optional()?;
            // Nothing follows a run the account does not have.
            let Some(created_at) = created_at else { return Ok(Vec::new()) };
            Some((created_at, id.as_str().to_owned()))
        }
        None => None,
    };
    let (after_at, after_id) = after.unwrap_or((i64::MAX, String::new()));
    runs_where(
        db,
        "account_id = ?1 AND (?2 IS NULL OR workflow_id = ?2) AND (?3 IS NULL OR status = ?3)
         AND (created_at < ?4 OR (created_at = ?4 AND id < ?5) OR ?5 = '')
         ORDER BY created_at DESC, id DESC LIMIT ?6",
        params![
            account.as_str(),
            filter.workflow.as_ref().map(|id| id.as_str()),
            filter.status.map(|status| status.as_str()),
            after_at,
            after_id,
            i64::try_from(filter.limit).unwrap_or(i64::MAX),
        ],
    )
}

impl CustomerRuns for Sqlite {
    async fn enqueue(&self, new: &NewRun, now: Timestamp) -> Result<Enqueued, CustomerRunsError> {
        let new = new.clone();
        self.call(move |db| enqueue_in(db, &new, now)).await.map_err(failed)
    }

    async fn take_turn(&self, pool: u32, now: Timestamp) -> Result<Option<Run>, CustomerRunsError> {
        self.call(move |db| take_turn_in(db, pool, now)).await.map_err(failed)
    }

    async fn cancel(&self, account: &AccountId, id: &RunId, now: Timestamp) -> Result<Cancelled, CustomerRunsError> {
        let (account, id) = (account.clone(), id.clone());
        self.call(move |db| cancel_in(db, &account, &id, now)).await.map_err(failed)
    }

    async fn account_runs(&self, account: &AccountId, filter: &RunFilter) -> Result<Vec<Run>, CustomerRunsError> {
        let (account, filter) = (account.clone(), filter.clone());
        self.call(move |db| account_runs_in(db, &account, &filter)).await.map_err(failed)
    }
}
