//! Runs of sold workflows that customers start with their keys: what one carries, what it
//! is charged, and whose turn it is in the customer pool.
//!
//! A customer run never takes its workflow (many customers run one workflow at once) and
//! never counts against the operator's caps. It waits in its own pool:
//! `CUSTOMER_RUN_CONCURRENCY` slots shared by every account, at most the plan's
//! `concurrent_runs` per account, handed out round-robin across the accounts that wait
//! ([`next_turn`]), so one account's hundred queued runs delay another's single run by at
//! most one slot's turnover.

use crate::ids::{AccountId, RunId};
use crate::meters::MeterName;
use crate::time::Timestamp;
use crate::workflow::{Charge, Run, RunStatus, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Slots of the customer pool, all accounts together (`CUSTOMER_RUN_CONCURRENCY`).
pub const DEFAULT_CUSTOMER_RUN_CONCURRENCY: u32 = 10;
/// Runs one account has in flight at once when its plan says nothing (free plans).
pub const DEFAULT_CONCURRENT_RUNS: u32 = 1;
/// The longest `?wait` a run request may ask for, in seconds.
pub const MAX_WAIT_SECONDS: u32 = 30;
/// How long an `Idempotency-Key` names its run, in seconds.
pub const IDEMPOTENCY_SECONDS: i64 = 86_400;
/// How long a run may wait for a slot before it fails: a day in the queue is a stuck pool.
pub const QUEUE_WAIT_SECONDS: i64 = 86_400;
/// The longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What a run was charged on its workflow's meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charged {
    /// The meter.
    pub meter: MeterName,
    /// Units taken.
    pub units: u64,
    /// When the charge becomes final.
    pub when: Charge,
    /// The window of the meter's quota the units count in.
    pub window_start: Timestamp,
    /// Units of it past the plan's quota, as the store counted them.
    #[serde(default)]
    pub overage: u64,
    /// What those cost from the account's balance, when the plan pays overage from it.
    #[serde(default)]
    pub paid: crate::money::Micros,
    /// Set once the units are given back (the run did not earn its charge).
    #[serde(default)]
    pub returned: bool,
}

impl Charged {
    /// Whether a run that ended as `status`, having started or not, is given its units
    /// back: one charged on start, when it never started; one charged on success, unless
    /// it completed.
    pub fn given_back_after(&self, status: RunStatus, started: bool) -> bool {
        match self.when {
            Charge::OnStart => matches!(status, RunStatus::Cancelled) || (status == RunStatus::Failed && !started),
            Charge::OnSuccess => status != RunStatus::Completed && !status.is_open(),
        }
    }
}

/// Where a customer run stands in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// Waiting for a slot.
    Waiting,
    /// Holding a slot: being started or running.
    Holding,
    /// Ended or cancelled: its slot, if it had one, is free.
    Left,
}

/// What makes a run a customer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRun {
    /// Whose run it is.
    pub account_id: AccountId,
    /// What the customer sent (valid under the workflow's input schema).
    pub input: Value,
    /// What the workflow called back with.
    pub output: Option<Value>,
    /// What it was charged.
    pub charged: Charged,
    /// Where its result is delivered, besides the account's endpoint.
    pub webhook_url: Option<String>,
    /// The account's plan limit on runs in flight when it was asked for.
    pub concurrent_runs: u32,
    /// Seconds it has to call back once started (the workflow's timeout then).
    pub timeout_s: u32,
    /// Where it stands in the pool.
    pub pool: Pool,
    /// Its place in the order slots were handed out, once it has one.
    pub turn: Option<u64>,
    /// The `Idempotency-Key` it was asked for with.
    pub idempotency_key: Option<String>,
}

/// What a customer asks for.
#[derive(Debug, Clone)]
pub struct Order {
    /// The account.
    pub account_id: AccountId,
    /// The input.
    pub input: Value,
    /// The run's own result webhook.
    pub webhook_url: Option<String>,
    /// What it costs, and when.
    pub charged: Charged,
    /// The plan's `concurrent_runs`.
    pub concurrent_runs: u32,
    /// The `Idempotency-Key`.
    pub idempotency_key: Option<String>,
}

impl Run {
    /// A customer's run of `workflow`, asked for at `now`: waiting for a slot for at most
    /// [`QUEUE_WAIT_SECONDS`].
    pub fn ordered(id: RunId, workflow: &Workflow, order: Order, now: Timestamp) -> Self {
        Self {
            customer: Some(Box::new(CustomerRun {
                account_id: order.account_id,
                input: order.input,
                output: None,
                charged: order.charged,
                webhook_url: order.webhook_url,
                concurrent_runs: order.concurrent_runs,
                timeout_s: workflow.spec.timeout_s,
                pool: Pool::Waiting,
                turn: None,
                idempotency_key: order.idempotency_key,
            })),
            deadline: now.plus_seconds(QUEUE_WAIT_SECONDS),
            ..Run::claimed(id, workflow, now)
        }
    }

    /// The run's account, when it is a customer's.
    pub fn account(&self) -> Option<&AccountId> {
        self.customer.as_ref().map(|customer| &customer.account_id)
    }

    /// Whether it holds a slot of a cap: an operator's open run, or a customer's holding one.
    pub fn holds_slot(&self) -> bool {
        match &self.customer {
            None => self.status.is_open(),
            Some(customer) => customer.pool == Pool::Holding,
        }
    }

    /// Gives a waiting customer run the slot handed out as `turn` at `now`: its deadline is
    /// now its workflow's timeout. `false` (nothing changed) unless it was waiting.
    pub fn take_slot(&mut self, turn: u64, now: Timestamp) -> bool {
        match self.customer.as_deref_mut() {
            Some(customer) if customer.pool == Pool::Waiting && self.status == RunStatus::Queued => {
                customer.pool = Pool::Holding;
                customer.turn = Some(turn);
                self.deadline = now.plus_seconds(i64::from(customer.timeout_s));
                true
            }
            _ => false,
        }
    }

    /// Cancels a queued customer run at `now`; `false` (nothing changed) when it is not queued.
    pub fn cancel(&mut self, now: Timestamp) -> bool {
        if self.status != RunStatus::Queued || self.customer.is_none() {
            return false;
        }
        self.end(&crate::workflow::Outcome {
            status: RunStatus::Cancelled,
            earnings_cents: 0,
            reason: Some("cancelled by the customer".into()),
            output: None,
            at: now,
        });
        true
    }

    /// The units past the quota this ended run owes on its plan's metered price: its charge
    /// stood (the run earned it) and no balance paid for it. `None` while it is open.
    pub fn overage_to_bill(&self) -> Option<&Charged> {
        let charged = &self.customer.as_deref()?.charged;
        let stood = !charged.returned && !charged.given_back_after(self.status, self.started_at.is_some());
        let billed = charged.overage > 0 && charged.paid.0 == 0;
        (!self.status.is_open() && stood && billed).then_some(charged)
    }

    /// The units to give back now that the run has ended: once, and only when the charge
    /// says so. Marks them returned.
    pub fn units_to_give_back(&mut self) -> Option<Charged> {
        let started = self.started_at.is_some();
        let status = self.status;
        let customer = self.customer.as_deref_mut()?;
        let charged = &mut customer.charged;
        if charged.returned || !charged.given_back_after(status, started) {
            return None;
        }
        charged.returned = true;
        Some(charged.clone())
    }
}

/// The usage queue's message asking for an ended run's overage to be billed: the meter reads
/// the run again, so a message about a run whose units were given back bills nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOverage {
    /// The ended run.
    pub run_overage: RunId,
}

/// The Stripe meter event identifier of a run's overage: the same for every report of it,
/// so Stripe counts it once.
pub fn run_overage_identifier(run: &RunId) -> String {
    format!("tollgate-run-{run}")
}

/// An account with runs waiting for a slot, as the pool sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The account.
    pub account_id: AccountId,
    /// Its runs holding slots now.
    pub holding: u32,
    /// Its plan's limit on them (the oldest waiting run's).
    pub limit: u32,
    /// The last turn it was given, if any.
    pub last_turn: Option<u64>,
    /// When its oldest waiting run was asked for.
    pub oldest: Timestamp,
}

/// The account whose waiting run gets the next free slot: among those under their own
/// limit, the one served least recently (never served first), then the one waiting longest.
/// `None` when the pool is full or no account may take a slot.
pub fn next_turn(waiting: &[Waiting], holding: u32, pool: u32) -> Option<&AccountId> {
    if holding >= pool {
        return None;
    }
    waiting
        .iter()
        .filter(|account| account.holding < account.limit)
        .min_by_key(|account| (account.last_turn, account.oldest, account.account_id.clone()))
        .map(|account| &account.account_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn account(n: usize) -> AccountId {
        AccountId::parse(&format!("acct_{n}")).unwrap()
    }

    #[test]
    fn a_charge_is_given_back_only_when_the_run_did_not_earn_it() {
        let charged = |when| Charged {
            meter: MeterName::parse("generations").unwrap(),
            units: 1,
            when,
            window_start: Timestamp(0),
            overage: 0,
            paid: crate::money::Micros(0),
            returned: false,
        };
        let on_start = charged(Charge::OnStart);
        assert!(on_start.given_back_after(RunStatus::Cancelled, false));
        assert!(on_start.given_back_after(RunStatus::Failed, false));
        assert!(!on_start.given_back_after(RunStatus::Failed, true), "it started: the work was attempted");
        assert!(!on_start.given_back_after(RunStatus::Completed, true));
        let on_success = charged(Charge::OnSuccess);
        assert!(on_success.given_back_after(RunStatus::Failed, true));
        assert!(on_success.given_back_after(RunStatus::Cancelled, false));
        assert!(!on_success.given_back_after(RunStatus::Completed, true));
        assert!(!on_success.given_back_after(RunStatus::Started, true), "an open run keeps its hold");
    }

    #[test]
    fn an_ended_run_bills_the_overage_its_charge_kept_unless_a_balance_paid_it() {
        let run = |status, started: bool, overage, paid, when| Run {
            id: RunId::parse("run_1").unwrap(),
            workflow_id: crate::ids::WorkflowId::parse("images").unwrap(),
            status,
            created_at: Timestamp(0),
            deadline: Timestamp(100),
            started_at: started.then_some(Timestamp(1)),
            finished_at: None,
            earnings_cents: 0,
            reason: None,
            customer: Some(Box::new(CustomerRun {
                account_id: account(1),
                input: Value::Null,
                output: None,
                charged: Charged {
                    meter: MeterName::parse("generations").unwrap(),
                    units: 2,
                    when,
                    window_start: Timestamp(0),
                    overage,
                    paid: crate::money::Micros(paid),
                    returned: false,
                },
                webhook_url: None,
                concurrent_runs: 1,
                timeout_s: 60,
                pool: Pool::Left,
                turn: None,
                idempotency_key: None,
            })),
        };
        let (start, success) = (Charge::OnStart, Charge::OnSuccess);
        assert_eq!(run(RunStatus::Completed, true, 1, 0, success).overage_to_bill().map(|c| c.overage), Some(1));
        assert!(run(RunStatus::Failed, true, 1, 0, start).overage_to_bill().is_some(), "it started: charged");
        assert!(run(RunStatus::Failed, true, 1, 0, success).overage_to_bill().is_none(), "given back");
        assert!(run(RunStatus::Cancelled, false, 1, 0, start).overage_to_bill().is_none(), "given back");
        assert!(run(RunStatus::Started, true, 1, 0, start).overage_to_bill().is_none(), "still open");
        assert!(run(RunStatus::Completed, true, 0, 0, start).overage_to_bill().is_none(), "within the quota");
        assert!(run(RunStatus::Completed, true, 1, 500, start).overage_to_bill().is_none(), "paid from the balance");
        let mut returned = run(RunStatus::Failed, false, 1, 0, start);
        assert!(returned.units_to_give_back().is_some());
        assert!(returned.overage_to_bill().is_none(), "given back already");
    }

    #[test]
    fn the_account_served_least_recently_goes_next() {
        let busy = Waiting { account_id: account(1), holding: 0, limit: 5, last_turn: Some(7), oldest: Timestamp(1) };
        let quiet = Waiting { account_id: account(2), holding: 0, limit: 1, last_turn: Some(3), oldest: Timestamp(9) };
        let new = Waiting { account_id: account(3), holding: 0, limit: 1, last_turn: None, oldest: Timestamp(10) };
        assert_eq!(next_turn(&[busy.clone(), quiet.clone()], 0, 10), Some(&account(2)));
        assert_eq!(next_turn(&[busy.clone(), quiet.clone(), new], 0, 10), Some(&account(3)));
        assert_eq!(next_turn(std::slice::from_ref(&busy), 10, 10), None, "the pool is full");
        let at_limit = Waiting { holding: 1, ..quiet };
        assert_eq!(next_turn(&[busy, at_limit.clone()], 1, 10), Some(&account(1)));
        assert_eq!(next_turn(&[at_limit], 1, 10), None);
    }

    proptest! {
        /// Played out slot by slot: an account with one run waiting gets a slot within as
        /// many turns as there are other accounts waiting, however many runs they queued.
        #[test]
        fn a_lone_run_waits_at_most_one_turn_per_other_account(
            queued in proptest::collection::vec(1u32..200, 1..8),
            pool in 1u32..5,
        ) {
            // Everyone has been served before; the lone account (the last) was served last.
            let mut left: Vec<u32> = queued.clone();
            left.push(1);
            let mut last: Vec<Option<u64>> = (0..left.len() as u64).map(Some).collect();
            let mut turn = left.len() as u64;
            let mut turns_before = 0;
            loop {
                let waiting: Vec<Waiting> = left
                    .iter()
                    .enumerate()
                    .filter(|(_, runs)| **runs > 0)
                    .map(|(n, _)| Waiting { account_id: account(n), holding: 0, limit: pool, last_turn: last[n], oldest: Timestamp(0) })
                    .collect();
                let chosen = next_turn(&waiting, 0, pool).cloned().unwrap();
                let n: usize = chosen.as_str()["acct_".len()..].parse().unwrap();
                left[n] -= 1;
                last[n] = Some(turn);
                turn += 1;
                if n == queued.len() {
                    break;
                }
                turns_before += 1;
            }
            prop_assert!(turns_before <= queued.len(), "{} turns went first", turns_before);
        }
    }
}
