//! Catalog sync: the changes that make Stripe's products and prices match the catalog.
//!
//! A catalog entry is found in Stripe by its price's `lookup_key`. Prices cannot change
//! their amount, so a changed amount, currency or interval is a new price that takes
//! the lookup key over (`transfer_lookup_key`), and the old one is archived. A product
//! whose name changed is renamed. A second run on an unchanged catalog plans nothing.

use crate::catalog::{Catalog, Interval, Item};
use crate::ids::Sku;

/// A price as Stripe has it, with its product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripePrice {
    /// `price_…`.
    pub id: String,
    /// Its lookup key.
    pub lookup_key: String,
    /// Minor units.
    pub unit_amount: i64,
    /// Lower-case ISO code.
    pub currency: String,
    /// `None` for one-off prices.
    pub interval: Option<Interval>,
    /// `prod_…`.
    pub product_id: String,
    /// The product's name.
    pub product_name: String,
}

/// One change to make in Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAction {
    /// Nothing in Stripe yet: a product and its price.
    Create {
        /// The catalog entry.
        sku: Sku,
    },
    /// The price differs: a new price on the same product takes the lookup key; the old is archived.
    Reprice {
        /// The catalog entry.
        sku: Sku,
        /// Its product.
        product_id: String,
        /// The price to archive.
        old_price_id: String,
    },
    /// The product's name differs.
    Rename {
        /// The catalog entry.
        sku: Sku,
        /// Its product.
        product_id: String,
    },
}

impl std::fmt::Display for SyncAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncAction::Create { sku } => write!(f, "create product and price for {sku}"),
            SyncAction::Reprice { sku, old_price_id, .. } => {
                write!(f, "new price for {sku} (takes its lookup key; {old_price_id} archived)")
            }
            SyncAction::Rename { sku, product_id } => write!(f, "rename product {product_id} of {sku}"),
        }
    }
}

fn same_price(item: &Item, price: &StripePrice) -> bool {
    price.unit_amount == item.price_cents && price.currency == item.currency.as_str() && price.interval == item.interval
}

/// What to change so that Stripe matches `catalog`, given the prices found by the
/// catalog's lookup keys. Entries without a lookup key (the free plan) are not sold.
pub fn plan(catalog: &Catalog, existing: &[StripePrice]) -> Vec<SyncAction> {
    let mut actions = Vec::new();
    for item in catalog.items() {
        let Some(lookup_key) = &item.lookup_key else { continue };
        let Some(price) = existing.iter().find(|price| &price.lookup_key == lookup_key) else {
            actions.push(SyncAction::Create { sku: item.sku.clone() });
            continue;
        };
        if !same_price(item, price) {
            actions.push(SyncAction::Reprice {
                sku: item.sku.clone(),
                product_id: price.product_id.clone(),
                old_price_id: price.id.clone(),
            });
        }
        if price.product_name != item.name {
            actions.push(SyncAction::Rename { sku: item.sku.clone(), product_id: price.product_id.clone() });
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_synced(catalog: &Catalog) -> Vec<StripePrice> {
        catalog
            .items()
            .iter()
            .filter_map(|item| {
                Some(StripePrice {
                    id: format!("price_{}", item.sku),
                    lookup_key: item.lookup_key.clone()?,
                    unit_amount: item.price_cents,
                    currency: item.currency.as_str().to_owned(),
                    interval: item.interval,
                    product_id: format!("prod_{}", item.sku),
                    product_name: item.name.clone(),
                })
            })
            .collect()
    }

    #[test]
    fn an_empty_account_gets_every_sold_entry_and_a_synced_one_nothing() {
        let catalog = Catalog::default_catalog();
        let first = plan(&catalog, &[]);
        let sold = catalog.items().iter().filter(|item| item.lookup_key.is_some()).count();
        assert_eq!(first.len(), sold);
        assert!(first.iter().all(|action| matches!(action, SyncAction::Create { .. })));
        assert!(plan(&catalog, &as_synced(&catalog)).is_empty());
    }

    #[test]
    fn a_changed_price_is_a_new_price_and_a_changed_name_a_rename() {
        let catalog = Catalog::default_catalog();
        let mut existing = as_synced(&catalog);
        existing[0].unit_amount += 100;
        existing[1].product_name = "Old name".into();
        existing[2].interval = None;
        let actions = plan(&catalog, &existing);
        assert_eq!(actions.len(), 3, "{actions:?}");
        assert!(matches!(&actions[0], SyncAction::Reprice { old_price_id, .. } if old_price_id == &existing[0].id));
        assert!(matches!(&actions[1], SyncAction::Rename { .. }));
        assert!(matches!(&actions[2], SyncAction::Reprice { .. }));
    }
}
