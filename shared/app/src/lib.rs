//! tollgate's use cases and the ports they need.
//!
//! A use case is a struct holding the store (bounded by the ports its methods use), the
//! clock and the outside services and settings it needs, built once by a composition root
//! (`tollgate-lambda`, `tollgate dev`) and called by handlers. It loads state through
//! ports, asks `tollgate-core` what to do, and writes the answer back.
//!
//! Adapters (SQLite, DynamoDB + SQS) implement the ports; every adapter passes the same
//! conformance suite (`tests/src/conformance`).

pub mod activity;
pub mod alerting;
pub mod callback;
pub mod catalog_sync;
pub mod checkout;
pub mod deliveries;
pub mod endpoints;
pub mod fulfillment;
pub mod ingest;
pub mod input_schema;
pub mod instances;
pub mod keys;
pub mod metrics;
pub mod monitor;
pub mod orchestrator;
pub mod payouts;
pub mod ports;
pub mod premium;
pub mod process;
pub mod queued;
pub mod reads;
pub mod reconcile;
pub mod redelivery;
pub mod referrals;
pub mod renewals;
pub mod replay;
pub mod runner;
pub mod sales;
pub mod usage_meter;

pub use ports::clock::{Clock, SystemClock};

/// SQS's redrive policy in `template.yaml` and the local queue both use this.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;
