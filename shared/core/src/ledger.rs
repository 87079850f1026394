//! Ledger entries and the rules that produce them.
//!
//! Every entry has a deterministic id naming the fact it records, so recording the
//! same fact twice (a redelivered event, a retried write) changes nothing. Refund
//! entries name a running total: recording a larger total grows the entry, a
//! smaller (older) one leaves it as it is.

use crate::catalog::PartnerShare;
use crate::ids::{AccountId, EventId, Sku};
use crate::money::Cents;
use crate::referral::{self, ReferralChain};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// What a ledger entry records.
pub enum EntryKind {
    /// Money received from an account.
    Payment,
    /// Money returned to the payer (a running total per payment).
    Refund,
    /// A referral commission earned on a payment.
    Commission,
    /// The part of a commission taken back by a refund (a running total).
    CommissionReversal,
    /// Earnings a workflow run reported (account `workflow:<id>`, one entry per run).
    WorkflowRevenue,
    /// A catalog partner's share of a payment for their item.
    PartnerEarning,
    /// The part of a partner earning taken back by a refund (a running total).
    PartnerEarningReversal,
    /// Money transferred out to a partner's connected account (a debit).
    Payout,
}

/// The money that came in: payments, less their refunds.
pub const MONEY_IN: [EntryKind; 2] = [EntryKind::Payment, EntryKind::Refund];
/// All revenue: the money that came in and the earnings workflow runs reported.
pub const REVENUE: [EntryKind; 3] = [EntryKind::Payment, EntryKind::Refund, EntryKind::WorkflowRevenue];

impl EntryKind {
    /// The kind as the API and storage write it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
            EntryKind::Commission => "commission",
            EntryKind::CommissionReversal => "commission_reversal",
            EntryKind::WorkflowRevenue => "workflow_revenue",
            EntryKind::PartnerEarning => "partner_earning",
            EntryKind::PartnerEarningReversal => "partner_earning_reversal",
            EntryKind::Payout => "payout",
        }
    }

    /// The kind written as `value`.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Payment,
            Self::Refund,
            Self::Commission,
            Self::CommissionReversal,
            Self::WorkflowRevenue,
            Self::PartnerEarning,
            Self::PartnerEarningReversal,
            Self::Payout,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

/// Where a payment came from, for revenue by source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSource {
    /// A paid subscription invoice.
    Subscription,
    /// A one-off sale (a product, credits).
    Sale,
}

impl PaymentSource {
    /// As the API and storage write it.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentSource::Subscription => "subscription",
            PaymentSource::Sale => "sale",
        }
    }

    /// The source written as `value`.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Subscription, Self::Sale].into_iter().find(|source| source.as_str() == value)
    }
}

/// One line of the ledger. Credits are positive, debits negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Deterministic: names the fact, so recording it twice changes nothing.
    pub id: String,
    /// Whose money it is.
    pub account: AccountId,
    /// What it records.
    pub kind: EntryKind,
    /// The amount, positive for credits.
    pub amount: Cents,
    /// The payment this entry belongs to (an invoice's payment intent, or the invoice).
    pub payment_ref: String,
    /// What last set this entry: a Stripe event id, the workflow run that reported
    /// earnings, or the transfer of a payout.
    pub event_id: String,
    /// When the fact happened (the event's `created`, the run's end, the transfer): a
    /// partner's earning becomes available a hold period after its payment's.
    pub at: Timestamp,
    /// On a payment and its refund: where the payment came from.
    pub source: Option<PaymentSource>,
}

impl LedgerEntry {
    /// Whether `self` should replace `existing` (same id): only a larger running total does.
    pub fn supersedes(&self, existing: &LedgerEntry) -> bool {
        self.amount.amount.abs() > existing.amount.amount.abs()
    }
}

/// A payment received from an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The payment intent (or invoice) that identifies the payment.
    pub payment_ref: String,
    /// What was paid.
    pub amount: Cents,
    /// What was bought, when the payment says (its metadata or its price's lookup key).
    pub sku: Option<Sku>,
    /// A subscription invoice or a one-off sale.
    pub source: PaymentSource,
}

/// The entries a payment produces: the referral commissions and the catalog partner's
/// earning first and the payment last, so that once the payment entry is stored the shares
/// are too (a refund relies on it). Nobody earns a share of their own payment.
pub fn payment_entries(
    payment: &Payment,
    payer: &AccountId,
    chain: &ReferralChain,
    partner: Option<&PartnerShare>,
    event_id: &EventId,
    at: Timestamp,
) -> Vec<LedgerEntry> {
    let entry = |id: String, account: &AccountId, kind, amount: Cents| LedgerEntry {
        id,
        account: account.clone(),
        kind,
        amount,
        payment_ref: payment.payment_ref.clone(),
        event_id: event_id.to_string(),
        at,
        source: None,
    };
    let mut entries: Vec<LedgerEntry> = referral::commissions(payer, chain, &payment.amount)
        .into_iter()
        .map(|(beneficiary, amount)| {
            entry(
                format!("commission:{}:{beneficiary}", payment.payment_ref),
                &beneficiary,
                EntryKind::Commission,
                amount,
            )
        })
        .collect();
    if let Some(share) = partner.filter(|share| share.partner != *payer) {
        let earned = payment.amount.basis_points_floor(share.basis_points);
        if earned.amount > 0 {
            let id = format!("partner_earning:{}:{}", payment.payment_ref, share.partner);
            entries.push(entry(id, &share.partner, EntryKind::PartnerEarning, earned));
        }
    }
    let paid = entry(format!("payment:{}", payment.payment_ref), payer, EntryKind::Payment, payment.amount.clone());
    entries.push(LedgerEntry { source: Some(payment.source), ..paid });
    entries
}

/// The entries a refund produces, given the entries already recorded for its payment:
/// the refund as a running total, and each commission and partner earning reversed in the
/// same proportion.
/// `None` when the payment itself is not recorded (yet).
pub fn refund_entries(
    refunded_total: i64,
    recorded: &[LedgerEntry],
    event_id: &EventId,
    at: Timestamp,
) -> Option<Vec<LedgerEntry>> {
    let payment = recorded.iter().find(|entry| entry.kind == EntryKind::Payment)?;
    let paid = payment.amount.amount;
    let refunded = refunded_total.clamp(0, paid);
    let derived = |id: String, account: &AccountId, kind, amount: i64| LedgerEntry {
        id,
        account: account.clone(),
        kind,
        amount: Cents::new(amount.saturating_neg(), payment.amount.currency.clone()),
        payment_ref: payment.payment_ref.clone(),
        event_id: event_id.to_string(),
        at,
        source: None,
    };
    let mut entries: Vec<LedgerEntry> = recorded
        .iter()
        .filter_map(|share| {
            let (prefix, kind) = match share.kind {
                EntryKind::Commission => ("commission_reversal", EntryKind::CommissionReversal),
                EntryKind::PartnerEarning => ("partner_earning_reversal", EntryKind::PartnerEarningReversal),
                _ => return None,
            };
            let amount = referral::reversal_total(share.amount.amount, paid, refunded);
            Some(derived(format!("{prefix}:{}:{}", payment.payment_ref, share.account), &share.account, kind, amount))
        })
        .collect();
    let refund = derived(format!("refund:{}", payment.payment_ref), &payment.account, EntryKind::Refund, refunded);
    entries.push(LedgerEntry { source: payment.source, ..refund });
    Some(entries)
}

/// The ledger entry of a run's reported earnings: on the workflow's own account
/// (`workflow:<id>`), so the ledger reads revenue per workflow; one entry per run.
pub fn workflow_revenue(run: &crate::workflow::Run) -> LedgerEntry {
    let account = AccountId::of_workflow(&run.workflow_id);
    LedgerEntry {
        id: format!("workflow_revenue:{}", run.id),
        account,
        kind: EntryKind::WorkflowRevenue,
        amount: Cents::new(run.earnings_cents, crate::money::Currency::parse("usd").expect("usd is a currency")),
        payment_ref: run.id.to_string(),
        event_id: run.id.to_string(),
        at: run.finished_at.unwrap_or(run.created_at),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).unwrap()
    }

    const AT: Timestamp = Timestamp(1_790_000_000);

    fn event(n: u32) -> EventId {
        EventId::parse(&format!("evt_{n}")).unwrap()
    }

    fn payment(amount: i64) -> Payment {
        Payment {
            payment_ref: "pi_1".into(),
            amount: Cents::new(amount, Currency::parse("usd").unwrap()),
            sku: None,
            source: PaymentSource::Subscription,
        }
    }

    fn chain() -> ReferralChain {
        ReferralChain { direct: Some(account("ref")), second: Some(account("grand")) }
    }

    /// Keeps, per id, the entry a store would keep.
    fn apply(store: &mut Vec<LedgerEntry>, entries: Vec<LedgerEntry>) {
        for entry in entries {
            match store.iter_mut().find(|stored| stored.id == entry.id) {
                Some(stored) if entry.supersedes(stored) => *stored = entry,
                Some(_) => {}
                None => store.push(entry),
            }
        }
    }

    fn creator(basis_points: u16) -> PartnerShare {
        PartnerShare { partner: account("creator"), basis_points }
    }

    #[test]
    fn a_payment_records_its_commissions_before_itself() {
        let entries = payment_entries(&payment(2999), &account("payer"), &chain(), None, &event(1), AT);
        let kinds: Vec<_> = entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EntryKind::Commission, EntryKind::Commission, EntryKind::Payment]);
        assert_eq!(entries[0].id, "commission:pi_1:ref");
    }

    #[test]
    fn a_catalog_partner_earns_their_share_of_each_payment_but_not_of_their_own() {
        let entries =
            payment_entries(&payment(2999), &account("payer"), &chain(), Some(&creator(7_000)), &event(1), AT);
        let earning = entries.iter().find(|e| e.kind == EntryKind::PartnerEarning).unwrap();
        assert_eq!(
            (earning.id.as_str(), earning.account.as_str(), earning.amount.amount),
            ("partner_earning:pi_1:creator", "creator", 2099)
        );
        assert_eq!(entries.last().unwrap().kind, EntryKind::Payment, "the payment is recorded last");
        let own = payment_entries(
            &payment(2999),
            &account("creator"),
            &ReferralChain::default(),
            Some(&creator(7_000)),
            &event(1),
            AT,
        );
        assert!(own.iter().all(|e| e.kind != EntryKind::PartnerEarning));
        let refund = refund_entries(1000, &entries, &event(2), AT).unwrap();
        let reversal = refund.iter().find(|e| e.kind == EntryKind::PartnerEarningReversal).unwrap();
        assert_eq!(
            (reversal.account.as_str(), reversal.amount.amount),
            ("creator", -699),
            "2099 × 1000 / 2999, pro rata"
        );
    }

    #[test]
    fn a_refund_without_its_payment_waits() {
        assert_eq!(refund_entries(100, &[], &event(2), AT), None);
    }

    proptest! {
        #[test]
        fn credits_and_reversals_balance_to_the_cent_after_a_full_refund(
            paid in 1i64..5_000_000,
            partials in proptest::collection::vec(0i64..5_000_000, 0..5),
            redeliveries in 1usize..3,
            share in 0u16..=10_000,
            full_at in any::<proptest::sample::Index>(),
        ) {
            let mut store = Vec::new();
            for _ in 0..redeliveries {
                apply(&mut store, payment_entries(&payment(paid), &account("payer"), &chain(), Some(&creator(share)), &event(1), AT));
            }
            // Partial refunds as running totals in any order, with the full refund anywhere
            // among them: before, between or after the partial ones.
            let mut totals: Vec<i64> = partials.iter().map(|p| p % (paid + 1)).collect();
            totals.insert(full_at.index(totals.len() + 1), paid);
            for (n, total) in totals.iter().enumerate() {
                let recorded: Vec<_> = store.iter().filter(|e| e.payment_ref == "pi_1").cloned().collect();
                let entries = refund_entries(*total, &recorded, &event(10 + n as u32), AT).unwrap();
                apply(&mut store, entries);
                for who in ["payer", "ref", "grand", "creator"] {
                    let net: i64 = store.iter().filter(|e| e.account.as_str() == who).map(|e| e.amount.amount).sum();
                    prop_assert!(net >= 0, "{} is never reversed beyond what it was paid: {}", who, net);
                }
            }
            for who in ["payer", "ref", "grand", "creator"] {
                let net: i64 = store.iter().filter(|e| e.account.as_str() == who).map(|e| e.amount.amount).sum();
                prop_assert_eq!(net, 0, "{} nets to zero after a full refund", who);
            }
        }

        /// Partial refunds delivered in any order, each as Stripe's running total: the
        /// referrer's reversal ends at the share of the largest total, whatever came last.
        #[test]
        fn partial_refunds_in_any_order_reverse_the_share_of_the_largest_total(
            paid in 1i64..10_000_000,
            steps in proptest::collection::vec(0i64..10_000_000, 1..8),
        ) {
            let mut store = Vec::new();
            apply(&mut store, payment_entries(&payment(paid), &account("payer"), &chain(), None, &event(1), AT));
            let commission = |kind: EntryKind| {
                store.iter().find(|e| e.kind == kind && e.account.as_str() == "ref").map_or(0, |e| e.amount.amount)
            };
            let earned = commission(EntryKind::Commission);
            let totals: Vec<i64> = steps.iter().map(|step| step % (paid + 1)).collect();
            for (n, total) in totals.iter().enumerate() {
                let recorded: Vec<_> = store.iter().filter(|e| e.payment_ref == "pi_1").cloned().collect();
                apply(&mut store, refund_entries(*total, &recorded, &event(10 + n as u32), AT).unwrap());
            }
            let commission = |kind: EntryKind| {
                store.iter().find(|e| e.kind == kind && e.account.as_str() == "ref").map_or(0, |e| e.amount.amount)
            };
            let largest = *totals.iter().max().expect("at least one refund");
            prop_assert_eq!(-commission(EntryKind::CommissionReversal), referral::reversal_total(earned, paid, largest));
        }

        #[test]
        fn redelivered_payments_record_once(paid in 1i64..5_000_000, times in 1usize..5) {
            let mut store = Vec::new();
            for _ in 0..times {
                apply(&mut store, payment_entries(&payment(paid), &account("payer"), &chain(), Some(&creator(7_000)), &event(1), AT));
            }
            let credited: i64 = store.iter().map(|e| e.amount.amount).sum();
            let once: i64 = payment_entries(&payment(paid), &account("payer"), &chain(), Some(&creator(7_000)), &event(1), AT)
                .iter()
                .map(|e| e.amount.amount)
                .sum();
            prop_assert_eq!(credited, once);
        }
    }
}
