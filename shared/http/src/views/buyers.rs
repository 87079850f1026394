//! What a buyer bought and may use, and the links to pay and to manage a subscription.

use super::seconds;
use serde::Serialize;
use tollgate_app::checkout::CheckoutLink;
use tollgate_app::ports::purchases::Purchase;
use tollgate_app::premium::PremiumStanding;
use tollgate_core::catalog::{Catalog, Grant, Interval};
use tollgate_core::entitlements::Entitlements;
use tollgate_core::meters::Overage;
use utoipa::ToSchema;

/// A one-off product bought.
#[derive(Serialize, ToSchema)]
pub struct PurchaseView {
    /// The Checkout Session (`cs_…`).
    pub id: String,
    pub account_id: String,
    pub sku: String,
    pub quantity: u32,
    /// The payment intent.
    pub payment_ref: String,
    /// `pending`, `delivered`, `failed` or `not_needed`.
    pub delivery: &'static str,
    /// Taken back by a full refund.
    pub revoked: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Where to download it, when the product's fulfillment webhook answered one (and the
    /// purchase is not revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PurchaseList {
    pub purchases: Vec<PurchaseView>,
}

/// What the buyer's memberships open.
#[derive(Serialize, ToSchema)]
pub struct EntitlementsView {
    /// `basic`, `pro` or `elite`, if any.
    pub membership: Option<String>,
    pub all_premium_workflows: bool,
    /// The premium workflows open to the account.
    pub premium_workflows: Vec<String>,
    pub community: bool,
    /// The API plan the membership includes.
    pub api_plan: Option<String>,
    pub priority_support: bool,
}

/// A member's premium workflows: how many the membership opens and each one, open or not.
#[derive(Serialize, ToSchema)]
pub struct PremiumView {
    /// `basic`, `pro` or `elite`, if any.
    pub membership: Option<String>,
    /// How many the member chooses; `null` when the membership opens all (or there is none).
    pub limit: Option<u32>,
    pub workflows: Vec<PremiumWorkflowView>,
}

#[derive(Serialize, ToSchema)]
pub struct PremiumWorkflowView {
    pub id: String,
    pub name: String,
    /// The member may run it: chosen, or opened by a membership that opens all.
    pub open: bool,
}

impl From<&PremiumStanding> for PremiumView {
    fn from(standing: &PremiumStanding) -> Self {
        PremiumView {
            membership: standing.entitlements.membership.clone(),
            limit: standing.entitlements.premium_limit,
            workflows: standing
                .workflows
                .iter()
                .map(|item| PremiumWorkflowView {
                    id: item.workflow.spec.id.to_string(),
                    name: item.workflow.spec.name.clone(),
                    open: item.open,
                })
                .collect(),
        }
    }
}

/// A Stripe Checkout Session to send the buyer to.
#[derive(Serialize, ToSchema)]
pub struct CheckoutLinkView {
    /// `cs_…`
    pub id: String,
    pub url: String,
}

/// A billing-portal session to send the buyer to.
#[derive(Serialize, ToSchema)]
pub struct PortalLink {
    pub url: String,
}

impl From<&Purchase> for PurchaseView {
    fn from(purchase: &Purchase) -> Self {
        PurchaseView {
            id: purchase.id.clone(),
            account_id: purchase.account_id.to_string(),
            sku: purchase.sku.to_string(),
            quantity: purchase.quantity,
            payment_ref: purchase.payment_ref.clone(),
            delivery: purchase.delivery.as_str(),
            revoked: purchase.revoked,
            created_at: seconds(purchase.created_at),
            download_url: purchase.download_url.clone().filter(|_| !purchase.revoked),
        }
    }
}

impl From<&Entitlements> for EntitlementsView {
    fn from(open: &Entitlements) -> Self {
        EntitlementsView {
            membership: open.membership.clone(),
            all_premium_workflows: open.all_premium_workflows,
            premium_workflows: open.premium_workflows.iter().map(ToString::to_string).collect(),
            community: open.community,
            api_plan: open.api_plan.as_ref().map(ToString::to_string),
            priority_support: open.priority_support,
        }
    }
}

impl From<CheckoutLink> for CheckoutLinkView {
    fn from(link: CheckoutLink) -> Self {
        CheckoutLinkView { id: link.id, url: link.url }
    }
}

/// One catalog entry on sale.
#[derive(Serialize, ToSchema)]
pub struct CatalogItemView {
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
    /// `month` or `year` for subscriptions; absent for one-off purchases.
    pub interval: Option<&'static str>,
    /// `api_plan`, `membership`, `product`, `credits` or `balance` (a top-up of the money balance).
    pub kind: &'static str,
    /// The plan's or membership's tier, as `/api/me` and the entitlements name it.
    pub tier: Option<String>,
}

/// `GET /api/catalog`.
#[derive(Serialize, ToSchema)]
pub struct CatalogView {
    /// `/api/checkout` and `/api/portal` are served here (a Stripe API is configured).
    pub buying: bool,
    /// `/api/me/payouts` is served here.
    pub payouts: bool,
    /// Stripe here is `tollgate dev`'s emulated one: no real money moves, test cards pay.
    pub emulated_stripe: bool,
    pub items: Vec<CatalogItemView>,
    /// Every API plan, the free one too, with what it allows per meter: the plan comparison.
    pub plans: Vec<PlanView>,
}

/// An API plan as a plan comparison shows it.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub sku: String,
    pub name: String,
    pub tier: String,
    pub price_cents: i64,
    pub currency: String,
    /// `month` or `year`; absent for the free plan.
    pub interval: Option<&'static str>,
    /// Whether `/api/checkout` sells it (the free plan is not sold).
    pub for_sale: bool,
    pub requests_per_minute: u32,
    pub max_keys: u32,
    /// Every catalog meter, as this plan limits it.
    pub meters: Vec<PlanMeterView>,
}

/// A plan's limit on one meter.
#[derive(Serialize, ToSchema)]
pub struct PlanMeterView {
    pub meter: String,
    pub display: String,
    pub unit: String,
    /// `null`: unlimited.
    pub quota: Option<u64>,
    /// `day`, `month` or `period`.
    pub per: &'static str,
    /// `block`, `bill` or `balance`.
    pub overage: &'static str,
    /// Minor units per unit past the quota (Stripe's `unit_amount_decimal`), for `bill` and `balance`.
    pub unit_amount_decimal: Option<String>,
}

fn interval_name(interval: Interval) -> &'static str {
    match interval {
        Interval::Month => "month",
        Interval::Year => "year",
    }
}

impl CatalogView {
    pub fn new(catalog: &Catalog, buying: bool, payouts: bool, emulated_stripe: bool) -> Self {
        let items = catalog
            .items()
            .iter()
            .filter(|item| item.lookup_key.is_some())
            .map(|item| {
                let (kind, tier) = match &item.grant {
                    Grant::ApiPlan { tier, .. } => ("api_plan", Some(tier.clone())),
                    Grant::Membership { tier, .. } => ("membership", Some(tier.clone())),
                    Grant::Product { .. } => ("product", None),
                    Grant::Credits { .. } => ("credits", None),
                    Grant::Balance { .. } => ("balance", None),
                    Grant::WorkflowSubscription { workflow, .. } => {
                        ("workflow_subscription", Some(workflow.to_string()))
                    }
                };
                CatalogItemView {
                    sku: item.sku.to_string(),
                    name: item.name.clone(),
                    price_cents: item.price_cents,
                    currency: item.currency.as_str().to_owned(),
                    interval: item.interval.map(interval_name),
                    kind,
                    tier,
                }
            })
            .collect();
        let plans = catalog
            .items()
            .iter()
            .filter_map(|item| match &item.grant {
                Grant::ApiPlan { tier, limits } => Some(PlanView {
                    sku: item.sku.to_string(),
                    name: item.name.clone(),
                    tier: tier.clone(),
                    price_cents: item.price_cents,
                    currency: item.currency.as_str().to_owned(),
                    interval: item.interval.map(interval_name),
                    for_sale: item.lookup_key.is_some(),
                    requests_per_minute: limits.requests_per_minute,
                    max_keys: limits.max_keys,
                    meters: catalog
                        .meters()
                        .iter()
                        .map(|meter| {
                            let limit = limits.on(&meter.name);
                            let unit_amount_decimal = match &limit.overage {
                                Overage::Block => None,
                                Overage::Bill(price) | Overage::Balance(price) => Some(price.decimal.clone()),
                            };
                            PlanMeterView {
                                meter: meter.name.to_string(),
                                display: meter.display.clone(),
                                unit: meter.unit.clone(),
                                quota: limit.quota,
                                per: limit.per.as_str(),
                                overage: limit.overage.as_str(),
                                unit_amount_decimal,
                            }
                        })
                        .collect(),
                }),
                _ => None,
            })
            .collect();
        CatalogView { buying, payouts, emulated_stripe, items, plans }
    }
}
