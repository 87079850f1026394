//! Workflow subscriptions in the `accounts` table: `CHECKOUT#{cs_…}` / `PARAMS` holds what a
//! buyer checked out with; `ACCOUNT#{id}` / `INSTANCE#{sub_…}` an instance, with its version.
//! An instance that may run carries `instance_due = "due"` and `due_at` (its next run): the
//! sparse GSI `instances_by_due` on those two is what a tick reads, never a scan.

use crate::Aws;
use crate::accounts::account_key;
use crate::dynamo::{from_item, get, is_condition_failure, items_under, n, s, sdk, to_item};
use serde::{Deserialize, Serialize};
use tollgate_app::ports::error::PortError;
use tollgate_app::ports::workflow_subscriptions::{WorkflowSubscriptions, WorkflowSubscriptionsError};
use tollgate_core::ids::{AccountId, SubscriptionId};
use tollgate_core::instance::{Instance, KeptParams};
use tollgate_core::time::Timestamp;
use tollgate_records::{InstanceRecord, KeptParamsRecord, Stored};

pub const DUE_INDEX: &str = "instances_by_due";
const DUE: &str = "due";

fn failed(error: PortError) -> WorkflowSubscriptionsError {
    WorkflowSubscriptionsError(error)
}

#[derive(Serialize, Deserialize)]
struct ParamsItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    kept: KeptParamsRecord,
}

#[derive(Serialize, Deserialize)]
struct InstanceItem {
    pk: String,
    sk: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_due: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    due_at: Option<i64>,
    #[serde(flatten)]
    instance: InstanceRecord,
}

fn instance_keys(account: &AccountId, id: &SubscriptionId) -> (String, String) {
    (format!("ACCOUNT#{account}"), format!("INSTANCE#{id}"))
}

impl Aws {
    fn instance_item(instance: &Instance) -> Result<crate::dynamo::Item, PortError> {
        let (pk, sk) = instance_keys(&instance.account_id, &instance.id);
        let due_at = instance.next_run.filter(|_| !instance.stopped).map(|at| at.0);
        to_item(&InstanceItem {
            pk,
            sk,
            instance_due: due_at.map(|_| DUE.to_owned()),
            due_at,
            instance: instance.to_record(),
        })
    }
}

impl WorkflowSubscriptions for Aws {
    async fn keep_params(&self, session_id: &str, kept: &KeptParams) -> Result<(), WorkflowSubscriptionsError> {
        let item = ParamsItem { pk: format!("CHECKOUT#{session_id}"), sk: "PARAMS".into(), kept: kept.to_record() };
        self.dynamo
            .put_item()
            .table_name(&self.resources.accounts_table)
            .set_item(Some(to_item(&item).map_err(failed)?))
            .send()
            .await
            .map(drop)
            .map_err(|e| failed(sdk(e)))
    }

    async fn kept_params(&self, session_id: &str) -> Result<Option<KeptParams>, WorkflowSubscriptionsError> {
        let key = [("pk", s(format!("CHECKOUT#{session_id}"))), ("sk", s("PARAMS"))];
        let item: Option<ParamsItem> = get(&self.dynamo, &self.resources.accounts_table, &key).await.map_err(failed)?;
        Ok(item.map(|item| KeptParams::from_record(item.kept)))
    }

    async fn start_instance(&self, instance: &Instance) -> Result<Instance, WorkflowSubscriptionsError> {
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.accounts_table)
            .set_item(Some(Self::instance_item(instance).map_err(failed)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(instance.clone()),
            Err(error) if is_condition_failure(&error) => {
                Ok(self.instance(&instance.account_id, &instance.id).await?.unwrap_or_else(|| instance.clone()))
            }
            Err(error) => Err(failed(sdk(error))),
        }
    }

    async fn instance(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> Result<Option<Instance>, WorkflowSubscriptionsError> {
        let (pk, sk) = instance_keys(account, id);
        let item: Option<InstanceItem> =
            get(&self.dynamo, &self.resources.accounts_table, &[("pk", s(pk)), ("sk", s(sk))]).await.map_err(failed)?;
        Ok(item.map(|item| Instance::from_record(item.instance)))
    }

    async fn account_instances(&self, account: &AccountId) -> Result<Vec<Instance>, WorkflowSubscriptionsError> {
        let items: Vec<InstanceItem> =
            items_under(&self.dynamo, &self.resources.accounts_table, account_key(account), "INSTANCE#")
                .await
                .map_err(failed)?;
        let mut instances: Vec<Instance> = items.into_iter().map(|item| Instance::from_record(item.instance)).collect();
        instances.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(instances)
    }

    async fn due_instances(&self, now: Timestamp, limit: usize) -> Result<Vec<Instance>, WorkflowSubscriptionsError> {
        let output = self
            .dynamo
            .query()
            .table_name(&self.resources.accounts_table)
            .index_name(DUE_INDEX)
            .key_condition_expression("instance_due = :due AND due_at <= :now")
            .expression_attribute_values(":due", s(DUE))
            .expression_attribute_values(":now", n(now.0))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        let mut due = Vec::new();
        for item in output.items.unwrap_or_default() {
            let item: InstanceItem = from_item(item).map_err(failed)?;
            due.push(Instance::from_record(item.instance));
        }
        Ok(due)
    }

    async fn update_instance(&self, instance: &Instance, read: u64) -> Result<bool, WorkflowSubscriptionsError> {
        let instance = Instance { version: read.saturating_add(1), ..instance.clone() };
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.accounts_table)
            .set_item(Some(Self::instance_item(&instance).map_err(failed)?))
            .condition_expression("version = :read")
            .expression_attribute_values(":read", n(i64::try_from(read).unwrap_or(i64::MAX)))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(failed(sdk(error))),
        }
    }
}
