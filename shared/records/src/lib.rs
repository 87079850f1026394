//! The documents tollgate's stores write: a workflow, a run, an alert, an API key, a
//! purchase, a subscription. SQLite keeps them as JSON in `data` columns and DynamoDB as
//! items, in the same shape, so the two stores cannot drift; each adapter adds its own
//! keys and index attributes around them, and the `schema_version` beside them.
//!
//! A record is not the domain's type: the domain may change its structs freely, and only
//! a change here changes what is on disk. Fields added after the first release default
//! when missing, so a record written by an older release is still read
//! (`tests/fixtures/records` holds this release's records, read back in CI).

use serde::{Deserialize, Serialize};
use std::num::NonZeroU64;
use tollgate_app::ports::api_keys::StoredKey;
use tollgate_app::ports::purchases::{Delivery, Purchase};
use tollgate_core::account::{Subscription, SubscriptionKind, SubscriptionStatus};
use tollgate_core::alert::{Alert, AlertKind, AlertState, AlertStatus};
use tollgate_core::api_key::KeyHash;
use tollgate_core::cron::Schedule;
use tollgate_core::customer_run::{Charged, CustomerRun, Pool};
use tollgate_core::delivery::{Delivery as WebhookDelivery, DeliveryStatus};
use tollgate_core::ids::{AccountId, KeyId, RunId, Sku, SubscriptionId, WorkflowId};
use tollgate_core::instance::{Instance, KeptParams};
use tollgate_core::meters::MeterName;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{
    Access, Charge, DEFAULT_TIMEOUT_SECONDS, Run, RunStatus, RunTotals, Sell, WebhookUrl, Workflow, WorkflowSpec,
    WorkflowState,
};

/// A domain value that a store keeps as a record.
pub trait Stored: Sized {
    type Record: Serialize + for<'de> Deserialize<'de>;

    fn to_record(&self) -> Self::Record;
    fn from_record(record: Self::Record) -> Self;
}

fn enabled_by_default() -> bool {
    true
}

fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_SECONDS
}

#[derive(Serialize, Deserialize)]
pub struct WorkflowRecord {
    pub id: WorkflowId,
    pub name: String,
    pub webhook_url: WebhookUrl,
    /// `{"cron", "timezone"}`; none for a sold workflow customers start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub premium: bool,
    #[serde(default = "default_timeout")]
    pub timeout_s: u32,
    pub state: WorkflowState,
    #[serde(default)]
    pub current_run: Option<RunId>,
    #[serde(default)]
    pub next_run: Option<Timestamp>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub totals: TotalsRecord,
    pub version: u64,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sell: Option<SellRecord>,
}

/// How a workflow is sold (`tollgate_core::workflow::Sell`).
#[derive(Serialize, Deserialize)]
pub struct SellRecord {
    pub meter: MeterName,
    pub cost: NonZeroU64,
    pub access: Access,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<Sku>,
    /// The JSON Schema as JSON text: kept exactly as registered, whatever the store's types.
    pub input_schema: String,
    pub charge: Charge,
    pub max_output_bytes: u32,
}

impl SellRecord {
    fn of(sell: &Sell) -> Self {
        SellRecord {
            meter: sell.meter.clone(),
            cost: sell.cost,
            access: sell.access,
            plans: sell.plans.clone(),
            input_schema: sell.input_schema.to_string(),
            charge: sell.charge,
            max_output_bytes: sell.max_output_bytes,
        }
    }

    fn into_sell(self) -> Sell {
        Sell {
            meter: self.meter,
            cost: self.cost,
            access: self.access,
            plans: self.plans,
            // Written from a `Value` by `of`; text that no longer reads refuses every input.
            input_schema: serde_json::from_str(&self.input_schema).unwrap_or(serde_json::Value::Bool(false)),
            charge: self.charge,
            max_output_bytes: self.max_output_bytes,
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
pub struct TotalsRecord {
    #[serde(default)]
    pub completed: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub revenue_cents: i64,
}

impl Stored for Workflow {
    type Record = WorkflowRecord;

    fn to_record(&self) -> WorkflowRecord {
        let spec = &self.spec;
        WorkflowRecord {
            id: spec.id.clone(),
            name: spec.name.clone(),
            webhook_url: spec.webhook_url.clone(),
            schedule: spec.schedule.clone(),
            enabled: spec.enabled,
            premium: spec.premium,
            timeout_s: spec.timeout_s,
            state: self.state,
            current_run: self.current_run.clone(),
            next_run: self.next_run,
            consecutive_failures: self.consecutive_failures,
            totals: TotalsRecord {
                completed: self.totals.completed,
                failed: self.totals.failed,
                revenue_cents: self.totals.revenue_cents,
            },
            version: self.version,
            created_at: self.created_at,
            sell: spec.sell.as_ref().map(SellRecord::of),
        }
    }

    fn from_record(record: WorkflowRecord) -> Self {
        Workflow {
            spec: WorkflowSpec {
                id: record.id,
                name: record.name,
                webhook_url: record.webhook_url,
                schedule: record.schedule,
                enabled: record.enabled,
                premium: record.premium,
                timeout_s: record.timeout_s,
                sell: record.sell.map(SellRecord::into_sell),
            },
            state: record.state,
            current_run: record.current_run,
            next_run: record.next_run,
            consecutive_failures: record.consecutive_failures,
            totals: RunTotals {
                completed: record.totals.completed,
                failed: record.totals.failed,
                revenue_cents: record.totals.revenue_cents,
            },
            version: record.version,
            created_at: record.created_at,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct RunRecord {
    pub id: RunId,
    pub workflow_id: WorkflowId,
    pub status: RunStatus,
    pub created_at: Timestamp,
    pub deadline: Timestamp,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    pub earnings_cents: i64,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerRunRecord>,
}

/// A customer's part of a run. Input and output are kept as JSON text: any JSON a
/// customer or workflow sends is stored as sent, whatever the store's own types allow.
#[derive(Serialize, Deserialize)]
pub struct CustomerRunRecord {
    pub account_id: AccountId,
    pub input: String,
    #[serde(default)]
    pub output: Option<String>,
    pub charged: Charged,
    #[serde(default)]
    pub webhook_url: Option<String>,
    pub concurrent_runs: u32,
    pub timeout_s: u32,
    pub pool: Pool,
    #[serde(default)]
    pub turn: Option<u64>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

impl CustomerRunRecord {
    fn of(customer: &CustomerRun) -> Self {
        Self {
            account_id: customer.account_id.clone(),
            input: customer.input.to_string(),
            output: customer.output.as_ref().map(ToString::to_string),
            charged: customer.charged.clone(),
            webhook_url: customer.webhook_url.clone(),
            concurrent_runs: customer.concurrent_runs,
            timeout_s: customer.timeout_s,
            pool: customer.pool,
            turn: customer.turn,
            idempotency_key: customer.idempotency_key.clone(),
        }
    }

    fn into_customer(self) -> CustomerRun {
        // Written from a `Value` by this module: text that no longer parses is kept as a string.
        let json = |text: String| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        CustomerRun {
            account_id: self.account_id,
            input: json(self.input),
            output: self.output.map(json),
            charged: self.charged,
            webhook_url: self.webhook_url,
            concurrent_runs: self.concurrent_runs,
            timeout_s: self.timeout_s,
            pool: self.pool,
            turn: self.turn,
            idempotency_key: self.idempotency_key,
        }
    }
}

impl Stored for Run {
    type Record = RunRecord;

    fn to_record(&self) -> RunRecord {
        RunRecord {
            id: self.id.clone(),
            workflow_id: self.workflow_id.clone(),
            status: self.status,
            created_at: self.created_at,
            deadline: self.deadline,
            started_at: self.started_at,
            finished_at: self.finished_at,
            earnings_cents: self.earnings_cents,
            reason: self.reason.clone(),
            customer: self.customer.as_deref().map(CustomerRunRecord::of),
        }
    }

    fn from_record(record: RunRecord) -> Self {
        Run {
            id: record.id,
            workflow_id: record.workflow_id,
            status: record.status,
            created_at: record.created_at,
            deadline: record.deadline,
            started_at: record.started_at,
            finished_at: record.finished_at,
            earnings_cents: record.earnings_cents,
            reason: record.reason,
            customer: record.customer.map(|customer| Box::new(customer.into_customer())),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub account_id: AccountId,
    pub event: String,
    pub url: String,
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(default)]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default)]
    pub last_response: Option<String>,
    pub created_at: Timestamp,
}

impl Stored for WebhookDelivery {
    type Record = DeliveryRecord;

    fn to_record(&self) -> DeliveryRecord {
        DeliveryRecord {
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            event: self.event.clone(),
            url: self.url.clone(),
            payload: self.payload.clone(),
            status: self.status,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            last_response: self.last_response.clone(),
            created_at: self.created_at,
        }
    }

    fn from_record(record: DeliveryRecord) -> Self {
        WebhookDelivery {
            id: record.id,
            account_id: record.account_id,
            event: record.event,
            url: record.url,
            payload: record.payload,
            status: record.status,
            attempts: record.attempts,
            next_attempt_at: record.next_attempt_at,
            last_response: record.last_response,
            created_at: record.created_at,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct AlertRecord {
    pub id: String,
    pub kind: AlertKind,
    #[serde(default)]
    pub account_id: Option<AccountId>,
    pub subject: String,
    #[serde(default)]
    pub workflow_id: Option<WorkflowId>,
    pub message: String,
    pub created_at: Timestamp,
    /// Open unless written: an alert as raised is stored as it always was.
    #[serde(default, skip_serializing_if = "is_open")]
    pub state: AlertState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_changed_at: Option<Timestamp>,
}

fn is_open(state: &AlertState) -> bool {
    *state == AlertState::Open
}

impl Stored for Alert {
    type Record = AlertRecord;

    fn to_record(&self) -> AlertRecord {
        AlertRecord {
            id: self.id.clone(),
            kind: self.kind,
            account_id: self.account_id.clone(),
            subject: self.subject.clone(),
            workflow_id: self.workflow_id.clone(),
            message: self.message.clone(),
            created_at: self.created_at,
            state: self.status.state,
            note: self.status.note.clone(),
            state_changed_at: self.status.changed_at,
        }
    }

    fn from_record(record: AlertRecord) -> Self {
        Alert {
            id: record.id,
            kind: record.kind,
            account_id: record.account_id,
            subject: record.subject,
            workflow_id: record.workflow_id,
            message: record.message,
            created_at: record.created_at,
            status: AlertStatus { state: record.state, note: record.note, changed_at: record.state_changed_at },
        }
    }
}

/// An API key: its hash and visible prefix, never the key.
#[derive(Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: KeyId,
    pub account_id: AccountId,
    pub hash: KeyHash,
    pub prefix: String,
    pub created_at: Timestamp,
    /// Left out when unset, so DynamoDB's `if_not_exists` sees no attribute rather than a NULL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
}

impl Stored for StoredKey {
    type Record = KeyRecord;

    fn to_record(&self) -> KeyRecord {
        KeyRecord {
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            hash: self.hash.clone(),
            prefix: self.prefix.clone(),
            created_at: self.created_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
        }
    }

    fn from_record(record: KeyRecord) -> Self {
        StoredKey {
            id: record.id,
            account_id: record.account_id,
            hash: record.hash,
            prefix: record.prefix,
            created_at: record.created_at,
            revoked_at: record.revoked_at,
            last_used_at: record.last_used_at,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct PurchaseRecord {
    pub id: String,
    pub account_id: AccountId,
    pub sku: Sku,
    pub quantity: u32,
    pub payment_ref: String,
    pub delivery: Delivery,
    #[serde(default)]
    pub revoked: bool,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

impl Stored for Purchase {
    type Record = PurchaseRecord;

    fn to_record(&self) -> PurchaseRecord {
        PurchaseRecord {
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            sku: self.sku.clone(),
            quantity: self.quantity,
            payment_ref: self.payment_ref.clone(),
            delivery: self.delivery,
            revoked: self.revoked,
            created_at: self.created_at,
            download_url: self.download_url.clone(),
        }
    }

    fn from_record(record: PurchaseRecord) -> Self {
        Purchase {
            id: record.id,
            account_id: record.account_id,
            sku: record.sku,
            quantity: record.quantity,
            payment_ref: record.payment_ref,
            delivery: record.delivery,
            revoked: record.revoked,
            created_at: record.created_at,
            download_url: record.download_url,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct InstanceRecord {
    pub id: SubscriptionId,
    pub account_id: AccountId,
    pub sku: Sku,
    pub workflow_id: WorkflowId,
    pub params: serde_json::Value,
    pub paused: bool,
    pub next_run: Option<Timestamp>,
    pub last_run: Option<RunId>,
    pub last_run_at: Option<Timestamp>,
    #[serde(default)]
    pub stopped: bool,
    pub created_at: Timestamp,
    pub version: u64,
}

impl Stored for Instance {
    type Record = InstanceRecord;

    fn to_record(&self) -> InstanceRecord {
        InstanceRecord {
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            sku: self.sku.clone(),
            workflow_id: self.workflow_id.clone(),
            params: self.params.clone(),
            paused: self.paused,
            next_run: self.next_run,
            last_run: self.last_run.clone(),
            last_run_at: self.last_run_at,
            stopped: self.stopped,
            created_at: self.created_at,
            version: self.version,
        }
    }

    fn from_record(record: InstanceRecord) -> Self {
        Instance {
            id: record.id,
            account_id: record.account_id,
            sku: record.sku,
            workflow_id: record.workflow_id,
            params: record.params,
            paused: record.paused,
            next_run: record.next_run,
            last_run: record.last_run,
            last_run_at: record.last_run_at,
            stopped: record.stopped,
            created_at: record.created_at,
            version: record.version,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct KeptParamsRecord {
    pub account_id: AccountId,
    pub sku: Sku,
    pub params: serde_json::Value,
    pub at: Timestamp,
}

impl Stored for KeptParams {
    type Record = KeptParamsRecord;

    fn to_record(&self) -> KeptParamsRecord {
        KeptParamsRecord {
            account_id: self.account_id.clone(),
            sku: self.sku.clone(),
            params: self.params.clone(),
            at: self.at,
        }
    }

    fn from_record(record: KeptParamsRecord) -> Self {
        KeptParams { account_id: record.account_id, sku: record.sku, params: record.params, at: record.at }
    }
}

#[derive(Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub id: SubscriptionId,
    pub sku: Sku,
    pub kind: SubscriptionKind,
    pub tier: String,
    pub status: SubscriptionStatus,
    #[serde(default)]
    pub current_period_start: Option<Timestamp>,
    #[serde(default)]
    pub current_period_end: Option<Timestamp>,
    pub event_created: Timestamp,
}

impl Stored for Subscription {
    type Record = SubscriptionRecord;

    fn to_record(&self) -> SubscriptionRecord {
        SubscriptionRecord {
            id: self.id.clone(),
            sku: self.sku.clone(),
            kind: self.kind,
            tier: self.tier.clone(),
            status: self.status.clone(),
            current_period_start: self.current_period_start,
            current_period_end: self.current_period_end,
            event_created: self.event_created,
        }
    }

    fn from_record(record: SubscriptionRecord) -> Self {
        Subscription {
            id: record.id,
            sku: record.sku,
            kind: record.kind,
            tier: record.tier,
            status: record.status,
            current_period_start: record.current_period_start,
            current_period_end: record.current_period_end,
            event_created: record.event_created,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use tollgate_core::workflow::WorkflowSpec;

    fn round_trip<T: Stored + PartialEq + std::fmt::Debug>(value: &T) -> Value {
        let json = serde_json::to_value(value.to_record()).unwrap();
        let read = T::from_record(serde_json::from_value(json.clone()).unwrap());
        assert_eq!(&read, value);
        json
    }

    /// Every kind of record reads back as the value it was written from, and a record
    /// with only its required fields (as an older release might have written) reads with
    /// the defaults.
    #[test]
    fn every_record_reads_back_and_tolerates_missing_optional_fields() {
        let at = Timestamp(1_796_000_000);
        let account = AccountId::parse("user_42").unwrap();
        let spec = WorkflowSpec {
            id: WorkflowId::parse("daily").unwrap(),
            name: "Daily".into(),
            webhook_url: WebhookUrl::parse("https://n8n.example.com/webhook/daily").unwrap(),
            schedule: Some(Schedule::parse("0 9 * * *", "Europe/Paris").unwrap()),
            enabled: false,
            premium: true,
            timeout_s: 60,
            sell: None,
        };
        let workflow = Workflow::register(spec, at);
        round_trip(&workflow);
        let sparse: WorkflowRecord = serde_json::from_value(json!({
            "id": "daily", "name": "Daily", "webhook_url": "https://n8n.example.com/webhook/daily",
            "schedule": {"cron": "0 9 * * *"}, "state": "idle", "version": 1, "created_at": at.0,
        }))
        .unwrap();
        let read = Workflow::from_record(sparse);
        assert_eq!((read.spec.enabled, read.spec.premium, read.spec.timeout_s), (true, false, DEFAULT_TIMEOUT_SECONDS));
        assert_eq!((read.totals, read.next_run, read.current_run), (RunTotals::default(), None, None));

        let run = Run::claimed(RunId::parse("run_1").unwrap(), &workflow, at);
        round_trip(&run);

        let alert = Alert {
            id: "alert_1".into(),
            kind: AlertKind::LongRun,
            account_id: None,
            subject: "daily".into(),
            workflow_id: Some(WorkflowId::parse("daily").unwrap()),
            message: "running for 2 h".into(),
            created_at: at,
            status: AlertStatus::default(),
        };
        round_trip(&alert);
        let acknowledged = alert.moved(AlertState::Acknowledged, Some("on it".into()), at).unwrap();
        round_trip(&acknowledged);

        let key = StoredKey {
            id: KeyId::parse("key_1").unwrap(),
            account_id: account.clone(),
            hash: KeyHash::parse(&"0f".repeat(32)).unwrap(),
            prefix: "tg_live_abc".into(),
            created_at: at,
            revoked_at: None,
            last_used_at: None,
        };
        let json = round_trip(&key);
        assert!(json.get("revoked_at").is_none(), "DynamoDB's if_not_exists needs the attribute absent: {json}");

        let purchase = Purchase {
            id: "cs_1".into(),
            account_id: account,
            sku: Sku::parse("course").unwrap(),
            quantity: 1,
            payment_ref: "pi_1".into(),
            delivery: Delivery::Pending,
            revoked: true,
            created_at: at,
            download_url: Some("https://files.example.com/course.zip".into()),
        };
        round_trip(&purchase);

        let subscription = Subscription {
            id: SubscriptionId::parse("sub_1").unwrap(),
            sku: Sku::parse("api_pro").unwrap(),
            kind: SubscriptionKind::ApiPlan,
            tier: "pro".into(),
            status: SubscriptionStatus("active".into()),
            current_period_start: Some(at),
            current_period_end: None,
            event_created: at,
        };
        round_trip(&subscription);
    }
}
