//! `alerts` table, key `id` (the incident). Every alert also carries `feed = "alerts"`
//! and `created_at`, the GSI `by_time` that lists the newest first. A change of state is
//! written over it only if the stored state is still the one it was read in.

use crate::Aws;
use crate::dynamo::{from_stored, get_stored, s, sdk, to_stored, took_effect};
use tollgate_app::ports::alerts::{Alerts, AlertsError};
use tollgate_app::ports::error::PortError;
use tollgate_core::alert::{Alert, AlertState};

const FEED: &str = "alerts";

fn failed(error: PortError) -> AlertsError {
    AlertsError(error)
}

impl Aws {
    fn dynamodb_put(
        &self,
        item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.dynamo.put_item().table_name(&self.resources.alerts_table).set_item(Some(item))
    }
}

impl Alerts for Aws {
    async fn raise(&self, alert: &Alert) -> Result<bool, AlertsError> {
        let mut item = to_stored(alert).map_err(failed)?;
        item.insert("feed".into(), s(FEED));
        let put = self.dynamodb_put(item).condition_expression("attribute_not_exists(id)").send().await;
        took_effect(put).map_err(failed)
    }

    async fn alert(&self, id: &str) -> Result<Option<Alert>, AlertsError> {
        get_stored(&self.dynamo, &self.resources.alerts_table, &[("id", s(id))]).await.map_err(failed)
    }

    async fn change_state(&self, before: &Alert, after: &Alert) -> Result<bool, AlertsError> {
        let mut item = to_stored(after).map_err(failed)?;
        item.insert("feed".into(), s(FEED));
        // An alert as raised carries no state attribute: open.
        let condition = match before.status.state {
            AlertState::Open => "attribute_exists(id) AND (attribute_not_exists(#state) OR #state = :before)",
            _ => "#state = :before",
        };
        let put = self
            .dynamodb_put(item)
            .condition_expression(condition)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":before", s(before.status.state.as_str()))
            .send()
            .await;
        took_effect(put).map_err(failed)
    }

    async fn alerts(&self, limit: usize) -> Result<Vec<Alert>, AlertsError> {
        let output = self
            .dynamo
            .query()
            .table_name(&self.resources.alerts_table)
            .index_name("by_time")
            .key_condition_expression("feed = :feed")
            .expression_attribute_values(":feed", s(FEED))
            .scan_index_forward(false)
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        output.items.unwrap_or_default().into_iter().map(|item| from_stored(item).map_err(failed)).collect()
    }
}
