//! Catalog sync: the changes that make Stripe's products and prices match the catalog.
//!
//! A catalog entry is found in Stripe by its price's `lookup_key`. Prices cannot change
//! their amount, so a changed amount, currency or interval is a new price that takes
//! the lookup key over (`transfer_lookup_key`), and the old one is archived. A product
//! whose name changed is renamed. A second run on an unchanged catalog plans nothing.
//!
//! A plan that bills a meter past its quota needs a Billing Meter for the meter (found by
//! its `event_name`) and a metered price on the plan's product, found by the lookup key
//! `<plan lookup key>_<meter>_overage`; a changed unit price is a new metered price, as above.

use crate::catalog::{Catalog, Interval, Item};
use crate::ids::Sku;
use crate::meters::MeterName;
use crate::money::Micros;

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
    /// A metered price's `unit_amount_decimal` (minor units), else `None`.
    pub metered_unit_amount: Option<String>,
}

/// A Billing Meter as Stripe has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeMeter {
    /// `mtr_…`.
    pub id: String,
    /// The `event_name` meter events are sent under.
    pub event_name: String,
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
    /// No active Billing Meter has the meter's event name.
    CreateMeter {
        /// The catalog's meter.
        meter: MeterName,
    },
    /// A live subscription to the plan lacks the metered price of `meter`: it gets an item
    /// of it, so its overage reaches its invoices.
    AttachOverage {
        /// The plan.
        sku: Sku,
        /// The meter it bills.
        meter: MeterName,
        /// `sub_…`.
        subscription: String,
    },
    /// The plan bills `meter` and has no metered price for it, or one at another unit price
    /// (`old_price_id`, archived once the new one holds the lookup key).
    CreateOveragePrice {
        /// The plan.
        sku: Sku,
        /// The meter it bills.
        meter: MeterName,
        /// The metered price it replaces.
        old_price_id: Option<String>,
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
            SyncAction::CreateMeter { meter } => write!(f, "create the Billing Meter of {meter}"),
            SyncAction::AttachOverage { sku, meter, subscription } => {
                write!(f, "add the metered overage price of {sku} on {meter} to {subscription}")
            }
            SyncAction::CreateOveragePrice { sku, meter, old_price_id: None } => {
                write!(f, "create the metered overage price of {sku} on {meter}")
            }
            SyncAction::CreateOveragePrice { sku, meter, old_price_id: Some(old) } => {
                write!(f, "new metered overage price of {sku} on {meter} ({old} archived)")
            }
        }
    }
}

fn same_price(item: &Item, price: &StripePrice) -> bool {
    price.unit_amount == item.price_cents && price.currency == item.currency.as_str() && price.interval == item.interval
}

/// Every lookup key sync looks for: the catalog's, and each billed meter's overage price.
pub fn lookup_keys(catalog: &Catalog) -> Vec<String> {
    let overage = catalog.items().iter().flat_map(|item| {
        item.billed_meters().filter_map(|(meter, _)| item.overage_lookup_key(meter)).collect::<Vec<_>>()
    });
    catalog.items().iter().filter_map(|item| item.lookup_key.clone()).chain(overage).collect()
}

/// What to change so that Stripe matches `catalog`, given the prices found by
/// [`lookup_keys`] and the active Billing Meters. Entries without a lookup key (the free
/// plan) are not sold.
pub fn plan(catalog: &Catalog, existing: &[StripePrice], meters: &[StripeMeter]) -> Vec<SyncAction> {
    let mut actions = Vec::new();
    let billed: Vec<&MeterName> = {
        let mut billed: Vec<&MeterName> =
            catalog.items().iter().flat_map(|item| item.billed_meters().map(|(meter, _)| meter)).collect();
        billed.sort();
        billed.dedup();
        billed
    };
    for name in billed {
        let meter = catalog.meter(name).expect("a parsed catalog's limits name its meters");
        if !meters.iter().any(|known| known.event_name == meter.stripe_event_name) {
            actions.push(SyncAction::CreateMeter { meter: name.clone() });
        }
    }
    // Each plan's metered prices right after its own, so a plan is for sale as soon as may be.
    for item in catalog.items() {
        let Some(lookup_key) = &item.lookup_key else { continue };
        let Some(price) = existing.iter().find(|price| &price.lookup_key == lookup_key) else {
            actions.push(SyncAction::Create { sku: item.sku.clone() });
            actions.extend(overage_prices(item, existing));
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
        actions.extend(overage_prices(item, existing));
    }
    actions
}

/// The metered prices `item` lacks, or has at another unit price.
fn overage_prices(item: &Item, existing: &[StripePrice]) -> Vec<SyncAction> {
    item.billed_meters()
        .filter_map(|(meter, unit_price)| {
            let key = item.overage_lookup_key(meter)?;
            let found = existing.iter().find(|price| price.lookup_key == key);
            let same = found.is_some_and(|price| {
                let decimal = price.metered_unit_amount.as_deref();
                price.currency == item.currency.as_str()
                    && decimal.and_then(|decimal| Micros::parse_minor_decimal(decimal, &item.currency).ok())
                        == Some(unit_price.micros)
            });
            (!same).then(|| SyncAction::CreateOveragePrice {
                sku: item.sku.clone(),
                meter: meter.clone(),
                old_price_id: found.map(|price| price.id.clone()),
            })
        })
        .collect()
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
                    metered_unit_amount: None,
                })
            })
            .chain(catalog.items().iter().flat_map(|item| {
                item.billed_meters()
                    .map(|(meter, price)| StripePrice {
                        id: format!("price_{}_{meter}", item.sku),
                        lookup_key: item.overage_lookup_key(meter).unwrap(),
                        unit_amount: 0,
                        currency: item.currency.as_str().to_owned(),
                        interval: item.interval,
                        product_id: format!("prod_{}", item.sku),
                        product_name: item.name.clone(),
                        metered_unit_amount: Some(price.decimal.clone()),
                    })
                    .collect::<Vec<_>>()
            }))
            .collect()
    }

    fn meters() -> Vec<StripeMeter> {
        vec![StripeMeter { id: "mtr_1".into(), event_name: "api_requests".into() }]
    }

    #[test]
    fn an_empty_account_gets_every_sold_entry_and_a_synced_one_nothing() {
        let catalog = Catalog::default_catalog();
        let first = plan(&catalog, &[], &[]);
        let sold = catalog.items().iter().filter(|item| item.lookup_key.is_some()).count();
        assert_eq!(first.len(), sold + 2, "{first:?}");
        assert_eq!(first[0], SyncAction::CreateMeter { meter: MeterName::requests() });
        let pro = Sku::parse("api_pro").unwrap();
        assert_eq!(first[1], SyncAction::Create { sku: pro.clone() });
        assert_eq!(
            first[2],
            SyncAction::CreateOveragePrice { sku: pro, meter: MeterName::requests(), old_price_id: None }
        );
        assert_eq!(first.iter().filter(|action| matches!(action, SyncAction::Create { .. })).count(), sold);
        assert_eq!(lookup_keys(&catalog).last().map(String::as_str), Some("api_pro_monthly_requests_overage"));
        assert!(plan(&catalog, &as_synced(&catalog), &meters()).is_empty());
    }

    #[test]
    fn a_changed_price_is_a_new_price_and_a_changed_name_a_rename() {
        let catalog = Catalog::default_catalog();
        let mut existing = as_synced(&catalog);
        existing[0].unit_amount += 100;
        existing[1].product_name = "Old name".into();
        existing[2].interval = None;
        let actions = plan(&catalog, &existing, &meters());
        assert_eq!(actions.len(), 3, "{actions:?}");
        assert!(matches!(&actions[0], SyncAction::Reprice { old_price_id, .. } if old_price_id == &existing[0].id));
        assert!(matches!(&actions[1], SyncAction::Rename { .. }));
        assert!(matches!(&actions[2], SyncAction::Reprice { .. }));
    }

    #[test]
    fn a_changed_overage_price_is_a_new_metered_price_and_the_same_one_written_otherwise_is_not() {
        let catalog = Catalog::default_catalog();
        let mut existing = as_synced(&catalog);
        let metered = existing.iter_mut().find(|price| price.metered_unit_amount.is_some()).unwrap();
        metered.metered_unit_amount = Some("0.40".into());
        assert!(plan(&catalog, &existing, &meters()).is_empty(), "0.40 and 0.4 are one price");
        let metered = existing.iter_mut().find(|price| price.metered_unit_amount.is_some()).unwrap();
        metered.metered_unit_amount = Some("0.5".into());
        let old = metered.id.clone();
        let actions = plan(&catalog, &existing, &meters());
        assert_eq!(
            actions,
            [SyncAction::CreateOveragePrice {
                sku: Sku::parse("api_pro").unwrap(),
                meter: MeterName::requests(),
                old_price_id: Some(old)
            }]
        );
    }
}
