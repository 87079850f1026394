//! The core's cost per Stripe delivery: signature verification, parsing the event, and
//! reading what it asks for. The payload is Stripe's published example invoice
//! (`invoice_paid_event.json`, from Stripe's OpenAPI fixtures) wrapped in an `invoice.paid` event.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tollgate_core::catalog::Catalog;
use tollgate_core::change::interpret;
use tollgate_core::signature::{DEFAULT_TOLERANCE_SECONDS, Verifier, WebhookSecret, sign};
use tollgate_core::stripe::Event;
use tollgate_core::time::Timestamp;

const PAYLOAD: &str = include_str!("invoice_paid_event.json");
const NOW: Timestamp = Timestamp(1_795_500_000);

fn per_delivery(c: &mut Criterion) {
    let secret = WebhookSecret::parse("whsec_benchmark").unwrap();
    // Two secrets, as during a rotation: the matching one is second, the worst case.
    let verifier =
        Verifier::new(vec![WebhookSecret::parse("whsec_old").unwrap(), secret.clone()], DEFAULT_TOLERANCE_SECONDS);
    let header = sign(&secret, NOW, PAYLOAD.as_bytes());
    let catalog = Catalog::default_catalog();

    let mut group = c.benchmark_group("per_delivery");
    group.throughput(Throughput::Bytes(PAYLOAD.len() as u64));
    group.bench_function("verify", |b| {
        b.iter(|| verifier.verify(black_box(Some(&header)), black_box(PAYLOAD.as_bytes()), NOW).unwrap())
    });
    group.bench_function("parse", |b| b.iter(|| Event::parse(black_box(PAYLOAD.as_bytes())).unwrap()));
    group.bench_function("verify_parse_interpret", |b| {
        b.iter(|| {
            verifier.verify(Some(&header), black_box(PAYLOAD.as_bytes()), NOW).unwrap();
            let event = Event::parse(PAYLOAD.as_bytes()).unwrap();
            interpret(&event, &catalog).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, per_delivery);
criterion_main!(benches);
