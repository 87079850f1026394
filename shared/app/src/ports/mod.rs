//! One capability per port, one port per file.

pub mod accounts;
pub mod alerts;
pub mod api_keys;
pub mod checkouts;
pub mod clock;
pub mod connect;
pub mod cursors;
pub mod error;
pub mod event_log;
pub mod intake;
pub mod ledger;
pub mod meter_events;
pub mod outbound;
pub mod payees;
pub mod probes;
pub mod purchases;
pub mod queue;
pub mod rate_limits;
pub mod run_metrics;
pub mod runs;
pub mod stripe_catalog;
pub mod stripe_events;
pub mod stripe_time;
pub mod transfers;
pub mod usage;
pub mod workflows;
