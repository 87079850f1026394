//! Stripe API calls with `async-stripe` (pinned with `=`): the adapter of the
//! `Checkouts`, `StripeCatalog`, `MeterEvents`, `StripeEvents` and `Connect` ports. One client (one connection pool) per process;
//! `STRIPE_API_BASE` points it at a local stand-in in tests and development.

mod connect;
mod events;
mod transfers;

use futures_util::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_meter::{
    CreateBillingMeter, CreateBillingMeterCustomerMapping, CreateBillingMeterCustomerMappingType,
    CreateBillingMeterDefaultAggregation, CreateBillingMeterDefaultAggregationFormula, CreateBillingMeterValueSettings,
    ListBillingMeter,
};
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::ListSubscription;
use stripe_billing::subscription_item::CreateSubscriptionItem;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionPaymentIntentData,
    CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, CreatePriceRecurringUsageType, ListPrice,
    UpdatePrice,
};
use stripe_product::product::{CreateProduct, UpdateProduct};
use stripe_shared::{CheckoutSessionMode, Price, RecurringInterval, RecurringUsageType};
use tollgate_app::ports::checkouts::{Checkouts, NewSession, Paid, PaymentsError, Session};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::meter_events::{MeterEvent, MeterEvents, MeterEventsError, Reported};
use tollgate_app::ports::stripe_catalog::{OveragePrice, StripeCatalog};
use tollgate_core::catalog::{Interval, Item};
use tollgate_core::checkout::Mode;
use tollgate_core::ids::{AccountId, CustomerId};
use tollgate_core::meters::Meter;
use tollgate_core::sync::{StripeMeter, StripePrice};

/// The API version every request names (`Stripe-Version`): the one this async-stripe is generated for.
pub fn api_version() -> &'static str {
    stripe_shared::version::VERSION.as_str()
}

/// The Stripe API client.
pub struct StripeApi {
    client: Client,
}

impl StripeApi {
    /// A client for `secret_key` (`sk_…`/`rk_…`) at `api_base` (`https://api.stripe.com`, or a stand-in).
    pub fn new(secret_key: &SecretString, api_base: &str) -> Result<Self, PaymentsError> {
        // Every TLS client here is rustls on ring; naming the provider keeps it so if another
        // dependency ever enables a second one, which rustls would refuse to choose between.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::new(secret_key.expose_secret())
            .url(api_base)
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| PaymentsError::refused(format!("cannot build the Stripe client: {e}")))?;
        Ok(Self { client })
    }
}

impl StripeApi {
    /// Opens the connection to Stripe (TLS handshake included) during a cold start's init,
    /// so the first buyer does not wait for it: one list of at most one price, which every
    /// key that sells can read. Best effort and short (`limit`): a failure here is the first
    /// request's to report.
    pub async fn warm_up(&self, limit: std::time::Duration) {
        match tokio::time::timeout(limit, ListPrice::new().limit(1).send(&self.client)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "Stripe warm-up failed"),
            Err(_) => tracing::warn!("the Stripe warm-up took too long; the first request connects"),
        }
    }
}

impl StripeApi {
    /// Refunds `payment` (a payment intent `pi_…` or a charge `ch_…`): `amount` cents, or all
    /// that is left of it. Answers the refund's id and amount. For operators' commands only:
    /// tollgate itself never refunds.
    pub async fn refund(&self, payment: &str, amount: Option<i64>) -> Result<(String, i64), PaymentsError> {
        let mut create = stripe_core::refund::CreateRefund::new();
        create = if payment.starts_with("ch_") { create.charge(payment) } else { create.payment_intent(payment) };
        if let Some(amount) = amount {
            create = create.amount(amount);
        }
        let refund = create.send(&self.client).await.map_err(failed)?;
        Ok((refund.id.to_string(), refund.amount))
    }
}

/// Stripe's own verdict for 4xx (but 429) answers, refused; everything else may pass if
/// retried. Stripe's answer stays the cause.
pub(crate) fn failed(error: StripeError) -> PaymentsError {
    let (kind, what) = match &error {
        StripeError::Stripe(api, status) if (400..500).contains(status) && *status != 429 => {
            (ErrorKind::Refused, api.message.clone().unwrap_or_else(|| format!("status {status}")))
        }
        other => (ErrorKind::Transient, other.to_string()),
    };
    PortError::caused_by(kind, what, error).into()
}

pub(crate) fn idempotent(key: &str) -> Result<RequestStrategy, PaymentsError> {
    IdempotencyKey::new(key).map(RequestStrategy::Idempotent).map_err(|e| PaymentsError::refused(e.to_string()))
}

pub(crate) fn metadata(pairs: &[(&'static str, String)]) -> HashMap<String, String> {
    pairs.iter().map(|(key, value)| ((*key).to_owned(), value.clone())).collect()
}

fn stripe_currency(item: &Item) -> Result<stripe_types::Currency, PaymentsError> {
    let code = item.currency.as_str();
    code.parse().map_err(|_| PaymentsError::refused(format!("currency {code}")))
}

fn stripe_interval(interval: Interval) -> CreatePriceRecurringInterval {
    match interval {
        Interval::Month => CreatePriceRecurringInterval::Month,
        Interval::Year => CreatePriceRecurringInterval::Year,
    }
}

fn stripe_price(price: Price) -> Option<StripePrice> {
    let product = price.product.as_object()?;
    let interval = match price.recurring.as_ref().map(|recurring| &recurring.interval) {
        None => None,
        Some(RecurringInterval::Month) => Some(Interval::Month),
        Some(RecurringInterval::Year) => Some(Interval::Year),
        // Days and weeks are not in tollgate's catalog: never equal to an entry, so resynced.
        Some(_) => return None,
    };
    let metered = price.recurring.as_ref().is_some_and(|recurring| recurring.usage_type == RecurringUsageType::Metered);
    Some(StripePrice {
        metered_unit_amount: if metered { price.unit_amount_decimal.clone() } else { None },
        id: price.id.to_string(),
        lookup_key: price.lookup_key.clone()?,
        unit_amount: price.unit_amount.unwrap_or(0),
        currency: price.currency.to_string(),
        interval,
        product_id: product.id.to_string(),
        product_name: product.name.clone(),
    })
}

impl Checkouts for StripeApi {
    fn create_customer<'a>(&'a self, account: &'a AccountId, idempotency_key: &'a str) -> Paid<'a, CustomerId> {
        Box::pin(async move {
            let customer = CreateCustomer::new()
                .metadata(HashMap::from([("account_id".to_owned(), account.to_string())]))
                .customize()
                .request_strategy(idempotent(idempotency_key)?)
                .send(&self.client)
                .await
                .map_err(failed)?;
            CustomerId::parse(customer.id.as_str()).map_err(|e| PaymentsError::refused(e.to_string()))
        })
    }

    fn price_for<'a>(&'a self, lookup_key: &'a str) -> Paid<'a, Option<String>> {
        Box::pin(async move {
            let prices = ListPrice::new()
                .active(true)
                .lookup_keys(vec![lookup_key.to_owned()])
                .send(&self.client)
                .await
                .map_err(failed)?;
            Ok(prices.data.into_iter().next().map(|price| price.id.to_string()))
        })
    }

    fn create_session<'a>(&'a self, session: &'a NewSession, idempotency_key: &'a str) -> Paid<'a, Session> {
        Box::pin(async move {
            let mut line = CreateCheckoutSessionLineItems::new();
            line.price = Some(session.price_id.clone());
            line.quantity = Some(u64::from(session.quantity));
            let metered = session.metered_price_ids.iter().map(|price| {
                let mut line = CreateCheckoutSessionLineItems::new();
                line.price = Some(price.clone());
                line
            });
            let mut create = CreateCheckoutSession::new()
                .customer(session.customer.as_str())
                .client_reference_id(session.account.as_str())
                .line_items(std::iter::once(line).chain(metered).collect::<Vec<_>>())
                .metadata(metadata(&session.metadata))
                .success_url(&session.success_url)
                .cancel_url(&session.cancel_url);
            // The subscription or payment intent carries the metadata too, so its own events name the account.
            create = match session.mode {
                Mode::Subscription => {
                    let mut data = CreateCheckoutSessionSubscriptionData::new();
                    data.metadata = Some(metadata(&session.metadata));
                    create.mode(CheckoutSessionMode::Subscription).subscription_data(data)
                }
                Mode::Payment => {
                    let mut data = CreateCheckoutSessionPaymentIntentData::new();
                    data.metadata = Some(metadata(&session.metadata));
                    create.mode(CheckoutSessionMode::Payment).payment_intent_data(data)
                }
            };
            let created = create
                .customize()
                .request_strategy(idempotent(idempotency_key)?)
                .send(&self.client)
                .await
                .map_err(failed)?;
            let url = created.url.ok_or_else(|| PaymentsError::unavailable("the session has no url"))?;
            Ok(Session { id: created.id.to_string(), url })
        })
    }

    fn create_portal<'a>(&'a self, customer: &'a CustomerId, return_url: &'a str) -> Paid<'a, String> {
        Box::pin(async move {
            let portal = CreateBillingPortalSession::new()
                .customer(customer.as_str())
                .return_url(return_url)
                .send(&self.client)
                .await
                .map_err(failed)?;
            Ok(portal.url)
        })
    }
}

impl StripeCatalog for StripeApi {
    fn prices<'a>(&'a self, lookup_keys: &'a [String]) -> Paid<'a, Vec<StripePrice>> {
        Box::pin(async move {
            let mut found = Vec::new();
            // Stripe takes at most 10 lookup keys per list request.
            for keys in lookup_keys.chunks(10) {
                let prices = ListPrice::new()
                    .active(true)
                    .lookup_keys(keys.to_vec())
                    .expand(vec!["data.product".to_owned()])
                    .limit(100)
                    .send(&self.client)
                    .await
                    .map_err(failed)?;
                found.extend(prices.data.into_iter().filter_map(stripe_price));
            }
            Ok(found)
        })
    }

    fn create_product<'a>(&'a self, item: &'a Item, idempotency_key: &'a str) -> Paid<'a, String> {
        Box::pin(async move {
            let product = CreateProduct::new(&item.name)
                .metadata(HashMap::from([("sku".to_owned(), item.sku.to_string())]))
                .customize()
                .request_strategy(idempotent(idempotency_key)?)
                .send(&self.client)
                .await
                .map_err(failed)?;
            Ok(product.id.to_string())
        })
    }

    fn create_price<'a>(&'a self, item: &'a Item, product_id: &'a str, idempotency_key: &'a str) -> Paid<'a, String> {
        Box::pin(async move {
            let lookup_key = item.lookup_key.clone().ok_or_else(|| PaymentsError::refused("no lookup key"))?;
            let currency = stripe_currency(item)?;
            let mut create = CreatePrice::new(currency)
                .product(product_id)
                .unit_amount(item.price_cents)
                .lookup_key(lookup_key)
                .transfer_lookup_key(true)
                .metadata(HashMap::from([("sku".to_owned(), item.sku.to_string())]));
            if let Some(interval) = item.interval {
                create = create.recurring(CreatePriceRecurring::new(stripe_interval(interval)));
            }
            let price = create
                .customize()
                .request_strategy(idempotent(idempotency_key)?)
                .send(&self.client)
                .await
                .map_err(failed)?;
            Ok(price.id.to_string())
        })
    }

    fn meters(&self) -> Paid<'_, Vec<StripeMeter>> {
        Box::pin(async move {
            let list = ListBillingMeter::new().status(stripe_billing::BillingMeterStatus::Active).limit(100);
            let meters: Vec<_> = list.paginate().stream(&self.client).try_collect().await.map_err(failed)?;
            Ok(meters
                .into_iter()
                .map(|meter| StripeMeter { id: meter.id.to_string(), event_name: meter.event_name })
                .collect())
        })
    }

    fn create_meter<'a>(&'a self, meter: &'a Meter, idempotency_key: &'a str) -> Paid<'a, String> {
        Box::pin(async move {
            let created = CreateBillingMeter::new(
                CreateBillingMeterDefaultAggregation::new(CreateBillingMeterDefaultAggregationFormula::Sum),
                &meter.display,
                &meter.stripe_event_name,
            )
            .customer_mapping(CreateBillingMeterCustomerMapping::new(
                "stripe_customer_id",
                CreateBillingMeterCustomerMappingType::ById,
            ))
            .value_settings(CreateBillingMeterValueSettings::new("value"))
            .customize()
            .request_strategy(idempotent(idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(failed)?;
            Ok(created.id.to_string())
        })
    }

    fn create_overage_price<'a>(&'a self, overage: &'a OveragePrice<'a>, idempotency_key: &'a str) -> Paid<'a, String> {
        Box::pin(async move {
            let item = overage.item;
            let lookup_key =
                item.overage_lookup_key(overage.meter).ok_or_else(|| PaymentsError::refused("no lookup key"))?;
            let currency = stripe_currency(item)?;
            // A plan's metered price bills as often as its flat one.
            let mut recurring = CreatePriceRecurring::new(stripe_interval(item.interval.unwrap_or(Interval::Month)));
            recurring.usage_type = Some(CreatePriceRecurringUsageType::Metered);
            recurring.meter = Some(overage.meter_id.to_owned());
            let price = CreatePrice::new(currency)
                .product(overage.product_id)
                .unit_amount_decimal(overage.unit_price.decimal.clone())
                .recurring(recurring)
                .lookup_key(lookup_key)
                .transfer_lookup_key(true)
                .metadata(HashMap::from([
                    ("sku".to_owned(), item.sku.to_string()),
                    ("meter".to_owned(), overage.meter.to_string()),
                ]))
                .customize()
                .request_strategy(idempotent(idempotency_key)?)
                .send(&self.client)
                .await
                .map_err(failed)?;
            Ok(price.id.to_string())
        })
    }

    fn subscriptions_lacking<'a>(&'a self, price_id: &'a str, metered_price_id: &'a str) -> Paid<'a, Vec<String>> {
        Box::pin(async move {
            // Without `status`, Stripe lists every subscription that is not canceled.
            let list = ListSubscription::new().price(price_id).limit(100);
            let subscriptions: Vec<_> = list.paginate().stream(&self.client).try_collect().await.map_err(failed)?;
            let lacks = |subscription: &stripe_shared::Subscription| {
                !subscription.items.data.iter().any(|item| item.price.id.as_str() == metered_price_id)
            };
            Ok(subscriptions.iter().filter(|s| lacks(s)).map(|subscription| subscription.id.to_string()).collect())
        })
    }

    fn add_item<'a>(&'a self, subscription: &'a str, price_id: &'a str, idempotency_key: &'a str) -> Paid<'a, ()> {
        Box::pin(async move {
            CreateSubscriptionItem::new(subscription)
                .price(price_id)
                .customize()
                .request_strategy(idempotent(idempotency_key)?)
                .send(&self.client)
                .await
                .map(drop)
                .map_err(failed)
        })
    }

    fn archive_price<'a>(&'a self, price_id: &'a str) -> Paid<'a, ()> {
        Box::pin(
            async move { UpdatePrice::new(price_id).active(false).send(&self.client).await.map(drop).map_err(failed) },
        )
    }

    fn rename_product<'a>(&'a self, product_id: &'a str, name: &'a str) -> Paid<'a, ()> {
        Box::pin(
            async move { UpdateProduct::new(product_id).name(name).send(&self.client).await.map(drop).map_err(failed) },
        )
    }
}

impl MeterEvents for StripeApi {
    /// `POST /v1/billing/meter_events`. Stripe drops an event whose `identifier` it has seen
    /// (within 24 h); no idempotency key, whose saved answer would replay a 500 for a day.
    fn report(&self, event: MeterEvent) -> Reported<'_> {
        Box::pin(async move {
            let payload = HashMap::from([
                ("stripe_customer_id".to_owned(), event.customer.to_string()),
                ("value".to_owned(), event.value.to_string()),
            ]);
            CreateBillingMeterEvent::new(event.event_name, payload)
                .identifier(event.identifier.clone())
                .timestamp(event.timestamp.0)
                .send(&self.client)
                .await
                .map(drop)
                .map_err(|error| MeterEventsError(failed(error).0))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn requests_name_the_version_the_webhook_endpoint_is_pinned_to() {
        assert_eq!(super::api_version(), tollgate_core::STRIPE_API_VERSION);
    }
}
