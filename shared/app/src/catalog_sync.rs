//! `tollgate catalog sync`: makes Stripe's products, prices and Billing Meters match the
//! catalog file.

use crate::ports::checkouts::PaymentsError;
use crate::ports::stripe_catalog::{OveragePrice, StripeCatalog};
use std::collections::HashMap;
use tollgate_core::catalog::Catalog;
use tollgate_core::sync::{self, SyncAction};

/// The changes `catalog` needs, read from Stripe; applied unless `dry_run`. A second
/// run finds nothing to change. Every create carries an idempotency key naming the
/// change, so a sync retried after a failure never creates twice. Last, each live
/// subscription to a plan that bills a meter gets the meter's metered price if it lacks it
/// (subscribed before the plan billed overage).
pub async fn sync_catalog(
    stripe: &dyn StripeCatalog,
    catalog: &Catalog,
    dry_run: bool,
) -> Result<Vec<SyncAction>, PaymentsError> {
    let existing = stripe.prices(&sync::lookup_keys(catalog)).await?;
    let meters = stripe.meters().await?;
    let mut actions = sync::plan(catalog, &existing, &meters);
    // Every price by lookup key, kept current as this run makes prices, for the attachments.
    let mut price_ids: HashMap<String, String> =
        existing.iter().map(|price| (price.lookup_key.clone(), price.id.clone())).collect();
    if dry_run {
        actions.extend(attachments(stripe, catalog, &price_ids).await?);
        return Ok(actions);
    }
    // Metered prices go on their plan's product and name their meter, either of which this
    // run may be the one to create.
    let mut products: HashMap<String, String> = existing
        .iter()
        .filter(|price| price.metered_unit_amount.is_none())
        .map(|price| (price.lookup_key.clone(), price.product_id.clone()))
        .collect();
    let mut meter_ids: HashMap<String, String> = meters.into_iter().map(|meter| (meter.event_name, meter.id)).collect();
    for action in &actions {
        match action {
            SyncAction::Create { sku } => {
                let item = catalog.by_sku(sku).expect("planned from the catalog");
                let key = format!("tollgate-sync-{sku}-{}-{}", item.price_cents, item.currency.as_str());
                let product = stripe.create_product(item, &format!("{key}-product")).await?;
                let price = stripe.create_price(item, &product, &format!("{key}-price")).await?;
                if let Some(lookup_key) = &item.lookup_key {
                    products.insert(lookup_key.clone(), product);
                    price_ids.insert(lookup_key.clone(), price);
                }
            }
            SyncAction::Reprice { sku, product_id, old_price_id } => {
                let item = catalog.by_sku(sku).expect("planned from the catalog");
                let key = format!("tollgate-sync-{sku}-{}-{}-{old_price_id}", item.price_cents, item.currency.as_str());
                let price = stripe.create_price(item, product_id, &key).await?;
                price_ids.extend(item.lookup_key.clone().map(|lookup_key| (lookup_key, price)));
                stripe.archive_price(old_price_id).await?;
            }
            SyncAction::Rename { sku, product_id } => {
                let item = catalog.by_sku(sku).expect("planned from the catalog");
                stripe.rename_product(product_id, &item.name).await?;
            }
            SyncAction::CreateMeter { meter } => {
                let meter = catalog.meter(meter).expect("planned from the catalog");
                let id =
                    stripe.create_meter(meter, &format!("tollgate-sync-meter-{}", meter.stripe_event_name)).await?;
                meter_ids.insert(meter.stripe_event_name.clone(), id);
            }
            SyncAction::CreateOveragePrice { sku, meter, old_price_id } => {
                let item = catalog.by_sku(sku).expect("planned from the catalog");
                let unit_price = item.billed_meters().find(|(billed, _)| billed == &meter).map(|(_, price)| price);
                let unit_price = unit_price.expect("planned from the plan's billed meters");
                let event_name = &catalog.meter(meter).expect("planned from the catalog").stripe_event_name;
                let lookup_key = item.lookup_key.as_deref().unwrap_or_default();
                let (Some(meter_id), Some(product_id)) = (meter_ids.get(event_name), products.get(lookup_key)) else {
                    return Err(PaymentsError::refused(format!("{sku} on {meter}: its meter or product is missing")));
                };
                let overage = OveragePrice { item, meter, meter_id, unit_price, product_id };
                let key = format!(
                    "tollgate-sync-{sku}-{meter}-{}-{meter_id}-{}",
                    unit_price.decimal,
                    old_price_id.as_deref().unwrap_or("new")
                );
                let price = stripe.create_overage_price(&overage, &key).await?;
                price_ids.extend(item.overage_lookup_key(meter).map(|lookup_key| (lookup_key, price)));
                if let Some(old) = old_price_id {
                    stripe.archive_price(old).await?;
                }
            }
            // Planned below, once every price exists.
            SyncAction::AttachOverage { .. } => {}
        }
        tracing::info!(%action, "catalog sync");
    }
    let attach = attachments(stripe, catalog, &price_ids).await?;
    for action in &attach {
        let SyncAction::AttachOverage { sku, meter, subscription } = action else { continue };
        let item = catalog.by_sku(sku).expect("planned from the catalog");
        let key = item.overage_lookup_key(meter).expect("planned from a sold plan");
        let Some(metered) = price_ids.get(&key) else { continue };
        let idempotency = format!("tollgate-sync-attach-{subscription}-{metered}");
        stripe.add_item(subscription, metered, &idempotency).await?;
        tracing::info!(%action, "catalog sync");
    }
    actions.extend(attach);
    Ok(actions)
}

/// The live subscriptions of each billing plan that lack its metered prices, as found
/// among `price_ids` (by lookup key; a metered price not yet made has no subscription to join).
async fn attachments(
    stripe: &dyn StripeCatalog,
    catalog: &Catalog,
    price_ids: &HashMap<String, String>,
) -> Result<Vec<SyncAction>, PaymentsError> {
    let mut attach = Vec::new();
    for item in catalog.items() {
        let Some(flat) = item.lookup_key.as_ref().and_then(|key| price_ids.get(key)) else { continue };
        for (meter, _) in item.billed_meters() {
            let key = item.overage_lookup_key(meter).expect("a sold plan has a lookup key");
            let Some(metered) = price_ids.get(&key) else { continue };
            for subscription in stripe.subscriptions_lacking(flat, metered).await? {
                attach.push(SyncAction::AttachOverage { sku: item.sku.clone(), meter: meter.clone(), subscription });
            }
        }
    }
    Ok(attach)
}
