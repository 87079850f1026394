//! Stripe Connect: Express accounts for partners, and their onboarding links.

use crate::{StripeApi, failed, idempotent, metadata};
use stripe::StripeRequest;
use stripe_connect::account::{CreateAccount, CreateAccountType};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use tollgate_app::ports::checkouts::Paid;
use tollgate_app::ports::connect::Connect;
use tollgate_core::ids::AccountId;

impl Connect for StripeApi {
    fn create_connected_account<'a>(&'a self, account: &'a AccountId, idempotency_key: &'a str) -> Paid<'a, String> {
        Box::pin(async move {
            let created = CreateAccount::new()
                .type_(CreateAccountType::Express)
                .metadata(metadata(&[("account_id", account.to_string())]))
                .customize()
                .request_strategy(idempotent(idempotency_key)?)
                .send(&self.client)
                .await
                .map_err(failed)?;
            Ok(created.id.to_string())
        })
    }

    fn onboarding_link<'a>(
        &'a self,
        connect_account: &'a str,
        refresh_url: &'a str,
        return_url: &'a str,
    ) -> Paid<'a, String> {
        Box::pin(async move {
            let link = CreateAccountLink::new(connect_account, CreateAccountLinkType::AccountOnboarding)
                .refresh_url(refresh_url)
                .return_url(return_url)
                .send(&self.client)
                .await
                .map_err(failed)?;
            Ok(link.url)
        })
    }
}
