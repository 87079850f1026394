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

/// The probe's findings, each kept from coming back.
mod findings {
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use std::io::BufRead;
    use tollgate_core::api_key::{ApiKey, KEY_BYTES, KeyMode};
    use tollgate_tests::emulated::Emulated;
    use tollgate_tests::stack::{TestStack, token};

    /// Keys with valid checksums that the origin never issued are refused, and the stack
    /// (whose gateway keeps no meter for them: `gateway.rs`'s unit test counts its map)
    /// still meters a real key afterwards.
    #[tokio::test]
    async fn made_up_keys_are_refused_and_leave_the_gateway_working() {
        let stack = TestStack::start().await;
        for n in 0..2_000u32 {
            let mut random = [7u8; KEY_BYTES];
            random[..4].copy_from_slice(&n.to_be_bytes());
            let key = ApiKey::generate(KeyMode::Live, random);
            let answer = stack.http.get(stack.url("/v1/anything")).bearer_auth(key.expose()).send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        }
        let key = tollgate_tests::keys::create_key(&stack, "user_real").await;
        let key = key["key"].as_str().unwrap();
        let answer = stack.http.get(stack.url("/v1/anything")).bearer_auth(key).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }

    /// A redirect URL with a control character would be accepted and then break the
    /// `Location` header after the buyer paid: it is refused up front, naming the field.
    #[tokio::test]
    async fn control_characters_in_redirect_urls_are_refused_by_name() {
        let emulated = Emulated::start(&[]).await;
        let base = emulated.stack.base_url.clone();
        for control in ["\u{1}", "\u{0}", "\u{1b}", "\u{7f}"] {
            for field in ["success_url", "cancel_url"] {
                let mut body = json!({"sku": "api_pro"});
                body[field] = json!(format!("{base}/checkout/success{control}"));
                let answer = emulated
                    .stack
                    .http
                    .post(emulated.stack.url("/api/checkout"))
                    .bearer_auth(token("user_ctrl", None))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{field} {control:?}");
                let error = answer.json::<Value>().await.unwrap()["error"].clone();
                assert_eq!((error["code"].as_str(), error["field"].as_str()), (Some("invalid_request"), Some(field)));
            }
        }
    }

    /// Amounts that overflowed the emulator (one of them while it held its state) are
    /// Stripe's error objects, and the emulator answers on.
    #[tokio::test]
    async fn the_emulator_refuses_overflowing_amounts_and_answers_on() {
        let emulated = Emulated::start(&[]).await;
        let (_, product) = emulated.stripe(reqwest::Method::POST, "/v1/products", &[("name", "Huge")], None).await;
        let product = product["id"].as_str().unwrap();
        let (status, price) = emulated
            .stripe(
                reqwest::Method::POST,
                "/v1/prices",
                &[("currency", "usd"), ("product", product), ("unit_amount", "4611686018427387904")],
                None,
            )
            .await;
        assert_eq!((status, price["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("unit_amount")));
        let (status, price) = emulated
            .stripe(
                reqwest::Method::POST,
                "/v1/prices",
                &[
                    ("currency", "usd"),
                    ("product", product),
                    ("unit_amount", "100"),
                    ("recurring[interval]", "month"),
                    ("recurring[interval_count]", "4294967295"),
                ],
                None,
            )
            .await;
        assert_eq!(
            (status, price["error"]["param"].as_str()),
            (StatusCode::BAD_REQUEST, Some("recurring[interval_count]"))
        );
        let (status, _) = emulated.stripe(reqwest::Method::GET, "/v1/customers", &[], None).await;
        assert_eq!(status, StatusCode::OK);
    }

    /// A spent account link shows what Stripe shows: its refresh URL.
    #[tokio::test]
    async fn a_used_account_link_sends_to_its_refresh_url() {
        let emulated = Emulated::start(&[]).await;
        let answer = emulated
            .stack
            .http
            .post(emulated.stack.url("/api/me/payouts/onboarding"))
            .bearer_auth(token("user_partner", None))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let link = answer.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        assert_eq!(client.get(&link).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(client.post(&link).send().await.unwrap().status(), StatusCode::SEE_OTHER);
        let again = client.get(&link).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::SEE_OTHER);
        let location = again.headers()["location"].to_str().unwrap();
        assert!(location.contains("payouts=refresh"), "{location}");
    }

    /// Unsigned edge requests are told which header they lack.
    #[tokio::test]
    async fn an_unsigned_key_lookup_names_the_tollgate_signature() {
        let stack = TestStack::start().await;
        let answer = stack.http.get(stack.url(&format!("/internal/keys/{}", super::HASH))).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        let message = answer.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("Tollgate-Signature") && !message.contains("Stripe"), "{message}");
    }

    /// `nosniff` on every answer: JSON, errors, the gateway's and the emulator's.
    #[tokio::test]
    async fn every_answer_says_nosniff() {
        let emulated = Emulated::start(&[]).await;
        let stack = &emulated.stack;
        for (path, bearer) in [
            ("/health", None),
            ("/no/such/route", None),
            ("/api/me", None),
            ("/api/me", Some(token("user_sniff", None))),
            ("/v1/anything", Some("tg_live_nope".to_owned())),
            ("/openapi.json", None),
            ("/console", None),
            ("/stripe/v1/customers", Some(emulated.key.clone())),
        ] {
            let mut request = stack.http.get(stack.url(path));
            if let Some(bearer) = &bearer {
                request = request.bearer_auth(bearer);
            }
            let answer = request.send().await.unwrap();
            assert_eq!(
                answer.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()),
                Some("nosniff"),
                "{path} ({})",
                answer.status()
            );
        }
    }

    /// Listening beyond loopback prints a warning, and the links use `PUBLIC_URL` (or
    /// loopback), never `0.0.0.0`.
    #[test]
    fn listening_beyond_loopback_warns_and_links_use_the_public_url() {
        for (public, expected) in
            [(None, "http://127.0.0.1:"), (Some("http://192.0.2.10:8080"), "http://192.0.2.10:8080/")]
        {
            let data_dir = tempfile::tempdir().unwrap();
            let mut command = std::process::Command::new(tollgate_tests::stack::binary());
            command
                .args(["dev", "--addr", "0.0.0.0:0", "--data-dir"])
                .arg(data_dir.path())
                .env("TOLLGATE_STRIPE", "real")
                .env_remove("STRIPE_SECRET_KEY")
                .env_remove("PUBLIC_URL")
                .env("RUST_LOG", "error")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null());
            if let Some(public) = public {
                command.env("PUBLIC_URL", public);
            }
            let mut child = command.spawn().unwrap();
            let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
            let printed: Vec<String> = lines.by_ref().map_while(Result::ok).take(12).collect();
            child.kill().unwrap();
            child.wait().unwrap();
            let text = printed.join("\n");
            assert!(text.contains("WARNING:   listening beyond loopback"), "{text}");
            let console = printed.iter().find(|line| line.contains("console:")).expect("a console link");
            assert!(console.contains(expected) && !console.contains("0.0.0.0"), "{console}");
        }
    }
}
