//! The messages on the `events` queue.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Who sent the event: the processor reads each source's events its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Stripe,
}

/// A verified event on its way to the processor. The event travels whole, byte for
/// byte, so the processor needs nothing but the message to apply it.
#[derive(Debug, Serialize, Deserialize)]
pub struct QueuedEvent {
    pub source: Source,
    pub event: Box<RawValue>,
}

impl QueuedEvent {
    /// `payload` must already have parsed as JSON (it has: it was read as an event).
    pub fn stripe(payload: &[u8]) -> Result<String, serde_json::Error> {
        let text = std::str::from_utf8(payload).map_err(serde::de::Error::custom)?;
        let event = RawValue::from_string(text.to_owned())?;
        serde_json::to_string(&QueuedEvent { source: Source::Stripe, event })
    }
}
