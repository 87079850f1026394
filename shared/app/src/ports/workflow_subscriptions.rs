use std::future::Future;
use tollgate_core::ids::{AccountId, SubscriptionId};
use tollgate_core::instance::{Instance, KeptParams};
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(WorkflowSubscriptionsError, "workflow subscriptions");

/// Workflow subscriptions: the parameters kept with a Checkout Session, and the instances
/// made when one completes.
pub trait WorkflowSubscriptions: Send + Sync {
    /// Keeps what a buyer checked out with, under the Checkout Session's id.
    fn keep_params(
        &self,
        session_id: &str,
        kept: &KeptParams,
    ) -> impl Future<Output = Result<(), WorkflowSubscriptionsError>> + Send;
    fn kept_params(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<KeptParams>, WorkflowSubscriptionsError>> + Send;
    /// Stores a new instance; the stored one when it is already there (a redelivered event).
    fn start_instance(
        &self,
        instance: &Instance,
    ) -> impl Future<Output = Result<Instance, WorkflowSubscriptionsError>> + Send;
    fn instance(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> impl Future<Output = Result<Option<Instance>, WorkflowSubscriptionsError>> + Send;
    /// The account's instances, oldest first.
    fn account_instances(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<Instance>, WorkflowSubscriptionsError>> + Send;
    /// Instances not stopped whose next run is at or before `now`, at most `limit`, soonest first.
    fn due_instances(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Instance>, WorkflowSubscriptionsError>> + Send;
    /// Writes `instance` (its version one past `read`) if the stored one is still at version
    /// `read`; `false` when another change came first.
    fn update_instance(
        &self,
        instance: &Instance,
        read: u64,
    ) -> impl Future<Output = Result<bool, WorkflowSubscriptionsError>> + Send;
}
