//! `usage-meter`: adds the edge's usage batches per key and period, once each; bills
//! overage as Stripe meter events; raises quota alerts at 70/85/95%.

use crate::Clock;
use crate::alerting::Alerting;
use crate::ports::accounts::{Accounts, AccountsError};
use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::meter_events::{MeterEvent, MeterEvents, MeterEventsError};
use crate::ports::queue::{Delivery, QueueConsumer, QueueError};
use crate::ports::usage::{Usage, UsageError};
use crate::redelivery::Failure;
use crate::redelivery::RetryPolicy;
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::catalog::Catalog;
use tollgate_core::metering::UsageBatch;
use tollgate_core::meters::MeterName;
use tollgate_core::time::BusinessZone;
use tollgate_core::usage::{meter_event_identifier, overage, plan_terms, quota_alerts};

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
    Stripe(#[from] MeterEventsError),
    #[error(transparent)]
    Queue(#[from] QueueError),
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
}

impl<S: Usage + Accounts + Alerts + QueueConsumer> UsageMeter<S> {
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
        let batch = serde_json::from_str::<UsageBatch>(body).map_err(|_| MeterError::Undecodable)?;
        let store = &self.store;
        let now = self.clock.now();
        let recorded = store.add_batch(&batch, now).await?;
        let terms = plan_terms(&self.catalog, &store.subscriptions(&batch.account_id).await?, now, self.zone);
        for alert in quota_alerts(&batch.account_id, &terms.limits(), batch.period_start, recorded.totals, now) {
            self.alerting.raise(store, alert).await?;
        }
        let owed = overage(&terms.limits(), recorded.totals);
        if owed == 0 || recorded.reported {
            return Ok(());
        }
        let Some(stripe) = &self.stripe else {
            tracing::warn!(batch = %batch.id, owed, "no Stripe key: overage left unreported");
            return Ok(());
        };
        let profile = store.profile(&batch.account_id).await?;
        let customer = profile
            .and_then(|profile| profile.stripe_customer_id)
            .ok_or_else(|| MeterError::NoCustomer(batch.account_id.to_string()))?;
        stripe
            .report(MeterEvent {
                // Batches count `requests`, the meter every catalog has.
                event_name: self
                    .catalog
                    .meter(&MeterName::requests())
                    .expect("always declared")
                    .stripe_event_name
                    .clone(),
                customer,
                value: owed,
                identifier: meter_event_identifier(&batch.id),
                timestamp: now,
            })
            .await?;
        store.mark_reported(&batch.id).await?;
        tracing::info!(batch = %batch.id, owed, "overage reported to Stripe");
        Ok(())
    }
}
