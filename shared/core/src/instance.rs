//! A workflow subscription's instance: the subscriber's copy of a sold workflow, run on its
//! schedule with their parameters. Its state follows the Stripe subscription it belongs to.

use crate::account::SubscriptionStatus;
use crate::ids::{AccountId, RunId, Sku, SubscriptionId, WorkflowId};
use crate::time::Timestamp;
use serde_json::Value;

/// One subscriber's instance, named by its Stripe subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The Stripe subscription that pays for it.
    pub id: SubscriptionId,
    /// The subscriber.
    pub account_id: AccountId,
    /// The catalog entry bought.
    pub sku: Sku,
    /// The sold workflow it runs.
    pub workflow_id: WorkflowId,
    /// The subscriber's parameters: each run's `input`.
    pub params: Value,
    /// Paused by the subscriber.
    pub paused: bool,
    /// When it runs next; `None` once stopped for good, or with no schedule.
    pub next_run: Option<Timestamp>,
    /// Its latest run.
    pub last_run: Option<RunId>,
    /// When that run was asked for.
    pub last_run_at: Option<Timestamp>,
    /// Set once the subscription has ended: it never runs again.
    pub stopped: bool,
    /// When it was made.
    pub created_at: Timestamp,
    /// Bumped by every change: a change is written over the version it read.
    pub version: u64,
}

/// Where an instance stands, from its own flags and its subscription's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceStatus {
    /// Runs on its schedule.
    Active,
    /// No starts: paused by the subscriber, or its subscription is unpaid (`past_due`,
    /// `unpaid`, `incomplete`), or a premium workflow its subscriber's membership no longer opens.
    Paused,
    /// Its subscription ended (`canceled`, or `incomplete_expired`): stopped for good.
    Stopped,
}

impl InstanceStatus {
    /// As the API says it.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Active => "active",
            InstanceStatus::Paused => "paused",
            InstanceStatus::Stopped => "stopped",
        }
    }
}

impl Instance {
    /// Its status, given its subscription's (`None`: not heard of yet, so not paid yet) and
    /// whether its subscriber may run its workflow.
    pub fn status(&self, subscription: Option<&SubscriptionStatus>, entitled: bool) -> InstanceStatus {
        let ended = subscription.is_some_and(|status| matches!(status.0.as_str(), "canceled" | "incomplete_expired"));
        if self.stopped || ended {
            return InstanceStatus::Stopped;
        }
        // Stricter than access to a plan (which `past_due` keeps for its grace): an unpaid
        // renewal stops the starts at once.
        let paid = subscription.is_some_and(|status| matches!(status.0.as_str(), "active" | "trialing"));
        if self.paused || !paid || !entitled { InstanceStatus::Paused } else { InstanceStatus::Active }
    }
}

/// Parameters a buyer checked out with, kept with their Checkout Session until it completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptParams {
    /// The buyer.
    pub account_id: AccountId,
    /// What they are buying.
    pub sku: Sku,
    /// Valid under the entry's `params_schema`.
    pub params: Value,
    /// When the session was made.
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_follows_its_subscription_and_its_subscriber() {
        let instance = Instance {
            id: SubscriptionId::parse("sub_1").unwrap(),
            account_id: AccountId::parse("acct_1").unwrap(),
            sku: Sku::parse("strategy_momentum").unwrap(),
            workflow_id: WorkflowId::parse("momentum").unwrap(),
            params: serde_json::json!({"symbol": "ACME"}),
            paused: false,
            next_run: Some(Timestamp(100)),
            last_run: None,
            last_run_at: None,
            stopped: false,
            created_at: Timestamp(1),
            version: 1,
        };
        let status = |name: &str| SubscriptionStatus(name.into());
        assert_eq!(instance.status(Some(&status("active")), true), InstanceStatus::Active);
        assert_eq!(instance.status(Some(&status("trialing")), true), InstanceStatus::Active);
        assert_eq!(instance.status(Some(&status("past_due")), true), InstanceStatus::Paused);
        assert_eq!(instance.status(Some(&status("unpaid")), true), InstanceStatus::Paused);
        assert_eq!(instance.status(None, true), InstanceStatus::Paused, "not paid yet");
        assert_eq!(instance.status(Some(&status("active")), false), InstanceStatus::Paused, "a lapsed membership");
        assert_eq!(instance.status(Some(&status("canceled")), true), InstanceStatus::Stopped);
        let paused = Instance { paused: true, ..instance.clone() };
        assert_eq!(paused.status(Some(&status("active")), true), InstanceStatus::Paused);
        let stopped = Instance { stopped: true, ..instance };
        assert_eq!(stopped.status(Some(&status("active")), true), InstanceStatus::Stopped, "for good");
    }
}
