//! Stripe Connect transfers: partners' payouts, and finding the ones a period already made.

use crate::{StripeApi, failed, idempotent, metadata};
use stripe::StripeRequest;
use stripe_connect::transfer::{CreateTransfer, ListTransfer};
use stripe_shared::Transfer;
use tollgate_app::ports::checkouts::{Paid, PaymentsError};
use tollgate_app::ports::transfers::{MadeTransfer, NewTransfer, Transfers};
use tollgate_core::ids::AccountId;
use tollgate_core::money::{Cents, Currency};

/// Stripe's largest page.
const PAGE: i64 = 100;

fn made(transfer: &Transfer) -> Result<MadeTransfer, PaymentsError> {
    let currency = Currency::parse(&transfer.currency.to_string())
        .map_err(|e| PaymentsError::unavailable(format!("transfer {}: {e}", transfer.id)))?;
    Ok(MadeTransfer {
        id: transfer.id.to_string(),
        account: transfer.metadata.get("account_id").and_then(|id| AccountId::parse(id).ok()),
        amount: Cents::new(transfer.amount, currency),
    })
}

impl Transfers for StripeApi {
    fn create_transfer<'a>(&'a self, transfer: &'a NewTransfer, idempotency_key: &'a str) -> Paid<'a, MadeTransfer> {
        Box::pin(async move {
            let currency = transfer
                .amount
                .currency
                .as_str()
                .parse::<stripe_types::Currency>()
                .map_err(|_| PaymentsError::refused(format!("currency {}", transfer.amount.currency.as_str())))?;
            let created = CreateTransfer::new(currency, transfer.destination.as_str())
                .amount(transfer.amount.amount)
                .transfer_group(transfer.group.as_str())
                .metadata(metadata(&[
                    ("account_id", transfer.account.to_string()),
                    ("period", transfer.period.clone()),
                ]))
                .customize()
                .request_strategy(idempotent(idempotency_key)?)
                .send(&self.client)
                .await
                .map_err(failed)?;
            made(&created)
        })
    }

    fn transfers_in_group<'a>(&'a self, group: &'a str) -> Paid<'a, Vec<MadeTransfer>> {
        Box::pin(async move {
            let mut found = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut list = ListTransfer::new().transfer_group(group).limit(PAGE);
                if let Some(after) = after.take() {
                    list = list.starting_after(after);
                }
                let page = list.send(&self.client).await.map_err(failed)?;
                for transfer in &page.data {
                    found.push(made(transfer)?);
                }
                match page.data.last() {
                    Some(last) if page.has_more => after = Some(last.id.to_string()),
                    _ => return Ok(found),
                }
            }
        })
    }
}
