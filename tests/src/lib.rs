//! Helpers shared by tollgate's end-to-end suites and the port conformance suite:
//! start the real `tollgate` binary, start or reach `moto_server`, build Stripe events.

pub mod conformance;
pub mod moto;
pub mod samples;
pub mod stack;
pub mod stripe;

/// Awaits every task, in order, and returns their results; a panicked task fails the test.
pub async fn join_all<T: Send + 'static>(tasks: impl IntoIterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::new();
    for task in tasks.into_iter().collect::<Vec<_>>() {
        results.push(task.await.expect("the task completes"));
    }
    results
}
