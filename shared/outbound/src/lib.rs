//! Outbound HTTP with `reqwest`: one client (one connection pool) per process.

use std::time::Duration;
use tollgate_app::ports::outbound::{Answer, Outbound, OutboundError, OutboundRequest};

/// Connecting is the part that hangs when a host is down: bounded well under a start's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            // A workflow's URL is registered by an operator; a redirect elsewhere is not followed blindly.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client })
    }
}

impl Outbound for HttpClient {
    fn post(&self, request: OutboundRequest) -> Answer<'_> {
        Box::pin(async move {
            let mut builder = self.client.post(&request.url).timeout(request.timeout).body(request.body);
            for (name, value) in request.headers {
                builder = builder.header(name, value);
            }
            match builder.send().await {
                Ok(response) => Ok(response.status().as_u16()),
                Err(error) if error.is_timeout() => Err(OutboundError::timed_out(request.timeout)),
                // Without the URL: it may carry a token, and errors end up in logs and run reasons.
                Err(error) => Err(OutboundError::unreachable(error.without_url())),
            }
        })
    }
}
