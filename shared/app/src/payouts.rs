//! Partners' payouts through Stripe Connect (Express): onboarding, where a partner stands,
//! and the monthly payout run.

use crate::Clock;
use crate::alerting::Alerting;
use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::checkouts::PaymentsError;
use crate::ports::connect::Connect;
use crate::ports::ledger::{Ledger, LedgerError};
use crate::ports::payees::{FailedPayout, Payee, Payees, PayeesError};
use crate::ports::transfers::{MadeTransfer, NewTransfer, Transfers};
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::ids::AccountId;
use tollgate_core::ledger::{EntryKind, LedgerEntry};
use tollgate_core::money::{Cents, Currency};
use tollgate_core::payout::{self, Balance, Decision, Period};
use tollgate_core::time::Timestamp;

/// Where Stripe sends a partner back after onboarding (`PAYOUTS_RETURN_URL`); an expired
/// link sends them there too, with `?payouts=refresh`, and the page asks for a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutSettings {
    pub return_url: String,
}

impl PayoutSettings {
    fn refresh_url(&self) -> String {
        let joiner = if self.return_url.contains('?') { '&' } else { '?' };
        format!("{}{joiner}payouts=refresh", self.return_url)
    }
}

/// When earnings can be paid out: `PAYOUT_HOLD_DAYS` after their payment (default 30, the
/// refund window), in transfers of at least `PAYOUT_MINIMUM_CENTS` (default 1000). Read
/// once at start (`tollgate-settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutPolicy {
    pub hold_days: u32,
    pub minimum_cents: i64,
}

/// A partner's standing: connected or not, its balance and its payouts (read from the
/// ledger, with or without Stripe).
pub struct Payouts<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub policy: PayoutPolicy,
}

/// A partner's Stripe Connect onboarding.
pub struct Onboarding<S> {
    pub store: S,
    pub connect: Arc<dyn Connect>,
    pub settings: PayoutSettings,
}

#[derive(Debug, Error)]
pub enum PayoutsError {
    #[error(transparent)]
    Stripe(#[from] PaymentsError),
    #[error(transparent)]
    Payees(#[from] PayeesError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Alerts(#[from] AlertsError),
}

/// One payout made (or, in a dry run, that would be made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidOut {
    pub account: AccountId,
    pub amount: Cents,
    /// `tr_…`; `None` in a dry run.
    pub transfer: Option<String>,
    /// Found among the period's transfers, made by an earlier run that stopped before recording it.
    pub healed: bool,
}

/// Why a partner was not paid this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The period's payout is in the ledger already.
    AlreadyPaid,
    /// Nothing available (earnings still held, or none).
    NothingAvailable,
    /// Refunds after earlier payouts left the partner owing: later earnings pay it off first.
    OwedBack,
    /// Available, under `PAYOUT_MINIMUM_CENTS`: it waits.
    BelowMinimum,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadyPaid => "already_paid",
            SkipReason::NothingAvailable => "nothing_available",
            SkipReason::OwedBack => "owed_back",
            SkipReason::BelowMinimum => "below_minimum",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub account: AccountId,
    pub reason: SkipReason,
    pub balance: Balance,
}

/// A transfer Stripe refused or could not make: recorded, alerted, retried next run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub account: AccountId,
    pub amount: Cents,
    pub reason: String,
}

/// What a payout run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutReport {
    pub period: Period,
    pub dry_run: bool,
    pub paid: Vec<PaidOut>,
    pub skipped: Vec<Skipped>,
    pub failed: Vec<Failed>,
}

/// A partner's standing, as `GET /api/me/payouts` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub payee: Option<Payee>,
    pub currency: Currency,
    pub balance: Balance,
    /// Payouts made, oldest first.
    pub payouts: Vec<LedgerEntry>,
}

/// The payout run: Stripe's transfers, and where a `payout_failed` alert goes.
pub struct PayoutRun<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub transfers: Arc<dyn Transfers>,
    pub policy: PayoutPolicy,
    pub alerting: Alerting,
}

/// The currency of a partner with no earnings yet.
fn default_currency() -> Currency {
    Currency::parse("usd").expect("usd is a currency")
}

fn standing_of(entries: &[LedgerEntry], policy: &PayoutPolicy, now: Timestamp) -> (Currency, Balance) {
    let currency = payout::payout_currency(entries).unwrap_or_else(default_currency);
    let balance = payout::balance(entries, &currency, now, policy.hold_days);
    (currency, balance)
}

impl<S: Payees + Ledger> Payouts<S> {
    /// Where `account` stands: connected or not, its balance and its payouts.
    pub async fn standing(&self, account: &AccountId) -> Result<Standing, PayoutsError> {
        let payee = self.store.payee(account).await?;
        let entries = self.store.for_account(account).await?;
        let (currency, balance) = standing_of(&entries, &self.policy, self.clock.now());
        let payouts = entries.into_iter().filter(|entry| entry.kind == EntryKind::Payout).collect();
        Ok(Standing { payee, currency, balance, payouts })
    }
}

impl<S: Payees + Ledger + Alerts> PayoutRun<S> {
    /// Pays every partner with payouts enabled their available balance for `period` (default
    /// the current month), once. The ledger is the guard: a partner whose payout of the
    /// period is recorded is skipped, whatever Stripe still remembers; a transfer Stripe made
    /// but that was never recorded (the process stopped in between) is found in the period's
    /// transfer group and recorded instead of being made again. A dry run writes nothing.
    pub async fn run(&self, period: Option<Period>, dry_run: bool) -> Result<PayoutReport, PayoutsError> {
        let now = self.clock.now();
        let period = period.unwrap_or_else(|| Period::of(now));
        let group = payout::transfer_group(period);
        let recorded: HashMap<AccountId, LedgerEntry> = self
            .store
            .for_payment(&group)
            .await?
            .into_iter()
            .filter(|entry| entry.kind == EntryKind::Payout)
            .map(|entry| (entry.account.clone(), entry))
            .collect();
        let mut made: HashMap<AccountId, MadeTransfer> = HashMap::new();
        for transfer in self.transfers.transfers_in_group(&group).await? {
            if let Some(account) = transfer.account.clone() {
                made.entry(account).or_insert(transfer);
            }
        }
        let mut report = PayoutReport { period, dry_run, paid: Vec::new(), skipped: Vec::new(), failed: Vec::new() };
        for payee in self.store.payees_enabled().await? {
            let entries = self.store.for_account(&payee.account).await?;
            let (currency, balance) = standing_of(&entries, &self.policy, now);
            let skip = |reason| Skipped { account: payee.account.clone(), reason, balance };
            if recorded.contains_key(&payee.account) {
                report.skipped.push(skip(SkipReason::AlreadyPaid));
            } else if let Some(transfer) = made.remove(&payee.account) {
                if !dry_run {
                    let entry = payout::payout_entry(&payee.account, period, &transfer.amount, &transfer.id, now);
                    self.store.post(&entry).await?;
                    tracing::warn!(account = %payee.account, transfer = %transfer.id, "recorded a payout made by an earlier run");
                }
                let paid = PaidOut {
                    account: payee.account.clone(),
                    amount: transfer.amount,
                    transfer: Some(transfer.id),
                    healed: true,
                };
                report.paid.push(paid);
            } else {
                match payout::decide(&balance, self.policy.minimum_cents) {
                    Decision::Nothing if balance.owed_back > 0 => report.skipped.push(skip(SkipReason::OwedBack)),
                    Decision::Nothing => report.skipped.push(skip(SkipReason::NothingAvailable)),
                    Decision::BelowMinimum => report.skipped.push(skip(SkipReason::BelowMinimum)),
                    Decision::Pay(amount) if dry_run => report.paid.push(PaidOut {
                        account: payee.account.clone(),
                        amount: Cents::new(amount, currency),
                        transfer: None,
                        healed: false,
                    }),
                    Decision::Pay(amount) => {
                        let amount = Cents::new(amount, currency);
                        match self.transfer(&payee, period, &group, &amount, now).await? {
                            Ok(transfer) => report.paid.push(PaidOut {
                                account: payee.account.clone(),
                                amount,
                                transfer: Some(transfer),
                                healed: false,
                            }),
                            Err(reason) => {
                                report.failed.push(Failed { account: payee.account.clone(), amount, reason })
                            }
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// One transfer and its ledger debit. A refusal is recorded on the payee and alerted,
    /// and answered as `Err(reason)`; only a failure to record is the run's error.
    async fn transfer(
        &self,
        payee: &Payee,
        period: Period,
        group: &str,
        amount: &Cents,
        now: Timestamp,
    ) -> Result<Result<String, String>, PayoutsError> {
        let request = NewTransfer {
            account: payee.account.clone(),
            destination: payee.connect_account.clone(),
            amount: amount.clone(),
            group: group.to_owned(),
            period: period.to_string(),
        };
        let key = payout::idempotency_key(&payee.account, period);
        match self.transfers.create_transfer(&request, &key).await {
            Ok(transfer) => {
                // Stripe's amount, should an idempotent replay answer an earlier request.
                let entry = payout::payout_entry(&payee.account, period, &transfer.amount, &transfer.id, now);
                self.store.post(&entry).await?;
                if payee.failed_payout.is_some() {
                    self.store.record_failed_payout(&payee.account, None).await?;
                }
                Ok(Ok(transfer.id))
            }
            Err(error) => {
                let reason = error.to_string();
                tracing::warn!(account = %payee.account, %period, %reason, "a payout failed");
                let failed = FailedPayout { period: period.to_string(), reason: reason.clone() };
                self.store.record_failed_payout(&payee.account, Some(&failed)).await?;
                let alert = tollgate_core::alert::payout_failed(&payee.account, &period.to_string(), &reason, now);
                self.alerting.raise(&self.store, alert).await?;
                Ok(Err(reason))
            }
        }
    }
}

/// The idempotency key of `account`'s connected account: concurrent and repeated first
/// onboardings create one account.
pub fn connect_idempotency_key(account: &AccountId) -> String {
    format!("tollgate-connect-{account}")
}

impl<S: Payees> Onboarding<S> {
    /// An onboarding link for `account`, creating its connected account the first time.
    pub async fn onboard(&self, account: &AccountId) -> Result<String, PayoutsError> {
        let stripe = self.connect.as_ref();
        let connect_account = match self.store.payee(account).await? {
            Some(payee) => payee.connect_account,
            None => {
                let created = stripe.create_connected_account(account, &connect_idempotency_key(account)).await?;
                self.store.link_payee(account, &created).await?.connect_account
            }
        };
        let refresh_url = self.settings.refresh_url();
        Ok(stripe.onboarding_link(&connect_account, &refresh_url, &self.settings.return_url).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_link_comes_back_asking_for_a_fresh_one() {
        let plain = PayoutSettings { return_url: "https://app.example.com/account".into() };
        assert_eq!(plain.refresh_url(), "https://app.example.com/account?payouts=refresh");
        let with_query = PayoutSettings { return_url: "https://app.example.com/account?tab=2".into() };
        assert_eq!(with_query.refresh_url(), "https://app.example.com/account?tab=2&payouts=refresh");
    }
}
