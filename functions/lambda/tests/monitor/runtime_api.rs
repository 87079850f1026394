//! The `monitor` binary as deployed: under the Lambda Runtime API, with the environment
//! `template.yaml` gives it, on moto, probing an endpoint a test turns off and on.

use axum::http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use tollgate_app::ports::alerts::Alerts;
use tollgate_core::alert::{AlertKind, AlertState};
use tollgate_tests::runtime_api::{Answer, deployed};
use tollgate_tests::samples::read;

/// `/health` answering whatever status the test set; `/moved` redirecting to another host.
async fn endpoint() -> (String, Arc<AtomicU16>) {
    let status = Arc::new(AtomicU16::new(200));
    let answer = Arc::clone(&status);
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(move || {
                let status = StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap();
                async move { status }
            }),
        )
        .route(
            "/moved",
            axum::routing::get(|| async { axum::response::Redirect::temporary("http://example.invalid/health") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, status)
}

#[tokio::test]
async fn two_failures_in_a_row_open_an_incident_and_the_first_success_after_resolves_it() {
    let (base, status) = endpoint().await;
    let urls = format!("{base}/health,{base}/moved");
    let (mut function, store) =
        deployed(env!("CARGO_BIN_EXE_monitor"), "MonitorFunction", &[("HealthCheckUrls", &urls)]).await;
    let tick: serde_json::Value = serde_json::from_str(&read("monitor.json")).unwrap();
    let mut check = async |expected: serde_json::Value| {
        let Answer::Response(checked) = function.invoke(&tick).await else { panic!("{}", function.log()) };
        assert_eq!(checked, expected, "{}", function.log());
    };
    let of = |kind: AlertKind, alerts: &[tollgate_core::alert::Alert]| {
        alerts
            .iter()
            .filter(|alert| alert.kind == kind && alert.subject == format!("{base}/health"))
            .cloned()
            .collect::<Vec<_>>()
    };

    check(serde_json::json!({"checked": 2, "up": 1})).await;
    status.store(503, Ordering::SeqCst);
    check(serde_json::json!({"checked": 2, "up": 0})).await;
    assert!(of(AlertKind::EndpointDown, &store.alerts(20).await.unwrap()).is_empty(), "one failure is a blip");
    check(serde_json::json!({"checked": 2, "up": 0})).await;
    check(serde_json::json!({"checked": 2, "up": 0})).await;
    let alerts = store.alerts(20).await.unwrap();
    let down = of(AlertKind::EndpointDown, &alerts);
    assert_eq!(down.len(), 1, "told once: {alerts:?}");
    assert_eq!(down[0].status.state, AlertState::Open);
    assert!(down[0].message.contains("status 503"), "{}", down[0].message);
    // The redirect to another host is not followed: that endpoint is down from the start.
    let moved = alerts.iter().filter(|alert| alert.subject == format!("{base}/moved")).collect::<Vec<_>>();
    assert_eq!(moved.len(), 1);
    assert!(moved[0].message.contains("status 307"), "{}", moved[0].message);

    status.store(200, Ordering::SeqCst);
    check(serde_json::json!({"checked": 2, "up": 1})).await;
    check(serde_json::json!({"checked": 2, "up": 1})).await;
    let alerts = store.alerts(20).await.unwrap();
    let down = of(AlertKind::EndpointDown, &alerts);
    assert_eq!(down[0].status.state, AlertState::Resolved);
    assert_eq!(down[0].status.note.as_deref(), Some("the endpoint answers again"));
    let recovered = of(AlertKind::EndpointRecovered, &alerts);
    assert_eq!(recovered.len(), 1, "told once: {alerts:?}");
    assert_eq!(recovered[0].status.state, AlertState::Resolved);
}
