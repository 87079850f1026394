use std::sync::Arc;
use tollgate_app::ports::probes::Probes;
use tollgate_core::health::{Probe, ProbeRecord};
use tollgate_core::time::Timestamp;

fn unique_url() -> String {
    format!("https://api-{}.example.com/health", rand::random::<u32>())
}

pub async fn a_probe_record_is_written_over_only_as_it_was_read(probes: &impl Probes) {
    let url = unique_url();
    assert_eq!(probes.probe_record(&url).await.unwrap(), None);
    let (first, _) = ProbeRecord::after(None, &Probe::Failed("status 503".into()), Timestamp(1_000));
    assert!(probes.swap_probe_record(&url, None, &first).await.unwrap());
    assert!(!probes.swap_probe_record(&url, None, &first).await.unwrap(), "already there");
    assert_eq!(probes.probe_record(&url).await.unwrap(), Some(first.clone()));

    let (second, _) = ProbeRecord::after(Some(&first), &Probe::Failed("timed out".into()), Timestamp(1_300));
    assert!(second.down && second.failing_since == Some(Timestamp(1_000)));
    assert!(probes.swap_probe_record(&url, Some(&first), &second).await.unwrap());
    let (stale, _) = ProbeRecord::after(Some(&first), &Probe::Up, Timestamp(1_301));
    assert!(!probes.swap_probe_record(&url, Some(&first), &stale).await.unwrap(), "read before the last write");
    assert_eq!(probes.probe_record(&url).await.unwrap(), Some(second.clone()));

    let (back, _) = ProbeRecord::after(Some(&second), &Probe::Up, Timestamp(1_600));
    assert!(probes.swap_probe_record(&url, Some(&second), &back).await.unwrap());
    assert_eq!(probes.probe_record(&url).await.unwrap(), Some(back));
    assert_eq!(probes.probe_record(&unique_url()).await.unwrap(), None, "each endpoint is its own");
}

/// Ticks that read the same record and write at once: exactly one of them counts.
pub async fn concurrent_probes_of_one_read_count_once<S: Probes + 'static>(probes: &Arc<S>) {
    let url = unique_url();
    let (first, _) = ProbeRecord::after(None, &Probe::Failed("status 500".into()), Timestamp(2_000));
    assert!(probes.swap_probe_record(&url, None, &first).await.unwrap());
    let writes = (1..=10).map(|n| {
        let (probes, url, first) = (Arc::clone(probes), url.clone(), first.clone());
        tokio::spawn(async move {
            let (next, _) = ProbeRecord::after(Some(&first), &Probe::Failed("status 500".into()), Timestamp(2_000 + n));
            probes.swap_probe_record(&url, Some(&first), &next).await.unwrap()
        })
    });
    let won = crate::join_all(writes).await.into_iter().filter(|&won| won).count();
    assert_eq!(won, 1);
    assert_eq!(probes.probe_record(&url).await.unwrap().unwrap().failures, 2);
}
