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
    /// How many premium workflows the member chooses (`None`: all are open, or no membership).
    pub premium_limit: Option<u32>,
    /// Access to the community.
    pub community: bool,
    /// The API plan the membership includes, if any.
    pub api_plan: Option<Sku>,
    /// Priority support.
    pub priority_support: bool,
}

/// The entitlements of an account with `subscriptions`, given the premium workflows in
/// the order they were registered and the ones the member `chosen`. A limited membership
/// opens the chosen ones that are still premium, at most its number; until the member
/// chooses, the first ones registered, so what a member has does not change when a
/// workflow is added. With two memberships active (an upgrade in flight), the larger one
/// counts.
pub fn entitlements(
    catalog: &Catalog,
    subscriptions: &[Subscription],
    premium: &[WorkflowId],
    chosen: Option<&[WorkflowId]>,
) -> Entitlements {
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
            premium_limit: None,
            community: false,
            api_plan: None,
            priority_support: false,
        };
    };
    let premium_workflows = match (limit, chosen) {
        (Some(limit), Some(chosen)) => {
            chosen.iter().filter(|id| premium.contains(id)).take(*limit as usize).cloned().collect()
        }
        (Some(limit), None) => premium.iter().take(*limit as usize).cloned().collect(),
        (None, _) => premium.to_vec(),
    };
    Entitlements {
        membership: Some(tier.clone()),
        all_premium_workflows: limit.is_none(),
        premium_workflows,
        premium_limit: *limit,
        community,
        api_plan: api_plan.clone(),
        priority_support,
    }
}

/// The membership to name to an account refused a premium workflow: the cheapest that opens
/// every premium workflow when the account already holds one that opens a number of them,
/// else the cheapest that opens any.
pub fn membership_opening(catalog: &Catalog, held: &Entitlements) -> Option<Sku> {
    let opens = |limit: &Option<u32>| match held.premium_limit {
        Some(_) => limit.is_none(),
        None => *limit != Some(0),
    };
    catalog
        .items()
        .iter()
        .filter(|item| matches!(&item.grant, Grant::Membership { premium_workflows, .. } if opens(premium_workflows)))
        .min_by_key(|item| item.price_cents)
        .map(|item| item.sku.clone())
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
        let none = entitlements(&catalog, &[], &premium(), None);
        assert_eq!((none.membership, none.premium_workflows.len()), (None, 0));

        let basic = entitlements(&catalog, &[member("member_basic", "active")], &premium(), None);
        assert_eq!(basic.premium_workflows, premium()[..3]);
        assert!(!basic.all_premium_workflows && !basic.community && basic.api_plan.is_none());

        let pro = entitlements(&catalog, &[member("member_pro", "active")], &premium(), None);
        assert!(pro.all_premium_workflows && pro.community && pro.api_plan.is_none() && !pro.priority_support);
        assert_eq!(pro.premium_workflows.len(), 5);

        let elite = entitlements(&catalog, &[member("member_elite", "trialing")], &premium(), None);
        assert!(elite.all_premium_workflows && elite.community && elite.priority_support);
        assert_eq!(elite.api_plan, Some(Sku::parse("api_pro").unwrap()));
    }

    #[test]
    fn a_limited_member_gets_the_premium_workflows_chosen_at_most_the_limit() {
        let catalog = Catalog::default_catalog();
        let basic = [member("member_basic", "active")];
        let ids = |names: &[&str]| names.iter().map(|id| WorkflowId::parse(id).unwrap()).collect::<Vec<_>>();
        let chosen = ids(&["templates", "gone", "loops"]);
        let opened = entitlements(&catalog, &basic, &premium(), Some(&chosen));
        assert_eq!(opened.premium_workflows, ids(&["templates", "loops"]), "a workflow no longer premium drops out");
        assert_eq!(opened.premium_limit, Some(3));
        let too_many = ids(&["templates", "loops", "videos", "images"]);
        assert_eq!(entitlements(&catalog, &basic, &premium(), Some(&too_many)).premium_workflows.len(), 3);
        assert!(entitlements(&catalog, &basic, &premium(), Some(&[])).premium_workflows.is_empty(), "chose none");
        let pro = entitlements(&catalog, &[member("member_pro", "active")], &premium(), Some(&chosen));
        assert_eq!((pro.premium_workflows.len(), pro.premium_limit), (5, None), "unlimited: all, whatever chosen");
    }

    #[test]
    fn a_refusal_names_the_cheapest_membership_that_would_open_the_workflow() {
        let catalog = Catalog::default_catalog();
        let none = entitlements(&catalog, &[], &premium(), None);
        assert_eq!(membership_opening(&catalog, &none), Some(Sku::parse("member_basic").unwrap()));
        let basic = entitlements(&catalog, &[member("member_basic", "active")], &premium(), None);
        assert_eq!(membership_opening(&catalog, &basic), Some(Sku::parse("member_pro").unwrap()));
    }

    #[test]
    fn ended_memberships_open_nothing_and_the_larger_of_two_counts() {
        let catalog = Catalog::default_catalog();
        assert_eq!(entitlements(&catalog, &[member("member_pro", "canceled")], &premium(), None).membership, None);
        let both = [member("member_basic", "active"), member("member_elite", "active")];
        assert_eq!(entitlements(&catalog, &both, &premium(), None).membership.as_deref(), Some("elite"));
    }
}
