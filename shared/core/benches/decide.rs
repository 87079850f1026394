//! The edge's own work per call: the key's shape and SHA-256 (what the Worker does before
//! it asks a Durable Object), and the meter's decision (what the Durable Object does).
//! `cargo bench -p tollgate-core --bench decide`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tollgate_core::api_key::{ApiKey, KEY_BYTES, KeyMode};
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::{KeyRecord, Limits, Meter, Period};
use tollgate_core::time::Timestamp;

const T0: u64 = 1_795_500_000_000;

fn record(requests_per_minute: u32) -> KeyRecord {
    KeyRecord {
        key_id: KeyId::parse("key_bench").unwrap(),
        account_id: AccountId::parse("acct_bench").unwrap(),
        revoked: false,
        limits: Limits { monthly_requests: Some(u64::MAX), requests_per_minute, overage: false },
        period: Period { start: Timestamp(1_793_491_200), end: Timestamp(1_796_083_200) },
        used_elsewhere: 0,
        key_used: 0,
        key_credits_spent: 0,
        credits: None,
        account: None,
    }
}

fn decide(c: &mut Criterion) {
    let key = ApiKey::generate(KeyMode::Live, [42; KEY_BYTES]).expose().to_owned();
    let header = format!("Bearer {key}");
    c.bench_function("bearer → key → SHA-256", |b| {
        b.iter(|| ApiKey::from_bearer(black_box(&header)).unwrap().hash())
    });

    // A steady 100 calls/s against 6,000/min: the window holds 6,000 entries, each call
    // drops one and adds one; an allowed call is counted in the period and the open batch.
    let busy = record(6_000);
    let mut meter = Meter::default();
    let mut now = T0;
    for _ in 0..6_000 {
        now += 10;
        meter.decide(Some(&busy), now);
    }
    c.bench_function("decide, allowed (window of 6,000)", |b| {
        b.iter(|| {
            now += 10;
            black_box(meter.decide(Some(black_box(&busy)), now))
        })
    });

    // Over the limit: refused with Retry-After, nothing counted.
    let tight = record(100);
    let mut limited = Meter::default();
    for i in 0..100 {
        limited.decide(Some(&tight), T0 + i);
    }
    c.bench_function("decide, rate limited", |b| {
        b.iter(|| black_box(limited.decide(Some(black_box(&tight)), T0 + 500)))
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);
