//! The event processor: applies each queued event once, in the order Stripe created them.

use crate::keys::{KeyStore, Keys, KeysError};
use crate::ports::accounts::{AccountsError, Applied};
use crate::ports::event_log::{EventLog, EventLogError, EventStatus};
use crate::ports::ledger::{Ledger, LedgerError};
use crate::ports::payees::{Payees, PayeesError};
use crate::ports::purchases::{self, Purchase, PurchasesError};
use crate::ports::queue::{Delivery, QueueConsumer, QueueError, QueueName};
use crate::ports::tallies::{Tallies, TalliesError, Tally};
use crate::ports::usage::UsageError;
use crate::ports::workflow_subscriptions::{WorkflowSubscriptions, WorkflowSubscriptionsError};
use crate::ports::workflows::{Workflows, WorkflowsError};
use crate::queued::{QueuedEvent, Source};
use crate::redelivery::Failure;
use crate::redelivery::RetryPolicy;
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::account::{Subscription, SubscriptionKind, SubscriptionStatus};
use tollgate_core::catalog::{Catalog, Grant};
use tollgate_core::change::{Change, Owner, Purchased, interpret};
use tollgate_core::ids::{AccountId, SubscriptionId};
use tollgate_core::instance::Instance;
use tollgate_core::ledger::{self, EntryKind, LedgerEntry, Payment};
use tollgate_core::money::Micros;
use tollgate_core::referral::ReferralChain;
use tollgate_core::stripe::Event;
use tollgate_core::time::BusinessZone;
use tollgate_core::usage::{plan_terms, take_back_target};

/// A delivery to try again later. Transient by definition: permanent problems are
/// recorded as a `failed` event and acknowledged instead.
#[derive(Debug, Error)]
pub enum ProcessError {
    /// The event depends on another that has not been applied yet (Stripe does not
    /// promise order): a subscription before its checkout, a refund before its payment.
    #[error("waiting for an earlier event: {0}")]
    NotYet(String),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Purchases(#[from] PurchasesError),
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Payees(#[from] PayeesError),
    #[error(transparent)]
    Tallies(#[from] TalliesError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    WorkflowSubscriptions(#[from] WorkflowSubscriptionsError),
    #[error(transparent)]
    Workflows(#[from] WorkflowsError),
}

/// The message on the `fulfillment` queue.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct FulfillmentMessage {
    pub account_id: AccountId,
    pub purchase_id: String,
    /// The buyer's email, carried to the fulfillment webhook and not kept in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

enum Effect {
    Applied,
    Stale,
    Skipped(String),
}

/// Applies Stripe's queued events to accounts, the ledger and purchases.
pub struct Processor<S> {
    pub store: S,
    pub catalog: Catalog,
    pub retry: RetryPolicy,
    /// Where the business's days start: checkouts and active accounts are counted per day.
    pub zone: BusinessZone,
    /// An API plan's first key, and the keys revoked when the plan ends.
    pub keys: Arc<Keys<S>>,
    /// `REVOKE_KEYS_ON_CANCEL`: the account's keys go with its last paid API plan.
    pub revoke_keys_on_cancel: bool,
}

impl<S: EventLog + Ledger + Payees + Tallies + QueueConsumer + KeyStore + WorkflowSubscriptions + Workflows>
    Processor<S>
{
    /// Applies one delivery; `Ok` means the queue may forget it. On `Err` the delivery has
    /// been settled by the retry policy: it comes back after a backoff, or, on the last
    /// allowed delivery, the event is marked `failed` with the reason and dead-lettered.
    #[tracing::instrument(level = "error", name = "process", skip_all, fields(message_id = %delivery.message_id, event_id = tracing::field::Empty))]
    pub async fn process(&self, delivery: &Delivery) -> Result<(), ProcessError> {
        let event = match decode(&delivery.body) {
            Ok(event) => event,
            Err(reason) => {
                // Only our own ingest writes to the queue; an undecodable message is a bug to look at, not retry.
                self.retry.settle(&self.store, delivery, Failure::Permanent, &reason).await?;
                return Ok(());
            }
        };
        tracing::Span::current().record("event_id", tracing::field::display(&event.id));
        if let Some(record) = self.store.get(&event.id).await?
            && record.status.is_final()
        {
            return Ok(());
        }
        let result = match interpret(&event, &self.catalog) {
            Ok(change) => self.apply(&event, change).await,
            Err(unusable) => {
                tracing::warn!(event_id = %event.id, reason = %unusable, "event cannot be applied");
                self.store.mark(&event.id, EventStatus::Failed, Some(&unusable.0)).await?;
                return Ok(());
            }
        };
        let (status, detail) = match result {
            Ok(Effect::Applied) => (EventStatus::Applied, None),
            Ok(Effect::Stale) => (EventStatus::Skipped, Some("older than the state already applied".to_owned())),
            Ok(Effect::Skipped(reason)) => (EventStatus::Skipped, Some(reason)),
            Err(error) => {
                let reason = error.to_string();
                let failure = Failure::of(&error);
                if delivery.receive_count >= self.retry.max_receives || failure == Failure::Permanent {
                    tracing::error!(event_id = %event.id, %reason, "event failed for good");
                    self.store.mark(&event.id, EventStatus::Failed, Some(&reason)).await?;
                }
                self.retry.settle(&self.store, delivery, failure, &reason).await?;
                return Err(error);
            }
        };
        self.store.mark(&event.id, status, detail.as_deref()).await?;
        tracing::info!(event_id = %event.id, event_type = %event.event_type, status = status.as_str(), "event processed");
        Ok(())
    }

    async fn apply(&self, event: &Event, change: Change) -> Result<Effect, ProcessError> {
        match change {
            Change::CheckoutCompleted { session_id, account, customer, referred_by, purchase, subscription } => {
                let referred_by =
                    crate::referrals::accepted_referrer(&self.store, &account, referred_by.as_ref()).await?;
                self.store.link_customer(&account, customer.as_ref(), referred_by.as_ref()).await?;
                if let Some(bought) = purchase {
                    self.grant(event, &account, bought).await?;
                }
                if let Some(subscription) = subscription {
                    self.start_instance(event, &session_id, &account, subscription).await?;
                }
                let day = self.zone.day(event.created);
                self.store.tally(Tally::CheckoutCompleted, &day, &session_id).await?;
                Ok(Effect::Applied)
            }
            Change::Subscription { owner, subscription } => {
                let account = self.owner_account(&owner).await?;
                let applied = self.store.apply_subscription(&account, &subscription).await?;
                if subscription.kind == SubscriptionKind::ApiPlan {
                    self.keys_follow_the_plan(event, &account, &subscription).await?;
                }
                Ok(match applied {
                    Applied::Applied => Effect::Applied,
                    Applied::Stale => Effect::Stale,
                })
            }
            Change::InvoicePaymentFailed { owner, subscription, event_created } => {
                let account = self.owner_account(&owner).await?;
                let past_due = SubscriptionStatus(SubscriptionStatus::PAST_DUE.to_owned());
                match self.store.set_subscription_status(&account, &subscription, &past_due, event_created).await? {
                    Some(Applied::Applied) => Ok(Effect::Applied),
                    Some(Applied::Stale) => Ok(Effect::Stale),
                    None => Err(ProcessError::NotYet(format!("subscription {subscription} is not known yet"))),
                }
            }
            Change::InvoicePaid { owner, payment, referred_by } => {
                let account = self.owner_account(&owner).await?;
                // Linked once (the first referrer stays), as checkout.session.completed links it.
                if let Some(referrer) =
                    crate::referrals::accepted_referrer(&self.store, &account, referred_by.as_ref()).await?
                {
                    self.store.link_customer(&account, None, Some(&referrer)).await?;
                }
                let chain = crate::referrals::referral_chain(&self.store, &account).await?.unwrap_or_default();
                self.record_payment(event, &payment, &account, &chain).await
            }
            Change::Sale { owner, payment } => {
                let account = self.owner_account(&owner).await?;
                self.record_payment(event, &payment, &account, &ReferralChain::default()).await
            }
            Change::Refund { payment_refs, refunded_total, full } => {
                for payment_ref in &payment_refs {
                    let recorded = self.store.for_payment(payment_ref).await?;
                    if let Some(entries) = ledger::refund_entries(refunded_total, &recorded, &event.id, event.created) {
                        for entry in &entries {
                            self.store.post(entry).await?;
                        }
                        self.take_back_top_ups(payment_ref, refunded_total, &recorded).await?;
                        if full {
                            let revoked = self.store.revoke_paid_by(payment_ref).await?;
                            if revoked > 0 {
                                tracing::info!(payment_ref, revoked, "a full refund revoked what it paid for");
                            }
                        }
                        return Ok(Effect::Applied);
                    }
                }
                Err(ProcessError::NotYet(format!("no payment recorded for {}", payment_refs.join(" or "))))
            }
            Change::Payee { account, connect_account, payouts_enabled, as_of } => Ok(
                match self.store.record_payouts_enabled(&account, &connect_account, payouts_enabled, as_of).await? {
                    Applied::Applied => Effect::Applied,
                    Applied::Stale => Effect::Stale,
                },
            ),
            Change::Skip(reason) => Ok(Effect::Skipped(reason)),
        }
    }

    /// A workflow subscription checked out with parameters gets its instance, named by its
    /// Stripe subscription, due at its schedule's first time after the purchase (the
    /// entry's, else its workflow's). A redelivered event finds it made.
    async fn start_instance(
        &self,
        event: &Event,
        session_id: &str,
        account: &AccountId,
        subscription: SubscriptionId,
    ) -> Result<(), ProcessError> {
        let Some(kept) = self.store.kept_params(session_id).await? else { return Ok(()) };
        let Some(Grant::WorkflowSubscription { workflow, schedule, .. }) =
            self.catalog.by_sku(&kept.sku).map(|item| &item.grant)
        else {
            return Ok(());
        };
        let next_run =
            match schedule {
                Some(schedule) => schedule.next_after(event.created),
                None => self.store.workflow(workflow).await?.and_then(|sold| {
                    sold.spec.schedule.as_ref().and_then(|schedule| schedule.next_after(event.created))
                }),
            };
        let instance = Instance {
            id: subscription,
            account_id: account.clone(),
            sku: kept.sku,
            workflow_id: workflow.clone(),
            params: kept.params,
            paused: false,
            next_run,
            last_run: None,
            last_run_at: None,
            stopped: false,
            created_at: event.created,
            version: 1,
        };
        let stored = self.store.start_instance(&instance).await?;
        tracing::info!(instance = %stored.id, workflow_id = %stored.workflow_id, "workflow subscription started");
        Ok(())
    }

    /// An API plan bought gives an account without a key its first one (shown once on the
    /// account page); the last paid plan ended revokes the keys when `REVOKE_KEYS_ON_CANCEL`.
    /// Both are safe to repeat: a redelivered event finds the key made, or none left.
    async fn keys_follow_the_plan(
        &self,
        event: &Event,
        account: &AccountId,
        subscription: &Subscription,
    ) -> Result<(), ProcessError> {
        // Read as stored, not as the event says: a stale event (a creation delivered after
        // the deletion) changes nothing, and a retried one still finishes its work.
        let stored = self.store.subscriptions(account).await?;
        let live = stored.iter().any(|held| held.id == subscription.id && held.status.grants_access());
        if event.event_type == "customer.subscription.created" && live {
            self.keys.create_first_key(account, &subscription.id).await?;
        }
        if event.event_type == "customer.subscription.deleted" && self.revoke_keys_on_cancel {
            let now = self.keys.clock.now();
            let left = plan_terms(&self.catalog, &stored, now, self.zone).sku;
            let free = self.catalog.free_plan().map(|item| &item.sku);
            if Some(&left) == free {
                let revoked = self.keys.revoke_all(account).await?;
                tracing::info!(%account, revoked, "the paid plan ended: the account's keys are revoked");
            }
        }
        Ok(())
    }

    /// Takes back from the payer's balance what is left of the balance top-ups the refunded
    /// payment bought, in proportion to what was refunded: what was already spent stays spent.
    async fn take_back_top_ups(
        &self,
        payment_ref: &str,
        refunded_total: i64,
        recorded: &[LedgerEntry],
    ) -> Result<(), ProcessError> {
        let Some(payment) = recorded.iter().find(|entry| entry.kind == EntryKind::Payment) else { return Ok(()) };
        let account = &payment.account;
        let purchases = self.store.purchases(account).await?;
        for purchase in purchases.iter().filter(|purchase| purchase.payment_ref == payment_ref) {
            let Some(item) = self.catalog.by_sku(&purchase.sku) else { continue };
            let Grant::Balance { amount_cents } = item.grant else { continue };
            let top_up = Micros::from_minor(amount_cents, &item.currency).checked_times(u64::from(purchase.quantity));
            let target = take_back_target(top_up.unwrap_or(Micros(i64::MAX)), payment.amount.amount, refunded_total);
            let left = crate::keys::balance_left(&self.store, &self.catalog, account).await?;
            let taken = self.store.take_back(account, payment_ref, target, left).await?;
            tracing::info!(payment_ref, taken = taken.0, "a refund took back what was left of a top-up");
        }
        Ok(())
    }

    /// Grants a product bought at checkout and queues its fulfillment, once: a redelivered
    /// event finds the purchase recorded and queues it again only while it is still pending
    /// (the fulfiller delivers a purchase once).
    async fn grant(&self, event: &Event, account: &AccountId, bought: Purchased) -> Result<(), ProcessError> {
        let needs_delivery = matches!(
            self.catalog.by_sku(&bought.sku).map(|item| &item.grant),
            Some(Grant::Product { fulfillment_url: Some(_) })
        );
        let purchase = Purchase {
            id: bought.session_id,
            account_id: account.clone(),
            sku: bought.sku,
            quantity: bought.quantity,
            payment_ref: bought.payment_ref,
            delivery: if needs_delivery { purchases::Delivery::Pending } else { purchases::Delivery::NotNeeded },
            revoked: false,
            created_at: event.created,
            download_url: None,
        };
        let stored = self.store.record_purchase(&purchase).await?;
        if stored.delivery == purchases::Delivery::Pending {
            let message = serde_json::to_string(&FulfillmentMessage {
                account_id: stored.account_id,
                purchase_id: stored.id,
                email: bought.email,
            })
            .expect("a fulfillment message always serialises");
            self.store.send(QueueName::Fulfillment, &message).await?;
        }
        Ok(())
    }

    async fn record_payment(
        &self,
        event: &Event,
        payment: &Payment,
        payer: &AccountId,
        chain: &ReferralChain,
    ) -> Result<Effect, ProcessError> {
        let partner =
            payment.sku.as_ref().and_then(|sku| self.catalog.by_sku(sku)).and_then(|item| item.partner_share());
        for entry in ledger::payment_entries(payment, payer, chain, partner.as_ref(), &event.id, event.created) {
            self.store.post(&entry).await?;
        }
        self.store.tally(Tally::ActiveAccount, &self.zone.day(event.created), payer.as_str()).await?;
        Ok(Effect::Applied)
    }

    /// The account an object belongs to. Metadata names it directly (and then the
    /// customer is linked to it for later events that carry only the customer).
    async fn owner_account(&self, owner: &Owner) -> Result<AccountId, ProcessError> {
        match owner {
            Owner::Account { account, customer } => {
                self.store.link_customer(account, customer.as_ref(), None).await?;
                Ok(account.clone())
            }
            Owner::Customer(customer) => self
                .store
                .account_for_customer(customer)
                .await?
                .ok_or_else(|| ProcessError::NotYet(format!("customer {customer} is not linked to an account yet"))),
        }
    }
}

fn decode(body: &str) -> Result<Event, String> {
    let queued: QueuedEvent = serde_json::from_str(body).map_err(|e| format!("not a queued event: {e}"))?;
    match queued.source {
        Source::Stripe => Event::parse(queued.event.get().as_bytes()).map_err(|e| e.to_string()),
    }
}
