//! Premium workflows for members: which ones are premium, which a member's membership opens
//! (all, or the number it names, as the member chose them), and the choice itself. One
//! reading, so the account view, the customer API and the choice agree.

use crate::Clock;
use crate::ports::accounts::{Accounts, AccountsError};
use crate::ports::premium_choices::{PremiumChoices, PremiumChoicesError};
use crate::ports::workflows::{Workflows, WorkflowsError};
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::account::Subscription;
use tollgate_core::catalog::Catalog;
use tollgate_core::entitlements::{Entitlements, entitlements, membership_opening};
use tollgate_core::ids::{AccountId, Sku, WorkflowId};
use tollgate_core::workflow::{Access, Workflow};

#[derive(Debug, Error)]
pub enum PremiumError {
    /// Names the membership that would open premium workflows.
    #[error("this account has no membership that opens premium workflows")]
    NoMembership { membership: Option<Sku> },
    #[error("the membership opens {limit} premium workflows; {chosen} were chosen")]
    TooMany { limit: u32, chosen: usize },
    #[error("{id} is not a premium workflow")]
    NotPremium { index: usize, id: String },
    #[error("{id} is chosen twice")]
    Repeated { index: usize, id: String },
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Workflows(#[from] WorkflowsError),
    #[error(transparent)]
    Choices(#[from] PremiumChoicesError),
}

/// Premium workflows open to a workflow's access: a sold one marked premium, or an
/// operator's workflow flagged premium.
pub fn is_premium(workflow: &Workflow) -> bool {
    workflow.spec.premium || workflow.spec.sell.as_ref().is_some_and(|sell| sell.access == Access::Premium)
}

/// The premium workflows among `workflows`, in the order they were registered.
pub fn premium_in_order(workflows: &[Workflow]) -> Vec<WorkflowId> {
    let mut premium: Vec<&Workflow> = workflows.iter().filter(|workflow| is_premium(workflow)).collect();
    premium.sort_by(|a, b| (a.created_at, &a.spec.id).cmp(&(b.created_at, &b.spec.id)));
    premium.into_iter().map(|workflow| workflow.spec.id.clone()).collect()
}

/// What the account's memberships open among `workflows`, with the member's choice.
pub async fn opened<S: PremiumChoices>(
    store: &S,
    catalog: &Catalog,
    account: &AccountId,
    subscriptions: &[Subscription],
    workflows: &[Workflow],
) -> Result<Entitlements, PremiumChoicesError> {
    let chosen = store.chosen(account).await?;
    Ok(entitlements(catalog, subscriptions, &premium_in_order(workflows), chosen.as_deref()))
}

/// A premium workflow as a member sees it.
#[derive(Debug, Clone)]
pub struct PremiumWorkflow {
    pub workflow: Workflow,
    /// The member may run it.
    pub open: bool,
}

/// The member's standing: what the membership opens and each premium workflow.
#[derive(Debug, Clone)]
pub struct PremiumStanding {
    pub entitlements: Entitlements,
    pub workflows: Vec<PremiumWorkflow>,
}

/// Members' choices of premium workflows.
pub struct Premium<S> {
    pub store: S,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
}

impl<S: Accounts + Workflows + PremiumChoices> Premium<S> {
    /// The account's membership and every premium workflow, open or not.
    pub async fn standing(&self, account: &AccountId) -> Result<PremiumStanding, PremiumError> {
        let workflows = self.store.workflows().await?;
        let subscriptions = self.store.subscriptions(account).await?;
        let entitlements = opened(&self.store, &self.catalog, account, &subscriptions, &workflows).await?;
        let order = premium_in_order(&workflows);
        let mut premium: Vec<PremiumWorkflow> = workflows
            .into_iter()
            .filter(is_premium)
            .map(|workflow| {
                let open =
                    entitlements.all_premium_workflows || entitlements.premium_workflows.contains(&workflow.spec.id);
                PremiumWorkflow { workflow, open }
            })
            .collect();
        premium.sort_by_key(|item| order.iter().position(|id| *id == item.workflow.spec.id));
        Ok(PremiumStanding { entitlements, workflows: premium })
    }

    /// Replaces the member's choice with `ids`: premium workflows, each once, at most the
    /// number the membership opens. Takes effect at once: the next run request reads it.
    pub async fn choose(&self, account: &AccountId, ids: &[String]) -> Result<PremiumStanding, PremiumError> {
        let standing = self.standing(account).await?;
        let held = &standing.entitlements;
        if held.membership.is_none() {
            return Err(PremiumError::NoMembership { membership: membership_opening(&self.catalog, held) });
        }
        let mut chosen: Vec<WorkflowId> = Vec::with_capacity(ids.len());
        for (index, id) in ids.iter().enumerate() {
            let known = WorkflowId::parse(id)
                .ok()
                .filter(|id| standing.workflows.iter().any(|item| item.workflow.spec.id == *id))
                .ok_or_else(|| PremiumError::NotPremium { index, id: id.clone() })?;
            if chosen.contains(&known) {
                return Err(PremiumError::Repeated { index, id: id.clone() });
            }
            chosen.push(known);
        }
        if let Some(limit) = held.premium_limit
            && chosen.len() > limit as usize
        {
            return Err(PremiumError::TooMany { limit, chosen: chosen.len() });
        }
        self.store.choose(account, &chosen, self.clock.now()).await?;
        self.standing(account).await
    }
}
