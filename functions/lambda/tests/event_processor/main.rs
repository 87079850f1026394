//! The `event-processor` function: its binary as deployed, and what it must refuse.

mod missing_config;
mod runtime_api;
mod sample_event;
