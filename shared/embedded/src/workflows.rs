use crate::Sqlite;
use crate::records::{from_json, to_json};
use rusqlite::{OptionalExtension, params};
use tollgate_app::ports::workflows::{Workflows, WorkflowsError};
use tollgate_core::ids::WorkflowId;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Workflow, WorkflowState};

fn failed(error: crate::DbError) -> WorkflowsError {
    WorkflowsError(error.into())
}

/// The indexed columns follow the stored document: every write of a workflow goes through here.
pub(crate) fn store_workflow(db: &rusqlite::Connection, workflow: &Workflow) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO workflows (id, state, enabled, next_run, version, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, enabled = excluded.enabled,
           next_run = excluded.next_run, version = excluded.version, data = excluded.data",
        params![
            workflow.spec.id.as_str(),
            workflow.state.as_str(),
            workflow.spec.enabled,
            workflow.next_run.map(|at| at.0),
            workflow.version as i64,
            to_json(workflow)?
        ],
    )
    .map(drop)
}

pub(crate) fn load_workflow(db: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<Workflow>> {
    db.query_row("SELECT data FROM workflows WHERE id = ?1", [id], from_json).optional()
}

impl Workflows for Sqlite {
    async fn create(&self, workflow: &Workflow) -> Result<bool, WorkflowsError> {
        let workflow = workflow.clone();
        self.call(move |db| {
            if load_workflow(db, workflow.spec.id.as_str())?.is_some() {
                return Ok(false);
            }
            store_workflow(db, &workflow).map(|()| true)
        })
        .await
        .map_err(failed)
    }

    async fn workflow(&self, id: &WorkflowId) -> Result<Option<Workflow>, WorkflowsError> {
        let id = id.clone();
        self.call(move |db| load_workflow(db, id.as_str())).await.map_err(failed)
    }

    async fn workflows(&self) -> Result<Vec<Workflow>, WorkflowsError> {
        self.call(|db| {
            let mut statement = db.prepare("SELECT data FROM workflows ORDER BY id")?;
            statement.query_map([], from_json)?.collect()
        })
        .await
        .map_err(failed)
    }

    async fn respecify(&self, workflow: &Workflow, expected_version: u64) -> Result<bool, WorkflowsError> {
        let workflow = workflow.clone();
        self.call(move |db| {
            let Some(stored) = load_workflow(db, workflow.spec.id.as_str())? else { return Ok(false) };
            if stored.version != expected_version {
                return Ok(false);
            }
            store_workflow(db, &workflow).map(|()| true)
        })
        .await
        .map_err(failed)
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<Workflow>, WorkflowsError> {
        self.call(move |db| {
            let mut statement = db.prepare(
                "SELECT data FROM workflows INDEXED BY workflows_due
                 WHERE state = ?1 AND enabled = 1 AND next_run <= ?2 ORDER BY next_run LIMIT ?3",
            )?;
            statement.query_map(params![WorkflowState::Idle.as_str(), now.0, limit as i64], from_json)?.collect()
        })
        .await
        .map_err(failed)
    }
}
