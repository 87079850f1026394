//! Workflow subscriptions: parameters kept with their Checkout Session, an instance made
//! once, found due by its next run, and changed only over the version it was read at.

use crate::join_all;
use serde_json::json;
use std::sync::Arc;
use tollgate_app::ports::workflow_subscriptions::WorkflowSubscriptions;
use tollgate_core::ids::{AccountId, Sku, SubscriptionId, WorkflowId};
use tollgate_core::instance::{Instance, KeptParams};
use tollgate_core::time::Timestamp;

const NOW: Timestamp = Timestamp(1_795_510_800);

fn instance(id: &str, account: &str, next_run: i64) -> Instance {
    Instance {
        id: SubscriptionId::parse(id).unwrap(),
        account_id: AccountId::parse(account).unwrap(),
        sku: Sku::parse("strategy_momentum").unwrap(),
        workflow_id: WorkflowId::parse("momentum").unwrap(),
        params: json!({"symbol": "ACME", "risk": "low"}),
        paused: false,
        next_run: Some(Timestamp(NOW.0 + next_run)),
        last_run: None,
        last_run_at: None,
        stopped: false,
        created_at: NOW,
        version: 1,
    }
}

pub async fn params_are_kept_and_an_instance_is_made_once_and_found_due<S: WorkflowSubscriptions>(store: &S) {
    let kept = KeptParams {
        account_id: AccountId::parse("acct_sam").unwrap(),
        sku: Sku::parse("strategy_momentum").unwrap(),
        params: json!({"symbol": "ACME"}),
        at: NOW,
    };
    assert_eq!(store.kept_params("cs_1").await.unwrap(), None);
    store.keep_params("cs_1", &kept).await.unwrap();
    assert_eq!(store.kept_params("cs_1").await.unwrap(), Some(kept));

    let first = instance("sub_a", "acct_sam", -60);
    assert_eq!(store.start_instance(&first).await.unwrap(), first);
    let again = Instance { params: json!({"symbol": "OTHER"}), ..first.clone() };
    assert_eq!(store.start_instance(&again).await.unwrap(), first, "a redelivered event finds the stored one");
    store.start_instance(&instance("sub_b", "acct_sam", 3_600)).await.unwrap();
    store.start_instance(&instance("sub_c", "acct_tia", -30)).await.unwrap();
    let stopped = Instance { stopped: true, ..instance("sub_d", "acct_tia", -90) };
    store.start_instance(&stopped).await.unwrap();

    let due: Vec<String> = store.due_instances(NOW, 10).await.unwrap().into_iter().map(|i| i.id.to_string()).collect();
    assert_eq!(due, ["sub_a", "sub_c"], "due ones, soonest first; not a stopped one, nor one due later");
    assert_eq!(store.due_instances(NOW, 1).await.unwrap().len(), 1, "at most the limit");
    let sam = AccountId::parse("acct_sam").unwrap();
    let listed: Vec<String> =
        store.account_instances(&sam).await.unwrap().into_iter().map(|i| i.id.to_string()).collect();
    assert_eq!(listed, ["sub_a", "sub_b"]);
    assert_eq!(store.instance(&sam, &first.id).await.unwrap(), Some(first.clone()));
    let tia = AccountId::parse("acct_tia").unwrap();
    assert_eq!(store.instance(&tia, &first.id).await.unwrap(), None, "another account's instance");

    let paused = Instance { paused: true, next_run: None, ..first.clone() };
    assert!(store.update_instance(&paused, 1).await.unwrap());
    let read = store.instance(&sam, &first.id).await.unwrap().unwrap();
    assert_eq!((read.paused, read.version), (true, 2));
    assert!(!store.update_instance(&first, 1).await.unwrap(), "written over a version no longer stored");
    let due: Vec<String> = store.due_instances(NOW, 10).await.unwrap().into_iter().map(|i| i.id.to_string()).collect();
    assert_eq!(due, ["sub_c"], "with no next run it is not due");
}

pub async fn of_concurrent_changes_over_one_version_one_lands<S: WorkflowSubscriptions + 'static>(store: &Arc<S>) {
    let first = instance("sub_race", "acct_uma", -10);
    store.start_instance(&first).await.unwrap();
    let writers = (0..8_i64).map(|n| {
        let (store, changed) = (Arc::clone(store), Instance { next_run: Some(Timestamp(NOW.0 + n)), ..first.clone() });
        tokio::spawn(async move { store.update_instance(&changed, 1).await.unwrap() })
    });
    let landed = join_all(writers).await.into_iter().filter(|&landed| landed).count();
    assert_eq!(landed, 1, "one start per due time: a second tick's change fails");
}
