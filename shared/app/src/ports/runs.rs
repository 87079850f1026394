use std::future::Future;
use tollgate_core::ids::{RunId, WorkflowId};
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Caps, Outcome, Run};

crate::ports::error::port_error!(RunsError, "runs");

pub use tollgate_core::workflow::ClaimGuard;

/// A run to start, and the budget it must fit in.
#[derive(Debug, Clone)]
pub struct Claim {
    pub run: Run,
    pub guard: ClaimGuard,
    pub caps: Caps,
    /// The business day the run starts in (`YYYY-MM-DD`): whose daily cap it counts against.
    pub day: String,
}

/// What became of a claim. Nothing at all is written unless it is `Started`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    Started,
    /// Running, changed or gone since it was read.
    NotIdle,
    DailyCapReached,
    ConcurrencyCapReached,
}

/// What became of finishing a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// This call ended the run; `streak` is its workflow's failures in a row since.
    Ended {
        run: Run,
        streak: u32,
    },
    /// It had already ended (a duplicate callback, a late one, a second sweep).
    AlreadyEnded(Run),
    Unknown,
}

/// Counters of one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    pub starts: u32,
    pub completed: u64,
    pub failed: u64,
    pub revenue_cents: i64,
}

/// Runs, and the caps they are started under. Every change here is one atomic write:
/// a claim takes the workflow, a slot of the day and a slot of the concurrency cap
/// together or not at all; ending a run frees its slot and counts it, once.
pub trait Runs: Send + Sync {
    fn claim(&self, claim: &Claim) -> impl Future<Output = Result<Claimed, RunsError>> + Send;
    fn run(&self, id: &RunId) -> impl Future<Output = Result<Option<Run>, RunsError>> + Send;
    /// Marks a queued run as accepted by its workflow; `false` when it is no longer queued.
    fn mark_started(&self, id: &RunId, at: Timestamp) -> impl Future<Output = Result<bool, RunsError>> + Send;
    /// Ends an open run: its workflow becomes idle (due at the next run set by its claim)
    /// and its concurrency slot is freed; its end and earnings count on `day`, the business
    /// day it ended in.
    fn finish(
        &self,
        id: &RunId,
        outcome: &Outcome,
        day: &str,
    ) -> impl Future<Output = Result<Finished, RunsError>> + Send;
    /// Open runs whose deadline is at or before `now` (index on status × deadline).
    fn overdue(&self, now: Timestamp, limit: usize) -> impl Future<Output = Result<Vec<Run>, RunsError>> + Send;
    /// Every open run: at most the concurrency cap.
    fn open_runs(&self) -> impl Future<Output = Result<Vec<Run>, RunsError>> + Send;
    /// A workflow's runs claimed at or after `since`.
    fn runs_since(
        &self,
        workflow: &WorkflowId,
        since: Timestamp,
    ) -> impl Future<Output = Result<Vec<Run>, RunsError>> + Send;
    fn day_totals(&self, day: &str) -> impl Future<Output = Result<DayTotals, RunsError>> + Send;
}
