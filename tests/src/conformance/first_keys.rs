//! A first key waiting to be shown: recorded, seen without being taken, taken once.

use crate::join_all;
use std::sync::Arc;
use tollgate_app::ports::first_keys::{FirstKey, FirstKeys};
use tollgate_core::ids::{AccountId, KeyId, SubscriptionId};
use tollgate_core::time::Timestamp;

fn first(key: &str) -> FirstKey {
    FirstKey {
        key_id: KeyId::parse(key).unwrap(),
        subscription: SubscriptionId::parse("sub_1").unwrap(),
        created_at: Timestamp(1_795_510_800),
    }
}

pub async fn a_first_key_is_taken_once_whoever_asks_at_once<S: FirstKeys + 'static>(store: &Arc<S>) {
    let (ann, bob) = (AccountId::parse("acct_ann").unwrap(), AccountId::parse("acct_bob").unwrap());
    assert_eq!(store.first_key_waiting(&ann).await.unwrap(), None);
    assert_eq!(store.take_first_key(&ann).await.unwrap(), None, "nothing to take");
    store.owe_first_key(&ann, &first("key_aaa")).await.unwrap();
    store.owe_first_key(&bob, &first("key_bbb")).await.unwrap();
    assert_eq!(store.first_key_waiting(&ann).await.unwrap(), Some(first("key_aaa")), "seen, not taken");
    let takers = (0..8).map(|_| {
        let (store, ann) = (Arc::clone(store), ann.clone());
        tokio::spawn(async move { store.take_first_key(&ann).await.unwrap() })
    });
    let taken: Vec<FirstKey> = join_all(takers).await.into_iter().flatten().collect();
    assert_eq!(taken, [first("key_aaa")], "one of eight concurrent takers gets it");
    assert_eq!(store.first_key_waiting(&ann).await.unwrap(), None);
    assert_eq!(store.first_key_waiting(&bob).await.unwrap(), Some(first("key_bbb")), "each account its own");
}
