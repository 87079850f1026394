use tollgate_core::workflow::Run;

/// Where run figures go as they happen: CloudWatch (Embedded Metric Format) on Lambda,
/// the log locally. Synchronous and infallible: a figure never holds up a run.
pub trait RunMetrics: Send + Sync {
    fn run_queued(&self, run: &Run);
    fn run_ended(&self, run: &Run);
}

/// Figures as log lines, for the local stack.
pub struct LoggedMetrics;

impl RunMetrics for LoggedMetrics {
    fn run_queued(&self, run: &Run) {
        tracing::debug!(workflow_id = %run.workflow_id, run_id = %run.id, "metric: run queued");
    }

    fn run_ended(&self, run: &Run) {
        tracing::debug!(workflow_id = %run.workflow_id, run_id = %run.id, status = run.status.as_str(), earnings_cents = run.earnings_cents, "metric: run ended");
    }
}
