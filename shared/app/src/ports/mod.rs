//! One capability per port, one port per file.

pub mod accounts;
pub mod clock;
pub mod event_log;
pub mod ledger;
pub mod queue;
