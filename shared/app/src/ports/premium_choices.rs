use std::future::Future;
use tollgate_core::ids::{AccountId, WorkflowId};
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(PremiumChoicesError, "premium choices");

/// The premium workflows each member chose, for a membership that opens a number of them.
pub trait PremiumChoices: Send + Sync {
    /// Replaces the account's choice, whole.
    fn choose(
        &self,
        account: &AccountId,
        workflows: &[WorkflowId],
        at: Timestamp,
    ) -> impl Future<Output = Result<(), PremiumChoicesError>> + Send;
    /// The account's choice, in the order it was made; `None` before any.
    fn chosen(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<Vec<WorkflowId>>, PremiumChoicesError>> + Send;
}
