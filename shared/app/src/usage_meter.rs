//! `usage-meter`: adds the edge's usage batches per key and period and per meter and
//! window, once each; bills overage as Stripe meter events, each meter under its own event
//! name; raises quota alerts at 70/85/95% per meter, and `balance_low` when a balance
//! falls under `LOW_BALANCE_CENTS`; bills what ended customer runs used past their quota.

use crate::Clock;
use crate::alerting::Alerting;
use crate::deliveries::notify_account;
use crate::ports::accounts::{Accounts, AccountsError};
use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::meter_events::{MeterEvent, MeterEvents, MeterEventsError};
use crate::ports::purchases::{Purchases, PurchasesError};
use crate::ports::queue::{Delivery, QueueConsumer, QueueError};
use crate::ports::runs::{Runs, RunsError};
use crate::ports::tallies::{Tallies, TalliesError, Tally};
use crate::ports::usage::{Usage, UsageError};
use crate::ports::webhook_deliveries::{WebhookDeliveries, WebhookDeliveriesError};
use crate::ports::webhook_endpoints::{WebhookEndpoints, WebhookEndpointsError};
use crate::redelivery::Failure;
use crate::redelivery::RetryPolicy;
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::catalog::Catalog;
use tollgate_core::customer_run::{RunOverage, run_overage_identifier};
use tollgate_core::ids::{AccountId, CustomerId, RunId};
use tollgate_core::metering::UsageBatch;
use tollgate_core::meters::{MeterName, Per};
use tollgate_core::money::Micros;
use tollgate_core::time::{BusinessZone, Timestamp};
use tollgate_core::usage::{
    BatchTotals, balance_low_alert, billed_units, crossed, meter_event_identifier, overage, plan_terms, quota_alerts,
};

#[derive(Debug, Error)]
pub enum MeterError {
    #[error("overage of account {0} cannot be billed: it has no Stripe customer")]
    NoCustomer(String),
    /// Only the origin queues batches, after parsing them: a bug to look at, not to retry.
    #[error("an undecodable usage message")]
    Undecodable,
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Alerts(#[from] AlertsError),
    #[error(transparent)]
    Purchases(#[from] PurchasesError),
    #[error(transparent)]
    Stripe(#[from] MeterEventsError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Tallies(#[from] TalliesError),
    #[error(transparent)]
    WebhookEndpoints(#[from] WebhookEndpointsError),
    #[error(transparent)]
    WebhookDeliveries(#[from] WebhookDeliveriesError),
    #[error(transparent)]
    Runs(#[from] RunsError),
}

/// Counts the edge's usage batches against each account's plan and bills overage.
pub struct UsageMeter<S> {
    pub store: S,
    pub catalog: Catalog,
    /// Where a free account's calendar month starts.
    pub zone: BusinessZone,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    /// Stripe Billing; `None` (the local stack without a Stripe key) logs overage instead of reporting it.
    pub stripe: Option<Arc<dyn MeterEvents>>,
    pub alerting: Alerting,
    /// `LOW_BALANCE_CENTS`: a balance under it raises `balance_low`.
    pub low_balance: Micros,
}

/// What the usage queue carries: the edge's batches, and ended runs whose overage is owed.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Metered {
    Run(RunOverage),
    Batch(UsageBatch),
}

/// Units a batch owes Stripe on one meter.
struct Owed {
    meter: MeterName,
    units: u64,
    identifier: String,
}

impl<S> UsageMeter<S>
where
    S: Usage + Accounts + Alerts + Purchases + Tallies + QueueConsumer + WebhookEndpoints + WebhookDeliveries + Runs,
{
    /// Meters one delivery of the `usage` queue; `Ok` means it may be forgotten. On `Err`
    /// the delivery has been settled by the retry policy: a batch whose account has no
    /// Stripe customer goes to the dead-letter queue at once (waiting cannot give it one),
    /// anything else comes back after a backoff.
    #[tracing::instrument(level = "error", name = "meter", skip_all, fields(message_id = %delivery.message_id))]
    pub async fn meter_delivery(&self, delivery: &Delivery) -> Result<(), MeterError> {
        let Err(error) = self.meter(&delivery.body).await else {
            return Ok(());
        };
        let failure = match error {
            MeterError::NoCustomer(_) | MeterError::Undecodable => Failure::Permanent,
            ref other => Failure::of(other),
        };
        self.retry.settle(&self.store, delivery, failure, &error.to_string()).await?;
        Err(error)
    }

    /// Meters one queued batch. Safe to run again for the same batch: its totals are stored
    /// with it, so overage and alerts come out the same, and a reported batch is not reported
    /// again. An error leaves the message for redelivery (and, in the end, the dead-letter queue).
    async fn meter(&self, body: &str) -> Result<(), MeterError> {
        let batch = match serde_json::from_str::<Metered>(body).map_err(|_| MeterError::Undecodable)? {
            Metered::Batch(batch) => batch,
            Metered::Run(RunOverage { run_overage }) => return self.bill_run(&run_overage).await,
        };
        let store = &self.store;
        let now = self.clock.now();
        let recorded = store.add_batch(&batch, now).await?;
        let account = &batch.account_id;
        // The account made calls: active today (the batch left the edge seconds ago).
        store.tally(Tally::ActiveAccount, &self.zone.day(now), account.as_str()).await?;
        let terms = plan_terms(&self.catalog, &store.subscriptions(account).await?, now, self.zone);
        // Calls count per billing period; a plan that counts `requests` in another window
        // (per day, say) has them in the batch's meter totals too, and those are its count.
        let requests = MeterName::requests();
        let (mut alerts, mut owed, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
        if terms.plan.on(&requests).per == Per::Period {
            thresholds.push((requests.clone(), terms.plan.on(&requests).quota, batch.period_start, recorded.totals));
            alerts = quota_alerts(
                account,
                &requests,
                terms.plan.on(&requests).quota,
                batch.period_start,
                recorded.totals,
                now,
            );
            owed.push(Owed {
                meter: requests,
                units: overage(&terms.limits(), recorded.totals),
                identifier: meter_event_identifier(&batch.id),
            });
        }
        for totals in &recorded.meters {
            let limit = terms.plan.on(&totals.meter);
            thresholds.push((totals.meter.clone(), limit.quota, totals.window_start, totals.totals()));
            alerts.extend(quota_alerts(account, &totals.meter, limit.quota, totals.window_start, totals.totals(), now));
            owed.push(Owed {
                meter: totals.meter.clone(),
                units: billed_units(limit, totals.totals()),
                identifier: format!("{}-{}", meter_event_identifier(&batch.id), totals.meter),
            });
        }
        let low = if batch.balance_spent.0 > 0 { self.balance_low(account, now).await? } else { None };
        alerts.extend(low.clone());
        for alert in alerts {
            self.alerting.raise(store, alert).await?;
        }
        self.tell_the_account(account, &thresholds, low.is_some(), now).await?;
        owed.retain(|owed| owed.units > 0);
        if owed.is_empty() || recorded.reported {
            return Ok(());
        }
        let Some(stripe) = &self.stripe else {
            tracing::warn!(batch = %batch.id, "no Stripe key: overage left unreported");
            return Ok(());
        };
        let customer = self.stripe_customer(account).await?;
        // Each meter's event has its own identifier: a retry after some were sent repeats
        // them, and Stripe drops the repeats.
        for owed in &owed {
            let Some(meter) = self.catalog.meter(&owed.meter) else { continue };
            stripe
                .report(MeterEvent {
                    event_name: meter.stripe_event_name.clone(),
                    customer: customer.clone(),
                    value: owed.units,
                    identifier: owed.identifier.clone(),
                    timestamp: now,
                })
                .await?;
            tracing::info!(batch = %batch.id, meter = %owed.meter, units = owed.units, "overage reported to Stripe");
        }
        store.mark_reported(&batch.id).await?;
        Ok(())
    }

    /// Bills what an ended customer run used past its plan's quota, when its charge stood:
    /// one meter event named by the run, so a second report of it is dropped by Stripe.
    async fn bill_run(&self, run_id: &RunId) -> Result<(), MeterError> {
        let Some(run) = self.store.run(run_id).await? else {
            tracing::error!(run_id = %run_id, "a run to bill is not stored; dropped");
            return Ok(());
        };
        let (Some(charged), Some(account)) = (run.overage_to_bill(), run.account()) else { return Ok(()) };
        let Some(meter) = self.catalog.meter(&charged.meter) else { return Ok(()) };
        let Some(stripe) = &self.stripe else {
            tracing::warn!(run_id = %run_id, "no Stripe key: the run's overage left unreported");
            return Ok(());
        };
        let customer = self.stripe_customer(account).await?;
        stripe
            .report(MeterEvent {
                event_name: meter.stripe_event_name.clone(),
                customer,
                value: charged.overage,
                identifier: run_overage_identifier(&run.id),
                timestamp: run.finished_at.unwrap_or(run.created_at),
            })
            .await?;
        tracing::info!(run_id = %run_id, meter = %charged.meter, units = charged.overage, "run overage reported to Stripe");
        Ok(())
    }

    async fn stripe_customer(&self, account: &AccountId) -> Result<CustomerId, MeterError> {
        let profile = self.store.profile(account).await?;
        profile
            .and_then(|profile| profile.stripe_customer_id)
            .ok_or_else(|| MeterError::NoCustomer(account.to_string()))
    }

    /// `usage.threshold_reached` for each threshold crossed, and `balance.low`, to the
    /// account's endpoint. Named by account, meter, window and percent (the balance: by what
    /// was granted), as the operator's alerts are, so each is delivered once.
    async fn tell_the_account(
        &self,
        account: &AccountId,
        thresholds: &[(MeterName, Option<u64>, Timestamp, BatchTotals)],
        balance_low: bool,
        now: Timestamp,
    ) -> Result<(), MeterError> {
        let store = &self.store;
        for (meter, quota, window_start, totals) in thresholds {
            let Some(quota) = quota.filter(|&quota| quota > 0) else { continue };
            for percent in crossed(quota, *totals) {
                let id = format!("msg_usage_{account}_{meter}_{}_{percent}", window_start.0);
                let data = serde_json::json!({"meter": meter, "percent": percent, "quota": quota,
                    "used": totals.after, "window_start": window_start.0});
                notify_account::<S, MeterError>(store, account, id, "usage.threshold_reached", data, now).await?;
            }
        }
        if balance_low {
            let (granted, spent) = crate::keys::balance(store, &self.catalog, account).await?;
            let left = Micros(granted.0.saturating_sub(spent.0).max(0));
            let currency = self.catalog.currency();
            let id = format!("msg_balance_low_{account}_{}", granted.0);
            let data = serde_json::json!({"balance": {"amount": left.minor_floor(currency), "amount_micros": left.0,
                "currency": currency.as_str()}, "threshold": self.low_balance.minor_floor(currency)});
            notify_account::<S, MeterError>(store, account, id, "balance.low", data, now).await?;
        }
        Ok(())
    }

    /// `balance_low` when what is left of the account's balance is under the threshold.
    async fn balance_low(
        &self,
        account: &AccountId,
        now: Timestamp,
    ) -> Result<Option<tollgate_core::alert::Alert>, MeterError> {
        let (granted, spent) = crate::keys::balance(&self.store, &self.catalog, account).await?;
        let left = Micros(granted.0.saturating_sub(spent.0).max(0));
        Ok(balance_low_alert(account, granted, left, self.low_balance, self.catalog.currency(), now))
    }
}
