//! A tiny workflow for trying the orchestrator by hand: it accepts each start at once
//! (202), "works" for two seconds, then posts its result to the run's callback URL, as
//! an n8n flow with "Respond immediately" and an HTTP Request node at the end would.
//! `cargo run -p tollgate-local --example example_workflow -- 127.0.0.1:5678`

use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:5678".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("example workflow on http://{addr}/start");
    let router = axum::Router::new().route("/start", axum::routing::post(start));
    axum::serve(listener, router).await?;
    Ok(())
}

async fn start(body: String) -> StatusCode {
    let Ok(start) = serde_json::from_str::<Value>(&body) else { return StatusCode::BAD_REQUEST };
    println!("started run {} (deadline {})", start["runId"], start["deadline"]);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let result = json!({
            "workflowId": start["workflowId"],
            "status": "completed",
            "earnings": 12.50,
            "timestamp": "2026-11-24T09:00:00Z",
            "metadata": {"message": "3 short videos rendered"},
        });
        let url = start["callbackUrl"].as_str().unwrap_or_default();
        match reqwest::Client::new().post(url).json(&result).send().await {
            Ok(answer) => println!("called back: {}", answer.status()),
            Err(error) => eprintln!("callback failed: {error}"),
        }
    });
    StatusCode::ACCEPTED
}
