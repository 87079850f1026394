//! Checkout and billing-portal links for signed-in buyers.
//!
//! A retried request, a double click or twenty concurrent first checkouts never make
//! two customers or two sessions: the customer is created under an idempotency key
//! derived from the account and stored with a conditional write (the first link wins),
//! and the session is created under a key derived from the request.

use crate::Clock;
use crate::input_schema::{InputRefusal, InputSchema};
use crate::ports::accounts::{Accounts, AccountsError};
use crate::ports::checkouts::{Checkouts, NewSession, PaymentsError, Session};
use crate::ports::rate_limits::{RateLimits, RateLimitsError};
use crate::ports::tallies::{Tallies, TalliesError, Tally};
use crate::ports::workflow_subscriptions::{WorkflowSubscriptions, WorkflowSubscriptionsError};
use crate::ports::workflows::{Workflows, WorkflowsError};
use serde_json::Value;
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::catalog::{Catalog, Grant, Item};
use tollgate_core::checkout::{
    self, CheckoutRefusal, CheckoutRequest, InvalidCheckout, RedirectAllowList, customer_key, session_key,
};
use tollgate_core::ids::{AccountId, CustomerId};
use tollgate_core::instance::KeptParams;
use tollgate_core::time::{BusinessZone, Timestamp};

/// Payment requests per account per minute, by default.
pub const DEFAULT_PAYMENT_REQUESTS_PER_MINUTE: u32 = 10;
const WINDOW_SECONDS: i64 = 60;

/// Checkout's settings, read once at start (`tollgate-settings`).
#[derive(Debug, Clone)]
pub struct CheckoutSettings {
    /// Where redirect URLs may point.
    pub redirects: RedirectAllowList,
    /// Used when a request names none.
    pub success_url: String,
    pub cancel_url: String,
    /// Where the billing portal sends the buyer back.
    pub portal_return_url: String,
    /// Payment requests per account per minute.
    pub per_minute: u32,
    /// Where the business's days start: checkouts started are counted per day.
    pub zone: BusinessZone,
}

/// Checkout Sessions and portal links, on Stripe.
pub struct Checkout<S> {
    pub store: S,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
    pub stripe: Arc<dyn Checkouts>,
    pub settings: CheckoutSettings,
}

#[derive(Debug, Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Invalid(#[from] InvalidCheckout),
    #[error("no such SKU")]
    UnknownSku,
    /// The parameters fail the workflow subscription's `params_schema`.
    #[error("params are invalid: {}", .0.reason)]
    InvalidParams(InputRefusal),
    #[error("this plan is already active on the account")]
    AlreadySubscribed,
    #[error("the account has no Stripe customer yet (it has never checked out)")]
    NoCustomer,
    #[error("too many payment requests; retry in {retry_after} s")]
    RateLimited { retry_after: u32 },
    #[error("{0} has no active Stripe price: run `tollgate catalog sync`")]
    NotSynced(String),
    #[error(transparent)]
    Stripe(#[from] PaymentsError),
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    RateLimits(#[from] RateLimitsError),
    #[error(transparent)]
    Tallies(#[from] TalliesError),
    #[error(transparent)]
    WorkflowSubscriptions(#[from] WorkflowSubscriptionsError),
    #[error(transparent)]
    Workflows(#[from] WorkflowsError),
}

/// A created session, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutLink {
    pub id: String,
    pub url: String,
}

impl<S: Accounts + RateLimits + Tallies + WorkflowSubscriptions + Workflows> Checkout<S> {
    /// Counts the request against the account's payment rate limit.
    async fn limit(&self, account: &AccountId, now: Timestamp) -> Result<(), CheckoutError> {
        let window = Timestamp(now.0 - now.0.rem_euclid(WINDOW_SECONDS));
        if self.store.hit(account, window, self.settings.per_minute).await? {
            Ok(())
        } else {
            let retry_after = u32::try_from(window.0 + WINDOW_SECONDS - now.0).unwrap_or(1).max(1);
            Err(CheckoutError::RateLimited { retry_after })
        }
    }

    /// `POST /api/checkout`.
    #[tracing::instrument(level = "error", skip_all, fields(account_id = %account))]
    pub async fn checkout(
        &self,
        account: &AccountId,
        mut request: CheckoutRequest,
    ) -> Result<CheckoutLink, CheckoutError> {
        let now = self.clock.now();
        self.limit(account, now).await?;
        request.referral_code =
            crate::referrals::accepted_referrer(&self.store, account, request.referral_code.as_ref()).await?;
        let item = self.catalog.by_sku(&request.sku).ok_or(CheckoutError::UnknownSku)?;
        let subscriptions = self.store.subscriptions(account).await?;
        let mode = checkout::check(item, &request, &subscriptions).map_err(|refusal| match refusal {
            CheckoutRefusal::NotForSale => InvalidCheckout { field: "sku", reason: "is not for sale".into() }.into(),
            CheckoutRefusal::AlreadySubscribed => CheckoutError::AlreadySubscribed,
            CheckoutRefusal::Invalid(invalid) => invalid.into(),
        })?;
        let params = Self::params(item, request.params.take())?;
        self.runs_by_a_schedule(item).await?;
        let success_url = self.redirect("success_url", request.success_url.as_deref(), &self.settings.success_url)?;
        let cancel_url = self.redirect("cancel_url", request.cancel_url.as_deref(), &self.settings.cancel_url)?;
        let lookup_key = item.lookup_key.as_deref().expect("a SKU for sale has a lookup key");
        let price_id =
            self.stripe.price_for(lookup_key).await?.ok_or_else(|| CheckoutError::NotSynced(item.sku.to_string()))?;
        // A plan that bills a meter past its quota is subscribed with the meter's metered
        // price beside its flat one, so the overage reported lands on its invoices.
        let mut metered_price_ids = Vec::new();
        for (meter, _) in item.billed_meters() {
            let overage_key = item.overage_lookup_key(meter).expect("a SKU for sale has a lookup key");
            let metered = self.stripe.price_for(&overage_key).await?;
            metered_price_ids.push(metered.ok_or_else(|| CheckoutError::NotSynced(item.sku.to_string()))?);
        }
        let customer = self.customer(account).await?;
        let mut metadata = vec![("account_id", account.to_string()), ("sku", item.sku.to_string())];
        if let Some(referrer) = &request.referral_code {
            metadata.push(("referral_code", referrer.to_string()));
        }
        if mode == tollgate_core::checkout::Mode::Payment {
            // Webhooks carry no line items: the purchase's quantity travels in the metadata.
            metadata.push(("quantity", request.quantity.to_string()));
        }
        let key = session_key(account, &request, &success_url, &cancel_url, now.0.div_euclid(3600));
        let session = NewSession {
            mode,
            customer,
            price_id,
            metered_price_ids,
            quantity: request.quantity,
            account: account.clone(),
            metadata,
            success_url,
            cancel_url,
        };
        let Session { id, url } = self.stripe.create_session(&session, &key).await?;
        tracing::info!(account_id = %account, sku = %item.sku, session_id = %id, "checkout session created");
        // Kept here, not in Stripe's metadata (500 characters a value): the instance reads
        // them when the session completes. Before the buyer has the link, so always there then.
        if let Some(params) = params {
            let kept = KeptParams { account_id: account.clone(), sku: item.sku.clone(), params, at: now };
            self.store.keep_params(&id, &kept).await?;
        }
        // Counted by the session: a retry within the hour gets the same session, counted once.
        self.store.tally(Tally::CheckoutStarted, &self.settings.zone.day(now), &id).await?;
        Ok(CheckoutLink { id, url })
    }

    /// A workflow subscription is for sale only when something says when it runs: its own
    /// schedule, else its sold workflow's.
    async fn runs_by_a_schedule(&self, item: &Item) -> Result<(), CheckoutError> {
        let Grant::WorkflowSubscription { workflow, schedule: None, .. } = &item.grant else { return Ok(()) };
        let sold = self.store.workflow(workflow).await?;
        if sold.is_some_and(|sold| sold.spec.sell.is_some() && sold.spec.schedule.is_some()) {
            return Ok(());
        }
        let reason = "is not for sale: its workflow is not sold with a schedule to run by".to_owned();
        Err(InvalidCheckout { field: "sku", reason }.into())
    }

    /// A workflow subscription's parameters, checked against its `params_schema` (none
    /// given: `{}`); any other SKU takes none.
    fn params(item: &Item, given: Option<Value>) -> Result<Option<Value>, CheckoutError> {
        let Grant::WorkflowSubscription { params_schema, .. } = &item.grant else {
            return match given {
                Some(_) => {
                    Err(InvalidCheckout { field: "params", reason: "only a workflow subscription takes params".into() }
                        .into())
                }
                None => Ok(None),
            };
        };
        let params = given.unwrap_or_else(|| Value::Object(Default::default()));
        let schema = InputSchema::compile(params_schema)
            .map_err(|reason| InvalidCheckout { field: "sku", reason: format!("params_schema {reason}") })?;
        match schema.refusal(&params) {
            Some(refusal) => Err(CheckoutError::InvalidParams(refusal)),
            None => Ok(Some(params)),
        }
    }

    /// `POST /api/portal`: the billing portal of the account's customer.
    #[tracing::instrument(level = "error", skip_all, fields(account_id = %account))]
    pub async fn portal(&self, account: &AccountId) -> Result<String, CheckoutError> {
        self.limit(account, self.clock.now()).await?;
        let profile = self.store.profile(account).await?;
        let customer = profile.and_then(|profile| profile.stripe_customer_id).ok_or(CheckoutError::NoCustomer)?;
        Ok(self.stripe.create_portal(&customer, &self.settings.portal_return_url).await?)
    }

    fn redirect(&self, field: &'static str, asked: Option<&str>, default: &str) -> Result<String, CheckoutError> {
        match asked {
            None => Ok(default.to_owned()),
            Some(url) if self.settings.redirects.allows(url) => Ok(url.to_owned()),
            Some(_) => Err(InvalidCheckout { field, reason: "is not on an allowed origin".into() }.into()),
        }
    }

    /// The account's one Stripe customer. Concurrent first checkouts all ask Stripe under
    /// the account's idempotency key (one customer), and the conditional link keeps the
    /// first stored; everyone then uses the stored one.
    async fn customer(&self, account: &AccountId) -> Result<CustomerId, CheckoutError> {
        if let Some(customer) = self.store.profile(account).await?.and_then(|p| p.stripe_customer_id) {
            return Ok(customer);
        }
        let created = self.stripe.create_customer(account, &customer_key(account)).await?;
        self.store.link_customer(account, Some(&created), None).await?;
        let stored = self.store.profile(account).await?.and_then(|p| p.stripe_customer_id);
        Ok(stored.unwrap_or(created))
    }
}
