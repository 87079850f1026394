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
        Self::with(reqwest::Client::builder())
    }

    /// A client that connects only to public addresses: for customers' webhook deliveries in
    /// the cloud. Their URLs were checked when set, but a name may resolve elsewhere by the
    /// time of a send (DNS rebinding); here each connection's addresses are checked as they
    /// are resolved, so no delivery reaches into the stack's own network.
    pub fn public_only() -> Result<Self, reqwest::Error> {
        Self::with(reqwest::Client::builder().dns_resolver(std::sync::Arc::new(PublicOnly)))
    }

    fn with(builder: reqwest::ClientBuilder) -> Result<Self, reqwest::Error> {
        let client = builder
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

/// The system's resolver, keeping only public addresses: a name that resolves to none is
/// an error, and the request never connects.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<std::net::SocketAddr> =
                resolved.filter(|address| tollgate_core::standard_webhooks::is_public(address.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_public_only_client_never_connects_to_a_name_that_resolves_inside() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // A webhook on loopback that answers every request 200.
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let mut request = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, answer).await;
            }
        });
        let request = |url: String| OutboundRequest {
            url,
            headers: Vec::new(),
            body: b"{}".to_vec(),
            timeout: Duration::from_secs(5),
        };
        let open = HttpClient::new().unwrap();
        assert_eq!(open.post(request(format!("http://localhost:{port}/hook"))).await.unwrap(), 200, "it answers");
        let guarded = HttpClient::public_only().unwrap();
        let refused = guarded.post(request(format!("http://localhost:{port}/hook"))).await;
        assert!(refused.is_err(), "localhost resolves to loopback only: never connected");
    }
}
