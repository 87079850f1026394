//! The `reconciler` function: its binary as deployed, and what it must refuse.

mod runtime_api;
