//! What was asked of the emulated Stripe, in order: the log the tests read to check the
//! exact requests tollgate makes (`GET /emulator/requests`). Kept in memory, the newest
//! [`KEPT`], as a request log is kept for a while and then rotated.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Requests kept; the oldest go first.
const KEPT: usize = 10_000;

/// One API request as it arrived: its form parameters in order (`metadata[account_id]`,
/// `line_items[0][price]`), and the headers that change what Stripe does with it.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    /// From `/v1/`, as Stripe documents it.
    pub path: String,
    pub params: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    /// What the emulator answered.
    pub status: u16,
}

#[derive(Default)]
pub(crate) struct RequestLog(Mutex<VecDeque<LoggedRequest>>);

impl RequestLog {
    pub(crate) fn record(&self, request: LoggedRequest) {
        let mut log = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if log.len() == KEPT {
            log.pop_front();
        }
        log.push_back(request);
    }

    pub(crate) fn all(&self) -> Vec<LoggedRequest> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }
}
