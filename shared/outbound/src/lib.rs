//! Outbound HTTP with `reqwest`: one client (one connection pool) per process.

use std::time::Duration;
use tollgate_app::ports::outbound::{
    Answer, MAX_REPLY_BYTES, Outbound, OutboundError, OutboundRequest, Replied, Reply,
};
use tollgate_app::ports::resolve::{Resolve, ResolveError, Resolved};

/// Connecting is the part that hangs when a host is down: bounded well under a start's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Redirects a health check follows, on its own host.
const MAX_PROBE_REDIRECTS: usize = 5;

pub struct HttpClient {
    client: reqwest::Client,
    /// For health checks: follows redirects that stay on the probed host.
    probing: reqwest::Client,
}

impl HttpClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            // A workflow's URL is registered by an operator; a redirect elsewhere is not followed blindly.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let probing = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("tollgate-monitor/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_host = attempt.previous().first().is_some_and(|first| {
                    first.host_str() == attempt.url().host_str()
                        && first.port_or_known_default() == attempt.url().port_or_known_default()
                });
                if same_host && attempt.previous().len() <= MAX_PROBE_REDIRECTS {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()?;
        Ok(Self { client, probing })
    }
}

impl HttpClient {
    fn request(&self, request: OutboundRequest) -> reqwest::RequestBuilder {
        let mut builder = self.client.post(&request.url).timeout(request.timeout).body(request.body);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        builder
    }
}

impl Outbound for HttpClient {
    fn post(&self, request: OutboundRequest) -> Answer<'_> {
        let timeout = request.timeout;
        Box::pin(async move { answer(self.request(request).send().await, timeout) })
    }

    fn post_reading(&self, request: OutboundRequest) -> Replied<'_> {
        let timeout = request.timeout;
        Box::pin(async move {
            let mut response = self.request(request).send().await.map_err(|error| failure(error, timeout))?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            // Chunk by chunk: an endless answer costs at most MAX_REPLY_BYTES.
            while body.len() < MAX_REPLY_BYTES {
                match response.chunk().await.map_err(|error| failure(error, timeout))? {
                    Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(MAX_REPLY_BYTES - body.len())]),
                    None => break,
                }
            }
            Ok(Reply { status, body })
        })
    }

    fn probe<'a>(&'a self, url: &'a str, timeout: Duration) -> Answer<'a> {
        Box::pin(async move { answer(self.probing.get(url).timeout(timeout).send().await, timeout) })
    }
}

fn answer(sent: Result<reqwest::Response, reqwest::Error>, timeout: Duration) -> Result<u16, OutboundError> {
    sent.map(|response| response.status().as_u16()).map_err(|error| failure(error, timeout))
}

fn failure(error: reqwest::Error, timeout: Duration) -> OutboundError {
    if error.is_timeout() {
        OutboundError::timed_out(timeout)
    } else {
        // Without the URL: it may carry a token, and errors end up in logs and run reasons.
        OutboundError::unreachable(error.without_url())
    }
}

/// Names resolved by the system's resolver (tokio's, off the async threads).
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolved<'a> {
        Box::pin(async move {
            match tokio::net::lookup_host((host, port)).await {
                Ok(addresses) => {
                    let ips: Vec<_> = addresses.map(|address| address.ip()).collect();
                    if ips.is_empty() { Err(ResolveError::unknown(host)) } else { Ok(ips) }
                }
                Err(_) => Err(ResolveError::unknown(host)),
            }
        })
    }
}
