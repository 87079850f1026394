//! tollgate's use cases and the ports they need.
//!
//! A use case loads state through ports, asks `tollgate-core` what to do, and writes
//! the answer back. Adapters (SQLite, DynamoDB + SQS) implement the ports; every
//! adapter passes the same conformance suite (`tests/src/conformance`).

pub mod activity;
pub mod alerting;
pub mod callback;
pub mod catalog_sync;
pub mod checkout;
pub mod fulfillment;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod orchestrator;
pub mod payouts;
pub mod ports;
pub mod process;
pub mod queued;
pub mod reads;
pub mod reconcile;
pub mod redelivery;
pub mod referrals;
pub mod replay;
pub mod runner;
pub mod usage_meter;

use std::sync::Arc;
use tollgate_core::catalog::Catalog;

pub use ports::clock::{Clock, SystemClock};

/// Everything a use case needs, built once at start and shared by every request.
pub struct App<S> {
    pub store: S,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
    /// Deliveries of one queue message before it is dead-lettered; the last one marks the event failed.
    pub max_receives: u32,
}

impl<S> App<S> {
    /// How events and usage batches are retried: [`redelivery::DEFAULT_RETRY`] up to `max_receives`.
    pub fn retry_policy(&self) -> redelivery::RetryPolicy {
        redelivery::RetryPolicy { max_receives: self.max_receives, ..redelivery::DEFAULT_RETRY }
    }
}

/// SQS's redrive policy in `template.yaml` and the local queue both use this.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;
