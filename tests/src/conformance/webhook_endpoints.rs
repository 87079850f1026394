use tollgate_app::ports::webhook_endpoints::{WebhookEndpoint, WebhookEndpoints};
use tollgate_core::ids::AccountId;
use tollgate_core::standard_webhooks::{EndpointSecret, SECRET_BYTES};
use tollgate_core::time::Timestamp;

fn endpoint(url: &str, at: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        url: url.to_owned(),
        secret: EndpointSecret::from_bytes(rand::random::<[u8; SECRET_BYTES]>()),
        created_at: Timestamp(at),
    }
}

pub async fn an_account_has_one_endpoint_replaced_with_its_secret_and_removed_once(endpoints: &impl WebhookEndpoints) {
    let n = rand::random::<u32>();
    let (ann, bob) =
        (AccountId::parse(&format!("user_ann{n}")).unwrap(), AccountId::parse(&format!("user_bob{n}")).unwrap());
    assert_eq!(endpoints.endpoint(&ann).await.unwrap(), None);
    let first = endpoint("https://hooks.example.com/a", 1_000);
    endpoints.put_endpoint(&ann, &first).await.unwrap();
    assert_eq!(endpoints.endpoint(&ann).await.unwrap(), Some(first.clone()), "the secret reads back whole");
    let second = endpoint("https://hooks.example.com/b", 2_000);
    endpoints.put_endpoint(&ann, &second).await.unwrap();
    assert_eq!(endpoints.endpoint(&ann).await.unwrap(), Some(second), "replaced, secret and all");
    assert_eq!(endpoints.endpoint(&bob).await.unwrap(), None, "each account its own");
    assert!(!endpoints.remove_endpoint(&bob).await.unwrap());
    assert!(endpoints.remove_endpoint(&ann).await.unwrap());
    assert!(!endpoints.remove_endpoint(&ann).await.unwrap(), "removed once");
    assert_eq!(endpoints.endpoint(&ann).await.unwrap(), None);
}
