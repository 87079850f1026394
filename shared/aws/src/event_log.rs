//! `event-log` table: key `id`; GSI `by_day` (`day`, `received_at`) for the newest
//! events without a scan; `expires_at` is the TTL attribute (40 days, beyond Stripe's
//! 3-day retries and the 35 days an event stays retrievable).

use crate::Aws;
use crate::dynamo::{Item, from_item, is_condition_failure, s, sdk, to_item};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use serde::{Deserialize, Serialize};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::event_log::{EventLog, EventLogError, EventRecord, EventStatus, ReceivedEvent, Recorded};
use tollgate_app::{Clock, SystemClock};
use tollgate_core::ids::EventId;
use tollgate_core::time::Timestamp;

const RETENTION_SECONDS: i64 = 40 * 86_400;
const RECENT_DAYS: i64 = 40;

#[derive(Serialize, Deserialize)]
struct EventItem {
    id: EventId,
    event_type: String,
    status: String,
    received_at: i64,
    day: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    expires_at: i64,
}

impl TryFrom<EventItem> for EventRecord {
    type Error = EventLogError;
    fn try_from(item: EventItem) -> Result<Self, Self::Error> {
        Ok(EventRecord {
            status: EventStatus::parse(&item.status).ok_or_else(|| {
                EventLogError(PortError::new(ErrorKind::Corrupt, format!("unknown status {}", item.status)))
            })?,
            id: item.id,
            event_type: item.event_type,
            received_at: Timestamp(item.received_at),
            detail: item.detail,
        })
    }
}

fn failed(error: PortError) -> EventLogError {
    EventLogError(error)
}

fn record_from(item: Item) -> Result<EventRecord, EventLogError> {
    from_item::<EventItem>(item).map_err(failed)?.try_into()
}

impl Aws {
    /// Puts the event's item unless the log holds it; then answers the item there, as the
    /// failed condition returns it, so a duplicate costs no second read.
    pub(crate) async fn put_event(&self, event: &ReceivedEvent) -> Result<Option<EventRecord>, EventLogError> {
        let item = to_item(&EventItem {
            id: event.id.clone(),
            event_type: event.event_type.clone(),
            status: EventStatus::Queued.as_str().to_owned(),
            received_at: event.received_at.0,
            day: event.received_at.utc_day(),
            detail: None,
            expires_at: event.received_at.0 + RETENTION_SECONDS,
        })
        .map_err(failed)?;
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.event_log_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match put {
            Ok(_) => return Ok(None),
            Err(error) => error,
        };
        if !is_condition_failure(&error) {
            return Err(failed(sdk(error)));
        }
        let returned = match error.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failure)) => failure.item().cloned(),
            _ => None,
        };
        let existing = match returned {
            Some(item) => Some(record_from(item)?),
            None => self.get(&event.id).await?,
        };
        existing.map(Some).ok_or_else(|| failed(PortError::new(ErrorKind::NotFound, "a recorded event vanished")))
    }
}

impl EventLog for Aws {
    async fn record(&self, event: &ReceivedEvent) -> Result<Recorded, EventLogError> {
        Ok(self.put_event(event).await?.map_or(Recorded::New, Recorded::Duplicate))
    }

    async fn mark(&self, id: &EventId, status: EventStatus, detail: Option<&str>) -> Result<(), EventLogError> {
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.event_log_table)
            .key("id", s(id.as_str()))
            .condition_expression("attribute_exists(id)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()));
        let update = match detail {
            Some(detail) => update
                .update_expression("SET #status = :status, detail = :detail")
                .expression_attribute_values(":detail", s(detail)),
            None => update.update_expression("SET #status = :status REMOVE detail"),
        };
        update.send().await.map(drop).map_err(|e| failed(sdk(e)))
    }

    async fn get(&self, id: &EventId) -> Result<Option<EventRecord>, EventLogError> {
        let output = self
            .dynamo
            .get_item()
            .table_name(&self.resources.event_log_table)
            .key("id", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        output.item.map(record_from).transpose()
    }

    async fn recent(&self, limit: usize) -> Result<Vec<EventRecord>, EventLogError> {
        let today = SystemClock.now();
        let mut records = Vec::new();
        for days_back in 0..RECENT_DAYS {
            let day = Timestamp(today.0 - days_back * 86_400).utc_day();
            let mut start = None;
            loop {
                let output = self
                    .dynamo
                    .query()
                    .table_name(&self.resources.event_log_table)
                    .index_name("by_day")
                    .key_condition_expression("#day = :day")
                    .expression_attribute_names("#day", "day")
                    .expression_attribute_values(":day", s(&day))
                    .scan_index_forward(false)
                    .limit((limit - records.len()) as i32)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| failed(sdk(e)))?;
                for item in output.items.unwrap_or_default() {
                    records.push(record_from(item)?);
                }
                if records.len() >= limit {
                    return Ok(records);
                }
                start = output.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(records)
    }
}
