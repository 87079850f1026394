//! A member's choice of premium workflows is an item of its partition in the `accounts`
//! table: `ACCOUNT#{id}` / `PREMIUM_CHOICE`, the ids as a list in the order chosen.

use crate::Aws;
use crate::accounts::account_key;
use crate::dynamo::{get, n, s, sdk};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::premium_choices::{PremiumChoices, PremiumChoicesError};
use tollgate_core::ids::{AccountId, WorkflowId};
use tollgate_core::time::Timestamp;

const SORT_KEY: &str = "PREMIUM_CHOICE";

#[derive(Deserialize)]
struct ChoiceItem {
    workflows: Vec<String>,
}

fn failed(error: PortError) -> PremiumChoicesError {
    PremiumChoicesError(error)
}

impl PremiumChoices for Aws {
    async fn choose(
        &self,
        account: &AccountId,
        workflows: &[WorkflowId],
        at: Timestamp,
    ) -> Result<(), PremiumChoicesError> {
        let ids = workflows.iter().map(|id| s(id.as_str())).collect();
        self.dynamo
            .put_item()
            .table_name(&self.resources.accounts_table)
            .item("pk", account_key(account))
            .item("sk", s(SORT_KEY))
            .item("workflows", AttributeValue::L(ids))
            .item("chosen_at", n(at.0))
            .send()
            .await
            .map(drop)
            .map_err(|e| failed(sdk(e)))
    }

    async fn chosen(&self, account: &AccountId) -> Result<Option<Vec<WorkflowId>>, PremiumChoicesError> {
        let key = [("pk", account_key(account)), ("sk", s(SORT_KEY))];
        let Some(item) = get::<ChoiceItem>(&self.dynamo, &self.resources.accounts_table, &key).await.map_err(failed)?
        else {
            return Ok(None);
        };
        let ids = item.workflows.iter().map(|id| {
            WorkflowId::parse(id).map_err(|_| {
                failed(PortError::new(ErrorKind::Corrupt, format!("the premium choice of {account} names {id:?}")))
            })
        });
        ids.collect::<Result<_, _>>().map(Some)
    }
}
