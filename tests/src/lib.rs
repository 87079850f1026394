//! Helpers shared by tollgate's end-to-end suites and the port conformance suite:
//! start the real `tollgate` binary, start or reach `moto_server`, build Stripe events.

pub mod conformance;
pub mod moto;
pub mod samples;
pub mod stack;
pub mod stripe;
