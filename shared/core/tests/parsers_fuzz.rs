//! Every parser that takes outside input, fed arbitrary input: each case either parses
//! or is refused, and none panics (a debug build panics on any overflow, too). Each
//! property runs `CASES` cases; the callback body, API key and gateway path parsers have
//! their own beside their code.

use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_core::catalog::Catalog;
use tollgate_core::change::interpret;
use tollgate_core::checkout::{CheckoutRequest, MAX_QUANTITY};
use tollgate_core::cron::Schedule;
use tollgate_core::edge::{self, EdgeSecret};
use tollgate_core::signature::{SignatureHeader, Verifier, WebhookSecret, sign};
use tollgate_core::stripe::Event;
use tollgate_core::time::Timestamp;

const CASES: u32 = 4096;
const NOW: Timestamp = Timestamp(1_795_500_000);
const BODY: &[u8] = b"{}";

/// Arbitrary JSON, nested a few levels, with the numbers that break naive code.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(-1_i64), Just(0_i64), any::<i64>()].prop_map(Value::from),
        prop_oneof![Just(u64::MAX), any::<u64>()].prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![Just("usd"), Just("api_pro_monthly"), Just("cus_1"), Just("sub_1"), Just("pi_1"), Just("user_a")]
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id"),
                    Just("customer"),
                    Just("subscription"),
                    Just("amount"),
                    Just("amount_paid"),
                    Just("amount_refunded"),
                    Just("currency"),
                    Just("metadata"),
                    Just("status"),
                    Just("items"),
                    Just("data"),
                    Just("price"),
                    Just("lookup_key"),
                    Just("current_period_start"),
                    Just("current_period_end"),
                    Just("mode"),
                    Just("client_reference_id"),
                    Just("payment_intent"),
                    Just("account_id"),
                    Just("referral_code"),
                    Just("sku"),
                    Just("quantity"),
                    Just("parent"),
                    Just("payments"),
                    Just("amount_received"),
                ]
                .prop_map(str::to_owned),
                inner,
                0..6,
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn event_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("checkout.session.completed"),
        Just("customer.subscription.created"),
        Just("customer.subscription.updated"),
        Just("customer.subscription.deleted"),
        Just("invoice.paid"),
        Just("invoice.payment_failed"),
        Just("payment_intent.succeeded"),
        Just("charge.refunded"),
        Just("customer.created"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn a_signature_header_of_any_text_is_read_or_refused(header in "\\PC{0,80}") {
        let _ = SignatureHeader::parse(&header);
        let verifier = Verifier::new(vec![WebhookSecret::parse("whsec_fuzz").unwrap()], 300);
        prop_assert!(verifier.verify(Some(&header), BODY, NOW).is_err());
    }

    #[test]
    fn a_signature_with_any_timestamp_never_overflows(t in any::<i64>(), now in any::<i64>()) {
        let secret = WebhookSecret::parse("whsec_fuzz").unwrap();
        let header = format!("t={t},v1={}", sign(&secret, Timestamp(t), BODY).split("v1=").nth(1).unwrap());
        let verified = Verifier::new(vec![secret], 300).verify(Some(&header), BODY, Timestamp(now));
        if verified.is_ok() {
            prop_assert!(Timestamp::from_untrusted(t).is_ok());
        }
        let edge_secret = EdgeSecret::new("edge-fuzz").unwrap();
        let edge_header = edge::sign(&edge_secret, tollgate_core::signing::Purpose::UsageBatch, Timestamp(t), "POST", edge::USAGE_PATH, BODY);
        let _ = edge::verify(&edge_secret, Some(&edge_header), "POST", edge::USAGE_PATH, BODY, Timestamp(now));
    }

    #[test]
    fn any_bytes_are_an_event_or_refused(payload in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(event) = Event::parse(&payload) {
            let _ = interpret(&event, &Catalog::default_catalog());
        }
    }

    #[test]
    fn any_event_shaped_json_is_interpreted_or_refused(
        kind in event_type(),
        created in prop_oneof![any::<i64>(), 0_i64..4_000_000_000],
        livemode in any::<bool>(),
        object in json_value(),
    ) {
        let payload = json!({"id": "evt_fuzz", "object": "event", "type": kind, "created": created,
            "livemode": livemode, "data": {"object": object}});
        if let Ok(event) = Event::parse(payload.to_string().as_bytes()) {
            prop_assert!(Timestamp::from_untrusted(event.created.0).is_ok());
            let _ = interpret(&event, &Catalog::default_catalog());
        }
    }

    #[test]
    fn any_checkout_request_is_taken_or_refused(
        sku in prop::option::of("\\PC{0,24}"),
        quantity in prop::option::of(prop_oneof![any::<u64>(), 0_u64..200]),
        code in prop::option::of("\\PC{0,24}"),
    ) {
        if let Ok(request) = CheckoutRequest::new(sku.as_deref(), quantity, code.as_deref(), None, None) {
            prop_assert!((1..=MAX_QUANTITY).contains(&request.quantity));
            prop_assert_eq!(u64::from(request.quantity), quantity.unwrap_or(1));
        }
    }

    #[test]
    fn any_cron_and_timezone_are_a_schedule_or_refused(
        cron in prop_oneof!["\\PC{0,40}", "([0-9*/,-]{1,6} ){4}[0-9A-Za-z*/,-]{1,6}"],
        timezone in prop_oneof![Just("UTC".to_owned()), Just("Europe/Paris".to_owned()), "\\PC{0,20}"],
        after in any::<i64>(),
    ) {
        if let Ok(schedule) = Schedule::parse(&cron, &timezone) {
            let _ = schedule.next_after(Timestamp(after));
        }
    }

    #[test]
    fn any_catalog_text_is_a_catalog_or_refused(text in prop_oneof![
        "\\PC{0,200}",
        "(\\[\\[sku\\]\\]\nsku = \"[a-z_]{1,8}\"\nkind = \"(api_plan|membership|product|credits)\"\nname = \"x\"\ntier = \"[a-z]{1,4}\"\nprice_cents = -?[0-9]{1,20}\ncurrency = \"[a-z]{2,4}\"\n(monthly_requests|credits|requests_per_minute) = -?[0-9]{1,20}\n){1,3}",
    ]) {
        let _ = Catalog::parse(&text);
    }

    #[test]
    fn any_text_is_an_rfc3339_time_in_range_or_refused(text in "[0-9T:+Z.-]{0,32}") {
        if let Ok(at) = Timestamp::parse_rfc3339(&text) {
            prop_assert!((Timestamp::EARLIEST..=Timestamp::LATEST).contains(&at));
        }
    }
}
