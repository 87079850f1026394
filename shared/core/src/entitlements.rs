//! What a membership opens. One function, so the API, the orchestrator and the edge
//! all read the same answer.

use crate::account::Subscription;
use crate::catalog::{Catalog, Grant};
use crate::ids::{Sku, WorkflowId};

/// An account's entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlements {
    /// The membership tier (`basic`, `pro`, `elite`), if any.
    pub membership: Option<String>,
    /// Every premium workflow is open.
    pub all_premium_workflows: bool,
    /// The premium workflows open to the account.
    pub premium_workflows: Vec<WorkflowId>,
    /// Access to the community.
    pub community: bool,
    /// The API plan the membership includes, if any.
    pub api_plan: Option<Sku>,
    /// Priority support.
    pub priority_support: bool,
}

/// The entitlements of an account with `subscriptions`, given the premium workflows in
/// the order they were registered. A limited membership opens the first ones registered,
/// so what a member has does not change when a workflow is added. With two memberships
/// active (an upgrade in flight), the larger one counts.
pub fn entitlements(catalog: &Catalog, subscriptions: &[Subscription], premium: &[WorkflowId]) -> Entitlements {
    let memberships = subscriptions.iter().filter(|s| s.status.grants_access()).filter_map(|s| {
        match &catalog.by_sku(&s.sku)?.grant {
            Grant::Membership { tier, premium_workflows, community, api_plan, priority_support, .. } => {
                Some((tier, premium_workflows, *community, api_plan, *priority_support))
            }
            _ => None,
        }
    });
    // Unlimited beats any limit; then the larger limit; then the perks.
    let best = memberships.max_by_key(|(_, limit, community, api, priority)| {
        (limit.is_none(), limit.unwrap_or(0), *community, api.is_some(), *priority)
    });
    let Some((tier, limit, community, api_plan, priority_support)) = best else {
        return Entitlements {
            membership: None,
            all_premium_workflows: false,
            premium_workflows: Vec::new(),
            community: false,
            api_plan: None,
            priority_support: false,
        };
    };
    let premium_workflows = match limit {
        Some(limit) => premium.iter().take(*limit as usize).cloned().collect(),
        None => premium.to_vec(),
    };
    Entitlements {
        membership: Some(tier.clone()),
        all_premium_workflows: limit.is_none(),
        premium_workflows,
        community,
        api_plan: api_plan.clone(),
        priority_support,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{SubscriptionKind, SubscriptionStatus};
    use crate::ids::SubscriptionId;
    use crate::time::Timestamp;

    fn member(sku: &str, status: &str) -> Subscription {
        Subscription {
            id: SubscriptionId::parse(&format!("sub_{sku}")).unwrap(),
            sku: Sku::parse(sku).unwrap(),
            kind: SubscriptionKind::Membership,
            tier: sku.trim_start_matches("member_").into(),
            status: SubscriptionStatus(status.into()),
            current_period_start: None,
            current_period_end: None,
            event_created: Timestamp(1),
        }
    }

    fn premium() -> Vec<WorkflowId> {
        ["videos", "images", "loops", "newsletter", "templates"]
            .iter()
            .map(|id| WorkflowId::parse(id).unwrap())
            .collect()
    }

    #[test]
    fn each_tier_opens_what_the_brief_says() {
        let catalog = Catalog::default_catalog();
        let none = entitlements(&catalog, &[], &premium());
        assert_eq!((none.membership, none.premium_workflows.len()), (None, 0));

        let basic = entitlements(&catalog, &[member("member_basic", "active")], &premium());
        assert_eq!(basic.premium_workflows, premium()[..3]);
        assert!(!basic.all_premium_workflows && !basic.community && basic.api_plan.is_none());

        let pro = entitlements(&catalog, &[member("member_pro", "active")], &premium());
        assert!(pro.all_premium_workflows && pro.community && pro.api_plan.is_none() && !pro.priority_support);
        assert_eq!(pro.premium_workflows.len(), 5);

        let elite = entitlements(&catalog, &[member("member_elite", "trialing")], &premium());
        assert!(elite.all_premium_workflows && elite.community && elite.priority_support);
        assert_eq!(elite.api_plan, Some(Sku::parse("api_pro").unwrap()));
    }

    #[test]
    fn ended_memberships_open_nothing_and_the_larger_of_two_counts() {
        let catalog = Catalog::default_catalog();
        assert_eq!(entitlements(&catalog, &[member("member_pro", "canceled")], &premium()).membership, None);
        let both = [member("member_basic", "active"), member("member_elite", "active")];
        assert_eq!(entitlements(&catalog, &both, &premium()).membership.as_deref(), Some("elite"));
    }
}
