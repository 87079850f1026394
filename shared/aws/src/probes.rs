//! What the monitor knows of each endpoint lives in the `event-log` table as items
//! `probe#<url>`, as cursors do: no event id has that form, and with no `day` they stay
//! out of the `by_day` index that lists events.

use crate::Aws;
use crate::dynamo::{get, n, s, to_item, took_effect};
use serde::{Deserialize, Serialize};
use tollgate_app::ports::probes::{Probes, ProbesError};
use tollgate_core::health::ProbeRecord;
use tollgate_core::time::Timestamp;

#[derive(Serialize, Deserialize)]
struct ProbeItem {
    id: String,
    failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failing_since: Option<i64>,
    down: bool,
    probed_at: i64,
}

fn id(url: &str) -> String {
    format!("probe#{url}")
}

impl Probes for Aws {
    async fn probe_record(&self, url: &str) -> Result<Option<ProbeRecord>, ProbesError> {
        let item: Option<ProbeItem> =
            get(&self.dynamo, &self.resources.event_log_table, &[("id", s(id(url)))]).await.map_err(ProbesError)?;
        Ok(item.map(|item| ProbeRecord {
            failures: item.failures,
            failing_since: item.failing_since.map(Timestamp),
            down: item.down,
            probed_at: Timestamp(item.probed_at),
        }))
    }

    async fn swap_probe_record(
        &self,
        url: &str,
        before: Option<&ProbeRecord>,
        after: &ProbeRecord,
    ) -> Result<bool, ProbesError> {
        let item = ProbeItem {
            id: id(url),
            failures: after.failures,
            failing_since: after.failing_since.map(|at| at.0),
            down: after.down,
            probed_at: after.probed_at.0,
        };
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.event_log_table)
            .set_item(Some(to_item(&item).map_err(ProbesError)?));
        // Each write moves `probed_at`: an item still at `before`'s is the one read.
        let put = match before {
            None => put.condition_expression("attribute_not_exists(id)"),
            Some(before) => put
                .condition_expression("probed_at = :before")
                .expression_attribute_values(":before", n(before.probed_at.0)),
        };
        took_effect(put.send().await).map_err(ProbesError)
    }
}
