use std::future::Future;
use tollgate_core::ids::{AccountId, RunId, WorkflowId};
use tollgate_core::money::Micros;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Run, RunStatus};

crate::ports::error::port_error!(CustomerRunsError, "customer runs");

/// A customer's run to store, and what its charge must fit in. The run's `charged` names
/// the meter, window and units; the store fills in what of it is past the quota.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub run: Run,
    /// The plan's quota on the meter in that window; `None`: unlimited.
    pub quota: Option<u64>,
    /// What units past the quota are paid with.
    pub past_quota: PastQuota,
    /// Refuse (rather than queue) when the account already has its plan's runs in flight.
    pub refuse_when_busy: bool,
    /// How long its `Idempotency-Key` names it.
    pub idempotent_until: Timestamp,
}

/// How units past a quota are paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastQuota {
    /// They are not: refused.
    Refused,
    /// Counted, and invoiced.
    Billed,
    /// Taken from the balance at `price` a unit, while `granted` (top-ups less refunds)
    /// covers everything spent.
    Balance { price: Micros, granted: Micros },
}

/// What became of storing a run. Nothing is written unless it is `Accepted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    Accepted(Run),
    /// The account asked with this `Idempotency-Key` before: the run it made then.
    Replayed(Run),
    /// The quota is used up (`used` of it counted) and the plan blocks.
    QuotaExceeded {
        quota: u64,
    },
    /// The balance cannot pay the units past the quota; `left` is what remains of it.
    InsufficientBalance {
        left: Micros,
    },
    /// The account has its plan's runs in flight, and asked not to queue.
    ConcurrencyLimit,
}

/// What became of a cancellation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// Cancelled now, its charge given back as its terms say.
    Done(Run),
    /// It was no longer queued: it is as returned.
    TooLate(Run),
    /// The account has no such run.
    Unknown,
}

/// Which of an account's runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub workflow: Option<WorkflowId>,
    pub status: Option<RunStatus>,
    /// Runs older than this one.
    pub starting_after: Option<RunId>,
    pub limit: usize,
}

/// Customers' runs of sold workflows, and the pool they wait in. Storing a run takes its
/// charge in the same write; ending it (`Runs::finish`) frees its slot and gives back what
/// it did not earn in the same write; a slot is handed out in one write too.
pub trait CustomerRuns: Send + Sync {
    fn enqueue(&self, new: &NewRun, now: Timestamp)
    -> impl Future<Output = Result<Enqueued, CustomerRunsError>> + Send;
    /// Hands the next free slot of a pool of `pool` to the account whose turn it is
    /// (`tollgate_core::customer_run::next_turn`), and returns its oldest waiting run, which
    /// now holds it; `None` when the pool is full or nobody may take a slot.
    fn take_turn(
        &self,
        pool: u32,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Run>, CustomerRunsError>> + Send;
    fn cancel(
        &self,
        account: &AccountId,
        id: &RunId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Cancelled, CustomerRunsError>> + Send;
    fn account_runs(
        &self,
        account: &AccountId,
        filter: &RunFilter,
    ) -> impl Future<Output = Result<Vec<Run>, CustomerRunsError>> + Send;
}
