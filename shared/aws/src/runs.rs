//! `runs` table, key `id`. Open runs carry `open_state = "open"`: the sparse GSI
//! `open_by_deadline` (`open_state`, `deadline`) is what the deadline sweep queries;
//! `by_workflow` (`workflow_id`, `created_at`) serves a workflow's recent runs.
//! Counters live in the same table: `COUNTER#running` (the concurrency cap),
//! `COUNTER#DAY#<day>` (starts, completed, failed, revenue_cents).
//!
//! A claim is one transaction over the workflow (version guard), the day counter
//! (`starts < cap`), the running counter (`running < cap`) and the new run; ending a run
//! is one transaction over the run (status guard), the workflow, and the counters.

use crate::Aws;
use crate::dynamo::{
    Item, OPTIMISTIC_ATTEMPTS, Transacted, built, from_stored, get, get_stored, n, s, sdk, to_stored, took_effect,
    transact,
};
use crate::workflows::workflow_item;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::runs::{Claim, Claimed, DayTotals, Finished, Runs, RunsError};
use tollgate_core::ids::{RunId, WorkflowId};
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Outcome, Run, RunStatus};

const OPEN: &str = "open";
const RUNNING: &str = "COUNTER#running";

fn failed(error: PortError) -> RunsError {
    RunsError(error)
}

fn day_counter(day: &str) -> String {
    format!("COUNTER#DAY#{day}")
}

pub(crate) fn run_item(run: &Run) -> Result<Item, PortError> {
    let mut item = to_stored(run)?;
    if run.status.is_open() {
        item.insert("open_state".into(), s(OPEN));
    }
    crate::customer_runs::customer_attributes(run, &mut item);
    Ok(item)
}

impl Aws {
    fn put(
        &self,
        table: &str,
        item: Item,
        condition: &str,
        values: &[(&str, i64)],
    ) -> Result<TransactWriteItem, PortError> {
        let mut put = Put::builder().table_name(table).set_item(Some(item)).condition_expression(condition);
        for (name, value) in values {
            put = put.expression_attribute_values(*name, n(*value));
        }
        Ok(TransactWriteItem::builder().put(built(put.build())?).build())
    }

    fn update_counter(
        &self,
        id: &str,
        expression: &str,
        condition: Option<&str>,
        values: &[(&str, i64)],
    ) -> Result<TransactWriteItem, PortError> {
        let mut update =
            Update::builder().table_name(&self.resources.runs_table).key("id", s(id)).update_expression(expression);
        if let Some(condition) = condition {
            update = update.condition_expression(condition);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(*name, n(*value));
        }
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }

    pub(crate) async fn read_run(&self, id: &str) -> Result<Option<Run>, PortError> {
        get_stored(&self.dynamo, &self.resources.runs_table, &[("id", s(id))]).await
    }

    async fn query_runs(
        &self,
        index: &str,
        condition: &str,
        values: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>,
        limit: Option<usize>,
    ) -> Result<Vec<Run>, PortError> {
        let mut runs = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .dynamo
                .query()
                .table_name(&self.resources.runs_table)
                .index_name(index)
                .key_condition_expression(condition)
                .set_exclusive_start_key(start);
            for (name, value) in &values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            if let Some(limit) = limit {
                query = query.limit(limit as i32);
            }
            let output = query.send().await.map_err(sdk)?;
            for item in output.items.unwrap_or_default() {
                runs.push(from_stored(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() || limit.is_some() {
                return Ok(runs);
            }
        }
    }

    async fn try_claim(&self, claim: &Claim) -> Result<Option<Claimed>, PortError> {
        let Some(mut workflow) = self.read_workflow(claim.run.workflow_id.as_str()).await? else {
            return Ok(Some(Claimed::NotIdle));
        };
        let read_version = workflow.version as i64;
        if !workflow.claim(&claim.run.id, claim.guard) {
            return Ok(Some(Claimed::NotIdle));
        }
        let items = vec![
            self.put(
                &self.resources.workflows_table,
                workflow_item(&workflow)?,
                "version = :read",
                &[(":read", read_version)],
            )?,
            self.update_counter(
                &day_counter(&claim.day),
                "ADD starts :one",
                Some("attribute_not_exists(starts) OR starts < :cap"),
                &[(":one", 1), (":cap", i64::from(claim.caps.daily_starts))],
            )?,
            self.update_counter(
                RUNNING,
                "ADD running :one",
                Some("attribute_not_exists(running) OR running < :cap"),
                &[(":one", 1), (":cap", i64::from(claim.caps.concurrent))],
            )?,
            self.put(&self.resources.runs_table, run_item(&claim.run)?, "attribute_not_exists(id)", &[])?,
        ];
        Ok(match transact(&self.dynamo, items).await? {
            Transacted::Committed => Some(Claimed::Started),
            Transacted::Cancelled(reasons) => {
                let failed_at = |index: usize| reasons.get(index).is_some_and(|code| code == "ConditionalCheckFailed");
                if reasons.iter().any(|code| code == "TransactionConflict") {
                    None
                } else if failed_at(0) || failed_at(3) {
                    Some(Claimed::NotIdle)
                } else if failed_at(1) {
                    Some(Claimed::DailyCapReached)
                } else if failed_at(2) {
                    Some(Claimed::ConcurrencyCapReached)
                } else {
                    return Err(PortError::new(ErrorKind::Conflict, format!("claim cancelled: {reasons:?}")));
                }
            }
        })
    }

    async fn try_finish(&self, id: &RunId, outcome: &Outcome, day: &str) -> Result<Option<Finished>, PortError> {
        let Some(mut run) = self.read_run(id.as_str()).await? else { return Ok(Some(Finished::Unknown)) };
        if !run.status.is_open() {
            return Ok(Some(Finished::AlreadyEnded(run)));
        }
        let read_status = run.status;
        let before = run.clone();
        run.end(outcome);
        // A customer's run held a slot of its own pool, not the workflow nor the operator's
        // cap; what it frees and gives back is marked on it before it is written.
        let released = self.released(&before, &mut run).await?;
        let mut items = Vec::with_capacity(4 + released.len());
        items.push(self.put_run(&run, "#status = :read", vec![(":read", s(read_status.as_str()))])?);
        items.extend(released);
        let mut streak = 0;
        if run.customer.is_none()
            && let Some(mut workflow) = self.read_workflow(run.workflow_id.as_str()).await?
        {
            let read_version = workflow.version as i64;
            if let Some(after) = workflow.release(&run) {
                streak = after;
                items.push(self.put(
                    &self.resources.workflows_table,
                    workflow_item(&workflow)?,
                    "version = :read",
                    &[(":read", read_version)],
                )?);
            }
        }
        let (completed, failed) = if run.status == RunStatus::Completed { (1, 0) } else { (0, 1) };
        if run.customer.is_none() {
            items.push(self.update_counter(RUNNING, "ADD running :minus", None, &[(":minus", -1)])?);
        }
        items.push(self.update_counter(
            &day_counter(day),
            "ADD completed :completed, failed :failed, revenue_cents :revenue",
            None,
            &[(":completed", completed), (":failed", failed), (":revenue", run.earnings_cents)],
        )?);
        Ok(match transact(&self.dynamo, items).await? {
            Transacted::Committed => Some(Finished::Ended { run, streak }),
            // The run or its workflow changed since they were read: read again.
            Transacted::Cancelled(_) => None,
        })
    }
}

#[derive(serde::Deserialize, Default)]
struct DayItem {
    #[serde(default)]
    starts: u32,
    #[serde(default)]
    completed: u64,
    #[serde(default)]
    failed: u64,
    #[serde(default)]
    revenue_cents: i64,
}

impl Runs for Aws {
    async fn claim(&self, claim: &Claim) -> Result<Claimed, RunsError> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            if let Some(claimed) = self.try_claim(claim).await.map_err(failed)? {
                return Ok(claimed);
            }
        }
        Err(failed(PortError::new(ErrorKind::Conflict, "the claim kept conflicting with other writes")))
    }

    async fn run(&self, id: &RunId) -> Result<Option<Run>, RunsError> {
        self.read_run(id.as_str()).await.map_err(failed)
    }

    async fn mark_started(&self, id: &RunId, at: Timestamp) -> Result<bool, RunsError> {
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.runs_table)
            .key("id", s(id.as_str()))
            .update_expression("SET #status = :started, started_at = :at")
            .condition_expression("#status = :queued")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":started", s(RunStatus::Started.as_str()))
            .expression_attribute_values(":queued", s(RunStatus::Queued.as_str()))
            .expression_attribute_values(":at", n(at.0))
            .send()
            .await;
        took_effect(update).map_err(failed)
    }

    async fn finish(&self, id: &RunId, outcome: &Outcome, day: &str) -> Result<Finished, RunsError> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            if let Some(finished) = self.try_finish(id, outcome, day).await.map_err(failed)? {
                return Ok(finished);
            }
        }
        Err(failed(PortError::new(ErrorKind::Conflict, "ending the run kept conflicting with other writes")))
    }

    async fn overdue(&self, now: Timestamp, limit: usize) -> Result<Vec<Run>, RunsError> {
        self.query_runs(
            "open_by_deadline",
            "open_state = :open AND deadline <= :now",
            vec![(":open", s(OPEN)), (":now", n(now.0))],
            Some(limit),
        )
        .await
        .map_err(failed)
    }

    async fn open_runs(&self) -> Result<Vec<Run>, RunsError> {
        self.query_runs("open_by_deadline", "open_state = :open", vec![(":open", s(OPEN))], None).await.map_err(failed)
    }

    async fn runs_since(&self, workflow: &WorkflowId, since: Timestamp) -> Result<Vec<Run>, RunsError> {
        self.query_runs(
            "by_workflow",
            "workflow_id = :workflow AND created_at >= :since",
            vec![(":workflow", s(workflow.as_str())), (":since", n(since.0))],
            None,
        )
        .await
        .map_err(failed)
    }

    async fn day_totals(&self, day: &str) -> Result<DayTotals, RunsError> {
        let key = [("id", s(day_counter(day)))];
        let item: DayItem =
            get(&self.dynamo, &self.resources.runs_table, &key).await.map_err(failed)?.unwrap_or_default();
        Ok(DayTotals {
            starts: item.starts,
            completed: item.completed,
            failed: item.failed,
            revenue_cents: item.revenue_cents,
        })
    }
}
