//! Stripe's event list and event retrieval. The requests are async-stripe's own
//! (`ListEvent`, `RetrieveEvent`); their answers are read as plain JSON rather than typed,
//! because the processor reads an event exactly as a webhook carries it, and a typed
//! round trip would drop what async-stripe does not model.

use crate::{StripeApi, failed};
use miniserde::json::{Number, Value};
use stripe::{StripeError, StripeRequest};
use stripe_core::event::{ListEvent, RetrieveEvent};
use stripe_types::RangeQueryTs;
use tollgate_app::ports::checkouts::{Paid, PaymentsError};
use tollgate_app::ports::stripe_events::{EventPage, ListedEvent, StripeEvents};
use tollgate_core::ids::EventId;
use tollgate_core::time::Timestamp;

/// Stripe's largest page.
const PAGE: i64 = 100;

impl StripeEvents for StripeApi {
    fn event<'a>(&'a self, id: &'a EventId) -> Paid<'a, Option<String>> {
        Box::pin(async move {
            let request = RetrieveEvent::new(id.as_str()).build().customize::<Value>();
            match request.send(&self.client).await {
                Ok(event) => Ok(Some(miniserde::json::to_string(&event))),
                Err(StripeError::Stripe(_, 404)) => Ok(None),
                Err(error) => Err(failed(error)),
            }
        })
    }

    fn events<'a>(&'a self, types: &'a [&'a str], from: Timestamp, after: Option<&'a str>) -> Paid<'a, EventPage> {
        Box::pin(async move {
            let mut list = ListEvent::new()
                .types(types.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>())
                .created(RangeQueryTs::gte(from.0))
                .limit(PAGE);
            if let Some(after) = after {
                list = list.starting_after(after);
            }
            let page = list.build().customize::<Value>().send(&self.client).await.map_err(failed)?;
            read_page(&page).ok_or_else(|| PaymentsError::unavailable("Stripe's event list did not read as a list"))
        })
    }
}

fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Object(object) => object.get(name),
        _ => None,
    }
}

fn read_page(page: &Value) -> Option<EventPage> {
    let Some(Value::Array(data)) = field(page, "data") else { return None };
    let events = data
        .iter()
        .map(|event| {
            let created = match field(event, "created")? {
                Value::Number(Number::U64(at)) => i64::try_from(*at).ok()?,
                Value::Number(Number::I64(at)) => *at,
                _ => return None,
            };
            Some(ListedEvent { payload: miniserde::json::to_string(event), created: Timestamp(created) })
        })
        .collect::<Option<Vec<_>>>()?;
    let has_more = matches!(field(page, "has_more"), Some(Value::Bool(true)));
    let last_id = match data.last().and_then(|last| field(last, "id")) {
        Some(Value::String(id)) => Some(id.clone()),
        _ => None,
    };
    Some(EventPage { events, next: if has_more { last_id } else { None } })
}
