//! Malformed requests against every route of the real `tollgate dev`: bad JSON, deep
//! nesting, huge strings, invalid UTF-8, NULs, wrong types and wrong auth. Every one gets
//! an answer below 500 on a connection that stays up, and afterwards the stack still
//! ingests and applies a Stripe event.

use reqwest::{Method, StatusCode};
use tollgate_tests::stack::{TestStack, now, token};
use tollgate_tests::stripe::{checkout_session, event};

const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn routes() -> Vec<(Method, String)> {
    let mut routes: Vec<(Method, &str)> = vec![
        (Method::GET, "/health"),
        (Method::POST, "/webhooks/stripe"),
        (Method::POST, "/webhooks/workflows/run_abuse?token=00"),
        (Method::POST, "/api/checkout"),
        (Method::POST, "/api/portal"),
        (Method::GET, "/api/me/purchases"),
        (Method::GET, "/api/me/entitlements"),
        (Method::GET, "/api/keys"),
        (Method::POST, "/api/keys"),
        (Method::DELETE, "/api/keys/key_abuse"),
        (Method::GET, "/api/me"),
        (Method::POST, "/internal/usage"),
        (Method::GET, "/admin/events?limit=-1"),
        (Method::GET, "/admin/alerts?limit=99999999999999999999"),
        (Method::GET, "/admin/metrics"),
        (Method::GET, "/admin/workflows"),
        (Method::POST, "/admin/workflows"),
        (Method::GET, "/admin/workflows/abuse"),
        (Method::PATCH, "/admin/workflows/abuse"),
        (Method::POST, "/admin/workflows/abuse/run"),
        (Method::GET, "/admin/workflows/abuse/runs"),
        (Method::GET, "/admin/accounts/user_abuse"),
        (Method::GET, "/admin/ledger?account=%00%ff"),
        (Method::POST, "/v1/anything"),
        (Method::PUT, "/admin/metrics"),
        (Method::GET, "/api/catalog"),
        (Method::GET, "/api/me/payouts"),
        (Method::GET, "/admin/activity?after=-99999999999999999999"),
        (Method::POST, "/admin/stream-tickets"),
        (Method::GET, "/admin/stream?ticket=%00%ff"),
        (Method::GET, "/console"),
        (Method::GET, "/account"),
        (Method::GET, "/assets/..%2f..%2fetc%2fpasswd"),
    ];
    let keys_path = format!("/internal/keys/{HASH}");
    let mut owned: Vec<(Method, String)> = routes.drain(..).map(|(m, p)| (m, p.to_owned())).collect();
    owned.push((Method::GET, keys_path));
    owned
}

fn bodies() -> Vec<Vec<u8>> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(r#"{{"sku":"{}","id":"{}"}}"#, "a".repeat(400_000), "b".repeat(400_000));
    vec![
        b"{".to_vec(),
        deep.into_bytes(),
        huge.into_bytes(),
        b"\xff\xfe{\"sku\":\"\xc3\x28\"}".to_vec(),
        b"{\"sku\":\"a\x00b\",\"id\":\"\x00\"}\x00".to_vec(),
        br#"{"sku":1,"quantity":-1,"referral_code":[],"id":{},"schedule":null,"workflowId":7,"earnings":1e999}"#.to_vec(),
        br#"{"batches":[{"id":"x","key_id":"key_x","account_id":"..","period_start":-9223372036854775808,"calls":18446744073709551615,"credits":1}]}"#.to_vec(),
        Vec::new(),
        b"null".to_vec(),
        b"[]".to_vec(),
    ]
}

fn auths() -> Vec<Option<String>> {
    vec![
        None,
        Some("Bearer garbage".to_owned()),
        Some("Basic dXNlcjpwYXNz".to_owned()),
        Some(format!("Bearer {}", "x.".repeat(4000))),
        Some(format!("bearer {}", token("user_abuse", None))),
        Some(format!("Bearer {}", token("operator", Some("admin")))),
        Some(format!("Bearer {}", token("workflow:abuse", Some("admin")))),
        Some(format!("Bearer {}", token("..", None))),
    ]
}

async fn send(stack: &TestStack, method: &Method, path: &str, auth: Option<&str>, body: Vec<u8>) -> StatusCode {
    let mut request = stack.http.request(method.clone(), stack.url(path)).body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request = request
        .header("stripe-signature", "t=-9223372036854775808,v1=zz")
        .header("tollgate-signature", "t=9223372036854775807,v1=00");
    let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: the connection dropped: {e}"));
    response.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_requests_to_every_route_get_clear_refusals_and_break_nothing() {
    // Checkout is served (a key is set), pointed at a closed port: nothing malformed reaches it.
    let stack =
        TestStack::start_with(&[("STRIPE_SECRET_KEY", "sk_test_abuse"), ("STRIPE_API_BASE", "http://127.0.0.1:9")])
            .await;
    let mut sent = 0;
    for (method, path) in routes() {
        for auth in auths() {
            for body in bodies() {
                let status = send(&stack, &method, &path, auth.as_deref(), body).await;
                assert!(status.as_u16() < 500, "{method} {path} ({auth:?}): {status}");
                sent += 1;
            }
        }
    }

    let raw: [&[u8]; 7] = [
        b"GET /\xff\xfe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"BREW /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-Nul: a\x00b\r\nConnection: close\r\n\r\n",
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n",
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n{",
        b"GET /v1/%ff%00/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tg_live_x\r\nConnection: close\r\n\r\n",
    ];
    for request in raw {
        // Either a clear refusal, or (for a request line hyper cannot parse) a closed connection.
        if let Some((status, answer)) = stack.raw(request).await {
            assert!(status < 500, "{}: {answer}", String::from_utf8_lossy(request));
        }
        sent += 1;
    }
    assert!(sent > 1500, "{sent} requests");

    // Still up, still ingesting.
    let payload = event(
        "evt_after_abuse",
        "checkout.session.completed",
        now().0,
        checkout_session("user_after", "cus_after", None),
    );
    let (status, body) = stack.deliver(&payload).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stack.settled("evt_after_abuse").await["status"], "applied");
}
