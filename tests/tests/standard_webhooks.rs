//! Deliveries to customers' endpoints are signed as the Standard Webhooks specification
//! says (`tollgate_core::standard_webhooks`): the specification's own Python library
//! (`standardwebhooks`, pinned in scripts/setup.sh, run by `OUTSIDE_PYTHON`) verifies what
//! tollgate signs, and refuses it when the body, the id, the time or the secret differ.

use serde_json::{Value, json};
use tollgate_core::standard_webhooks::{EndpointSecret, SECRET_BYTES};
use tollgate_tests::stack::now;

fn delivery(secret: &EndpointSecret, id: &str, body: &str) -> Value {
    let headers: serde_json::Map<String, Value> = secret
        .headers(id, now(), body.as_bytes())
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.into()))
        .collect();
    json!({"secret": secret.expose(), "headers": headers, "body": body})
}

#[tokio::test]
async fn the_standard_webhooks_library_verifies_what_tollgate_signs_and_nothing_else() {
    let secret = EndpointSecret::from_bytes(rand::random::<[u8; SECRET_BYTES]>());
    let other = EndpointSecret::from_bytes(rand::random::<[u8; SECRET_BYTES]>());
    let completed =
        r#"{"type":"run.completed","data":{"run_id":"run_1","output":{"url":"https://cdn.example.com/a.png"}}}"#;
    let unicode = r#"{"type":"run.failed","data":{"error":"café – 🚫 timeout"}}"#;
    let mut tampered = delivery(&secret, "msg_3", completed);
    tampered["body"] = completed.replace("a.png", "b.png").into();
    let mut other_id = delivery(&secret, "msg_4", completed);
    other_id["headers"]["webhook-id"] = "msg_5".into();
    let mut stale = delivery(&secret, "msg_6", completed);
    stale["headers"]["webhook-timestamp"] = (now().0 - 3_600).to_string().into();
    let mut wrong_secret = delivery(&other, "msg_7", completed);
    wrong_secret["secret"] = secret.expose().into();
    let deliveries = json!([
        delivery(&secret, "msg_1", completed),
        delivery(&secret, "msg_2", unicode),
        tampered,
        other_id,
        stale,
        wrong_secret,
    ]);

    let seen = tollgate_tests::standard_webhooks::verify(deliveries).await;
    let results = seen["results"].as_array().unwrap();
    assert_eq!(results[0]["verified"], serde_json::from_str::<Value>(completed).unwrap());
    assert_eq!(results[1]["verified"]["data"]["error"], "café – 🚫 timeout");
    for (n, why) in [(2, "a changed body"), (3, "another id"), (4, "an hour-old time"), (5, "another secret")] {
        assert_eq!(results[n]["refused"], "WebhookVerificationError", "{why}: {seen}");
    }
}

/// On `tollgate dev` an account sets its endpoint (plain http allowed to loopback only) and
/// sees its secret once; the secret is the one deliveries are signed with.
#[tokio::test]
async fn an_account_sets_its_endpoint_sees_the_secret_once_and_removes_it() {
    let stack = tollgate_tests::stack::TestStack::start().await;
    let as_ann = |method: reqwest::Method, body: Option<Value>| {
        let mut request = stack
            .http
            .request(method, stack.url("/api/me/webhook-endpoint"))
            .bearer_auth(tollgate_tests::stack::token("user_ann", None));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(as_ann(reqwest::Method::GET, None).await.0, 404, "none yet");
    for refused in ["http://hooks.example.com/x", "ftp://127.0.0.1/x", "https://user:pw@hooks.example.com/"] {
        let (status, answer) = as_ann(reqwest::Method::PUT, Some(json!({"url": refused}))).await;
        assert_eq!((status, &answer["error"]["code"]), (400, &json!("invalid_webhook_url")), "{refused}: {answer}");
    }
    let (status, set) = as_ann(reqwest::Method::PUT, Some(json!({"url": "http://127.0.0.1:9/hooks"}))).await;
    assert_eq!(status, 200, "{set}");
    let secret = EndpointSecret::parse(set["secret"].as_str().unwrap()).expect("a whsec_ secret");
    let (_, again) = as_ann(reqwest::Method::PUT, Some(json!({"url": "http://127.0.0.1:9/hooks"}))).await;
    assert_ne!(again["secret"], set["secret"], "setting it again makes a new secret");
    assert_ne!(EndpointSecret::parse(again["secret"].as_str().unwrap()).unwrap(), secret);
    let (status, shown) = as_ann(reqwest::Method::GET, None).await;
    assert_eq!((status, &shown["url"], shown.get("secret")), (200, &json!("http://127.0.0.1:9/hooks"), None));
    let anonymous = stack.http.get(stack.url("/api/me/webhook-endpoint")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(as_ann(reqwest::Method::DELETE, None).await.0, 204);
    assert_eq!(as_ann(reqwest::Method::DELETE, None).await.0, 404, "removed once");
}
