//! `tollgate catalog sync`: makes Stripe's products and prices match the catalog file.

use crate::ports::checkouts::PaymentsError;
use crate::ports::stripe_catalog::StripeCatalog;
use tollgate_core::catalog::Catalog;
use tollgate_core::sync::{self, SyncAction};

/// The changes `catalog` needs, read from Stripe; applied unless `dry_run`. A second
/// run finds nothing to change. Every create carries an idempotency key naming the
/// change, so a sync retried after a failure never creates twice.
pub async fn sync_catalog(
    stripe: &dyn StripeCatalog,
    catalog: &Catalog,
    dry_run: bool,
) -> Result<Vec<SyncAction>, PaymentsError> {
    let lookup_keys: Vec<String> = catalog.items().iter().filter_map(|item| item.lookup_key.clone()).collect();
    let existing = stripe.prices(&lookup_keys).await?;
    let actions = sync::plan(catalog, &existing);
    if dry_run {
        return Ok(actions);
    }
    for action in &actions {
        match action {
            SyncAction::Create { sku } => {
                let item = catalog.by_sku(sku).expect("planned from the catalog");
                let key = format!("tollgate-sync-{sku}-{}-{}", item.price_cents, item.currency.as_str());
                let product = stripe.create_product(item, &format!("{key}-product")).await?;
                stripe.create_price(item, &product, &format!("{key}-price")).await?;
            }
            SyncAction::Reprice { sku, product_id, old_price_id } => {
                let item = catalog.by_sku(sku).expect("planned from the catalog");
                let key = format!("tollgate-sync-{sku}-{}-{}-{old_price_id}", item.price_cents, item.currency.as_str());
                stripe.create_price(item, product_id, &key).await?;
                stripe.archive_price(old_price_id).await?;
            }
            SyncAction::Rename { sku, product_id } => {
                let item = catalog.by_sku(sku).expect("planned from the catalog");
                stripe.rename_product(product_id, &item.name).await?;
            }
        }
        tracing::info!(%action, "catalog sync");
    }
    Ok(actions)
}
