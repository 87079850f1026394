//! `ledger` table: key `payment_ref` + `id`, so a refund finds its payment and
//! commissions with one query; GSI `by_account` (`account_id`, `id`); GSI `by_kind`
//! (`kind`, `at`) for the money that came in by time.

use crate::Aws;
use crate::dynamo::{is_condition_failure, n, query_all, s, sdk};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use tollgate_app::ports::error::PortError;
use tollgate_app::ports::ledger::{Ledger, LedgerError};
use tollgate_core::ids::AccountId;
use tollgate_core::ledger::{EntryKind, LedgerEntry, PaymentSource};
use tollgate_core::money::{Cents, Currency};
use tollgate_core::time::Timestamp;

#[derive(Deserialize)]
struct EntryItem {
    payment_ref: String,
    id: String,
    account_id: AccountId,
    kind: EntryKind,
    amount: i64,
    currency: Currency,
    event_id: String,
    /// Absent on entries written before it was kept: they read as long past.
    #[serde(default)]
    at: i64,
    #[serde(default)]
    source: Option<PaymentSource>,
}

impl From<EntryItem> for LedgerEntry {
    fn from(item: EntryItem) -> Self {
        LedgerEntry {
            id: item.id,
            account: item.account_id,
            kind: item.kind,
            amount: Cents::new(item.amount, item.currency),
            payment_ref: item.payment_ref,
            event_id: item.event_id,
            at: Timestamp(item.at),
            source: item.source,
        }
    }
}

fn failed(error: PortError) -> LedgerError {
    LedgerError(error)
}

impl Aws {
    /// Every entry whose `key` is `value` (in `index`, else the table), and, with `from`,
    /// whose `at` is at or after it (an index sorted by `at`).
    async fn query_entries(
        &self,
        index: Option<&str>,
        key: &str,
        value: &str,
        from: Option<Timestamp>,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        let mut query = self
            .dynamo
            .query()
            .table_name(&self.resources.ledger_table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression(if from.is_some() { "#key = :value AND #at >= :from" } else { "#key = :value" })
            .expression_attribute_names("#key", key)
            .expression_attribute_values(":value", s(value))
            .set_consistent_read(index.is_none().then_some(true));
        if let Some(from) = from {
            query = query.expression_attribute_names("#at", "at").expression_attribute_values(":from", n(from.0));
        }
        let entries: Vec<EntryItem> = query_all(query).await.map_err(failed)?;
        Ok(entries.into_iter().map(LedgerEntry::from).collect())
    }
}

impl Ledger for Aws {
    async fn post(&self, entry: &LedgerEntry) -> Result<(), LedgerError> {
        let magnitude = entry.amount.amount.abs();
        // LedgerEntry::supersedes, as a condition: a new entry, or a larger running total.
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.ledger_table)
            .key("payment_ref", s(&entry.payment_ref))
            .key("id", s(&entry.id))
            .update_expression(
                "SET account_id = :account, kind = :kind, amount = :amount, magnitude = :magnitude, \
                 currency = :currency, event_id = :event, #at = :at, #source = :source",
            )
            .condition_expression("attribute_not_exists(id) OR magnitude < :magnitude")
            .expression_attribute_values(":account", s(entry.account.as_str()))
            .expression_attribute_values(":kind", s(entry.kind.as_str()))
            .expression_attribute_values(":amount", n(entry.amount.amount))
            .expression_attribute_values(":magnitude", n(magnitude))
            .expression_attribute_values(":currency", s(entry.amount.currency.as_str()))
            .expression_attribute_values(":event", s(entry.event_id.as_str()))
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":at", n(entry.at.0))
            .expression_attribute_names("#source", "source")
            .expression_attribute_values(
                ":source",
                entry.source.map_or(AttributeValue::Null(true), |source| s(source.as_str())),
            )
            .send()
            .await;
        match update {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(failed(sdk(error))),
        }
    }

    async fn for_payment(&self, payment_ref: &str) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.query_entries(None, "payment_ref", payment_ref, None).await
    }

    async fn for_account(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.query_entries(Some("by_account"), "account_id", account.as_str(), None).await
    }

    async fn entries_since(&self, kinds: &[EntryKind], from: Timestamp) -> Result<Vec<LedgerEntry>, LedgerError> {
        let mut entries = Vec::new();
        for kind in kinds {
            entries.extend(self.query_entries(Some("by_kind"), "kind", kind.as_str(), Some(from)).await?);
        }
        entries.sort_by_key(|entry| entry.at);
        Ok(entries)
    }
}
