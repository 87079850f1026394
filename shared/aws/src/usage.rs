//! `usage` table, keys `pk`/`sk`: `BATCH#{id}`/`BATCH` remembers a batch with the account's
//! period totals around it; `account:{id}` or `key:{id}` / `PERIOD#{start}` counts calls;
//! the same owners / `CREDITS` count credits spent. A batch is one transaction: the batch
//! item (only if new), the account's total (only if still what was read), the key's
//! total, both credit counters, and the key's last use; and, for the other meters,
//! `meter:{account}:{meter}` / `PERIOD#{window start}` (only if still what was read) and
//! the balance spent, `balance:{account}` / `BALANCE`. A refund's take-back of a top-up is
//! `balance:{account}` / `TAKEBACK#{payment}` (its target so far, only if still what was
//! read) with the account's total taken back, `balance:{account}` / `TAKEN_BACK`, in one
//! transaction.

use crate::Aws;
use crate::dynamo::{Transacted, built, get, n, s, transact};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use rand::Rng;
use serde::Deserialize;
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::usage::{KeyUsage, MeterTotals, RecordedBatch, Usage, UsageError};
use tollgate_core::api_key::KeyHash;
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::UsageBatch;
use tollgate_core::meters::MeterName;
use tollgate_core::money::Micros;
use tollgate_core::time::Timestamp;
use tollgate_core::usage::{BatchTotals, take_back_now};

/// Tries at adding a batch while other batches of the account move its total. The
/// usage queue's consumers are few, so this is rarely more than one.
const ATTEMPTS: usize = 25;

fn failed(error: PortError) -> UsageError {
    UsageError(error)
}

/// A count as the signed number it is stored as, or an error: never a wrapped negative.
fn stored_count(count: u64) -> Result<i64, PortError> {
    i64::try_from(count)
        .map_err(|_| PortError::new(ErrorKind::Invalid, format!("a usage count of {count} is out of range")))
}

#[derive(Deserialize)]
struct BatchItem {
    before_calls: u64,
    after_calls: u64,
    #[serde(default)]
    reported: bool,
    #[serde(default)]
    meter_totals: Option<String>,
}

#[derive(Deserialize, Default)]
struct TakeBack {
    #[serde(default)]
    target: i64,
}

#[derive(Deserialize, Default)]
struct Counter {
    #[serde(default)]
    calls: u64,
    #[serde(default)]
    credits: u64,
    #[serde(default)]
    micros: u64,
}

fn meter_owner(account: &AccountId, meter: &MeterName) -> String {
    format!("meter:{account}:{meter}")
}

fn balance_owner(account: &AccountId) -> String {
    format!("balance:{account}")
}

fn batch_key(id: &str) -> [(&'static str, aws_sdk_dynamodb::types::AttributeValue); 2] {
    [("pk", s(format!("BATCH#{id}"))), ("sk", s("BATCH"))]
}

fn period_sk(period_start: Timestamp) -> String {
    format!("PERIOD#{}", period_start.0)
}

impl Aws {
    async fn counter(&self, owner: &str, sk: &str) -> Result<Counter, PortError> {
        let key = [("pk", s(owner)), ("sk", s(sk))];
        Ok(get(&self.dynamo, &self.resources.usage_table, &key).await?.unwrap_or_default())
    }

    async fn stored_batch(&self, id: &str) -> Result<Option<RecordedBatch>, PortError> {
        let item: Option<BatchItem> = get(&self.dynamo, &self.resources.usage_table, &batch_key(id)).await?;
        item.map(|item| {
            let meters = match &item.meter_totals {
                Some(json) => serde_json::from_str(json)
                    .map_err(|error| PortError::new(ErrorKind::Invalid, format!("unreadable meter totals: {error}")))?,
                None => Vec::new(),
            };
            Ok(RecordedBatch {
                totals: BatchTotals { before: item.before_calls, after: item.after_calls },
                reported: item.reported,
                meters,
            })
        })
        .transpose()
    }

    /// Sets `owner`'s total in `sk` to `after`, only if it is still `before`.
    fn move_total(&self, owner: String, sk: String, before: u64, after: u64) -> Result<TransactWriteItem, PortError> {
        let update = Update::builder()
            .table_name(&self.resources.usage_table)
            .key("pk", s(owner))
            .key("sk", s(sk))
            .update_expression("SET calls = :after")
            .condition_expression(if before == 0 {
                "attribute_not_exists(calls) OR calls = :before"
            } else {
                "calls = :before"
            })
            .expression_attribute_values(":after", n(stored_count(after)?))
            .expression_attribute_values(":before", n(stored_count(before)?));
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }

    fn add_to(&self, owner: String, sk: String, field: &str, amount: u64) -> Result<TransactWriteItem, PortError> {
        let update = Update::builder()
            .table_name(&self.resources.usage_table)
            .key("pk", s(owner))
            .key("sk", s(sk))
            .update_expression(format!("ADD {field} :amount"))
            .expression_attribute_values(":amount", n(stored_count(amount)?));
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }

    /// `key_hash` names the key's item for its last use (`None`: the key is gone).
    async fn try_add_batch(
        &self,
        batch: &UsageBatch,
        key_hash: Option<&KeyHash>,
        now: Timestamp,
    ) -> Result<Option<RecordedBatch>, PortError> {
        let account = format!("account:{}", batch.account_id);
        let key = format!("key:{}", batch.key_id);
        let before = self.counter(&account, &period_sk(batch.period_start)).await?.calls;
        let after = before
            .checked_add(batch.calls)
            .ok_or_else(|| PortError::new(ErrorKind::Invalid, format!("{account}'s usage would overflow")))?;
        let totals = BatchTotals { before, after };
        let mut meters = Vec::with_capacity(batch.units.len());
        for units in &batch.units {
            let owner = meter_owner(&batch.account_id, &units.meter);
            let before = self.counter(&owner, &period_sk(units.window_start)).await?.calls;
            let after = before
                .checked_add(units.units)
                .ok_or_else(|| PortError::new(ErrorKind::Invalid, format!("{owner}'s usage would overflow")))?;
            meters.push(MeterTotals { meter: units.meter.clone(), window_start: units.window_start, before, after });
        }
        let meter_totals = serde_json::to_string(&meters).expect("meter totals always serialise");
        let put_batch = Put::builder()
            .table_name(&self.resources.usage_table)
            .set_item(Some(
                [
                    ("pk", s(format!("BATCH#{}", batch.id))),
                    ("sk", s("BATCH")),
                    ("before_calls", n(stored_count(totals.before)?)),
                    ("after_calls", n(stored_count(totals.after)?)),
                    ("meter_totals", s(meter_totals)),
                ]
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            ))
            .condition_expression("attribute_not_exists(pk)");
        let mut items = vec![
            TransactWriteItem::builder().put(built(put_batch.build())?).build(),
            self.move_total(account.clone(), period_sk(batch.period_start), before, totals.after)?,
            self.add_to(key.clone(), period_sk(batch.period_start), "calls", batch.calls)?,
        ];
        for totals in &meters {
            let owner = meter_owner(&batch.account_id, &totals.meter);
            items.push(self.move_total(owner, period_sk(totals.window_start), totals.before, totals.after)?);
        }
        let spent = u64::try_from(batch.balance_spent.0).unwrap_or(0);
        if spent > 0 {
            items.push(self.add_to(balance_owner(&batch.account_id), "BALANCE".into(), "micros", spent)?);
        }
        if batch.credits > 0 {
            items.push(self.add_to(account, "CREDITS".into(), "credits", batch.credits)?);
            items.push(self.add_to(key, "CREDITS".into(), "credits", batch.credits)?);
        }
        if let Some(hash) = key_hash {
            let last_used = Update::builder()
                .table_name(&self.resources.api_keys_table)
                .key("hash", s(hash.as_str()))
                .update_expression("SET last_used_at = :now")
                .condition_expression("attribute_exists(#hash)")
                .expression_attribute_names("#hash", "hash")
                .expression_attribute_values(":now", n(now.0));
            items.push(TransactWriteItem::builder().update(built(last_used.build())?).build());
        }
        match transact(&self.dynamo, items).await? {
            Transacted::Committed => Ok(Some(RecordedBatch { totals, reported: false, meters })),
            Transacted::Cancelled(reasons) if reasons.first().is_some_and(|r| r == "ConditionalCheckFailed") => {
                // Already added (a redelivery): the totals stored with it are the answer.
                Ok(Some(
                    self.stored_batch(&batch.id)
                        .await?
                        .ok_or_else(|| PortError::new(ErrorKind::NotFound, "a batch vanished after it was stored"))?,
                ))
            }
            // Another batch of the account moved one of its totals: read again.
            Transacted::Cancelled(_) => Ok(None),
        }
    }
}

impl Usage for Aws {
    async fn add_batch(&self, batch: &UsageBatch, now: Timestamp) -> Result<RecordedBatch, UsageError> {
        if let Some(stored) = self.stored_batch(&batch.id).await.map_err(failed)? {
            return Ok(stored);
        }
        // Found once: the key does not change between attempts, only the account's total does.
        let key_hash = self.hash_of(&batch.account_id, &batch.key_id).await.map_err(failed)?;
        for _ in 0..ATTEMPTS {
            if let Some(recorded) = Box::pin(self.try_add_batch(batch, key_hash.as_ref(), now)).await.map_err(failed)? {
                return Ok(recorded);
            }
            // Batches of one account race for its total: spread the retries out.
            let pause = rand::rng().random_range(5..=40);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        Err(failed(PortError::new(
            ErrorKind::Conflict,
            format!("batch {} kept conflicting with others; it will be redelivered", batch.id),
        )))
    }

    async fn mark_reported(&self, batch_id: &str) -> Result<(), UsageError> {
        let [(pk_name, pk), (sk_name, sk)] = batch_key(batch_id);
        self.dynamo
            .update_item()
            .table_name(&self.resources.usage_table)
            .key(pk_name, pk)
            .key(sk_name, sk)
            .update_expression("SET reported = :yes")
            .expression_attribute_values(":yes", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .send()
            .await
            .map(drop)
            .map_err(|e| failed(crate::dynamo::sdk(e)))
    }

    async fn key_usage(
        &self,
        account: &AccountId,
        key: Option<&KeyId>,
        period_start: Timestamp,
    ) -> Result<KeyUsage, UsageError> {
        let account = format!("account:{account}");
        let mut usage = KeyUsage {
            account_calls: self.counter(&account, &period_sk(period_start)).await.map_err(failed)?.calls,
            account_credits: self.counter(&account, "CREDITS").await.map_err(failed)?.credits,
            ..KeyUsage::default()
        };
        if let Some(key) = key {
            let key = format!("key:{key}");
            usage.key_calls = self.counter(&key, &period_sk(period_start)).await.map_err(failed)?.calls;
            usage.key_credits = self.counter(&key, "CREDITS").await.map_err(failed)?.credits;
        }
        Ok(usage)
    }

    async fn meter_usage(
        &self,
        account: &AccountId,
        meter: &MeterName,
        window_start: Timestamp,
    ) -> Result<u64, UsageError> {
        Ok(self.counter(&meter_owner(account, meter), &period_sk(window_start)).await.map_err(failed)?.calls)
    }

    async fn balance_spent(&self, account: &AccountId) -> Result<Micros, UsageError> {
        let spent = self.counter(&balance_owner(account), "BALANCE").await.map_err(failed)?.micros;
        Ok(Micros(i64::try_from(spent).unwrap_or(i64::MAX)))
    }

    async fn take_back(
        &self,
        account: &AccountId,
        payment_ref: &str,
        target: Micros,
        left: Micros,
    ) -> Result<Micros, UsageError> {
        let owner = balance_owner(account);
        let sk = format!("TAKEBACK#{payment_ref}");
        for _ in 0..ATTEMPTS {
            let key = [("pk", s(owner.clone())), ("sk", s(sk.clone()))];
            let reached = get::<TakeBack>(&self.dynamo, &self.resources.usage_table, &key)
                .await
                .map_err(failed)?
                .map(|t| t.target);
            let taken = take_back_now(target, Micros(reached.unwrap_or(0)), left).0;
            if target.0 <= reached.unwrap_or(0) {
                return Ok(Micros(0));
            }
            let mut put = Put::builder()
                .table_name(&self.resources.usage_table)
                .item("pk", s(owner.clone()))
                .item("sk", s(sk.clone()))
                .item("target", n(target.0));
            put = match reached {
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(reached) => {
                    put.condition_expression("target = :reached").expression_attribute_values(":reached", n(reached))
                }
            };
            let taken_u64 = u64::try_from(taken).unwrap_or(0);
            let mut items = vec![TransactWriteItem::builder().put(built(put.build()).map_err(failed)?).build()];
            if taken_u64 > 0 {
                items.push(self.add_to(owner.clone(), "TAKEN_BACK".into(), "micros", taken_u64).map_err(failed)?);
            }
            match transact(&self.dynamo, items).await.map_err(failed)? {
                Transacted::Committed => return Ok(Micros(taken)),
                // Another refund of the payment moved its target: read again.
                Transacted::Cancelled(_) => continue,
            }
        }
        Err(failed(PortError::new(ErrorKind::Conflict, format!("the take-back of {payment_ref} kept conflicting"))))
    }

    async fn taken_back(&self, account: &AccountId) -> Result<Micros, UsageError> {
        let taken = self.counter(&balance_owner(account), "TAKEN_BACK").await.map_err(failed)?.micros;
        Ok(Micros(i64::try_from(taken).unwrap_or(i64::MAX)))
    }
}
