//! Partners' payouts: onboarding, standing, and what a payout run did.

use super::seconds;
use serde::Serialize;
use tollgate_app::payouts::{Failed, PaidOut, PayoutReport, Skipped, Standing};
use tollgate_core::payout::{self, Balance};
use utoipa::ToSchema;

/// A Stripe Connect onboarding link to send a partner to (it works once, for minutes).
#[derive(Serialize, ToSchema)]
pub struct OnboardingLink {
    pub url: String,
}

/// A partner's money, in minor units of `currency` (from `GET /api/me/payouts`).
#[derive(Serialize, ToSchema)]
pub struct BalanceView {
    /// Earned, still held (`PAYOUT_HOLD_DAYS` after each payment).
    pub pending: i64,
    /// Earned, past the hold, not paid yet: the next run pays it (from `PAYOUT_MINIMUM_CENTS`).
    pub available: i64,
    /// Transferred so far.
    pub paid: i64,
    /// Refunds after payouts took back more than was left: later earnings pay this off first.
    pub owed_back: i64,
}

impl From<Balance> for BalanceView {
    fn from(balance: Balance) -> Self {
        BalanceView {
            pending: balance.pending,
            available: balance.available,
            paid: balance.paid,
            owed_back: balance.owed_back,
        }
    }
}

/// One payout, or the last refused one.
#[derive(Serialize, ToSchema)]
pub struct PayoutLine {
    /// `YYYY-MM`
    pub period: String,
    /// `paid` or `failed`.
    pub status: &'static str,
    /// Minor units; absent on a failed payout.
    pub amount: Option<i64>,
    /// `tr_…`, on a paid one.
    pub transfer: Option<String>,
    /// Why Stripe refused it, on a failed one.
    pub reason: Option<String>,
    /// When it was made (Unix seconds), on a paid one.
    pub at: Option<i64>,
}

/// `GET /api/me/payouts`: where the signed-in partner stands.
#[derive(Serialize, ToSchema)]
pub struct PayoutsView {
    /// A connected account is linked (onboarding started).
    pub connected: bool,
    /// Stripe lets the connected account receive payouts (onboarding complete).
    pub payouts_enabled: bool,
    pub currency: String,
    pub balance: BalanceView,
    /// Newest first.
    pub payouts: Vec<PayoutLine>,
}

impl From<&Standing> for PayoutsView {
    fn from(standing: &Standing) -> Self {
        let mut payouts: Vec<PayoutLine> = standing
            .payouts
            .iter()
            .rev()
            .map(|entry| PayoutLine {
                period: payout::period_of_group(&entry.payment_ref).unwrap_or(&entry.payment_ref).to_owned(),
                status: "paid",
                amount: Some(entry.amount.amount.saturating_neg()),
                transfer: Some(entry.event_id.clone()),
                reason: None,
                at: Some(seconds(entry.at)),
            })
            .collect();
        if let Some(failed) = standing.payee.as_ref().and_then(|payee| payee.failed_payout.as_ref()) {
            let line = PayoutLine {
                period: failed.period.clone(),
                status: "failed",
                amount: None,
                transfer: None,
                reason: Some(failed.reason.clone()),
                at: None,
            };
            payouts.insert(0, line);
        }
        PayoutsView {
            connected: standing.payee.is_some(),
            payouts_enabled: standing.payee.as_ref().is_some_and(|payee| payee.payouts_enabled),
            currency: standing.currency.as_str().to_owned(),
            balance: standing.balance.into(),
            payouts,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PaidOutView {
    pub account_id: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    /// `tr_…`; absent in a dry run.
    pub transfer: Option<String>,
    /// Made by an earlier run that stopped before recording it; recorded now.
    pub healed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SkippedView {
    pub account_id: String,
    /// `already_paid`, `nothing_available`, `owed_back` or `below_minimum`.
    pub reason: &'static str,
    pub balance: BalanceView,
}

#[derive(Serialize, ToSchema)]
pub struct FailedView {
    pub account_id: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    /// Stripe's reason; the next run tries again.
    pub reason: String,
}

/// What `POST /admin/payouts/run` (and `tollgate payouts run`) did.
#[derive(Serialize, ToSchema)]
pub struct PayoutRunView {
    /// `YYYY-MM`
    pub period: String,
    /// Nothing was transferred or written.
    pub dry_run: bool,
    pub paid: Vec<PaidOutView>,
    pub skipped: Vec<SkippedView>,
    pub failed: Vec<FailedView>,
}

impl From<&PaidOut> for PaidOutView {
    fn from(paid: &PaidOut) -> Self {
        PaidOutView {
            account_id: paid.account.to_string(),
            amount: paid.amount.amount,
            currency: paid.amount.currency.as_str().to_owned(),
            transfer: paid.transfer.clone(),
            healed: paid.healed,
        }
    }
}

impl From<&Skipped> for SkippedView {
    fn from(skipped: &Skipped) -> Self {
        SkippedView {
            account_id: skipped.account.to_string(),
            reason: skipped.reason.as_str(),
            balance: skipped.balance.into(),
        }
    }
}

impl From<&Failed> for FailedView {
    fn from(failed: &Failed) -> Self {
        FailedView {
            account_id: failed.account.to_string(),
            amount: failed.amount.amount,
            currency: failed.amount.currency.as_str().to_owned(),
            reason: failed.reason.clone(),
        }
    }
}

impl From<&PayoutReport> for PayoutRunView {
    fn from(report: &PayoutReport) -> Self {
        PayoutRunView {
            period: report.period.to_string(),
            dry_run: report.dry_run,
            paid: report.paid.iter().map(PaidOutView::from).collect(),
            skipped: report.skipped.iter().map(SkippedView::from).collect(),
            failed: report.failed.iter().map(FailedView::from).collect(),
        }
    }
}
