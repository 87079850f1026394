use crate::Sqlite;
use crate::records::{from_json, to_json};
use rusqlite::{OptionalExtension, params};
use tollgate_app::ports::workflow_subscriptions::{WorkflowSubscriptions, WorkflowSubscriptionsError};
use tollgate_core::ids::{AccountId, SubscriptionId};
use tollgate_core::instance::{Instance, KeptParams};
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> WorkflowSubscriptionsError {
    WorkflowSubscriptionsError(error.into())
}

/// The time a tick looks for: none once stopped.
fn due_at(instance: &Instance) -> Option<i64> {
    instance.next_run.filter(|_| !instance.stopped).map(|at| at.0)
}

impl WorkflowSubscriptions for Sqlite {
    async fn keep_params(&self, session_id: &str, kept: &KeptParams) -> Result<(), WorkflowSubscriptionsError> {
        let (session_id, kept) = (session_id.to_owned(), kept.clone());
        self.call(move |db| {
            db.execute(
                "INSERT INTO kept_params (session_id, data) VALUES (?1, ?2)
                 ON CONFLICT (session_id) DO UPDATE SET data = excluded.data",
                params![session_id, to_json(&kept)?],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn kept_params(&self, session_id: &str) -> Result<Option<KeptParams>, WorkflowSubscriptionsError> {
        let session_id = session_id.to_owned();
        self.call(move |db| {
            db.query_row("SELECT data FROM kept_params WHERE session_id = ?1", [session_id], from_json).optional()
        })
        .await
        .map_err(failed)
    }

    async fn start_instance(&self, instance: &Instance) -> Result<Instance, WorkflowSubscriptionsError> {
        let instance = instance.clone();
        self.call(move |db| {
            let stored = db
                .query_row("SELECT data FROM workflow_instances WHERE id = ?1", [instance.id.as_str()], from_json)
                .optional()?;
            if let Some(stored) = stored {
                return Ok(stored);
            }
            db.execute(
                "INSERT INTO workflow_instances (id, account_id, due_at, version, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    instance.id.as_str(),
                    instance.account_id.as_str(),
                    due_at(&instance),
                    i64::try_from(instance.version).unwrap_or(i64::MAX),
                    to_json(&instance)?
                ],
            )?;
            Ok(instance)
        })
        .await
        .map_err(failed)
    }

    async fn instance(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> Result<Option<Instance>, WorkflowSubscriptionsError> {
        let (account, id) = (account.to_string(), id.to_string());
        self.call(move |db| {
            db.query_row(
                "SELECT data FROM workflow_instances WHERE id = ?1 AND account_id = ?2",
                [id, account],
                from_json,
            )
            .optional()
        })
        .await
        .map_err(failed)
    }

    async fn account_instances(&self, account: &AccountId) -> Result<Vec<Instance>, WorkflowSubscriptionsError> {
        let account = account.to_string();
        let mut instances: Vec<Instance> = self
            .call(move |db| {
                let mut statement = db.prepare("SELECT data FROM workflow_instances WHERE account_id = ?1")?;
                statement.query_map([account], from_json)?.collect()
            })
            .await
            .map_err(failed)?;
        instances.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(instances)
    }

    async fn due_instances(&self, now: Timestamp, limit: usize) -> Result<Vec<Instance>, WorkflowSubscriptionsError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |db| {
            let mut statement = db.prepare(
                "SELECT data FROM workflow_instances WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2",
            )?;
            statement.query_map(params![now.0, limit], from_json)?.collect()
        })
        .await
        .map_err(failed)
    }

    async fn update_instance(&self, instance: &Instance, read: u64) -> Result<bool, WorkflowSubscriptionsError> {
        let instance = Instance { version: read.saturating_add(1), ..instance.clone() };
        self.call(move |db| {
            let version = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            db.execute(
                "UPDATE workflow_instances SET due_at = ?1, version = ?2, data = ?3 WHERE id = ?4 AND version = ?5",
                params![
                    due_at(&instance),
                    version(instance.version),
                    to_json(&instance)?,
                    instance.id.as_str(),
                    version(read)
                ],
            )
            .map(|changed| changed == 1)
        })
        .await
        .map_err(failed)
    }
}
