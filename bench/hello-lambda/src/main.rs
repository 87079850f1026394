//! Answers every invocation with its event: the least a Rust Lambda on
//! `provided.al2023` does, for `bench/coldstart.sh` to compare tollgate's functions with.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
