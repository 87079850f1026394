//! Referral commissions: who is owed what on a paid invoice, and what a refund takes back.

use crate::ids::AccountId;
use crate::money::Cents;

/// Paid to the account that referred the payer, on every paid invoice.
pub const DIRECT_PERCENT: u8 = 20;
/// Paid to the referrer's own referrer.
pub const SECOND_LEVEL_PERCENT: u8 = 5;

/// The payer's referrer and that referrer's referrer, as recorded at checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralChain {
    /// Who referred the payer: earns the direct share.
    pub direct: Option<AccountId>,
    /// Who referred the referrer: earns the second-level share.
    pub second: Option<AccountId>,
}

/// Why a referral code is ignored: a buyer cannot refer themselves, be referred by
/// nobody, or close a loop with someone they referred (commissions would flow back to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IgnoredReferral {
    /// The code names the buyer.
    #[error("the referral code names the buyer")]
    SelfReferral,
    /// No account has that id.
    #[error("the referral code names no account")]
    UnknownAccount,
    /// The buyer referred the referrer.
    #[error("the referral code names an account the buyer referred")]
    ReferredByBuyer,
    /// The buyer referred the referrer's referrer.
    #[error("the referral code names an account the buyer referred through the second level")]
    SecondLevelLoop,
}

/// Whether `referrer` may be recorded as `buyer`'s referrer. `above_referrer` is the
/// referrer's own chain, `None` when no such account exists.
pub fn check_referrer(
    buyer: &AccountId,
    referrer: &AccountId,
    above_referrer: Option<&ReferralChain>,
) -> Result<(), IgnoredReferral> {
    if referrer == buyer {
        return Err(IgnoredReferral::SelfReferral);
    }
    let chain = above_referrer.ok_or(IgnoredReferral::UnknownAccount)?;
    if chain.direct.as_ref() == Some(buyer) {
        Err(IgnoredReferral::ReferredByBuyer)
    } else if chain.second.as_ref() == Some(buyer) {
        Err(IgnoredReferral::SecondLevelLoop)
    } else {
        Ok(())
    }
}

/// The commissions owed on `paid` by `payer`. Nobody earns on their own payment, and a
/// cycle (A referred B, B referred A) pays each account at most once.
pub fn commissions(payer: &AccountId, chain: &ReferralChain, paid: &Cents) -> Vec<(AccountId, Cents)> {
    let mut owed: Vec<(AccountId, Cents)> = Vec::new();
    let levels = [(&chain.direct, DIRECT_PERCENT), (&chain.second, SECOND_LEVEL_PERCENT)];
    for (beneficiary, percent) in levels {
        let Some(beneficiary) = beneficiary else {
            continue;
        };
        if beneficiary == payer || owed.iter().any(|(already, _)| already == beneficiary) {
            continue;
        }
        let amount = paid.percent_floor(percent);
        if amount.amount > 0 {
            owed.push((beneficiary.clone(), amount));
        }
    }
    owed
}

/// How much of `commission` is taken back once `refunded_total` of `paid` has been
/// refunded. Stripe reports refunds as a running total, so this is a running total
/// too: recomputing it for a later total never takes back twice, and a full refund
/// takes back the whole commission, to the cent.
pub fn reversal_total(commission: i64, paid: i64, refunded_total: i64) -> i64 {
    if paid <= 0 {
        return 0;
    }
    let refunded = refunded_total.clamp(0, paid);
    // |commission × refunded| < 2^126 and paid > 0: neither step can overflow i128.
    let share = i128::from(commission).saturating_mul(i128::from(refunded)).checked_div(i128::from(paid)).unwrap_or(0);
    i64::try_from(share).unwrap_or(if share < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;

    #[test]
    fn a_referrer_counts_only_when_real_and_outside_the_buyers_own_tree() {
        let (buyer, referrer, other) = (account("buyer"), account("referrer"), account("other"));
        let chain = |direct: Option<&AccountId>, second: Option<&AccountId>| ReferralChain {
            direct: direct.cloned(),
            second: second.cloned(),
        };
        assert_eq!(check_referrer(&buyer, &referrer, Some(&chain(None, None))), Ok(()));
        assert_eq!(check_referrer(&buyer, &referrer, Some(&chain(Some(&other), None))), Ok(()));
        assert_eq!(check_referrer(&buyer, &buyer, Some(&chain(None, None))), Err(IgnoredReferral::SelfReferral));
        assert_eq!(check_referrer(&buyer, &referrer, None), Err(IgnoredReferral::UnknownAccount));
        assert_eq!(
            check_referrer(&buyer, &referrer, Some(&chain(Some(&buyer), None))),
            Err(IgnoredReferral::ReferredByBuyer)
        );
        assert_eq!(
            check_referrer(&buyer, &referrer, Some(&chain(Some(&other), Some(&buyer)))),
            Err(IgnoredReferral::SecondLevelLoop)
        );
    }

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).unwrap()
    }

    fn usd(amount: i64) -> Cents {
        Cents::new(amount, Currency::parse("usd").unwrap())
    }

    #[test]
    fn twenty_and_five_percent_go_up_the_chain() {
        let chain = ReferralChain { direct: Some(account("ref")), second: Some(account("grand")) };
        let owed = commissions(&account("payer"), &chain, &usd(2999));
        assert_eq!(owed, vec![(account("ref"), usd(599)), (account("grand"), usd(149))]);
    }

    #[test]
    fn nobody_earns_on_their_own_payment_or_twice() {
        let cycle = ReferralChain { direct: Some(account("ref")), second: Some(account("payer")) };
        assert_eq!(commissions(&account("payer"), &cycle, &usd(1000)), vec![(account("ref"), usd(200))]);
        let twice = ReferralChain { direct: Some(account("ref")), second: Some(account("ref")) };
        assert_eq!(commissions(&account("payer"), &twice, &usd(1000)).len(), 1);
    }

    proptest! {
        #[test]
        fn a_full_refund_reverses_every_commission_to_the_cent(paid in 1i64..10_000_000, direct in any::<bool>(), second in any::<bool>()) {
            let chain = ReferralChain {
                direct: direct.then(|| account("ref")),
                second: second.then(|| account("grand")),
            };
            let owed = commissions(&account("payer"), &chain, &usd(paid));
            let credited: i64 = owed.iter().map(|(_, c)| c.amount).sum();
            let reversed: i64 = owed.iter().map(|(_, c)| reversal_total(c.amount, paid, paid)).sum();
            prop_assert_eq!(credited, reversed);
            prop_assert!(credited <= paid / 4, "commissions never exceed 25% of the payment");
        }

        /// What makes the order of refunds irrelevant: the amount taken back grows with the
        /// refunded total, so keeping the largest (as the ledger does, `ledger.rs`'s
        /// property test in any order) keeps the latest.
        #[test]
        fn the_reversal_grows_with_the_refunded_total_and_keeps_the_exact_share(
            paid in 1i64..10_000_000,
            a in 0i64..10_000_000,
            b in 0i64..10_000_000,
        ) {
            let commission = usd(paid).percent_floor(DIRECT_PERCENT).amount;
            let (low, high) = ((a % (paid + 1)).min(b % (paid + 1)), (a % (paid + 1)).max(b % (paid + 1)));
            prop_assert!(reversal_total(commission, paid, low) <= reversal_total(commission, paid, high));
            let taken = reversal_total(commission, paid, high);
            prop_assert!((0..=commission).contains(&taken));
            // What stays credited is never less than the exact share of what stayed paid.
            let kept = commission - taken;
            prop_assert!(i128::from(kept) * i128::from(paid) >= i128::from(commission) * i128::from(paid - high));
            prop_assert!(i128::from(kept - 1) * i128::from(paid) < i128::from(commission) * i128::from(paid - high));
        }
    }
}
