//! `workflows` table, key `id`. Idle, enabled workflows carry `due_state = "idle"` and
//! `due_at` (their next run): the sparse GSI `by_due` on those two is what a tick
//! queries, so its cost follows the number due, not the number registered. Every write
//! is a whole-item put under a `version` condition.

use crate::Aws;
use crate::dynamo::{Item, from_stored, get_stored, n, s, sdk, to_stored, took_effect};
use tollgate_app::ports::error::PortError;
use tollgate_app::ports::workflows::{Workflows, WorkflowsError};
use tollgate_core::ids::WorkflowId;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Workflow, WorkflowState};

pub const DUE_INDEX: &str = "by_due";
const IDLE: &str = "idle";

fn failed(error: PortError) -> WorkflowsError {
    WorkflowsError(error)
}

/// The item for `workflow`, with the index attributes its state calls for.
pub fn workflow_item(workflow: &Workflow) -> Result<Item, PortError> {
    let mut item = to_stored(workflow)?;
    if workflow.state == WorkflowState::Idle
        && workflow.spec.enabled
        && let Some(next_run) = workflow.next_run
    {
        item.insert("due_state".into(), s(IDLE));
        item.insert("due_at".into(), n(next_run.0));
    }
    Ok(item)
}

impl Aws {
    pub(crate) async fn read_workflow(&self, id: &str) -> Result<Option<Workflow>, PortError> {
        get_stored(&self.dynamo, &self.resources.workflows_table, &[("id", s(id))]).await
    }
}

impl Workflows for Aws {
    async fn create(&self, workflow: &Workflow) -> Result<bool, WorkflowsError> {
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.workflows_table)
            .set_item(Some(workflow_item(workflow).map_err(failed)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        took_effect(put).map_err(failed)
    }

    async fn workflow(&self, id: &WorkflowId) -> Result<Option<Workflow>, WorkflowsError> {
        self.read_workflow(id.as_str()).await.map_err(failed)
    }

    /// An operator's listing: a paginated scan, never on a tick's path.
    async fn workflows(&self) -> Result<Vec<Workflow>, WorkflowsError> {
        let mut workflows = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .dynamo
                .scan()
                .table_name(&self.resources.workflows_table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| failed(sdk(e)))?;
            for item in output.items.unwrap_or_default() {
                workflows.push(from_stored::<Workflow>(item).map_err(failed)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                workflows.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
                return Ok(workflows);
            }
        }
    }

    async fn respecify(&self, workflow: &Workflow, expected_version: u64) -> Result<bool, WorkflowsError> {
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.workflows_table)
            .set_item(Some(workflow_item(workflow).map_err(failed)?))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(expected_version as i64))
            .send()
            .await;
        took_effect(put).map_err(failed)
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<Workflow>, WorkflowsError> {
        let output = self
            .dynamo
            .query()
            .table_name(&self.resources.workflows_table)
            .index_name(DUE_INDEX)
            .key_condition_expression("due_state = :idle AND due_at <= :now")
            .expression_attribute_values(":idle", s(IDLE))
            .expression_attribute_values(":now", n(now.0))
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        output.items.unwrap_or_default().into_iter().map(|item| from_stored(item).map_err(failed)).collect()
    }
}
