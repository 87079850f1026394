//! The pure domain of tollgate.
//!
//! Everything here decides; nothing here does. No I/O, no async, no clock reads and
//! no randomness: time and identifiers arrive as parameters, so every rule is a
//! plain function that runs the same on Lambda, on a Cloudflare Worker (wasm32)
//! and in tests.

#![warn(missing_docs)]
// Money and counters add up untrusted numbers: every sum is checked or saturating, by rule.
#![deny(clippy::arithmetic_side_effects)]
#![cfg_attr(test, allow(clippy::arithmetic_side_effects))]

pub mod account;
pub mod alert;
pub mod api_key;
pub mod catalog;
pub mod change;
pub mod checkout;
pub mod cron;
pub mod customer_run;
pub mod delivery;
pub mod edge;
pub mod entitlements;
pub mod forwarding;
pub mod gate;
pub mod health;
pub mod ids;
pub mod instance;
pub mod ledger;
pub mod metering;
pub mod meters;
pub mod money;
pub mod payout;
pub mod quota;
pub mod reconcile;
pub mod referral;
pub mod retry;
pub mod signature;
pub mod signing;
pub mod standard_webhooks;
pub mod stripe;
pub mod sync;
pub mod time;
pub mod usage;
pub mod workflow;

/// The Stripe API version tollgate is written against. Webhook endpoints and API
/// clients are pinned to it; older versions are still read (see [`stripe`]).
pub const STRIPE_API_VERSION: &str = "2026-09-30.endive";
