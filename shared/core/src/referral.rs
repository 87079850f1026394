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
    (i128::from(commission) * i128::from(refunded) / i128::from(paid)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;

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

        #[test]
        fn partial_refunds_in_any_order_reverse_the_share_of_the_latest_total(
            paid in 1i64..10_000_000,
            mut steps in proptest::collection::vec(0i64..10_000_000, 1..8),
        ) {
            let commission = usd(paid).percent_floor(DIRECT_PERCENT).amount;
            // Running totals as Stripe would report them, then delivered in any order.
            steps.iter_mut().for_each(|step| *step %= paid + 1);
            let latest = *steps.iter().max().unwrap();
            let mut applied = 0;
            for total in &steps {
                applied = applied.max(reversal_total(commission, paid, *total));
            }
            prop_assert_eq!(applied, reversal_total(commission, paid, latest));
            prop_assert!(applied <= commission);
            // What stays credited is never less than the exact share of what stayed paid.
            let kept = commission - applied;
            prop_assert!(i128::from(kept) * i128::from(paid) >= i128::from(commission) * i128::from(paid - latest));
            prop_assert!(i128::from(kept - 1) * i128::from(paid) < i128::from(commission) * i128::from(paid - latest));
        }
    }
}
