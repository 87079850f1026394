//! An account's view, derived from its profile and its subscriptions.
//!
//! Plan and membership are never stored on their own: they follow from the
//! subscriptions, so a late or replayed event can only ever change one
//! subscription, and the view stays consistent with it.

use crate::ids::{AccountId, CustomerId, Sku, SubscriptionId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a subscription pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionKind {
    /// An API plan: request quotas and limits.
    ApiPlan,
    /// A membership: premium workflows and perks.
    Membership,
    /// A subscription to a workflow run for the subscriber (a strategy).
    WorkflowSubscription,
}

/// A Stripe subscription status (`active`, `past_due`, `canceled`, …), kept as Stripe says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriptionStatus(pub String);

impl SubscriptionStatus {
    /// Stripe is retrying a failed payment.
    pub const PAST_DUE: &'static str = "past_due";
    /// Ended; `customer.subscription.deleted` always means this.
    pub const CANCELED: &'static str = "canceled";

    /// Active and trialing subscriptions grant their plan; past-due ones keep it while
    /// Stripe retries the payment (Smart Retries), so a late card does not cut service.
    pub fn grants_access(&self) -> bool {
        matches!(self.0.as_str(), "active" | "trialing" | "past_due")
    }
}

/// A subscription as last applied, with the `created` time of the event that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Stripe's subscription id.
    pub id: SubscriptionId,
    /// The catalog SKU its price's `lookup_key` names.
    pub sku: Sku,
    /// Whether it is an API plan or a membership.
    pub kind: SubscriptionKind,
    /// The tier it grants (`pro`, `elite`, …).
    pub tier: String,
    /// Stripe's status for it.
    pub status: SubscriptionStatus,
    /// Start of the billing period: quotas count from here.
    pub current_period_start: Option<Timestamp>,
    /// End of the billing period.
    pub current_period_end: Option<Timestamp>,
    /// `created` of the event that set this state: the staleness guard.
    pub event_created: Timestamp,
}

/// Stripe delivers out of order: an event older than the state it would replace is ignored.
/// Events of the same second are applied in arrival order.
pub fn is_stale(incoming: Timestamp, applied: Option<Timestamp>) -> bool {
    matches!(applied, Some(applied) if incoming < applied)
}

/// What is stored about an account besides its subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Our account id.
    pub account_id: AccountId,
    /// The Stripe customer linked at the first checkout.
    pub stripe_customer_id: Option<CustomerId>,
    /// The account whose referral code the first checkout carried.
    pub referred_by: Option<AccountId>,
}

/// The account as users and operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    /// Our account id.
    pub account_id: AccountId,
    /// The linked Stripe customer, if any.
    pub stripe_customer_id: Option<CustomerId>,
    /// The API plan tier: `free` until an API subscription grants another.
    pub plan: String,
    /// The membership tier, `None` until a membership subscription grants one.
    pub membership: Option<String>,
    /// The status of the subscription behind the plan, else behind the membership,
    /// else of the most recently changed one.
    pub subscription_status: Option<String>,
    /// Billing period of the plan's subscription.
    pub current_period_start: Option<Timestamp>,
    /// End of that billing period.
    pub current_period_end: Option<Timestamp>,
    /// Who referred this account.
    pub referred_by: Option<AccountId>,
}

/// Derives the view. When several subscriptions of a kind grant access (an upgrade
/// overlapping the old plan), the most recently changed one wins.
pub fn view(profile: &Profile, subscriptions: &[Subscription], free_tier: &str) -> AccountView {
    let newest_granting = |kind| {
        subscriptions
            .iter()
            .filter(|s| s.kind == kind && s.status.grants_access())
            .max_by_key(|s| (s.event_created, s.current_period_start))
    };
    let plan = newest_granting(SubscriptionKind::ApiPlan);
    let membership = newest_granting(SubscriptionKind::Membership);
    let status_source = plan.or(membership).or_else(|| subscriptions.iter().max_by_key(|s| s.event_created));
    AccountView {
        account_id: profile.account_id.clone(),
        stripe_customer_id: profile.stripe_customer_id.clone(),
        plan: plan.map_or_else(|| free_tier.to_owned(), |s| s.tier.clone()),
        membership: membership.map(|s| s.tier.clone()),
        subscription_status: status_source.map(|s| s.status.0.clone()),
        current_period_start: plan.and_then(|s| s.current_period_start),
        current_period_end: plan.and_then(|s| s.current_period_end),
        referred_by: profile.referred_by.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(id: &str, kind: SubscriptionKind, tier: &str, status: &str, created: i64) -> Subscription {
        Subscription {
            id: SubscriptionId::parse(id).unwrap(),
            sku: Sku::parse(tier).unwrap(),
            kind,
            tier: tier.into(),
            status: SubscriptionStatus(status.into()),
            current_period_start: Some(Timestamp(created)),
            current_period_end: None,
            event_created: Timestamp(created),
        }
    }

    fn profile() -> Profile {
        Profile { account_id: AccountId::parse("acct").unwrap(), stripe_customer_id: None, referred_by: None }
    }

    #[test]
    fn an_account_is_free_with_no_membership_until_a_subscription_grants_one() {
        let account = view(&profile(), &[], "free");
        assert_eq!((account.plan.as_str(), account.membership, account.subscription_status), ("free", None, None));
    }

    #[test]
    fn plan_and_membership_come_from_granting_subscriptions() {
        let subs = [
            subscription("sub_a", SubscriptionKind::ApiPlan, "pro", "active", 10),
            subscription("sub_m", SubscriptionKind::Membership, "elite", "trialing", 11),
        ];
        let account = view(&profile(), &subs, "free");
        assert_eq!(account.plan, "pro");
        assert_eq!(account.membership.as_deref(), Some("elite"));
        assert_eq!(account.subscription_status.as_deref(), Some("active"));
    }

    #[test]
    fn a_canceled_plan_falls_back_to_free_and_reports_its_status() {
        let subs = [subscription("sub_a", SubscriptionKind::ApiPlan, "pro", "canceled", 10)];
        let account = view(&profile(), &subs, "free");
        assert_eq!(account.plan, "free");
        assert_eq!(account.subscription_status.as_deref(), Some("canceled"));
    }

    #[test]
    fn the_newest_granting_plan_wins_an_overlap() {
        let subs = [
            subscription("sub_old", SubscriptionKind::ApiPlan, "pro", "active", 10),
            subscription("sub_new", SubscriptionKind::ApiPlan, "enterprise", "active", 20),
        ];
        assert_eq!(view(&profile(), &subs, "free").plan, "enterprise");
    }

    #[test]
    fn staleness_follows_event_created() {
        assert!(!is_stale(Timestamp(5), None));
        assert!(!is_stale(Timestamp(5), Some(Timestamp(5))));
        assert!(!is_stale(Timestamp(6), Some(Timestamp(5))));
        assert!(is_stale(Timestamp(4), Some(Timestamp(5))));
    }
}
