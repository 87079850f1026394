use std::sync::Arc;
use tollgate_app::ports::cursors::Cursors;
use tollgate_core::time::Timestamp;

fn unique(name: &str) -> String {
    format!("{name}-{}", rand::random::<u32>())
}

pub async fn a_cursor_only_moves_forward(cursors: &impl Cursors) {
    let (name, other) = (unique("reconcile"), unique("other"));
    assert_eq!(cursors.cursor(&name).await.unwrap(), None);
    cursors.advance_cursor(&name, Timestamp(1_000)).await.unwrap();
    cursors.advance_cursor(&name, Timestamp(500)).await.unwrap();
    assert_eq!(cursors.cursor(&name).await.unwrap(), Some(Timestamp(1_000)), "an earlier time never wins");
    cursors.advance_cursor(&name, Timestamp(2_000)).await.unwrap();
    assert_eq!(cursors.cursor(&name).await.unwrap(), Some(Timestamp(2_000)));
    assert_eq!(cursors.cursor(&other).await.unwrap(), None, "each cursor is its own");
}

pub async fn concurrent_advances_keep_the_latest<S: Cursors + 'static>(cursors: &Arc<S>) {
    let name = unique("race");
    let advances = (1..=20).map(|at| {
        let (cursors, name) = (Arc::clone(cursors), name.clone());
        tokio::spawn(async move { cursors.advance_cursor(&name, Timestamp(at * 100)).await.unwrap() })
    });
    crate::join_all(advances).await;
    assert_eq!(cursors.cursor(&name).await.unwrap(), Some(Timestamp(2_000)));
}
