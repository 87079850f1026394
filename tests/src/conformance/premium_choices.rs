//! A member's choice of premium workflows: none before any, replaced whole, read back in
//! the order chosen, each account its own.

use tollgate_app::ports::premium_choices::PremiumChoices;
use tollgate_core::ids::{AccountId, WorkflowId};
use tollgate_core::time::Timestamp;

fn ids(names: &[&str]) -> Vec<WorkflowId> {
    names.iter().map(|name| WorkflowId::parse(name).unwrap()).collect()
}

pub async fn a_choice_is_replaced_whole_and_reads_back_in_order<S: PremiumChoices>(store: &S) {
    let (ann, bob) = (AccountId::parse("acct_ann").unwrap(), AccountId::parse("acct_bob").unwrap());
    assert_eq!(store.chosen(&ann).await.unwrap(), None, "no choice before one is made");
    store.choose(&ann, &ids(&["videos", "images", "loops"]), Timestamp(1)).await.unwrap();
    assert_eq!(store.chosen(&ann).await.unwrap(), Some(ids(&["videos", "images", "loops"])));
    store.choose(&ann, &ids(&["templates", "videos"]), Timestamp(2)).await.unwrap();
    assert_eq!(store.chosen(&ann).await.unwrap(), Some(ids(&["templates", "videos"])), "replaced, not merged");
    store.choose(&ann, &[], Timestamp(3)).await.unwrap();
    assert_eq!(store.chosen(&ann).await.unwrap(), Some(Vec::new()), "choosing none is a choice");
    assert_eq!(store.chosen(&bob).await.unwrap(), None, "each account its own");
}
