//! Customers' runs on DynamoDB, in the `runs` table beside the operator's. A customer run
//! carries `account_id` (GSI `by_account`, newest first for the API) and, while it waits for
//! a slot, `waiting_account` (GSI `waiting_by_account`: an account's oldest waiting run).
//! The pool is two kinds of items of the same table: `POOL#customer` (`holding`, the slots
//! taken; `turn`, the last turn handed out) and one `POOL#ACCOUNT#<id>` per account
//! (`holding`, `waiting`, `in_flight`, `last_turn`, `limit`), which carries
//! `queue_state = "waiting"` while the account has runs waiting: the sparse GSI
//! `pool_by_turn` (`queue_state`, `last_turn`) lists them least recently served first.
//!
//! Storing a run is one transaction: the run, its account's pool item (`in_flight < limit`
//! when it must not queue), its `Idempotency-Key` item, and its charge on the account's
//! meter total in the `usage` table (`calls <= quota - units` when the plan blocks) and
//! balance spent (`micros <= granted - amount`). Handing out a slot is one transaction over
//! the run (still waiting), the pool (`holding < pool`, `turn` as read) and the account
//! (`waiting` as read, `holding < limit`). Ending or cancelling a run frees what it held and
//! gives back what it did not earn in the same transaction as the run.

use crate::Aws;
use crate::dynamo::{Item, OPTIMISTIC_ATTEMPTS, Transacted, built, from_stored, get, n, s, sdk, transact};
use crate::runs::run_item;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use tollgate_app::ports::customer_runs::{
    Cancelled, CustomerRuns, CustomerRunsError, Enqueued, NewRun, PastQuota, RunFilter,
};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_core::customer_run::{Pool, Waiting, next_turn};
use tollgate_core::ids::{AccountId, RunId};
use tollgate_core::money::Micros;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::Run;

const POOL: &str = "POOL#customer";
const QUEUE_WAITING: &str = "waiting";

fn failed(error: PortError) -> CustomerRunsError {
    CustomerRunsError(error)
}

fn account_pool(account: &AccountId) -> String {
    format!("POOL#ACCOUNT#{account}")
}

fn idempotency_id(account: &AccountId, key: &str) -> String {
    format!("IDEMPOTENCY#{account}#{key}")
}

fn conflict(what: &str) -> PortError {
    PortError::new(ErrorKind::Conflict, format!("{what} kept conflicting with other writes"))
}

/// The item of a run: the stored record, with the attributes the indexes read.
pub(crate) fn customer_attributes(run: &Run, item: &mut Item) {
    let Some(customer) = run.customer.as_deref() else { return };
    item.insert("account_id".into(), s(customer.account_id.as_str()));
    if customer.pool == Pool::Waiting {
        item.insert("waiting_account".into(), s(customer.account_id.as_str()));
    }
}

#[derive(serde::Deserialize, Default)]
struct PoolItem {
    #[serde(default)]
    holding: i64,
    #[serde(default)]
    turn: i64,
}

#[derive(serde::Deserialize, Default)]
struct AccountPool {
    #[serde(default)]
    pool_account: Option<String>,
    #[serde(default)]
    holding: i64,
    #[serde(default)]
    waiting: i64,
    #[serde(default)]
    last_turn: Option<i64>,
    #[serde(default)]
    limit: i64,
}

#[derive(serde::Deserialize, Default)]
struct Idempotency {
    run_id: String,
    expires_at: i64,
}

#[derive(serde::Deserialize, Default)]
struct Total {
    #[serde(default)]
    calls: i64,
    #[serde(default)]
    micros: i64,
}

/// One update of a transaction, built from its parts.
struct Change<'a> {
    table: &'a str,
    key: Vec<(&'static str, AttributeValue)>,
    expression: String,
    condition: Option<&'static str>,
    values: Vec<(&'static str, AttributeValue)>,
}

impl Change<'_> {
    fn item(self) -> Result<TransactWriteItem, PortError> {
        let mut update = Update::builder().table_name(self.table).update_expression(&self.expression);
        for (name, value) in self.key {
            update = update.key(name, value);
        }
        // `limit` is a reserved word: an account's pool item names it `#limit`.
        if self.expression.contains("#limit") || self.condition.is_some_and(|c| c.contains("#limit")) {
            update = update.expression_attribute_names("#limit", "limit");
        }
        if let Some(condition) = self.condition {
            update = update.condition_expression(condition);
        }
        for (name, value) in self.values {
            update = update.expression_attribute_values(name, value);
        }
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }
}

impl Aws {
    fn runs_change(&self, id: String, expression: &str) -> Change<'_> {
        Change {
            table: &self.resources.runs_table,
            key: vec![("id", s(id))],
            expression: expression.to_owned(),
            condition: None,
            values: Vec::new(),
        }
    }

    fn usage_change(&self, owner: String, sk: String, expression: &str) -> Change<'_> {
        Change {
            table: &self.resources.usage_table,
            key: vec![("pk", s(owner)), ("sk", s(sk))],
            expression: expression.to_owned(),
            condition: None,
            values: Vec::new(),
        }
    }

    pub(crate) fn put_run(
        &self,
        run: &Run,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, PortError> {
        let mut put = Put::builder()
            .table_name(&self.resources.runs_table)
            .set_item(Some(run_item(run)?))
            .condition_expression(condition);
        // DynamoDB refuses a name no expression uses: `#status` only where the condition reads it.
        if condition.contains("#status") {
            put = put.expression_attribute_names("#status", "status");
        }
        for (name, value) in values {
            put = put.expression_attribute_values(name, value);
        }
        Ok(TransactWriteItem::builder().put(built(put.build())?).build())
    }

    async fn read_account_pool(&self, account: &AccountId) -> Result<AccountPool, PortError> {
        Ok(get(&self.dynamo, &self.resources.runs_table, &[("id", s(account_pool(account)))])
            .await?
            .unwrap_or_default())
    }

    async fn try_enqueue(&self, new: &NewRun, now: Timestamp) -> Result<Option<Enqueued>, PortError> {
        let mut run = new.run.clone();
        let customer = run.customer.as_deref_mut().expect("only customer runs are enqueued");
        let account = customer.account_id.clone();
        if let Some(key) = &customer.idempotency_key {
            let key = [("id", s(idempotency_id(&account, key)))];
            let earlier: Option<Idempotency> = get(&self.dynamo, &self.resources.runs_table, &key).await?;
            if let Some(earlier) = earlier.filter(|earlier| earlier.expires_at > now.0)
                && let Some(run) = self.read_run(&earlier.run_id).await?
            {
                return Ok(Some(Enqueued::Replayed(run)));
            }
        }
        let charged = &mut customer.charged;
        let owner = format!("meter:{account}:{}", charged.meter);
        let period = format!("PERIOD#{}", charged.window_start.0);
        let units = i64::try_from(charged.units).unwrap_or(i64::MAX);
        let mut items = Vec::with_capacity(5);
        // Index 0: the meter. What is past the quota is known from the total read, so a
        // charge that may go past it is written only over that total.
        let mut meter = self.usage_change(owner.clone(), period.clone(), "ADD calls :units");
        meter.values.push((":units", n(units)));
        let mut spend = None;
        match (new.quota, new.past_quota) {
            (None, _) => {}
            (Some(quota), PastQuota::Refused) => {
                let Some(max) = i64::try_from(quota).ok().and_then(|quota| quota.checked_sub(units)) else {
                    return Ok(Some(Enqueued::QuotaExceeded { quota }));
                };
                meter.condition = Some("attribute_not_exists(calls) OR calls <= :max");
                meter.values.push((":max", n(max)));
            }
            (Some(quota), past) => {
                let key = [("pk", s(owner.clone())), ("sk", s(period.clone()))];
                let used: Total = get(&self.dynamo, &self.resources.usage_table, &key).await?.unwrap_or_default();
                let used = u64::try_from(used.calls).unwrap_or(0);
                let beyond = used.saturating_add(charged.units).saturating_sub(quota.max(used)).min(charged.units);
                meter.condition =
                    Some(if used == 0 { "attribute_not_exists(calls) OR calls = :read" } else { "calls = :read" });
                meter.values.push((":read", n(i64::try_from(used).unwrap_or(i64::MAX))));
                charged.overage = beyond;
                if let PastQuota::Balance { price, granted } = past
                    && beyond > 0
                {
                    let Some(amount) = price.checked_times(beyond) else {
                        return Ok(Some(Enqueued::InsufficientBalance { left: Micros(0) }));
                    };
                    charged.paid = amount;
                    spend = Some((amount, granted));
                }
            }
        }
        items.push(meter.item()?);
        // Index 1: the account's pool.
        let mut pool = self.runs_change(
            account_pool(&account),
            "ADD waiting :one, in_flight :one SET queue_state = :waiting, pool_account = :account, #limit = :limit, last_turn = if_not_exists(last_turn, :zero)",
        );
        pool.values.extend([
            (":one", n(1)),
            (":waiting", s(QUEUE_WAITING)),
            (":account", s(account.as_str())),
            (":limit", n(i64::from(customer.concurrent_runs))),
            (":zero", n(0)),
        ]);
        if new.refuse_when_busy {
            pool.condition = Some("attribute_not_exists(in_flight) OR in_flight < :limit");
        }
        items.push(pool.item()?);
        // Index 2: the run.
        items.push(self.put_run(&run, "attribute_not_exists(id)", Vec::new())?);
        // Index 3: the key, when there is one (only if unused or expired).
        let customer = run.customer.as_deref().expect("a customer run");
        if let Some(key) = &customer.idempotency_key {
            let mut put = Put::builder()
                .table_name(&self.resources.runs_table)
                .item("id", s(idempotency_id(&account, key)))
                .item("run_id", s(run.id.as_str()))
                .item("expires_at", n(new.idempotent_until.0))
                .condition_expression("attribute_not_exists(id) OR expires_at <= :now");
            put = put.expression_attribute_values(":now", n(now.0));
            items.push(TransactWriteItem::builder().put(built(put.build())?).build());
        }
        // Last: the balance.
        if let Some((amount, granted)) = spend {
            let mut balance = self.usage_change(format!("balance:{account}"), "BALANCE".into(), "ADD micros :amount");
            balance.condition = Some("attribute_not_exists(micros) OR micros <= :max");
            balance.values.extend([(":amount", n(amount.0)), (":max", n(granted.0.saturating_sub(amount.0)))]);
            items.push(balance.item()?);
        }
        let has_key = customer.idempotency_key.is_some();
        Ok(match transact(&self.dynamo, items).await? {
            Transacted::Committed => Some(Enqueued::Accepted(run)),
            Transacted::Cancelled(reasons) => {
                let failed_at = |index: usize| reasons.get(index).is_some_and(|code| code == "ConditionalCheckFailed");
                if reasons.iter().any(|code| code == "TransactionConflict") {
                    None
                } else if failed_at(0) && matches!(new.past_quota, PastQuota::Refused) {
                    Some(Enqueued::QuotaExceeded { quota: new.quota.unwrap_or(0) })
                } else if failed_at(1) {
                    Some(Enqueued::ConcurrencyLimit)
                } else if spend.is_some() && failed_at(reasons.len() - 1) {
                    let key = [("pk", s(format!("balance:{account}"))), ("sk", s("BALANCE"))];
                    let spent: Total = get(&self.dynamo, &self.resources.usage_table, &key).await?.unwrap_or_default();
                    let granted = spend.map_or(0, |(_, granted)| granted.0);
                    Some(Enqueued::InsufficientBalance { left: Micros(granted.saturating_sub(spent.micros).max(0)) })
                } else if failed_at(0) || (has_key && failed_at(3)) {
                    // The total moved since it was read, or the key was taken meanwhile: read again.
                    None
                } else {
                    return Err(PortError::new(ErrorKind::Conflict, format!("storing a run cancelled: {reasons:?}")));
                }
            }
        })
    }

    async fn try_take_turn(&self, pool: u32, now: Timestamp) -> Result<Option<Option<Run>>, PortError> {
        let global: PoolItem =
            get(&self.dynamo, &self.resources.runs_table, &[("id", s(POOL))]).await?.unwrap_or_default();
        if global.holding >= i64::from(pool) {
            return Ok(Some(None));
        }
        let query = self
            .dynamo
            .query()
            .table_name(&self.resources.runs_table)
            .index_name("pool_by_turn")
            .key_condition_expression("queue_state = :waiting")
            .expression_attribute_values(":waiting", s(QUEUE_WAITING));
        let accounts: Vec<AccountPool> = crate::dynamo::query_all(query).await?;
        let waiting: Vec<Waiting> = accounts
            .iter()
            .filter(|account| account.waiting > 0)
            .filter_map(|account| {
                Some(Waiting {
                    account_id: AccountId::parse(account.pool_account.as_deref()?).ok()?,
                    holding: u32::try_from(account.holding).unwrap_or(0),
                    limit: u32::try_from(account.limit).unwrap_or(1),
                    last_turn: account.last_turn.filter(|turn| *turn > 0).map(i64::unsigned_abs),
                    oldest: Timestamp(0),
                })
            })
            .collect();
        let holding = u32::try_from(global.holding).unwrap_or(u32::MAX);
        let Some(account) = next_turn(&waiting, holding, pool).cloned() else { return Ok(Some(None)) };
        let read = accounts
            .iter()
            .find(|item| item.pool_account.as_deref() == Some(account.as_str()))
            .expect("the account chosen was read");
        let oldest = self
            .dynamo
            .query()
            .table_name(&self.resources.runs_table)
            .index_name("waiting_by_account")
            .key_condition_expression("waiting_account = :account")
            .expression_attribute_values(":account", s(account.as_str()))
            .limit(1)
            .send()
            .await
            .map_err(sdk)?;
        let Some(item) = oldest.items.unwrap_or_default().into_iter().next() else {
            // The index lags the table a moment: try again.
            return Ok(None);
        };
        let mut run: Run = from_stored(item)?;
        let turn = global.turn.saturating_add(1);
        if !run.take_slot(turn.unsigned_abs(), now) {
            return Ok(None);
        }
        let mut items = vec![self.put_run(&run, "attribute_exists(waiting_account)", Vec::new())?];
        let mut slots = self.runs_change(POOL.into(), "SET turn = :turn ADD holding :one");
        slots.condition =
            Some("(attribute_not_exists(turn) OR turn = :read) AND (attribute_not_exists(holding) OR holding < :pool)");
        slots.values.extend([
            (":turn", n(turn)),
            (":one", n(1)),
            (":read", n(global.turn)),
            (":pool", n(i64::from(pool))),
        ]);
        items.push(slots.item()?);
        let last = read.waiting <= 1;
        let mut mine = self.runs_change(
            account_pool(&account),
            if last {
                "SET last_turn = :turn ADD holding :one, waiting :minus REMOVE queue_state"
            } else {
                "SET last_turn = :turn ADD holding :one, waiting :minus"
            },
        );
        mine.condition = Some("waiting = :read AND (attribute_not_exists(holding) OR holding < #limit)");
        mine.values.extend([(":turn", n(turn)), (":one", n(1)), (":minus", n(-1)), (":read", n(read.waiting))]);
        items.push(mine.item()?);
        Ok(match transact(&self.dynamo, items).await? {
            Transacted::Committed => Some(Some(run)),
            Transacted::Cancelled(_) => None,
        })
    }

    /// The updates that free what `before` held in the pool, now that it ends as `after`,
    /// and give back what `after` did not earn (marked on `after`).
    pub(crate) async fn released(&self, before: &Run, after: &mut Run) -> Result<Vec<TransactWriteItem>, PortError> {
        let Some(customer) = before.customer.as_deref() else { return Ok(Vec::new()) };
        let account = customer.account_id.clone();
        let mut items = Vec::with_capacity(4);
        match customer.pool {
            Pool::Holding => {
                let mut mine = self.runs_change(account_pool(&account), "ADD holding :minus, in_flight :minus");
                mine.values.push((":minus", n(-1)));
                items.push(mine.item()?);
                let mut slots = self.runs_change(POOL.into(), "ADD holding :minus");
                slots.values.push((":minus", n(-1)));
                items.push(slots.item()?);
            }
            Pool::Waiting => {
                let read = self.read_account_pool(&account).await?;
                let mut mine = self.runs_change(
                    account_pool(&account),
                    if read.waiting <= 1 {
                        "ADD waiting :minus, in_flight :minus REMOVE queue_state"
                    } else {
                        "ADD waiting :minus, in_flight :minus"
                    },
                );
                mine.condition = Some("waiting = :read");
                mine.values.extend([(":minus", n(-1)), (":read", n(read.waiting))]);
                items.push(mine.item()?);
            }
            Pool::Left => {}
        }
        if let Some(charged) = after.units_to_give_back() {
            let units = i64::try_from(charged.units).unwrap_or(i64::MAX);
            let mut meter = self.usage_change(
                format!("meter:{account}:{}", charged.meter),
                format!("PERIOD#{}", charged.window_start.0),
                "ADD calls :minus",
            );
            meter.values.push((":minus", n(-units)));
            items.push(meter.item()?);
            if charged.paid.0 > 0 {
                let mut balance =
                    self.usage_change(format!("balance:{account}"), "BALANCE".into(), "ADD micros :minus");
                balance.values.push((":minus", n(-charged.paid.0)));
                items.push(balance.item()?);
            }
        }
        Ok(items)
    }

    async fn try_cancel(
        &self,
        account: &AccountId,
        id: &RunId,
        now: Timestamp,
    ) -> Result<Option<Cancelled>, PortError> {
        let Some(before) = self.read_run(id.as_str()).await?.filter(|run| run.account() == Some(account)) else {
            return Ok(Some(Cancelled::Unknown));
        };
        let mut run = before.clone();
        if !run.cancel(now) {
            return Ok(Some(Cancelled::TooLate(run)));
        }
        let mut items = self.released(&before, &mut run).await?;
        items.insert(0, self.put_run(&run, "#status = :read", vec![(":read", s(before.status.as_str()))])?);
        Ok(match transact(&self.dynamo, items).await? {
            Transacted::Committed => Some(Cancelled::Done(run)),
            Transacted::Cancelled(_) => None,
        })
    }
}

impl CustomerRuns for Aws {
    async fn enqueue(&self, new: &NewRun, now: Timestamp) -> Result<Enqueued, CustomerRunsError> {
        // Conflicts come from other runs of the account moving its total: each retry is
        // another's progress, so many are allowed.
        for _ in 0..OPTIMISTIC_ATTEMPTS * 8 {
            if let Some(enqueued) = self.try_enqueue(new, now).await.map_err(failed)? {
                return Ok(enqueued);
            }
        }
        Err(failed(conflict("storing a run")))
    }

    async fn take_turn(&self, pool: u32, now: Timestamp) -> Result<Option<Run>, CustomerRunsError> {
        for _ in 0..OPTIMISTIC_ATTEMPTS * 8 {
            if let Some(taken) = self.try_take_turn(pool, now).await.map_err(failed)? {
                return Ok(taken);
            }
        }
        Err(failed(conflict("handing out a slot")))
    }

    async fn cancel(&self, account: &AccountId, id: &RunId, now: Timestamp) -> Result<Cancelled, CustomerRunsError> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            if let Some(cancelled) = self.try_cancel(account, id, now).await.map_err(failed)? {
                return Ok(cancelled);
            }
        }
        Err(failed(conflict("cancelling a run")))
    }

    async fn account_runs(&self, account: &AccountId, filter: &RunFilter) -> Result<Vec<Run>, CustomerRunsError> {
        let mut start = None;
        if let Some(after) = &filter.starting_after {
            match self.read_run(after.as_str()).await.map_err(failed)? {
                Some(run) if run.account() == Some(account) => {
                    start = Some(
                        [
                            ("id".to_owned(), s(run.id.as_str())),
                            ("account_id".to_owned(), s(account.as_str())),
                            ("created_at".to_owned(), n(run.created_at.0)),
                        ]
                        .into_iter()
                        .collect(),
                    );
                }
                _ => return Ok(Vec::new()),
            }
        }
        let mut runs = Vec::with_capacity(filter.limit);
        loop {
            let mut query = self
                .dynamo
                .query()
                .table_name(&self.resources.runs_table)
                .index_name("by_account")
                .key_condition_expression("account_id = :account")
                .expression_attribute_values(":account", s(account.as_str()))
                .scan_index_forward(false)
                .set_exclusive_start_key(start);
            let mut filters = Vec::new();
            if let Some(workflow) = &filter.workflow {
                filters.push("workflow_id = :workflow");
                query = query.expression_attribute_values(":workflow", s(workflow.as_str()));
            }
            if let Some(status) = filter.status {
                filters.push("#status = :status");
                query = query
                    .expression_attribute_values(":status", s(status.as_str()))
                    .expression_attribute_names("#status", "status");
            }
            if !filters.is_empty() {
                query = query.filter_expression(filters.join(" AND "));
            }
            let output = query.send().await.map_err(|error| failed(sdk(error)))?;
            for item in output.items.unwrap_or_default() {
                runs.push(from_stored(item).map_err(failed)?);
                if runs.len() == filter.limit {
                    return Ok(runs);
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(runs);
            }
        }
    }
}
