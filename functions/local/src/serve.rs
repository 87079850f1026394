//! The local HTTP server: the router on hyper's HTTP/1 connections, with the limits
//! `axum::serve` does not set. A client that never finishes its request head is cut off
//! after [`HEAD_TIMEOUT`]; one whose body stalls, after [`BODY_STALL`] (see [`read_body`]).

use axum::Router;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// A request head (line and headers) must arrive within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A body that sends nothing for this long is abandoned.
pub const BODY_STALL: Duration = Duration::from_secs(30);
/// Open connections get this long to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: pass, rather than spin.
                    tracing::warn!(%error, "a connection could not be accepted");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT);
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the drain period were closed");
    }
}

/// Why a request body could not be read whole.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit: `413`.
    TooLarge,
    /// Nothing arrived for [`BODY_STALL`]: `408`.
    Stalled,
    /// The client went away, or sent a malformed body: not the server's fault, not a 413.
    Broken,
}

/// The whole body, at most `limit` bytes, each part arriving within [`BODY_STALL`].
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, BodyError> {
    read_body_within(body, limit, BODY_STALL).await
}

async fn read_body_within(mut body: axum::body::Body, limit: usize, stall: Duration) -> Result<Bytes, BodyError> {
    let mut bytes = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(stall, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled),
            Ok(None) => return Ok(bytes.freeze()),
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if bytes.len().saturating_add(data.len()) > limit {
                return Err(BodyError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::channel::Channel;

    /// A body fed by the test: the data parts, then an error or the end.
    async fn fed(parts: &[&'static [u8]], then_error: bool) -> axum::body::Body {
        let (mut sender, body) = Channel::<Bytes, std::io::Error>::new(parts.len().max(1));
        for part in parts {
            sender.send_data(Bytes::from_static(part)).await.unwrap();
        }
        if then_error {
            sender.abort(std::io::Error::other("connection reset"));
        }
        axum::body::Body::new(body)
    }

    #[tokio::test]
    async fn a_body_is_read_whole_within_its_limit() {
        let body = fed(&[b"ab", b"cd"], false).await;
        assert_eq!(read_body_within(body, 4, BODY_STALL).await, Ok(Bytes::from_static(b"abcd")));
        let body = fed(&[b"ab", b"cde"], false).await;
        assert_eq!(read_body_within(body, 4, BODY_STALL).await, Err(BodyError::TooLarge));
    }

    #[tokio::test]
    async fn a_client_that_goes_away_is_not_told_its_body_was_too_large() {
        let body = fed(&[b"ab"], true).await;
        assert_eq!(read_body_within(body, 1024, BODY_STALL).await, Err(BodyError::Broken));
    }

    #[tokio::test]
    async fn a_stalled_body_is_abandoned() {
        let (sender, body) = Channel::<Bytes, std::io::Error>::new(1);
        let stalled = read_body_within(axum::body::Body::new(body), 1024, Duration::from_millis(50)).await;
        assert_eq!(stalled, Err(BodyError::Stalled));
        drop(sender);
    }
}
