//! API keys and usage: the same rules on every backend.

use crate::join_all;
use std::sync::Arc;
use tollgate_app::ports::api_keys::{ApiKeys, KeyCreated, StoredKey};
use tollgate_app::ports::usage::{KeyUsage, Usage};
use tollgate_core::api_key::{ApiKey, KEY_BYTES, KeyMode};
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::{MeterUnits, UsageBatch};
use tollgate_core::meters::MeterName;
use tollgate_core::money::Micros;
use tollgate_core::time::Timestamp;
use tollgate_core::usage::BatchTotals;

const PERIOD: Timestamp = Timestamp(1_793_491_200);
const NOW: Timestamp = Timestamp(1_795_510_800);

fn stored(id: &str, account: &str, seed: u8, created: i64) -> (ApiKey, StoredKey) {
    let key = ApiKey::generate(KeyMode::Live, [seed; KEY_BYTES]);
    let stored = StoredKey {
        id: KeyId::parse(id).unwrap(),
        account_id: AccountId::parse(account).unwrap(),
        hash: key.hash(),
        prefix: key.prefix(),
        created_at: Timestamp(created),
        revoked_at: None,
        last_used_at: None,
    };
    (key, stored)
}

fn batch(id: &str, key: &str, account: &str, period: Timestamp, calls: u64, credits: u64) -> UsageBatch {
    UsageBatch {
        id: id.to_owned(),
        key_id: KeyId::parse(key).unwrap(),
        account_id: AccountId::parse(account).unwrap(),
        period_start: period,
        calls,
        credits,
        units: Vec::new(),
        balance_spent: Micros(0),
    }
}

pub async fn finds_keys_by_hash_and_lists_them_by_account(store: &impl ApiKeys) {
    let (first, first_stored) = stored("key_a1", "ann", 1, 100);
    let (_, second_stored) = stored("key_a2", "ann", 2, 200);
    let (_, other) = stored("key_b1", "bob", 3, 150);
    for key in [&second_stored, &first_stored, &other] {
        assert_eq!(store.create_key(key, 25).await.unwrap(), KeyCreated::Created);
    }
    assert_eq!(store.key_by_hash(&first.hash()).await.unwrap(), Some(first_stored.clone()));
    let unknown = ApiKey::generate(KeyMode::Live, [9; KEY_BYTES]);
    assert_eq!(store.key_by_hash(&unknown.hash()).await.unwrap(), None);
    let ann = AccountId::parse("ann").unwrap();
    let listed: Vec<_> = store.keys_of(&ann).await.unwrap().into_iter().map(|key| key.id.to_string()).collect();
    assert_eq!(listed, ["key_a1", "key_a2"]);
}

pub async fn revokes_only_the_owners_key_once(store: &impl ApiKeys) {
    let (key, stored_key) = stored("key_c1", "cat", 4, 100);
    assert_eq!(store.create_key(&stored_key, 25).await.unwrap(), KeyCreated::Created);
    let id = stored_key.id.clone();
    assert_eq!(store.keys_of(&stored_key.account_id).await.unwrap(), std::slice::from_ref(&stored_key), "listed once");
    let stranger = AccountId::parse("dan").unwrap();
    assert_eq!(store.revoke_key(&stranger, &id, Timestamp(300)).await.unwrap(), None, "not dan's key");
    assert_eq!(store.key_by_hash(&key.hash()).await.unwrap().unwrap().revoked_at, None);
    let revoked = store.revoke_key(&stored_key.account_id, &id, Timestamp(300)).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(Timestamp(300)));
    let again = store.revoke_key(&stored_key.account_id, &id, Timestamp(400)).await.unwrap().unwrap();
    assert_eq!(again.revoked_at, Some(Timestamp(300)), "the first revocation stands");
    assert_eq!(store.key_by_hash(&key.hash()).await.unwrap().unwrap().revoked_at, Some(Timestamp(300)));
}

pub async fn keys_stop_at_the_limit_even_when_made_at_once(store: &(impl ApiKeys + Clone + 'static)) {
    let tasks = (0..12u8).map(|seed| {
        let store = store.clone();
        let (_, key) = stored(&format!("key_k{seed}"), "kim", 100 + seed, i64::from(seed));
        tokio::spawn(async move { store.create_key(&key, 5).await.unwrap() })
    });
    let outcomes = join_all(tasks).await;
    assert_eq!(outcomes.iter().filter(|&&created| created == KeyCreated::Created).count(), 5, "{outcomes:?}");
    let kim = AccountId::parse("kim").unwrap();
    let held = store.keys_of(&kim).await.unwrap();
    assert_eq!(held.len(), 5, "only the keys made are stored");
    let (_, extra) = stored("key_kx", "kim", 200, 50);
    assert_eq!(store.create_key(&extra, 5).await.unwrap(), KeyCreated::LimitReached);
    // A revoked key frees its place, once however often it is revoked.
    for at in [60, 61] {
        store.revoke_key(&kim, &held[0].id, Timestamp(at)).await.unwrap().unwrap();
    }
    assert_eq!(store.create_key(&extra, 5).await.unwrap(), KeyCreated::Created);
    let (_, another) = stored("key_ky", "kim", 201, 70);
    assert_eq!(store.create_key(&another, 5).await.unwrap(), KeyCreated::LimitReached);
    // Another account's keys are counted apart.
    let (_, other) = stored("key_l1", "lee", 202, 80);
    assert_eq!(store.create_key(&other, 5).await.unwrap(), KeyCreated::Created);
}

pub async fn a_batch_delivered_twice_counts_once<S: Usage + ApiKeys>(store: &S) {
    let (key, stored_key) = stored("key_e1", "eve", 5, 100);
    assert_eq!(store.create_key(&stored_key, 25).await.unwrap(), KeyCreated::Created);
    let first = store.add_batch(&batch("key_e1.0", "key_e1", "eve", PERIOD, 40, 3), NOW).await.unwrap();
    assert_eq!((first.totals, first.reported), (BatchTotals { before: 0, after: 40 }, false));
    let second = store.add_batch(&batch("key_e1.1", "key_e1", "eve", PERIOD, 25, 0), NOW).await.unwrap();
    assert_eq!(second.totals, BatchTotals { before: 40, after: 65 });
    store.mark_reported("key_e1.1").await.unwrap();
    // Redelivered, even after another batch: the same totals come back, nothing is added.
    let again = store.add_batch(&batch("key_e1.0", "key_e1", "eve", PERIOD, 40, 3), NOW).await.unwrap();
    assert_eq!(again, first);
    assert!(store.add_batch(&batch("key_e1.1", "key_e1", "eve", PERIOD, 25, 0), NOW).await.unwrap().reported);
    let eve = AccountId::parse("eve").unwrap();
    let usage = store.key_usage(&eve, Some(&stored_key.id), PERIOD).await.unwrap();
    assert_eq!(usage, KeyUsage { account_calls: 65, key_calls: 65, account_credits: 3, key_credits: 3 });
    assert_eq!(store.key_by_hash(&key.hash()).await.unwrap().unwrap().last_used_at, Some(NOW));
    // A new billing period starts from zero; credits are not per period.
    let next = Timestamp(PERIOD.0 + 2_592_000);
    let fresh = store.key_usage(&eve, Some(&stored_key.id), next).await.unwrap();
    assert_eq!(fresh, KeyUsage { account_calls: 0, key_calls: 0, account_credits: 3, key_credits: 3 });
}

pub async fn concurrent_batches_of_many_keys_add_up_exactly<S: Usage + 'static>(store: &Arc<S>) {
    // 4 keys of one account, 3 batches each, every batch sent twice, all at once.
    let sends = (0..4).flat_map(|key| (0..3).flat_map(move |seq| [(key, seq), (key, seq)])).map(|(key, seq)| {
        let store = Arc::clone(store);
        tokio::spawn(async move {
            let key_id = format!("key_f{key}");
            let sent = batch(&format!("{key_id}.{seq}"), &key_id, "fay", PERIOD, 10 + seq, 0);
            store.add_batch(&sent, NOW).await.unwrap().totals
        })
    });
    let mut totals = join_all(sends).await;
    let fay = AccountId::parse("fay").unwrap();
    let usage = store.key_usage(&fay, Some(&KeyId::parse("key_f0").unwrap()), PERIOD).await.unwrap();
    assert_eq!((usage.account_calls, usage.key_calls), (4 * (10 + 11 + 12), 33));
    // The account total moved batch by batch: the 12 distinct batches tile 0..132 exactly.
    totals.sort_by_key(|totals| totals.before);
    totals.dedup();
    assert_eq!(totals.len(), 12);
    assert!(totals.windows(2).all(|pair| pair[0].after == pair[1].before));
    assert_eq!((totals[0].before, totals[11].after), (0, 132));
}

pub async fn meter_units_and_the_balance_spent_add_up_exactly_once<S: Usage + 'static>(store: &Arc<S>) {
    // 3 keys of one account, 4 batches each, every batch sent twice, all at once: each
    // counts 2 messages today, 1 tomorrow, and spends 5 cents.
    let messages = MeterName::parse("messages").unwrap();
    let (today, tomorrow) = (Timestamp(NOW.0 - 3_600), Timestamp(NOW.0 + 82_800));
    let sends = (0..3).flat_map(|key| (0..4).flat_map(move |seq| [(key, seq), (key, seq)])).map(|(key, seq)| {
        let (store, messages) = (Arc::clone(store), messages.clone());
        tokio::spawn(async move {
            let key_id = format!("key_g{key}");
            let mut sent = batch(&format!("{key_id}.{seq}"), &key_id, "gus", PERIOD, 1, 0);
            sent.units = vec![
                MeterUnits { meter: messages.clone(), window_start: today, units: 2 },
                MeterUnits { meter: messages, window_start: tomorrow, units: 1 },
            ];
            sent.balance_spent = Micros(50_000);
            let recorded = store.add_batch(&sent, NOW).await.unwrap();
            assert_eq!(store.add_batch(&sent, NOW).await.unwrap(), recorded, "a redelivery answers the same");
            recorded
        })
    });
    let recorded = join_all(sends).await;
    let gus = AccountId::parse("gus").unwrap();
    assert_eq!(store.meter_usage(&gus, &messages, today).await.unwrap(), 24);
    assert_eq!(store.meter_usage(&gus, &messages, tomorrow).await.unwrap(), 12);
    assert_eq!(store.meter_usage(&gus, &MeterName::parse("ai_runs").unwrap(), today).await.unwrap(), 0);
    assert_eq!(store.balance_spent(&gus).await.unwrap(), Micros(12 * 50_000));
    assert_eq!(store.balance_spent(&AccountId::parse("hal").unwrap()).await.unwrap(), Micros(0));
    assert_eq!(store.key_usage(&gus, None, PERIOD).await.unwrap().account_calls, 12);
    // Today's total moved batch by batch: the 12 distinct batches tile 0..24 exactly.
    let mut totals: Vec<_> = recorded.iter().map(|recorded| recorded.meters[0].totals()).collect();
    totals.sort_by_key(|totals| totals.before);
    totals.dedup();
    assert_eq!(totals.len(), 12);
    assert!(totals.windows(2).all(|pair| pair[0].after == pair[1].before && pair[0].after == pair[0].before + 2));
    assert_eq!((totals[0].before, totals[11].after), (0, 24));
}

pub async fn a_refund_takes_back_at_most_what_is_left_once<S: Usage>(store: &S) {
    let kit = AccountId::parse("kit").unwrap();
    let take =
        |payment: &'static str, target: i64, left: i64| store.take_back(&kit, payment, Micros(target), Micros(left));
    // $10 refunded with $3 left: $3 taken; the same refund again takes nothing more.
    assert_eq!(take("pi_1", 10_000_000, 3_000_000).await.unwrap(), Micros(3_000_000));
    assert_eq!(take("pi_1", 10_000_000, 9_000_000).await.unwrap(), Micros(0));
    // Refunds of another payment add up step by step, each step at most what is left.
    assert_eq!(take("pi_2", 4_000_000, 9_000_000).await.unwrap(), Micros(4_000_000));
    assert_eq!(take("pi_2", 6_000_000, 1_000_000).await.unwrap(), Micros(1_000_000));
    assert_eq!(take("pi_2", 5_000_000, 9_000_000).await.unwrap(), Micros(0), "an older step");
    assert_eq!(store.taken_back(&kit).await.unwrap(), Micros(8_000_000));
    assert_eq!(store.taken_back(&AccountId::parse("lou").unwrap()).await.unwrap(), Micros(0));
}
