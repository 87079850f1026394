//! Answers to Stripe's deliveries and to a run's callback.

use serde::Serialize;
use tollgate_app::callback::CallbackAnswer;
use tollgate_app::ingest::Ingested;
use utoipa::ToSchema;

/// A delivery accepted: recorded and queued.
#[derive(Serialize, ToSchema)]
pub struct StripeReceipt {
    pub received: bool,
    /// The event id.
    pub id: String,
    /// Already received before: nothing new was queued.
    pub duplicate: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CallbackView {
    pub run_id: String,
    /// The run's status after the callback.
    pub status: &'static str,
    /// `false` for a duplicate or late callback: nothing changed.
    pub applied: bool,
}

impl From<&Ingested> for StripeReceipt {
    fn from(ingested: &Ingested) -> Self {
        StripeReceipt { received: true, id: ingested.event_id.to_string(), duplicate: ingested.duplicate }
    }
}

impl From<&CallbackAnswer> for CallbackView {
    fn from(answer: &CallbackAnswer) -> Self {
        CallbackView { run_id: answer.run_id.to_string(), status: answer.status.as_str(), applied: answer.applied }
    }
}
