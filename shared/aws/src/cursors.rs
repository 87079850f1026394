//! Cursors live in the `event-log` table as items `cursor#<name>`: no event id has that
//! form, and with no `day` they stay out of the `by_day` index that lists events.

use crate::Aws;
use crate::dynamo::{is_condition_failure, n, s, sdk};
use tollgate_app::ports::cursors::{Cursors, CursorsError};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_core::time::Timestamp;

fn key(name: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    s(format!("cursor#{name}"))
}

impl Cursors for Aws {
    async fn cursor(&self, name: &str) -> Result<Option<Timestamp>, CursorsError> {
        let output = self
            .dynamo
            .get_item()
            .table_name(&self.resources.event_log_table)
            .key("id", key(name))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| CursorsError(sdk(e)))?;
        let Some(at) = output.item.as_ref().and_then(|item| item.get("at")) else { return Ok(None) };
        let at = at.as_n().ok().and_then(|at| at.parse().ok());
        at.map(|at| Some(Timestamp(at)))
            .ok_or_else(|| CursorsError(PortError::new(ErrorKind::Corrupt, format!("cursor {name} is not a number"))))
    }

    async fn advance_cursor(&self, name: &str, to: Timestamp) -> Result<(), CursorsError> {
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.event_log_table)
            .key("id", key(name))
            .update_expression("SET #at = :to")
            .condition_expression("attribute_not_exists(#at) OR #at < :to")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":to", n(to.0))
            .send()
            .await;
        match update {
            Err(error) if is_condition_failure(&error) => Ok(()), // already further on
            other => other.map(drop).map_err(|e| CursorsError(sdk(e))),
        }
    }
}
