use std::future::Future;
use tollgate_core::ids::WorkflowId;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::Workflow;

crate::ports::error::port_error!(WorkflowsError, "workflows");

/// The registered workflows, and the index the orchestrator asks which are due.
pub trait Workflows: Send + Sync {
    /// Registers a new workflow; `false` when the id is taken.
    fn create(&self, workflow: &Workflow) -> impl Future<Output = Result<bool, WorkflowsError>> + Send;
    fn workflow(&self, id: &WorkflowId) -> impl Future<Output = Result<Option<Workflow>, WorkflowsError>> + Send;
    /// Every workflow, by id (an operator's view).
    fn workflows(&self) -> impl Future<Output = Result<Vec<Workflow>, WorkflowsError>> + Send;
    /// Stores a changed workflow; `false` when the stored version is no longer
    /// `expected_version` (changed, claimed or ended meanwhile: read again).
    fn respecify(
        &self,
        workflow: &Workflow,
        expected_version: u64,
    ) -> impl Future<Output = Result<bool, WorkflowsError>> + Send;
    /// Up to `limit` enabled, idle workflows whose next run is at or before `now`, the
    /// longest waiting first. Read from an index on state × next run: the cost follows
    /// the number due, never the number registered.
    fn due(&self, now: Timestamp, limit: usize) -> impl Future<Output = Result<Vec<Workflow>, WorkflowsError>> + Send;
}
