//! The catalog: every SKU, the Stripe price `lookup_key` that names it, and what it grants.

use crate::ids::Sku;
use crate::money::Currency;
use serde::Deserialize;
use std::collections::HashMap;
use thiserror::Error;

/// The catalog shipped with tollgate (`catalog.toml` at the repository root).
pub const DEFAULT_CATALOG: &str = include_str!("../../../catalog.toml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Year,
}

/// What buying a SKU grants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Grant {
    ApiPlan {
        tier: String,
        /// `None` is unlimited.
        monthly_requests: Option<u64>,
        requests_per_minute: u32,
        overage: bool,
    },
    Membership {
        tier: String,
        /// `None` opens every premium workflow.
        premium_workflows: Option<u32>,
        #[serde(default)]
        community: bool,
        /// The API plan whose limits the membership includes, if any.
        api_plan: Option<Sku>,
        #[serde(default)]
        priority_support: bool,
    },
    Product,
    Credits {
        credits: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Item {
    pub sku: Sku,
    pub lookup_key: Option<String>,
    pub name: String,
    pub price_cents: i64,
    pub currency: Currency,
    pub interval: Option<Interval>,
    #[serde(flatten)]
    pub grant: Grant,
}

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("the catalog is not valid TOML: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("SKU {0} appears twice")]
    DuplicateSku(String),
    #[error("lookup key {0} names two SKUs")]
    DuplicateLookupKey(String),
    #[error("SKU {0} has a negative price")]
    NegativePrice(String),
    #[error("there is no free API plan (an api_plan with price 0) to fall back on")]
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

    pub fn default_catalog() -> Self {
        Self::parse(DEFAULT_CATALOG).expect("the shipped catalog is valid (tested)")
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn by_lookup_key(&self, lookup_key: &str) -> Option<&Item> {
        self.by_lookup_key.get(lookup_key).map(|&index| &self.items[index])
    }

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
    fn unknown_kinds_and_bad_syntax_are_refused() {
        assert!(Catalog::parse("[[sku]]\nsku = \"x\"\nkind = \"spaceship\"").is_err());
        assert!(Catalog::parse("not toml [").is_err());
    }
}
