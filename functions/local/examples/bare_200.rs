//! The baseline for `bench/webhooks.sh`: an HTTP server on the same stack as `tollgate dev`
//! (tokio, hyper via axum) that reads each request body and answers 200 with a small JSON
//! body, doing nothing else. `cargo run --release -p tollgate-local --example bare_200 -- 127.0.0.1:18182`

use axum::body::Bytes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18182".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let router = axum::Router::new().fallback(|body: Bytes| async move {
        std::hint::black_box(body);
        ([("content-type", "application/json")], r#"{"received":true}"#)
    });
    axum::serve(listener, router).await?;
    Ok(())
}
