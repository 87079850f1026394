//! Runs and the caps, on SQLite. Each operation runs on the one writer thread inside
//! its own savepoint, so a claim or a run end is atomic without further locking.

use crate::Sqlite;
use crate::records::{from_json, to_json};
use crate::workflows::{load_workflow, store_workflow};
use rusqlite::{Connection, OptionalExtension, params};
use tollgate_app::ports::runs::{Claim, Claimed, DayTotals, Finished, Runs, RunsError};
use tollgate_core::customer_run::Pool;
use tollgate_core::ids::{RunId, WorkflowId};
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Outcome, Run, RunStatus};

/// Runs holding a slot: the statuses the overdue index is read for.
const OPEN: &str = "status IN ('queued', 'started')";
const RUNNING: &str = "running";

fn failed(error: crate::DbError) -> RunsError {
    RunsError(error.into())
}

pub(crate) fn counter(db: &Connection, name: &str) -> rusqlite::Result<i64> {
    Ok(db.query_row("SELECT value FROM counters WHERE name = ?1", [name], |row| row.get(0)).optional()?.unwrap_or(0))
}

/// Adds in Rust, checked: SQLite's own `+` turns an overflowing integer into a float.
pub(crate) fn add(db: &Connection, name: &str, amount: i64) -> rusqlite::Result<()> {
    let total = crate::checked_sum(counter(db, name)?, amount, name)?;
    db.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, total],
    )
    .map(drop)
}

pub(crate) fn store_run(db: &Connection, run: &Run) -> rusqlite::Result<()> {
    let customer = run.customer.as_deref();
    db.execute(
        "INSERT INTO runs (id, workflow_id, status, created_at, deadline, data, account_id, pool, turn)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, deadline = excluded.deadline,
             data = excluded.data, pool = excluded.pool, turn = excluded.turn",
        params![
            run.id.as_str(),
            run.workflow_id.as_str(),
            run.status.as_str(),
            run.created_at.0,
            run.deadline.0,
            to_json(run)?,
            customer.map(|customer| customer.account_id.as_str()),
            customer.map(|customer| pool_name(customer.pool)),
            customer.and_then(|customer| customer.turn).map(|turn| turn as i64),
        ],
    )
    .map(drop)
}

pub(crate) fn pool_name(pool: Pool) -> &'static str {
    match pool {
        Pool::Waiting => "waiting",
        Pool::Holding => "holding",
        Pool::Left => "left",
    }
}

pub(crate) fn load_run(db: &Connection, id: &str) -> rusqlite::Result<Option<Run>> {
    db.query_row("SELECT data FROM runs WHERE id = ?1", [id], from_json).optional()
}

pub(crate) fn runs_where(
    db: &Connection,
    condition: &str,
    values: impl rusqlite::Params,
) -> rusqlite::Result<Vec<Run>> {
    let mut statement = db.prepare(&format!("SELECT data FROM runs WHERE {condition}"))?;
    statement.query_map(values, from_json)?.collect()
}

fn claim_in(db: &Connection, claim: &Claim) -> rusqlite::Result<Claimed> {
    let Some(mut workflow) = load_workflow(db, claim.run.workflow_id.as_str())? else { return Ok(Claimed::NotIdle) };
    // Claimed in memory only: nothing is stored unless both caps have room.
    if !workflow.claim(&claim.run.id, claim.guard) {
        return Ok(Claimed::NotIdle);
    }
    let starts = format!("starts:{}", claim.day);
    if counter(db, &starts)? >= i64::from(claim.caps.daily_starts) {
        return Ok(Claimed::DailyCapReached);
    }
    if counter(db, RUNNING)? >= i64::from(claim.caps.concurrent) {
        return Ok(Claimed::ConcurrencyCapReached);
    }
    store_workflow(db, &workflow)?;
    add(db, &starts, 1)?;
    add(db, RUNNING, 1)?;
    store_run(db, &claim.run)?;
    Ok(Claimed::Started)
}

fn finish_in(db: &Connection, id: &str, outcome: &Outcome, day: &str) -> rusqlite::Result<Finished> {
    let Some(mut run) = load_run(db, id)? else { return Ok(Finished::Unknown) };
    if !run.status.is_open() {
        return Ok(Finished::AlreadyEnded(run));
    }
    run.end(outcome);
    let mut streak = 0;
    if run.customer.is_some() {
        // A customer's run held a slot of its own pool, not the workflow nor the operator's cap.
        crate::customer_runs::give_back(db, &mut run)?;
    } else {
        if let Some(mut workflow) = load_workflow(db, run.workflow_id.as_str())?
            && let Some(after) = workflow.release(&run)
        {
            streak = after;
            store_workflow(db, &workflow)?;
        }
        add(db, RUNNING, -1)?;
    }
    add(db, &format!("{}:{day}", run.status.as_str()), 1)?;
    add(db, &format!("revenue:{day}"), run.earnings_cents)?;
    store_run(db, &run)?;
    Ok(Finished::Ended { run, streak })
}

impl Runs for Sqlite {
    async fn claim(&self, claim: &Claim) -> Result<Claimed, RunsError> {
        let claim = claim.clone();
        self.call(move |db| claim_in(db, &claim)).await.map_err(failed)
    }

    async fn run(&self, id: &RunId) -> Result<Option<Run>, RunsError> {
        let id = id.clone();
        self.call(move |db| load_run(db, id.as_str())).await.map_err(failed)
    }

    async fn mark_started(&self, id: &RunId, at: Timestamp) -> Result<bool, RunsError> {
        let id = id.clone();
        self.call(move |db| {
            let Some(mut run) = load_run(db, id.as_str())? else { return Ok(false) };
            if run.status != RunStatus::Queued {
                return Ok(false);
            }
            run.status = RunStatus::Started;
            run.started_at = Some(at);
            store_run(db, &run).map(|()| true)
        })
        .await
        .map_err(failed)
    }

    async fn finish(&self, id: &RunId, outcome: &Outcome, day: &str) -> Result<Finished, RunsError> {
        let (id, outcome, day) = (id.clone(), outcome.clone(), day.to_owned());
        self.call(move |db| finish_in(db, id.as_str(), &outcome, &day)).await.map_err(failed)
    }

    async fn overdue(&self, now: Timestamp, limit: usize) -> Result<Vec<Run>, RunsError> {
        self.call(move |db| {
            runs_where(
                db,
                &format!("{OPEN} AND deadline <= ?1 ORDER BY deadline LIMIT ?2"),
                params![now.0, limit as i64],
            )
        })
        .await
        .map_err(failed)
    }

    async fn open_runs(&self) -> Result<Vec<Run>, RunsError> {
        self.call(|db| runs_where(db, &format!("{OPEN} ORDER BY deadline"), [])).await.map_err(failed)
    }

    async fn runs_since(&self, workflow: &WorkflowId, since: Timestamp) -> Result<Vec<Run>, RunsError> {
        let workflow = workflow.clone();
        self.call(move |db| {
            runs_where(
                db,
                "workflow_id = ?1 AND created_at >= ?2 ORDER BY created_at",
                params![workflow.as_str(), since.0],
            )
        })
        .await
        .map_err(failed)
    }

    async fn day_totals(&self, day: &str) -> Result<DayTotals, RunsError> {
        let day = day.to_owned();
        self.call(move |db| {
            Ok(DayTotals {
                starts: counter(db, &format!("starts:{day}"))? as u32,
                completed: counter(db, &format!("completed:{day}"))? as u64,
                failed: counter(db, &format!("failed:{day}"))? as u64,
                revenue_cents: counter(db, &format!("revenue:{day}"))?,
            })
        })
        .await
        .map_err(failed)
    }
}
