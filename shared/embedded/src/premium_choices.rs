use crate::Sqlite;
use rusqlite::{OptionalExtension, params};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::premium_choices::{PremiumChoices, PremiumChoicesError};
use tollgate_core::ids::{AccountId, WorkflowId};
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> PremiumChoicesError {
    PremiumChoicesError(error.into())
}

impl PremiumChoices for Sqlite {
    async fn choose(
        &self,
        account: &AccountId,
        workflows: &[WorkflowId],
        at: Timestamp,
    ) -> Result<(), PremiumChoicesError> {
        let account = account.to_string();
        let workflows = serde_json::to_string(workflows).expect("workflow ids always serialise");
        self.call(move |db| {
            db.execute(
                "INSERT INTO premium_choices (account_id, workflows, chosen_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account_id) DO UPDATE SET workflows = excluded.workflows, chosen_at = excluded.chosen_at",
                params![account, workflows, at.0],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn chosen(&self, account: &AccountId) -> Result<Option<Vec<WorkflowId>>, PremiumChoicesError> {
        let account = account.to_string();
        let stored: Option<String> = self
            .call(move |db| {
                db.query_row("SELECT workflows FROM premium_choices WHERE account_id = ?1", [account], |row| row.get(0))
                    .optional()
            })
            .await
            .map_err(failed)?;
        stored.map(|text| serde_json::from_str(&text)).transpose().map_err(|error| {
            PremiumChoicesError(PortError::caused_by(ErrorKind::Corrupt, "a stored premium choice", error))
        })
    }
}
