//! Run figures as CloudWatch Embedded Metric Format lines: one JSON line on stdout per
//! figure set, which CloudWatch Logs turns into metrics without an API call.

use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use tollgate_app::ports::run_metrics::RunMetrics;
use tollgate_core::workflow::{Run, RunStatus};

const NAMESPACE: &str = "tollgate";

/// Prints EMF lines to stdout (the Lambda log).
pub struct Emf;

/// One EMF document: `metrics` as (name, value, unit), under the dimension `workflow`.
pub fn line(workflow: &str, metrics: &[(&str, i64, &str)], timestamp_ms: u128) -> String {
    let definitions: Vec<_> = metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit})).collect();
    let mut document = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["workflow"]], "Metrics": definitions}],
        },
        "workflow": workflow,
    });
    for (name, value, _) in metrics {
        document[*name] = json!(value);
    }
    document.to_string()
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis())
}

impl RunMetrics for Emf {
    fn run_queued(&self, run: &Run) {
        println!("{}", line(run.workflow_id.as_str(), &[("RunsStarted", 1, "Count")], now_ms()));
    }

    fn run_ended(&self, run: &Run) {
        let (completed, failed) = if run.status == RunStatus::Completed { (1, 0) } else { (0, 1) };
        let seconds = run.finished_at.map_or(0, |end| end.seconds_since(run.created_at));
        let figures = [
            ("RunsCompleted", completed, "Count"),
            ("RunsFailed", failed, "Count"),
            ("RevenueCents", run.earnings_cents, "None"),
            ("RunSeconds", seconds, "Seconds"),
        ];
        println!("{}", line(run.workflow_id.as_str(), &figures, now_ms()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_each_metric_and_carries_its_value() {
        let line = line("daily_shorts", &[("RunsFailed", 1, "Count"), ("RevenueCents", 1250, "None")], 1_000);
        let document: serde_json::Value = serde_json::from_str(&line).unwrap();
        let declared = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "tollgate");
        assert_eq!(declared["Dimensions"], json!([["workflow"]]));
        assert_eq!(declared["Metrics"][1], json!({"Name": "RevenueCents", "Unit": "None"}));
        assert_eq!(
            (document["workflow"].as_str(), document["RevenueCents"].as_i64()),
            (Some("daily_shorts"), Some(1250))
        );
        assert_eq!(document["_aws"]["Timestamp"], 1_000);
        assert!(!line.contains('\n'));
    }
}
