//! The catalog: every SKU, the Stripe price `lookup_key` that names it, and what it grants.

use crate::ids::{AccountId, Sku};
use crate::money::Currency;
use serde::Deserialize;
use std::collections::HashMap;
use thiserror::Error;

/// The catalog shipped with tollgate (`catalog.toml` at the repository root).
pub const DEFAULT_CATALOG: &str = include_str!("../../../catalog.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
/// How often a subscription SKU bills.
pub enum Interval {
    /// Every month.
    Month,
    /// Every year.
    Year,
}

/// What buying a SKU grants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Grant {
    /// Request quotas for API keys.
    ApiPlan {
        /// The plan's tier, as accounts show it (`free`, `pro`, …).
        tier: String,
        /// `None` is unlimited.
        monthly_requests: Option<u64>,
        /// Per-key rate limit.
        requests_per_minute: u32,
        /// Whether use past the quota is allowed and billed (Stripe meter events).
        overage: bool,
    },
    /// Premium workflows and perks.
    Membership {
        /// The membership's tier, as accounts show it (`basic`, `pro`, `elite`).
        tier: String,
        /// `None` opens every premium workflow.
        premium_workflows: Option<u32>,
        #[serde(default)]
        /// Access to the community.
        community: bool,
        /// The API plan whose limits the membership includes, if any.
        api_plan: Option<Sku>,
        #[serde(default)]
        /// Priority support.
        priority_support: bool,
    },
    /// A one-off product (a template, a pack) with fulfillment.
    Product {
        /// Where a purchase is announced, signed (e.g. an n8n flow that emails the download
        /// link); none: granted with nothing to deliver.
        #[serde(default)]
        fulfillment_url: Option<crate::workflow::WebhookUrl>,
    },
    /// Prepaid request credits.
    Credits {
        /// How many requests the top-up buys.
        credits: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
/// One SKU of the catalog.
pub struct Item {
    /// Our name for it.
    pub sku: Sku,
    /// The Stripe price `lookup_key` that names it (none for the free plan).
    pub lookup_key: Option<String>,
    /// Shown to buyers.
    pub name: String,
    /// Price in minor units of `currency`.
    pub price_cents: i64,
    /// The price's currency.
    pub currency: Currency,
    /// Billing interval; `None` for one-off purchases.
    pub interval: Option<Interval>,
    #[serde(flatten)]
    /// What buying it grants.
    pub grant: Grant,
    /// A partner (a creator, a strategist) who earns a share of each payment for it.
    #[serde(default)]
    pub partner: Option<AccountId>,
    /// The partner's share in basis points: 7000 is 70%.
    #[serde(default = "default_partner_share")]
    pub partner_share_bp: u16,
}

/// A catalog partner's share unless the entry names another: 70%, as marketplaces pay creators.
pub const DEFAULT_PARTNER_SHARE_BP: u16 = 7_000;

fn default_partner_share() -> u16 {
    DEFAULT_PARTNER_SHARE_BP
}

/// Who earns what share of each payment for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerShare {
    /// The partner's account.
    pub partner: AccountId,
    /// Basis points of each payment, at most 10 000.
    pub basis_points: u16,
}

impl Item {
    /// The partner's share of each payment for this item, if it names a partner.
    pub fn partner_share(&self) -> Option<PartnerShare> {
        self.partner.clone().map(|partner| PartnerShare { partner, basis_points: self.partner_share_bp })
    }
}

#[derive(Debug, Error)]
/// Why a catalog file was refused.
pub enum CatalogError {
    #[error("the catalog is not valid TOML: {0}")]
    /// The file is not valid TOML or not shaped like a catalog.
    Syntax(#[from] toml::de::Error),
    #[error("SKU {0} appears twice")]
    /// Two entries share a SKU.
    DuplicateSku(String),
    #[error("lookup key {0} names two SKUs")]
    /// Two entries share a lookup key.
    DuplicateLookupKey(String),
    #[error("SKU {0} has a negative price")]
    /// A price below zero.
    NegativePrice(String),
    #[error("SKU {0} gives its partner more than 10000 basis points")]
    /// A partner share over 100%.
    PartnerShare(String),
    #[error("there is no free API plan (an api_plan with price 0) to fall back on")]
    /// No free API plan to fall back on.
    NoFreePlan,
}

#[derive(Debug, Deserialize)]
struct File {
    sku: Vec<Item>,
}

/// The parsed catalog, indexed by SKU and by lookup key.
#[derive(Debug, Clone)]
pub struct Catalog {
    items: Vec<Item>,
    by_lookup_key: HashMap<String, usize>,
}

impl Catalog {
    /// Parses and checks a catalog file.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let file: File = toml::from_str(text)?;
        let mut by_lookup_key = HashMap::new();
        let mut skus = std::collections::HashSet::new();
        for (index, item) in file.sku.iter().enumerate() {
            if !skus.insert(item.sku.clone()) {
                return Err(CatalogError::DuplicateSku(item.sku.to_string()));
            }
            if item.price_cents < 0 {
                return Err(CatalogError::NegativePrice(item.sku.to_string()));
            }
            if item.partner_share_bp > 10_000 {
                return Err(CatalogError::PartnerShare(item.sku.to_string()));
            }
            if let Some(key) = &item.lookup_key
                && by_lookup_key.insert(key.clone(), index).is_some()
            {
                return Err(CatalogError::DuplicateLookupKey(key.clone()));
            }
        }
        let catalog = Self { items: file.sku, by_lookup_key };
        if catalog.free_plan().is_none() {
            return Err(CatalogError::NoFreePlan);
        }
        Ok(catalog)
    }

    /// The catalog shipped with tollgate.
    pub fn default_catalog() -> Self {
        Self::parse(DEFAULT_CATALOG).expect("the shipped catalog is valid (tested)")
    }

    /// Every SKU, in file order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The SKU a Stripe price `lookup_key` names.
    pub fn by_lookup_key(&self, lookup_key: &str) -> Option<&Item> {
        self.by_lookup_key.get(lookup_key).map(|&index| &self.items[index])
    }

    /// The entry for a SKU.
    pub fn by_sku(&self, sku: &Sku) -> Option<&Item> {
        self.items.iter().find(|item| &item.sku == sku)
    }

    /// The plan every account has until an API subscription is active.
    pub fn free_plan(&self) -> Option<&Item> {
        self.items.iter().find(|item| item.price_cents == 0 && matches!(item.grant, Grant::ApiPlan { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_holds_the_design_defaults() {
        let catalog = Catalog::default_catalog();
        assert_eq!(catalog.items().len(), 8);
        let pro = catalog.by_lookup_key("api_pro_monthly").unwrap();
        assert_eq!(pro.sku.as_str(), "api_pro");
        assert_eq!(pro.price_cents, 2999);
        assert!(
            matches!(&pro.grant, Grant::ApiPlan { tier, monthly_requests: Some(10_000), overage: true, .. } if tier == "pro")
        );
        let enterprise = catalog.by_lookup_key("api_enterprise_monthly").unwrap();
        assert!(matches!(enterprise.grant, Grant::ApiPlan { monthly_requests: None, .. }));
        let elite = catalog.by_lookup_key("member_elite_monthly").unwrap();
        assert!(matches!(&elite.grant, Grant::Membership { tier, api_plan: Some(_), .. } if tier == "elite"));
        assert_eq!(catalog.by_lookup_key("credits_1000").unwrap().grant, Grant::Credits { credits: 1000 });
        assert_eq!(catalog.free_plan().unwrap().sku.as_str(), "api_free");
    }

    #[test]
    fn a_lookup_key_may_name_only_one_sku() {
        let text = DEFAULT_CATALOG.replace("lookup_key = \"member_pro_monthly\"", "lookup_key = \"api_pro_monthly\"");
        assert!(matches!(Catalog::parse(&text), Err(CatalogError::DuplicateLookupKey(_))));
    }

    #[test]
    fn a_partner_takes_seventy_percent_unless_the_entry_says_otherwise_and_never_over_all() {
        assert_eq!(Catalog::default_catalog().items().iter().filter_map(Item::partner_share).count(), 0);
        let named = DEFAULT_CATALOG.replace("sku = \"api_pro\"\n", "sku = \"api_pro\"\npartner = \"zoe\"\n");
        let share = Catalog::parse(&named).unwrap().by_sku(&Sku::parse("api_pro").unwrap()).unwrap().partner_share();
        assert_eq!(share, Some(PartnerShare { partner: AccountId::parse("zoe").unwrap(), basis_points: 7_000 }));
        let greedy = named.replace("partner = \"zoe\"\n", "partner = \"zoe\"\npartner_share_bp = 10001\n");
        assert!(matches!(Catalog::parse(&greedy), Err(CatalogError::PartnerShare(_))));
    }

    #[test]
    fn unknown_kinds_and_bad_syntax_are_refused() {
        assert!(Catalog::parse("[[sku]]\nsku = \"x\"\nkind = \"spaceship\"").is_err());
        assert!(Catalog::parse("not toml [").is_err());
    }
}
