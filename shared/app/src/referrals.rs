//! Who referred whom: the chain commissions follow, and whether a referral code counts.

use crate::ports::accounts::{Accounts, AccountsError};
use tollgate_core::ids::AccountId;
use tollgate_core::referral::{ReferralChain, check_referrer};

/// `account`'s referrer and that referrer's referrer; `None` when no such account exists.
pub async fn referral_chain(
    accounts: &impl Accounts,
    account: &AccountId,
) -> Result<Option<ReferralChain>, AccountsError> {
    let Some(profile) = accounts.profile(account).await? else { return Ok(None) };
    let second = match &profile.referred_by {
        Some(direct) => accounts.profile(direct).await?.and_then(|profile| profile.referred_by),
        None => None,
    };
    Ok(Some(ReferralChain { direct: profile.referred_by, second }))
}

/// The referral `code` if it counts for `buyer`: an existing account other than the
/// buyer, and not one the buyer referred. Otherwise it is ignored, and why is logged;
/// the checkout or event it came with goes on without it.
pub async fn accepted_referrer(
    accounts: &impl Accounts,
    buyer: &AccountId,
    code: Option<&AccountId>,
) -> Result<Option<AccountId>, AccountsError> {
    let Some(referrer) = code else { return Ok(None) };
    let above = if referrer == buyer { None } else { referral_chain(accounts, referrer).await? };
    match check_referrer(buyer, referrer, above.as_ref()) {
        Ok(()) => Ok(Some(referrer.clone())),
        Err(ignored) => {
            tracing::warn!(account_id = %buyer, referral_code = %referrer, reason = %ignored, "referral code ignored");
            Ok(None)
        }
    }
}
