use crate::ports::checkouts::Paid;
use tollgate_core::catalog::Item;
use tollgate_core::meters::{Meter, MeterName, UnitPrice};
use tollgate_core::sync::{StripeMeter, StripePrice};

/// Stripe's products and prices, as catalog sync reads and writes them.
pub trait StripeCatalog: Send + Sync {
    /// The prices (active or not) carrying any of `lookup_keys`, with their products.
    fn prices<'a>(&'a self, lookup_keys: &'a [String]) -> Paid<'a, Vec<StripePrice>>;
    /// A product named after `item`, with `metadata.sku`; returns its id.
    fn create_product<'a>(&'a self, item: &'a Item, idempotency_key: &'a str) -> Paid<'a, String>;
    /// A price for `item` on `product_id`, taking over the item's lookup key; returns its id.
    fn create_price<'a>(&'a self, item: &'a Item, product_id: &'a str, idempotency_key: &'a str) -> Paid<'a, String>;
    /// The active Billing Meters.
    fn meters(&self) -> Paid<'_, Vec<StripeMeter>>;
    /// A Billing Meter for `meter`: its event name, summed, the customer read from
    /// `stripe_customer_id`; returns its id.
    fn create_meter<'a>(&'a self, meter: &'a Meter, idempotency_key: &'a str) -> Paid<'a, String>;
    /// The metered price of `item`'s overage on `meter` (`meter_id`), at `unit_price`, on
    /// `product_id`, taking over its lookup key; returns its id.
    fn create_overage_price<'a>(&'a self, overage: &'a OveragePrice<'a>, idempotency_key: &'a str) -> Paid<'a, String>;
    /// The live subscriptions with an item of `price_id` and none of `metered_price_id`.
    fn subscriptions_lacking<'a>(&'a self, price_id: &'a str, metered_price_id: &'a str) -> Paid<'a, Vec<String>>;
    /// Adds an item of `price_id` to `subscription`.
    fn add_item<'a>(&'a self, subscription: &'a str, price_id: &'a str, idempotency_key: &'a str) -> Paid<'a, ()>;
    fn archive_price<'a>(&'a self, price_id: &'a str) -> Paid<'a, ()>;
    fn rename_product<'a>(&'a self, product_id: &'a str, name: &'a str) -> Paid<'a, ()>;
}

/// A metered price to create.
#[derive(Debug, Clone, Copy)]
pub struct OveragePrice<'a> {
    pub item: &'a Item,
    pub meter: &'a MeterName,
    pub meter_id: &'a str,
    pub unit_price: &'a UnitPrice,
    pub product_id: &'a str,
}
