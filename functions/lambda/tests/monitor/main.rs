//! The `monitor` function: its binary as deployed.

mod runtime_api;
