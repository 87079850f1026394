//! Deliveries to customers' endpoints, in the `runs` table as `DELIVERY#<id>` items. A
//! pending one carries `open_state = "delivery"` and `deadline` = when it is due, so the
//! sparse GSI `open_by_deadline` lists the due ones as it lists overdue runs (another
//! partition of it); `delivery_account` with `created_at` is the GSI `deliveries_by_account`.
//! A change is written only over the attempts read.

use crate::Aws;
use crate::dynamo::{Item, from_stored, n, s, sdk, to_stored, took_effect};
use aws_sdk_dynamodb::types::AttributeValue;
use tollgate_app::ports::error::PortError;
use tollgate_app::ports::webhook_deliveries::{WebhookDeliveries, WebhookDeliveriesError};
use tollgate_core::delivery::{Delivery, DeliveryStatus};
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

const DUE: &str = "delivery";

fn failed(error: PortError) -> WebhookDeliveriesError {
    WebhookDeliveriesError(error)
}

fn key(id: &str) -> String {
    format!("DELIVERY#{id}")
}

fn item(delivery: &Delivery) -> Result<Item, PortError> {
    let mut item = to_stored(delivery)?;
    // The record's own `id` is the delivery's; the table's key names the item kind too.
    item.insert("delivery_id".into(), s(&delivery.id));
    item.insert("id".into(), s(key(&delivery.id)));
    item.insert("delivery_account".into(), s(delivery.account_id.as_str()));
    if let (DeliveryStatus::Pending, Some(at)) = (delivery.status, delivery.next_attempt_at) {
        item.insert("open_state".into(), s(DUE));
        item.insert("deadline".into(), n(at.0));
    }
    Ok(item)
}

fn read(mut item: Item) -> Result<Delivery, PortError> {
    if let Some(id) = item.remove("delivery_id") {
        item.insert("id".into(), id);
    }
    from_stored(item)
}

impl Aws {
    async fn query_deliveries(
        &self,
        index: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Delivery>, PortError> {
        let mut query = self
            .dynamo
            .query()
            .table_name(&self.resources.runs_table)
            .index_name(index)
            .key_condition_expression(condition)
            .scan_index_forward(forward)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        for (name, value) in values {
            query = query.expression_attribute_values(name, value);
        }
        let output = query.send().await.map_err(sdk)?;
        output.items.unwrap_or_default().into_iter().map(read).collect()
    }
}

impl WebhookDeliveries for Aws {
    async fn record_delivery(&self, delivery: &Delivery) -> Result<bool, WebhookDeliveriesError> {
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.runs_table)
            .set_item(Some(item(delivery).map_err(failed)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        took_effect(put).map_err(failed)
    }

    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>, WebhookDeliveriesError> {
        self.query_deliveries(
            "open_by_deadline",
            "open_state = :due AND deadline <= :now",
            vec![(":due", s(DUE)), (":now", n(now.0))],
            true,
            limit,
        )
        .await
        .map_err(failed)
    }

    async fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_attempts: u32,
    ) -> Result<bool, WebhookDeliveriesError> {
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.runs_table)
            .set_item(Some(item(delivery).map_err(failed)?))
            .condition_expression("attempts = :read")
            .expression_attribute_values(":read", n(i64::from(expected_attempts)))
            .send()
            .await;
        took_effect(put).map_err(failed)
    }

    async fn account_deliveries(
        &self,
        account: &AccountId,
        limit: usize,
    ) -> Result<Vec<Delivery>, WebhookDeliveriesError> {
        self.query_deliveries(
            "deliveries_by_account",
            "delivery_account = :account",
            vec![(":account", s(account.as_str()))],
            false,
            limit,
        )
        .await
        .map_err(failed)
    }

    async fn delivery(&self, account: &AccountId, id: &str) -> Result<Option<Delivery>, WebhookDeliveriesError> {
        let got = self
            .dynamo
            .get_item()
            .table_name(&self.resources.runs_table)
            .key("id", s(key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| failed(sdk(error)))?;
        let delivery = got.item.map(read).transpose().map_err(failed)?;
        Ok(delivery.filter(|delivery| &delivery.account_id == account))
    }
}
