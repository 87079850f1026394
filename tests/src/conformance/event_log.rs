use std::collections::HashSet;
use tollgate_app::ports::event_log::{EventLog, EventStatus, ReceivedEvent, Recorded};
use tollgate_core::ids::EventId;
use tollgate_core::time::Timestamp;

fn unique(name: &str) -> EventId {
    EventId::parse(&format!("evt_{name}_{}", rand::random::<u32>())).unwrap()
}

fn received(id: &EventId, at: i64) -> ReceivedEvent {
    ReceivedEvent { id: id.clone(), event_type: "invoice.paid".into(), received_at: Timestamp(at) }
}

fn today() -> i64 {
    crate::stack::now().0
}

pub async fn records_an_event_once(log: &impl EventLog) {
    let id = unique("once");
    // Read once: the clock may pass a second boundary between the two records.
    let first = today();
    assert_eq!(log.record(&received(&id, first)).await.unwrap(), Recorded::New);
    let Recorded::Duplicate(existing) = log.record(&received(&id, first + 5)).await.unwrap() else {
        panic!("a second record must be a duplicate")
    };
    assert_eq!(existing.status, EventStatus::Queued);
    assert_eq!(existing.received_at, Timestamp(first), "the first record stays");
    assert_eq!(log.get(&unique("never")).await.unwrap(), None);
}

pub async fn concurrent_deliveries_record_one_new(log: &(impl EventLog + Clone + 'static)) {
    let id = unique("race");
    let attempts = (0..25).map(|_| {
        let (log, id) = (log.clone(), id.clone());
        tokio::spawn(async move { log.record(&received(&id, today())).await.unwrap() })
    });
    let outcomes: Vec<Recorded> = crate::join_all(attempts).await;
    let new = outcomes.iter().filter(|o| **o == Recorded::New).count();
    assert_eq!(new, 1, "exactly one of 25 concurrent records is new");
}

pub async fn marks_status(log: &impl EventLog) {
    let id = unique("mark");
    log.record(&received(&id, today())).await.unwrap();
    log.mark(&id, EventStatus::Failed, Some("missing amount_paid")).await.unwrap();
    let record = log.get(&id).await.unwrap().unwrap();
    assert_eq!((record.status, record.detail.as_deref()), (EventStatus::Failed, Some("missing amount_paid")));
    log.mark(&id, EventStatus::Applied, None).await.unwrap();
    let record = log.get(&id).await.unwrap().unwrap();
    assert_eq!((record.status, record.detail), (EventStatus::Applied, None));
}

pub async fn lists_the_newest_first(log: &impl EventLog) {
    let ids: Vec<EventId> = (0..4).map(|n| unique(&format!("recent{n}"))).collect();
    for (n, id) in ids.iter().enumerate() {
        log.record(&received(id, today() - 100 + n as i64 * 10)).await.unwrap();
    }
    let recent = log.recent(3).await.unwrap();
    let listed: Vec<&EventId> = recent.iter().map(|r| &r.id).collect();
    assert_eq!(listed, [&ids[3], &ids[2], &ids[1]]);
    let all: HashSet<_> = log.recent(100).await.unwrap().into_iter().map(|r| r.id).collect();
    assert!(ids.iter().all(|id| all.contains(id)));
}
