//! Partners' payouts through Stripe Connect (Express): onboarding, and where a partner stands.

use crate::App;
use crate::checkout::SettingError;
use crate::ports::checkouts::PaymentsError;
use crate::ports::connect::Connect;
use crate::ports::payees::{Payees, PayeesError};
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::ids::AccountId;

/// Where Stripe sends a partner back after onboarding (`PAYOUTS_RETURN_URL`); an expired
/// link sends them there too, with `?payouts=refresh`, and the page asks for a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutSettings {
    pub return_url: String,
}

impl PayoutSettings {
    /// Reads `PAYOUTS_RETURN_URL` through `lookup`; `fallback_origin` (the local stack's own
    /// address) stands in when it is unset, with the account page's path. Required in the cloud.
    pub fn read(lookup: impl Fn(&str) -> Option<String>, fallback_origin: Option<&str>) -> Result<Self, SettingError> {
        let return_url = lookup("PAYOUTS_RETURN_URL")
            .filter(|url| !url.trim().is_empty())
            .or_else(|| fallback_origin.map(|origin| format!("{origin}/account")))
            .ok_or(SettingError::Missing("PAYOUTS_RETURN_URL"))?;
        Ok(Self { return_url })
    }

    fn refresh_url(&self) -> String {
        let joiner = if self.return_url.contains('?') { '&' } else { '?' };
        format!("{}{joiner}payouts=refresh", self.return_url)
    }
}

/// Onboarding over `app`, with the Stripe client.
pub struct Payouts<S> {
    pub app: Arc<App<S>>,
    pub stripe: Arc<dyn Connect>,
    pub settings: PayoutSettings,
}

#[derive(Debug, Error)]
pub enum PayoutsError {
    #[error(transparent)]
    Stripe(#[from] PaymentsError),
    #[error(transparent)]
    Payees(#[from] PayeesError),
}

/// The idempotency key of `account`'s connected account: concurrent and repeated first
/// onboardings create one account.
pub fn connect_idempotency_key(account: &AccountId) -> String {
    format!("tollgate-connect-{account}")
}

impl<S: Payees> Payouts<S> {
    /// An onboarding link for `account`, creating its connected account the first time.
    pub async fn onboard(&self, account: &AccountId) -> Result<String, PayoutsError> {
        let connect_account = match self.app.store.payee(account).await? {
            Some(payee) => payee.connect_account,
            None => {
                let created = self.stripe.create_connected_account(account, &connect_idempotency_key(account)).await?;
                self.app.store.link_payee(account, &created).await?.connect_account
            }
        };
        let refresh_url = self.settings.refresh_url();
        Ok(self.stripe.onboarding_link(&connect_account, &refresh_url, &self.settings.return_url).await?)
    }
}
