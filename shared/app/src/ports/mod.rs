//! One capability per port, one port per file.

pub mod accounts;
pub mod alerts;
pub mod clock;
pub mod event_log;
pub mod ledger;
pub mod outbound;
pub mod queue;
pub mod run_metrics;
pub mod runs;
pub mod workflows;
