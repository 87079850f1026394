use std::future::Future;

crate::ports::error::port_error!(TalliesError, "tallies");

/// What is counted per business day, each member (a session, an account) once a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tally {
    /// Checkout Sessions created, by session id.
    CheckoutStarted,
    /// Checkout Sessions completed, by session id.
    CheckoutCompleted,
    /// Accounts with a call or a payment, by account id.
    ActiveAccount,
}

impl Tally {
    /// As storage writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tally::CheckoutStarted => "checkout_started",
            Tally::CheckoutCompleted => "checkout_completed",
            Tally::ActiveAccount => "active_account",
        }
    }
}

/// Distinct members per business day: the operator's conversion and active-user figures.
pub trait Tallies: Send + Sync {
    /// Counts `member` under `tally` on `day` (`YYYY-MM-DD`), once however often it is told.
    fn tally(&self, tally: Tally, day: &str, member: &str) -> impl Future<Output = Result<(), TalliesError>> + Send;
    /// How many members each of `days` counted, in their order.
    fn tally_counts(
        &self,
        tally: Tally,
        days: &[String],
    ) -> impl Future<Output = Result<Vec<u64>, TalliesError>> + Send;
    /// How many members `days` counted together, each once.
    fn tally_distinct(&self, tally: Tally, days: &[String]) -> impl Future<Output = Result<u64, TalliesError>> + Send;
}
