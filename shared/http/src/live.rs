//! What just happened, for the console: `GET /admin/activity` (polled, with `ETag` and
//! `304`, as in the cloud) and, on the local stack, a Server-Sent Events stream
//! (`GET /admin/stream`). `EventSource` cannot send an `Authorization` header, so the stream
//! is opened with a ticket: short-lived, single-use, handed out to an admin by
//! `POST /admin/stream-tickets`. The stream also says `metric:updated`, with the figures of
//! `/admin/metrics`, when they change (looked at once a second).

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Admin, Params};
use crate::extract::{Guarded, Shared};
use crate::views::{ActivityItemView, ActivityView, StreamTicket};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tollgate_app::activity::{Activity, ActivityItem, tag};
use tollgate_app::metrics::Figures;
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::event_log::EventLog;
use tollgate_app::ports::ledger::Ledger;
use tollgate_app::ports::runs::Runs;
use tollgate_app::ports::tallies::Tallies;
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::time::Timestamp;
use utoipa::IntoParams;

/// Items in the feed.
const FEED: usize = 50;
/// How long a ticket opens the stream.
const TICKET_SECONDS: i64 = 30;
/// How often an open stream looks for news.
const STREAM_EVERY: Duration = Duration::from_millis(500);
/// How often an open stream looks at the figures: `metric:updated` at most this often.
const FIGURES_EVERY: Duration = Duration::from_secs(1);

/// The ports the feed reads.
pub trait FeedStore: EventLog + Alerts + Workflows + Runs {}

impl<S: EventLog + Alerts + Workflows + Runs> FeedStore for S {}

/// The ports the stream reads: the feed's and the figures'.
pub trait StreamStore: FeedStore + Accounts + Ledger + Tallies {}

impl<S: FeedStore + Accounts + Ledger + Tallies> StreamStore for S {}

/// The activity feed, polled by admins.
pub fn router<S: FeedStore + 'static>(auth: Arc<Auth>, feed: Arc<Activity<S>>) -> Router {
    Router::new().route("/admin/activity", get(activity::<S>)).with_state(Guarded::new(auth, feed))
}

/// The feed and the figures as a stream, opened with a ticket: for one long-running
/// process, as the local stack is, since the tickets are kept in its memory.
pub fn stream_router<S: StreamStore + 'static>(
    auth: Arc<Auth>,
    activity: Arc<Activity<S>>,
    figures: Arc<Figures<S>>,
) -> Router {
    Router::new()
        .route("/admin/stream-tickets", post(stream_ticket::<S>))
        .route("/admin/stream", get(stream::<S>))
        .with_state(Guarded::new(auth, Streaming { activity, figures, tickets: Tickets::default() }))
}

/// The stream's state: the feed, the figures and the tickets handed out.
pub(crate) struct Streaming<S> {
    activity: Arc<Activity<S>>,
    figures: Arc<Figures<S>>,
    tickets: Tickets,
}

/// The stream's tickets: random, kept in memory (the local stack is one process), each
/// good once and for [`TICKET_SECONDS`].
#[derive(Default)]
struct Tickets {
    issued: Mutex<HashMap<String, Timestamp>>,
}

impl Tickets {
    fn issue(&self, now: Timestamp) -> (String, Timestamp) {
        let ticket = hex_of(&rand::random::<[u8; 24]>());
        let expires = now.plus_seconds(TICKET_SECONDS);
        let mut issued = self.issued.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        issued.retain(|_, expiry| *expiry > now);
        issued.insert(ticket.clone(), expires);
        (ticket, expires)
    }

    fn redeem(&self, ticket: &str, now: Timestamp) -> bool {
        let mut issued = self.issued.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        issued.remove(ticket).is_some_and(|expiry| expiry > now)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct After {
    /// Only what happened at or after this time (Unix seconds).
    after: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/admin/activity",
    tag = "admin",
    summary = "What just happened, newest first; `304` while nothing did",
    params(After),
    responses(
        (status = 200, description = "the feed, with its `ETag`", body = ActivityView),
        (status = 304, description = "nothing new since the `If-None-Match` tag"),
        (status = 400, description = "a bad field, named (`after` beyond a 64-bit integer)", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn activity<S: FeedStore>(
    State(feed): Shared<Arc<Activity<S>>>,
    _: Admin,
    Params(after): Params<After>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut items = feed.activity(FEED).await.map_err(|e| ApiError::from_port(&e))?;
    if let Some(after) = after.after {
        items.retain(|item| item.at.0 >= after);
    }
    let tag = tag(&items);
    let etag = HeaderValue::from_str(&tag).map_err(|e| ApiError::Internal(e.to_string()))?;
    if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let view = ActivityView { items: items.iter().map(ActivityItemView::from).collect(), tag };
    Ok(([(header::ETAG, etag), (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))], Json(view))
        .into_response())
}

#[utoipa::path(
    post,
    path = "/admin/stream-tickets",
    tag = "admin",
    summary = "A single-use ticket that opens the activity stream for 30 s (local stack)",
    responses(
        (status = 200, description = "the ticket", body = StreamTicket),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn stream_ticket<S: StreamStore>(
    State(streaming): Shared<Streaming<S>>,
    _: Admin,
) -> Json<StreamTicket> {
    let (ticket, expires) = streaming.tickets.issue(streaming.auth.clock.now());
    Json(StreamTicket { ticket, expires_at: expires.0 })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TicketParam {
    /// From `POST /admin/stream-tickets`.
    ticket: String,
}

#[utoipa::path(
    get,
    path = "/admin/stream",
    tag = "admin",
    summary = "Server-Sent Events of the activity feed, named by kind (`payment:received`, `workflow:started`…), and `metric:updated`",
    params(TicketParam),
    responses(
        (status = 200, description = "`text/event-stream`: each new or changed item as an event named by its kind, its `data` the item; `metric:updated` (at most once a second) with the figures of `/admin/metrics` when they changed"),
        (status = 400, description = "no `ticket`", body = ErrorResponse),
        (status = 401, description = "`invalid_token`: no such ticket, used, or expired", body = ErrorResponse)
    )
)]
pub(crate) async fn stream<S: StreamStore + 'static>(
    State(streaming): Shared<Streaming<S>>,
    Params(param): Params<TicketParam>,
) -> Result<Response, ApiError> {
    if !streaming.tickets.redeem(&param.ticket, streaming.auth.clock.now()) {
        return Err(ApiError::InvalidToken);
    }
    let state = Feed {
        activity: Arc::clone(&streaming.activity),
        figures: Arc::clone(&streaming.figures),
        said: HashMap::new(),
        pending: VecDeque::new(),
        started: false,
        figures_said: None,
        figures_seen: tokio::time::Instant::now(),
    };
    let events = futures_util::stream::unfold(state, |mut feed| async move {
        let event = feed.next_event().await;
        Some((Ok::<_, std::convert::Infallible>(event), feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

/// One open stream: what it has said of each item and of the figures, and what it still
/// has to say.
struct Feed<S> {
    activity: Arc<Activity<S>>,
    figures: Arc<Figures<S>>,
    said: HashMap<String, String>,
    pending: VecDeque<ActivityItem>,
    started: bool,
    /// The figures as last said (or as the page loaded them), as JSON.
    figures_said: Option<String>,
    figures_seen: tokio::time::Instant,
}

impl<S: StreamStore> Feed<S> {
    /// The figures as JSON when they differ from what was last said; the first look only
    /// takes note (the page has loaded them itself). A failed read waits for the next look.
    async fn changed_figures(&mut self) -> Option<String> {
        if self.figures_seen.elapsed() < FIGURES_EVERY {
            return None;
        }
        let json = self.look_at_figures().await?;
        let said = self.figures_said.replace(json.clone());
        (said.is_some_and(|said| said != json)).then_some(json)
    }

    /// The figures of `/admin/metrics` as JSON, now; `None` when they cannot be read.
    async fn look_at_figures(&mut self) -> Option<String> {
        self.figures_seen = tokio::time::Instant::now();
        let view = crate::admin::metrics_view(&self.figures).await.ok()?;
        serde_json::to_string(&view).ok()
    }

    async fn next_event(&mut self) -> Event {
        if !self.started {
            self.started = true;
            // What is there already the page has loaded itself; from here on, only news.
            if let Ok(items) = self.activity.activity(FEED).await {
                self.said = items.into_iter().map(|item| (item.id, item.text)).collect();
            }
            self.figures_said = self.look_at_figures().await;
            return Event::default().event("ready").data("{}");
        }
        loop {
            if let Some(item) = self.pending.pop_front() {
                let view = ActivityItemView::from(&item);
                return Event::default().event(item.kind).id(item.id.clone()).json_data(view).unwrap_or_default();
            }
            if let Some(figures) = self.changed_figures().await {
                return Event::default().event("metric:updated").data(figures);
            }
            tokio::time::sleep(STREAM_EVERY).await;
            // A failed read is tried again on the next beat; the stream stays open.
            if let Ok(items) = self.activity.activity(FEED).await {
                for item in items.into_iter().rev() {
                    if self.said.get(&item.id) != Some(&item.text) {
                        self.said.insert(item.id.clone(), item.text.clone());
                        self.pending.push_back(item);
                    }
                }
            }
        }
    }
}
