use std::sync::Arc;
use tollgate_app::ports::tallies::{Tallies, Tally};

fn days(names: &[&str]) -> Vec<String> {
    names.iter().map(|&day| day.to_owned()).collect()
}

fn unique(member: &str) -> String {
    format!("{member}_{}", rand::random::<u32>())
}

pub async fn counts_each_member_once_a_day_and_once_across_days(tallies: &impl Tallies) {
    // Days no other scenario uses: a year of its own per run.
    let year = 3000 + rand::random::<u16>() % 5000;
    let (monday, tuesday, never) = (format!("{year}-01-05"), format!("{year}-01-06"), format!("{year}-01-07"));
    let (ann, bob, cs) = (unique("user_ann"), unique("user_bob"), unique("cs_test"));
    for (day, member) in [(&monday, &ann), (&monday, &ann), (&monday, &bob), (&tuesday, &ann)] {
        tallies.tally(Tally::ActiveAccount, day, member).await.unwrap();
    }
    tallies.tally(Tally::CheckoutStarted, &monday, &cs).await.unwrap();
    let week = days(&[&monday, &tuesday, &never]);
    assert_eq!(tallies.tally_counts(Tally::ActiveAccount, &week).await.unwrap(), [2, 1, 0], "told twice, counted once");
    assert_eq!(tallies.tally_distinct(Tally::ActiveAccount, &week).await.unwrap(), 2, "ann on both days is one");
    assert_eq!(tallies.tally_counts(Tally::CheckoutStarted, &week).await.unwrap(), [1, 0, 0], "each tally its own");
    assert_eq!(tallies.tally_counts(Tally::CheckoutCompleted, &week).await.unwrap(), [0, 0, 0]);
    assert_eq!(tallies.tally_distinct(Tally::ActiveAccount, &[]).await.unwrap(), 0);
}

/// The same members told at once from many tasks: each counted once.
pub async fn concurrent_tallies_count_each_member_once<S: Tallies + 'static>(tallies: &Arc<S>) {
    let day = format!("{}-02-01", 3000 + rand::random::<u16>() % 5000);
    let members: Vec<String> = (0..10).map(|n| unique(&format!("user_{n}"))).collect();
    let tasks = (0..40).map(|n| {
        let (tallies, day, member) = (Arc::clone(tallies), day.clone(), members[n % 10].clone());
        tokio::spawn(async move { tallies.tally(Tally::ActiveAccount, &day, &member).await.unwrap() })
    });
    crate::join_all(tasks).await;
    assert_eq!(tallies.tally_counts(Tally::ActiveAccount, std::slice::from_ref(&day)).await.unwrap(), [10]);
    assert_eq!(tallies.tally_distinct(Tally::ActiveAccount, &[day]).await.unwrap(), 10);
}
